//! `POST /oauth/token`: refresh rotation and reuse detection, client credentials, and every
//! malformed request (RFC 6749 §5.2 codes in the shared envelope).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ISSUER, ORDERS_CLIENT, REPORTING_CLIENT, assert_error, decode_jwt, spawn_app};

async fn refresh(app: &crate::helpers::TestApp, refresh_token: &str) -> reqwest::Response {
    app.oauth("token", &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)], None).await
}

#[tokio::test]
async fn refreshing_rotates_the_refresh_token_and_keeps_the_session() {
    // Arrange
    let app = spawn_app().await;
    let tokens = app.login_new_user("ann@example.com").await;

    // Act
    let response = refresh(&app, &tokens.refresh_token).await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let body: Value = response.json().await.unwrap();
    let new_refresh = body["refresh_token"].as_str().unwrap();
    assert_ne!(new_refresh, tokens.refresh_token);
    assert_eq!(body["token_type"], "Bearer");
    let (_, old_claims) = decode_jwt(&tokens.access_token);
    let (_, new_claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(new_claims["sid"], old_claims["sid"]);
    assert_eq!(new_claims["sub"], old_claims["sub"]);
    assert_ne!(new_claims["jti"], old_claims["jti"]);
    // The new refresh token works in turn.
    assert_eq!(refresh(&app, new_refresh).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_reused_refresh_token_gets_invalid_grant_and_ends_the_session() {
    // Arrange
    let app = spawn_app().await;
    let tokens = app.login_new_user("ann@example.com").await;
    let rotated: Value = refresh(&app, &tokens.refresh_token).await.json().await.unwrap();
    let current_refresh = rotated["refresh_token"].as_str().unwrap();

    // Act: the spent token is replayed.
    let replay = refresh(&app, &tokens.refresh_token).await;

    // Assert
    let body = assert_error(replay, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert!(body["error_description"].as_str().unwrap().contains("already used"));
    // The whole session is dead: the legitimate client's newest token fails too...
    assert_error(refresh(&app, current_refresh).await, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // ...and so does its access token at the session endpoints.
    let access = rotated["access_token"].as_str().unwrap();
    assert_error(app.get_with("/v1/sessions", access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let ended: Option<String> =
        sqlx::query_scalar("SELECT end_reason FROM sessions").fetch_one(app.pool()).await.unwrap();
    assert_eq!(ended.as_deref(), Some("refresh_token_reuse"));
}

#[tokio::test]
async fn a_wrong_client_id_does_not_spend_the_refresh_token() {
    let app = spawn_app().await;
    let tokens = app.login_new_user("ann@example.com").await;

    let foreign = app
        .oauth(
            "token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &tokens.refresh_token),
                ("client_id", "orders-service"),
            ],
            None,
        )
        .await;

    let body = assert_error(foreign, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert!(body["error_description"].as_str().unwrap().contains("not issued to this client"), "{body}");
    assert_eq!(refresh(&app, &tokens.refresh_token).await.status(), StatusCode::OK, "still unspent, session alive");
}

#[tokio::test]
async fn two_tabs_refreshing_together_keep_the_session() {
    let app = crate::helpers::spawn_app_with(&[("AUTH_REFRESH_REUSE_GRACE", "5s")]).await;
    let tokens = app.login_new_user("ann@example.com").await;

    let (first, second) = tokio::join!(refresh(&app, &tokens.refresh_token), refresh(&app, &tokens.refresh_token));

    let mut statuses = [first.status(), second.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::BAD_REQUEST]);
    let (winner, loser) = if first.status() == StatusCode::OK { (first, second) } else { (second, first) };
    let body = assert_error(loser, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert!(body["error_description"].as_str().unwrap().contains("concurrent"), "{body}");
    let rotated: Value = winner.json().await.unwrap();
    assert_eq!(
        refresh(&app, rotated["refresh_token"].as_str().unwrap()).await.status(),
        StatusCode::OK,
        "session alive"
    );
    let ended: Option<String> =
        sqlx::query_scalar("SELECT end_reason FROM sessions").fetch_one(app.pool()).await.unwrap();
    assert_eq!(ended, None);
}

#[tokio::test]
async fn concurrent_uses_rotate_exactly_once() {
    let app = spawn_app().await;
    let tokens = app.login_new_user("ann@example.com").await;

    let responses = futures::future::join_all((0..8).map(|_| refresh(&app, &tokens.refresh_token))).await;

    let ok = responses.iter().filter(|r| r.status() == StatusCode::OK).count();
    assert_eq!(ok, 1, "{:?}", responses.iter().map(reqwest::Response::status).collect::<Vec<_>>());
    assert!(responses.iter().all(|r| r.status() != StatusCode::INTERNAL_SERVER_ERROR));
    let successors: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM refresh_tokens WHERE used_at IS NULL")
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert!(successors <= 1, "one rotation, at most one live successor: {successors}");
}

#[tokio::test]
async fn unknown_and_malformed_refresh_tokens_get_invalid_grant() {
    let app = spawn_app().await;
    for token in ["A".repeat(43), "short".to_owned(), "a.b.c".to_owned()] {
        assert_error(refresh(&app, &token).await, StatusCode::BAD_REQUEST, "invalid_grant").await;
    }
}

#[tokio::test]
async fn a_missing_refresh_token_gets_invalid_request() {
    let app = spawn_app().await;

    let response = app.oauth("token", &[("grant_type", "refresh_token")], None).await;

    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn client_credentials_issues_a_service_token_limited_to_the_registration() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app.oauth("token", &[("grant_type", "client_credentials")], Some(ORDERS_CLIENT)).await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert!(body.get("refresh_token").is_none());
    assert_eq!(body["scope"], "notifications:write");
    let (header, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], "orders-service");
    assert_eq!(claims["client_id"], "orders-service");
    assert_eq!(claims["aud"], json!(["notifications-service"]));
    assert_eq!(claims["scope"], "notifications:write");
    assert!(claims.get("sid").is_none() && claims.get("role").is_none());
}

#[tokio::test]
async fn client_credentials_can_narrow_scope_and_audience() {
    let app = spawn_app().await;

    let response = app
        .oauth(
            "token",
            &[("grant_type", "client_credentials"), ("scope", "orders:read"), ("audience", "orders-service")],
            Some(REPORTING_CLIENT),
        )
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let (_, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(claims["scope"], "orders:read");
    assert_eq!(claims["aud"], json!(["orders-service"]));
}

#[tokio::test]
async fn a_scope_the_client_may_not_have_gets_invalid_scope() {
    let app = spawn_app().await;

    let response = app
        .oauth("token", &[("grant_type", "client_credentials"), ("scope", "orders:write")], Some(ORDERS_CLIENT))
        .await;

    let body = assert_error(response, StatusCode::BAD_REQUEST, "invalid_scope").await;
    assert!(body["error_description"].as_str().unwrap().contains("orders:write"));
}

#[tokio::test]
async fn an_audience_the_client_may_not_have_gets_invalid_target() {
    let app = spawn_app().await;

    let response = app
        .oauth("token", &[("grant_type", "client_credentials"), ("audience", "orders-service")], Some(ORDERS_CLIENT))
        .await;

    assert_error(response, StatusCode::BAD_REQUEST, "invalid_target").await;
}

#[tokio::test]
async fn a_wrong_client_secret_gets_401_invalid_client_with_a_basic_challenge() {
    let app = spawn_app().await;
    for client in [("orders-service", "wrong-secret"), ("nobody", "orders-secret"), ("orders-service", "")] {
        let response = app.oauth("token", &[("grant_type", "client_credentials")], Some(client)).await;

        let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.starts_with("Basic"), "{challenge}");
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
}

#[tokio::test]
async fn client_credentials_without_authentication_gets_invalid_client() {
    let app = spawn_app().await;

    let response =
        app.oauth("token", &[("grant_type", "client_credentials"), ("client_id", "orders-service")], None).await;
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;

    let in_body = app
        .oauth(
            "token",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "orders-service"),
                ("client_secret", "orders-secret"),
            ],
            None,
        )
        .await;
    assert_error(in_body, StatusCode::UNAUTHORIZED, "invalid_client").await;

    let malformed = app
        .client
        .post(app.url("/oauth/token"))
        .header("authorization", "Basic %%%")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_error(malformed, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn a_service_client_may_not_use_the_refresh_grant() {
    let app = spawn_app().await;
    let tokens = app.login_new_user("ann@example.com").await;

    let response = app
        .oauth(
            "token",
            &[("grant_type", "refresh_token"), ("refresh_token", &tokens.refresh_token)],
            Some(ORDERS_CLIENT),
        )
        .await;

    assert_error(response, StatusCode::BAD_REQUEST, "unauthorized_client").await;
}

#[tokio::test]
async fn unknown_and_missing_grant_types_are_refused() {
    let app = spawn_app().await;

    for grant in ["password", "authorization_code", "urn:ietf:params:oauth:grant-type:jwt-bearer"] {
        let response = app.oauth("token", &[("grant_type", grant)], None).await;
        assert_error(response, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;
    }
    let missing = app.oauth("token", &[("scope", "x")], None).await;
    assert_error(missing, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn repeated_parameters_get_invalid_request() {
    let app = spawn_app().await;

    let response = app
        .client
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&grant_type=refresh_token")
        .basic_auth(ORDERS_CLIENT.0, Some(ORDERS_CLIENT.1))
        .send()
        .await
        .unwrap();

    assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn a_form_of_thousands_of_distinct_parameters_is_refused_by_the_count_cap() {
    // 64 KiB of distinct names: the pairwise repeat check took 252 ms on this; the cap
    // refuses it after one scan of the separators.
    let app = spawn_app().await;
    let body = (0..6_000).map(|i| format!("p{i}=")).collect::<Vec<_>>().join("&");
    assert!(body.len() < 64 * 1024);

    let response = app
        .client
        .post(app.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .basic_auth(ORDERS_CLIENT.0, Some(ORDERS_CLIENT.1))
        .send()
        .await
        .unwrap();

    let body = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(body["error_description"].as_str().unwrap().contains("more than 32 parameters"), "{body}");
}

#[tokio::test]
async fn a_json_body_gets_invalid_request() {
    let app = spawn_app().await;

    let response = app.post_json("/oauth/token", &json!({"grant_type": "client_credentials"})).await;

    let body = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(body["error_description"].as_str().unwrap().contains("x-www-form-urlencoded"));
}

#[tokio::test]
async fn an_oversize_form_gets_413() {
    let app = spawn_app().await;
    let padding = "x".repeat(70 * 1024);

    let response =
        app.oauth("token", &[("grant_type", "client_credentials"), ("padding", &padding)], Some(ORDERS_CLIENT)).await;

    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}
