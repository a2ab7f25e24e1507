//! Authentication and authorisation: every way a token can be missing, bad or insufficient.

use std::time::{SystemTime, UNIX_EPOCH};

use jwt_verifier::testkit::{service_claims, test_key, user_claims};
use serde_json::json;

use crate::helpers::{AUDIENCE, ORDERS_CLIENT, error_body, notification, spawn_app};

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs().try_into().unwrap()
}

#[tokio::test]
async fn requests_without_a_token_get_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    let responses = [
        app.post_notification(None, &notification("e-1", "alice", "hi")).await,
        app.list_notifications(None, "").await,
        app.mark_read(None, &uuid::Uuid::now_v7().to_string()).await,
    ];
    for response in responses {
        assert_eq!(response.status(), 401);
        let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
        error_body(response).await;
    }
}

#[tokio::test]
async fn malformed_tokens_get_401() {
    let app = spawn_app().await;
    for token in ["not-a-jwt", "a.b.c", "eyJhbGciOiJSUzI1NiJ9..", &"x".repeat(9000)] {
        let response = app.list_notifications(Some(token), "").await;
        assert_eq!(response.status(), 401, "token {token:.20}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.contains("invalid_token"), "{challenge}");
        error_body(response).await;
    }
}

#[tokio::test]
async fn expired_tokens_get_401() {
    let app = spawn_app().await;
    let mut claims = user_claims(&app.issuer.issuer(), &[AUDIENCE], "alice", "notifications:read");
    claims["iat"] = json!(now() - 1200);
    claims["exp"] = json!(now() - 600);
    let response = app.list_notifications(Some(&test_key(0).mint(&claims)), "").await;
    assert_eq!(response.status(), 401);
    assert_eq!(error_body(response).await["error"], "invalid_token");
}

#[tokio::test]
async fn wrongly_signed_tokens_get_401() {
    let app = spawn_app().await;
    let claims = user_claims(&app.issuer.issuer(), &[AUDIENCE], "alice", "notifications:read");
    // Signed by key 1 but claiming to be key 0: the signature does not verify.
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": test_key(0).kid()});
    let forged = test_key(1).sign(&header, &claims);
    // Signed by key 1 under its own kid, which the issuer does not publish.
    let unknown_key = test_key(1).mint(&claims);
    // A valid token with its payload altered after signing.
    let valid = test_key(0).mint(&claims);
    let mut parts: Vec<String> = valid.split('.').map(str::to_owned).collect();
    let mut tampered_claims = claims.clone();
    tampered_claims["sub"] = json!("mallory");
    parts[1] = base64_url(&serde_json::to_vec(&tampered_claims).unwrap());
    let tampered = parts.join(".");
    for token in [forged, unknown_key, tampered] {
        let response = app.list_notifications(Some(&token), "").await;
        assert_eq!(response.status(), 401);
        assert_eq!(error_body(response).await["error"], "invalid_token");
    }
}

#[tokio::test]
async fn tokens_for_another_audience_or_issuer_get_401() {
    let app = spawn_app().await;
    let other_audience =
        test_key(0).mint(&user_claims(&app.issuer.issuer(), &["orders-service"], "alice", "notifications:read"));
    let other_issuer = test_key(0).mint(&user_claims("http://127.0.0.1:1", &[AUDIENCE], "alice", "notifications:read"));
    for token in [other_audience, other_issuer] {
        let response = app.list_notifications(Some(&token), "").await;
        assert_eq!(response.status(), 401);
        error_body(response).await;
    }
}

#[tokio::test]
async fn a_user_token_cannot_deliver_notifications_even_with_the_scope() {
    let app = spawn_app().await;
    let token = app.user_token("alice", "notifications:write notifications:read");
    let response = app.post_notification(Some(&token), &notification("e-1", "alice", "hi")).await;
    assert_eq!(response.status(), 403);
    error_body(response).await;
}

#[tokio::test]
async fn missing_scopes_get_403() {
    let app = spawn_app().await;
    let service_without_scope = app.service_token(ORDERS_CLIENT, "orders:read");
    let response = app.post_notification(Some(&service_without_scope), &notification("e-1", "alice", "hi")).await;
    assert_eq!(response.status(), 403);
    assert_eq!(error_body(response).await["error"], "insufficient_scope");

    let user_without_scope = app.user_token("alice", "orders:read");
    let response = app.list_notifications(Some(&user_without_scope), "").await;
    assert_eq!(response.status(), 403);
    assert_eq!(error_body(response).await["error"], "insufficient_scope");
    let response = app.mark_read(Some(&user_without_scope), &uuid::Uuid::now_v7().to_string()).await;
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn a_service_token_for_another_audience_cannot_deliver() {
    let app = spawn_app().await;
    let token = test_key(0).mint(&service_claims(
        &app.issuer.issuer(),
        &["orders-service"],
        ORDERS_CLIENT,
        "notifications:write",
    ));
    let response = app.post_notification(Some(&token), &notification("e-1", "alice", "hi")).await;
    assert_eq!(response.status(), 401);
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
