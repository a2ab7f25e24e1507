//! Authentication and authorisation: every way a token can be missing, bad or insufficient.

use std::time::{SystemTime, UNIX_EPOCH};

use jwt_verifier::testkit::{service_claims, test_key, user_claims};
use serde_json::json;

use crate::helpers::{AUDIENCE, error_body, order_body, spawn_app};

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs().try_into().unwrap()
}

#[tokio::test]
async fn requests_without_a_token_get_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    let responses = [
        app.post_order(None, &order_body(&[("A", 1)])).await,
        app.list_orders(None, "").await,
        app.get_order(None, &uuid::Uuid::now_v7().to_string()).await,
    ];
    for response in responses {
        assert_eq!(response.status(), 401);
        let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        assert!(response.headers()["x-served-by"].to_str().unwrap().starts_with("orders-service/"));
        assert!(response.headers().get("x-verified-kid").is_none(), "no token verified");
        error_body(response).await;
    }
    assert_eq!(app.count("orders").await, 0);
}

#[tokio::test]
async fn malformed_tokens_get_401() {
    let app = spawn_app().await;
    for token in ["not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9..", &"x".repeat(9000)] {
        let response = app.post_order(Some(token), &order_body(&[("A", 1)])).await;
        assert_eq!(response.status(), 401, "token {token:.20}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.contains("invalid_token"), "{challenge}");
        error_body(response).await;
    }
    assert_eq!(app.count("orders").await, 0);
}

#[tokio::test]
async fn expired_tokens_get_401() {
    let app = spawn_app().await;
    let mut claims = user_claims(&app.issuer.issuer(), &[AUDIENCE], "alice", "orders:read orders:write");
    claims["iat"] = json!(now() - 1200);
    claims["exp"] = json!(now() - 600);
    let response = app.list_orders(Some(&test_key(0).mint(&claims)), "").await;
    assert_eq!(response.status(), 401);
    assert_eq!(error_body(response).await["error"], "invalid_token");
}

#[tokio::test]
async fn wrongly_signed_tokens_get_401() {
    let app = spawn_app().await;
    let claims = user_claims(&app.issuer.issuer(), &[AUDIENCE], "alice", "orders:read orders:write");
    // Signed by key 1 but naming key 0: the signature does not verify.
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": test_key(0).kid()});
    let forged = test_key(1).sign(&header, &claims);
    // Signed by key 1 under its own kid, which the issuer does not publish.
    let unknown_key = test_key(1).mint(&claims);
    for token in [forged, unknown_key] {
        let response = app.post_order(Some(&token), &order_body(&[("A", 1)])).await;
        assert_eq!(response.status(), 401);
        assert_eq!(error_body(response).await["error"], "invalid_token");
    }
    assert_eq!(app.count("orders").await, 0);
}

#[tokio::test]
async fn tokens_for_another_audience_get_401() {
    let app = spawn_app().await;
    let token = test_key(0).mint(&user_claims(
        &app.issuer.issuer(),
        &["notifications-service"],
        "alice",
        "orders:read orders:write",
    ));
    let response = app.list_orders(Some(&token), "").await;
    assert_eq!(response.status(), 401);
    error_body(response).await;
}

#[tokio::test]
async fn missing_scopes_get_403() {
    let app = spawn_app().await;
    let read_only = app.user_token("alice", "orders:read");
    let response = app.post_order(Some(&read_only), &order_body(&[("A", 1)])).await;
    assert_eq!(response.status(), 403);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    assert_eq!(error_body(response).await["error"], "insufficient_scope");

    let write_only = app.user_token("alice", "orders:write");
    assert_eq!(app.list_orders(Some(&write_only), "").await.status(), 403);
    assert_eq!(app.get_order(Some(&write_only), &uuid::Uuid::now_v7().to_string()).await.status(), 403);
    assert_eq!(app.count("orders").await, 0);
}

#[tokio::test]
async fn a_service_token_without_order_scopes_is_refused() {
    let app = spawn_app().await;
    let token =
        test_key(0).mint(&service_claims(&app.issuer.issuer(), &[AUDIENCE], "orders-service", "notifications:write"));
    assert_eq!(app.post_order(Some(&token), &order_body(&[("A", 1)])).await.status(), 403);
}
