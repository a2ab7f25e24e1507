//! The OpenAPI document at `/openapi.json` against the router that serves it.

use serde_json::Value;
use service_kit::testing::openapi::{assert_is_openapi_3_1, assert_router_matches, paths};

use crate::helpers::spawn_app;

/// Every path notifications-service serves. A route added outside `routes!` is missing from
/// the document, so adding it here (as every new route must be) fails the first test below.
const EXPECTED_PATHS: [&str; 8] = [
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/v1/notifications",
    "/healthz",
    "/metrics",
    "/openapi.json",
    "/readyz",
    "/v1/notifications",
    "/v1/notifications/{id}/read",
];

/// The document of a service whose resource is the default, the issuer's origin plus
/// `/v1/notifications` (what `spawn_app` runs).
fn expected_document() -> Value {
    let mut config = jwt_verifier::VerifierConfig::new("http://127.0.0.1:1", "notifications-service");
    config.resource = Some(url::Url::parse("http://127.0.0.1:1/v1/notifications").unwrap());
    serde_json::to_value(notifications_service::http::openapi(&config)).unwrap()
}

#[test]
fn the_document_lists_exactly_the_expected_paths() {
    let document = expected_document();
    let expected = EXPECTED_PATHS.iter().map(ToString::to_string).collect();
    assert_eq!(paths(&document), expected);
}

#[tokio::test]
async fn the_served_document_is_openapi_3_1_and_matches_the_router() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app.client.get(format!("{}/openapi.json", app.address)).send().await.unwrap();

    // Assert
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let document: Value = serde_json::from_str(&response.text().await.unwrap()).expect("the document is JSON");
    assert_is_openapi_3_1(&document, "notifications-service", env!("CARGO_PKG_VERSION"));
    assert_eq!(document, expected_document());
    assert_router_matches(&app.client, &app.address, &document).await;
}

#[test]
fn authenticated_operations_require_bearer_auth_and_document_their_errors() {
    let document = expected_document();
    let scheme = &document["components"]["securitySchemes"]["bearerAuth"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    assert_eq!(scheme["bearerFormat"], "JWT");
    for (path, method, statuses) in [
        (
            "/v1/notifications",
            "post",
            &["200", "201", "400", "401", "403", "409", "413", "415", "422", "500", "503"][..],
        ),
        ("/v1/notifications", "get", &["200", "400", "401", "403", "500", "503"][..]),
        ("/v1/notifications/{id}/read", "post", &["200", "400", "401", "403", "404", "500", "503"][..]),
    ] {
        let operation = &document["paths"][path][method];
        assert!(operation["security"][0]["bearerAuth"].is_array(), "{method} {path}");
        let responses = operation["responses"].as_object().unwrap();
        assert_eq!(responses.keys().map(String::as_str).collect::<Vec<_>>(), statuses, "{method} {path}");
        for (status, response) in responses.iter().filter(|(status, _)| !status.starts_with('2')) {
            let content = &response["content"]["application/json"];
            assert_eq!(content["schema"]["$ref"], "#/components/schemas/ErrorBody", "{method} {path} {status}");
            assert!(content["examples"].as_object().is_some_and(|e| !e.is_empty()), "{method} {path} {status}");
        }
        for status in ["401", "403"] {
            assert!(responses[status]["headers"]["WWW-Authenticate"].is_object(), "{method} {path} {status}");
        }
    }
    let request =
        &document["paths"]["/v1/notifications"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(request["$ref"], "#/components/schemas/CreateNotificationRequest");
    assert!(document["components"]["schemas"]["CreateNotificationRequest"].is_object());
}
