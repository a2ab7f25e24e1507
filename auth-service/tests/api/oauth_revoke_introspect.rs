//! `POST /oauth/revoke` (RFC 7009) and `POST /oauth/introspect` (RFC 7662).

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{ISSUER, ORDERS_CLIENT, REPORTING_CLIENT, assert_error, decode_jwt, spawn_app};

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_session() {
    let app = spawn_app().await;
    let tokens = app.login_new_user("ann@example.com").await;

    let response =
        app.oauth("revoke", &[("token", &tokens.refresh_token), ("token_type_hint", "refresh_token")], None).await;

    assert_eq!(response.status(), StatusCode::OK);
    let refresh =
        app.oauth("token", &[("grant_type", "refresh_token"), ("refresh_token", &tokens.refresh_token)], None).await;
    assert_error(refresh, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_error(app.get_with("/v1/sessions", &tokens.access_token).await, StatusCode::UNAUTHORIZED, "invalid_token")
        .await;
}

#[tokio::test]
async fn revoking_a_user_access_token_revokes_that_token_only() {
    let app = spawn_app().await;
    let tokens = app.login_new_user("ann@example.com").await;

    let response = app.oauth("revoke", &[("token", &tokens.access_token)], None).await;

    assert_eq!(response.status(), StatusCode::OK);
    let body = assert_error(
        app.get_with("/v1/sessions", &tokens.access_token).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    assert_eq!(body["error_description"], "the token has been revoked");
    let introspected: Value =
        app.oauth("introspect", &[("token", &tokens.access_token)], Some(ORDERS_CLIENT)).await.json().await.unwrap();
    assert_eq!(introspected["active"], false);
    // RFC 7009 §2.1 lets the server keep the session: its refresh token still works, and
    // the new access token with it.
    let refreshed: Value = app
        .oauth("token", &[("grant_type", "refresh_token"), ("refresh_token", &tokens.refresh_token)], None)
        .await
        .json()
        .await
        .unwrap();
    let fresh = refreshed["access_token"].as_str().expect("the session lives on");
    assert_eq!(app.get_with("/v1/sessions", fresh).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn another_client_cannot_revoke_a_users_tokens() {
    let app = spawn_app().await;
    let tokens = app.login_new_user("ann@example.com").await;

    for token in [&tokens.refresh_token, &tokens.access_token] {
        let response = app.oauth("revoke", &[("token", token)], Some(ORDERS_CLIENT)).await;
        assert_eq!(response.status(), StatusCode::OK, "no answer tells the client whose token it was");
    }

    assert_eq!(app.get_with("/v1/sessions", &tokens.access_token).await.status(), StatusCode::OK);
    let refreshed =
        app.oauth("token", &[("grant_type", "refresh_token"), ("refresh_token", &tokens.refresh_token)], None).await;
    assert_eq!(refreshed.status(), StatusCode::OK, "the session survived");
}

#[tokio::test]
async fn revoking_an_unknown_token_is_still_200_but_bad_requests_are_not() {
    let app = spawn_app().await;

    assert_eq!(app.oauth("revoke", &[("token", "nothing-we-issued")], None).await.status(), StatusCode::OK);
    assert_error(
        app.oauth("revoke", &[("token_type_hint", "refresh_token")], None).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_error(
        app.oauth("revoke", &[("token", "x")], Some(("orders-service", "wrong"))).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
}

#[tokio::test]
async fn introspection_describes_an_active_user_token_meant_for_the_client() {
    // Arrange
    let app = spawn_app().await;
    let tokens = app.login_new_user("ann@example.com").await;
    let (_, claims) = decode_jwt(&tokens.access_token);

    // Act: orders-service introspects; its client id is one of the user token's audiences.
    let response = app.oauth("introspect", &[("token", &tokens.access_token)], Some(ORDERS_CLIENT)).await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["sub"], claims["sub"]);
    assert_eq!(body["sid"], claims["sid"]);
    assert_eq!(body["client_id"], "web");
    assert_eq!(body["iss"], ISSUER);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["exp"], claims["exp"]);
    let scopes = |v: &Value| {
        let mut scopes: Vec<String> = v.as_str().unwrap().split(' ').map(str::to_owned).collect();
        scopes.sort();
        scopes
    };
    assert_eq!(scopes(&body["scope"]), scopes(&claims["scope"]));
}

#[tokio::test]
async fn introspection_says_inactive_for_other_audiences_ended_sessions_and_garbage() {
    let app = spawn_app().await;
    let tokens = app.login_new_user("ann@example.com").await;
    // A token for notifications-service, introspected by a client that is not that audience.
    let service_token = app.service_token(ORDERS_CLIENT).await;

    for (token, client) in [
        (service_token.as_str(), REPORTING_CLIENT),
        ("garbage", ORDERS_CLIENT),
        (tokens.refresh_token.as_str(), ORDERS_CLIENT),
    ] {
        let body: Value = app.oauth("introspect", &[("token", token)], Some(client)).await.json().await.unwrap();
        assert_eq!(body, serde_json::json!({"active": false}));
    }

    app.client.post(app.url("/v1/logout")).bearer_auth(&tokens.access_token).send().await.unwrap();
    let body: Value =
        app.oauth("introspect", &[("token", &tokens.access_token)], Some(ORDERS_CLIENT)).await.json().await.unwrap();
    assert_eq!(body["active"], false, "the session has ended");
}

#[tokio::test]
async fn introspection_requires_client_authentication_and_a_token() {
    let app = spawn_app().await;

    assert_error(app.oauth("introspect", &[("token", "x")], None).await, StatusCode::UNAUTHORIZED, "invalid_client")
        .await;
    assert_error(
        app.oauth("introspect", &[("token", "x")], Some(("orders-service", "nope"))).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    assert_error(app.oauth("introspect", &[], Some(ORDERS_CLIENT)).await, StatusCode::BAD_REQUEST, "invalid_request")
        .await;
}
