//! RFC 9728: the protected resource metadata document, and challenges that point at it.

use crate::helpers::{AUDIENCE, order_body, spawn_app};

#[tokio::test]
async fn a_401_challenge_points_at_the_metadata_which_names_the_issuer_and_scopes() {
    let app = spawn_app().await;

    // Arrange: a request without a token, as a client that knows nothing yet.
    let response = app.post_order(None, &order_body(&[("A", 1)])).await;
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();

    // Act: follow `resource_metadata` (its path, on this service: the test has no gateway).
    let url = challenge
        .split("resource_metadata=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no resource_metadata in {challenge}"));
    let expected_resource = format!("{}/v1/orders", app.issuer.issuer());
    assert_eq!(url, format!("{}/.well-known/oauth-protected-resource/v1/orders", app.issuer.issuer()));
    let path = url.strip_prefix(&app.issuer.issuer()).unwrap();
    let document = app.client.get(format!("{}{path}", app.address)).send().await.unwrap();

    // Assert
    assert_eq!(document.status(), 200);
    assert_eq!(document.headers()["content-type"], "application/json");
    assert!(document.headers()["cache-control"].to_str().unwrap().contains("max-age"));
    let document: serde_json::Value = document.json().await.unwrap();
    assert_eq!(document["resource"], expected_resource);
    assert_eq!(document["authorization_servers"], serde_json::json!([app.issuer.issuer()]));
    let scopes = document["scopes_supported"].as_array().unwrap();
    assert!(scopes.contains(&"orders:read".into()) && scopes.contains(&"orders:write".into()), "{scopes:?}");
    assert_eq!(document["bearer_methods_supported"], serde_json::json!(["header"]));
    assert_eq!(document["dpop_bound_access_tokens_required"], false);
    assert_eq!(document["resource_name"], AUDIENCE);
}

#[tokio::test]
async fn the_bare_well_known_path_serves_the_same_document_to_direct_clients() {
    let app = spawn_app().await;
    let get = |path: &'static str| {
        let (client, address) = (app.client.clone(), app.address.clone());
        async move { client.get(format!("{address}{path}")).send().await.unwrap() }
    };
    let bare = get("/.well-known/oauth-protected-resource").await;
    let derived = get("/.well-known/oauth-protected-resource/v1/orders").await;
    assert_eq!((bare.status(), derived.status()), (reqwest::StatusCode::OK, reqwest::StatusCode::OK));
    assert_eq!(bare.text().await.unwrap(), derived.text().await.unwrap());
    // Not a prefix match: other paths under it are unknown.
    assert_eq!(get("/.well-known/oauth-protected-resource/v1/other").await.status(), 404);
}
