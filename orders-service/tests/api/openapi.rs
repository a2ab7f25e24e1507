//! The OpenAPI document at `/openapi.json` against the router that serves it.

use serde_json::Value;
use service_kit::testing::openapi::{assert_secured_operations, assert_served_document, paths, resource_server_config};

use crate::helpers::spawn_app;

/// Every path orders-service serves. A route added outside `routes!` is missing from the
/// document, so adding it here (as every new route must be) fails the first test below.
const EXPECTED_PATHS: [&str; 8] = [
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/v1/orders",
    "/healthz",
    "/metrics",
    "/openapi.json",
    "/readyz",
    "/v1/orders",
    "/v1/orders/{id}",
];

/// The document of a service whose resource is the default, the issuer's origin plus
/// `/v1/orders` (what `spawn_app` runs).
fn expected_document() -> Value {
    serde_json::to_value(orders_service::http::openapi(&resource_server_config("orders-service", "/v1/orders")))
        .unwrap()
}

#[test]
fn the_document_lists_exactly_the_expected_paths() {
    let document = expected_document();
    let expected = EXPECTED_PATHS.iter().map(ToString::to_string).collect();
    assert_eq!(paths(&document), expected);
}

#[tokio::test]
async fn the_served_document_is_openapi_3_1_and_matches_the_router() {
    let app = spawn_app().await;
    assert_served_document(
        &app.client,
        &app.address,
        &expected_document(),
        "orders-service",
        env!("CARGO_PKG_VERSION"),
    )
    .await;
}

#[test]
fn authenticated_operations_require_bearer_auth_and_document_their_errors() {
    let document = expected_document();
    assert_secured_operations(
        &document,
        &[
            ("/v1/orders", "post", &["201", "400", "401", "403", "413", "415", "422", "500", "503"][..]),
            ("/v1/orders", "get", &["200", "400", "401", "403", "500", "503"][..]),
            ("/v1/orders/{id}", "get", &["200", "400", "401", "403", "404", "500", "503"][..]),
        ],
    );
    let request = &document["paths"]["/v1/orders"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(request["$ref"], "#/components/schemas/CreateOrderRequest");
    assert!(document["components"]["schemas"]["CreateOrderRequest"].is_object());
    assert!(document["components"]["schemas"]["ItemRequest"].is_object());
}
