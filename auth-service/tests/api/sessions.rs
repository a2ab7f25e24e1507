//! `GET /v1/sessions`, `GET /v1/sessions/current`, `DELETE /v1/sessions/{id}`, `POST /v1/logout`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ORDERS_CLIENT, PASSWORD, assert_error, decode_jwt, spawn_app};

#[tokio::test]
async fn sessions_lists_the_callers_active_sessions_and_marks_the_current_one() {
    // Arrange
    let app = spawn_app().await;
    let first = app.login_new_user("ann@example.com").await;
    let second = app
        .client
        .post(app.url("/v1/login"))
        .header("user-agent", "test-browser/1.0")
        .json(&serde_json::json!({"email": "ann@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    app.login_new_user("bob@example.com").await;

    // Act
    let response = app.get_with("/v1/sessions", second["access_token"].as_str().unwrap()).await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let sessions = body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "only Ann's sessions: {body}");
    let (_, first_claims) = decode_jwt(&first.access_token);
    let (_, second_claims) = decode_jwt(second["access_token"].as_str().unwrap());
    let current = sessions.iter().find(|s| s["current"] == true).unwrap();
    assert_eq!(current["id"], second_claims["sid"]);
    assert_eq!(current["user_agent"], "test-browser/1.0");
    assert_eq!(current["client_id"], "web");
    assert!(sessions.iter().any(|s| s["id"] == first_claims["sid"] && s["current"] == false));
    for field in ["created_at", "last_seen_at", "expires_at"] {
        assert!(current[field].as_str().unwrap().ends_with('Z'));
    }
}

#[tokio::test]
async fn deleting_a_session_ends_it_and_kills_its_refresh_token() {
    let app = spawn_app().await;
    let phone = app.login_new_user("ann@example.com").await;
    let laptop = app.login_new_user("ann@example.com").await;
    let (_, phone_claims) = decode_jwt(&phone.access_token);
    let phone_sid = phone_claims["sid"].as_str().unwrap();

    let response = app
        .client
        .delete(app.url(&format!("/v1/sessions/{phone_sid}")))
        .bearer_auth(&laptop.access_token)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let listed: Value = app.get_with("/v1/sessions", &laptop.access_token).await.json().await.unwrap();
    assert_eq!(listed["sessions"].as_array().unwrap().len(), 1);
    let refresh =
        app.oauth("token", &[("grant_type", "refresh_token"), ("refresh_token", &phone.refresh_token)], None).await;
    assert_error(refresh, StatusCode::BAD_REQUEST, "invalid_grant").await;
    // The phone's access token no longer works here either.
    assert_error(app.get_with("/v1/sessions", &phone.access_token).await, StatusCode::UNAUTHORIZED, "invalid_token")
        .await;
}

#[tokio::test]
async fn another_users_session_or_a_bogus_id_gets_404() {
    let app = spawn_app().await;
    let ann = app.login_new_user("ann@example.com").await;
    let bob = app.login_new_user("bob@example.com").await;
    let (_, bob_claims) = decode_jwt(&bob.access_token);

    for id in [bob_claims["sid"].as_str().unwrap(), "not-a-uuid", "00000000-0000-0000-0000-000000000000"] {
        let response = app
            .client
            .delete(app.url(&format!("/v1/sessions/{id}")))
            .bearer_auth(&ann.access_token)
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    // Bob's session survived.
    assert_eq!(app.get_with("/v1/sessions", &bob.access_token).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_ends_the_current_session_and_clears_the_cookies() {
    let app = spawn_app().await;
    let tokens = app.login_new_user("ann@example.com").await;

    let response = app.client.post(app.url("/v1/logout")).bearer_auth(&tokens.access_token).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared: Vec<&str> = response.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    assert!(
        cleared.iter().any(|c| c.starts_with("__Secure-refresh_token=;") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    let refresh =
        app.oauth("token", &[("grant_type", "refresh_token"), ("refresh_token", &tokens.refresh_token)], None).await;
    assert_error(refresh, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let again = app.client.post(app.url("/v1/logout")).bearer_auth(&tokens.access_token).send().await.unwrap();
    assert_error(again, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn session_endpoints_need_a_valid_user_token() {
    let app = spawn_app().await;

    let missing = app.client.get(app.url("/v1/sessions")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert!(missing.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    // RFC 6750 §3.1: no error code in the challenge when no credentials were sent.
    assert_eq!(missing.json::<Value>().await.unwrap()["error"], "unauthorized");

    let garbage = app.get_with("/v1/sessions", "not.a.jwt").await;
    assert_error(garbage, StatusCode::UNAUTHORIZED, "invalid_token").await;

    let tokens = app.login_new_user("ann@example.com").await;
    let mut tampered = tokens.access_token.clone();
    tampered.pop();
    tampered.push(if tokens.access_token.ends_with('A') { 'B' } else { 'A' });
    assert_error(app.get_with("/v1/sessions", &tampered).await, StatusCode::UNAUTHORIZED, "invalid_token").await;

    // A service token for another audience is refused by audience...
    let service = app.service_token(ORDERS_CLIENT).await;
    assert_error(app.get_with("/v1/sessions", &service).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn a_service_token_for_this_audience_gets_403_on_session_endpoints() {
    let app = crate::helpers::spawn_app_with(&[("AUTH_CLIENTS", "ops|ops-secret|auth:admin|auth-service")]).await;
    let token = app.service_token(("ops", "ops-secret")).await;

    let response = app.get_with("/v1/sessions", &token).await;

    assert_error(response, StatusCode::FORBIDDEN, "insufficient_scope").await;
}

#[tokio::test]
async fn the_current_session_says_which_token_session_and_credential_the_request_carried() {
    let app = spawn_app().await;
    let tokens = app.login_new_user("ann@example.com").await;
    let (header, claims) = decode_jwt(&tokens.access_token);

    let by_header = app.get_with("/v1/sessions/current", &tokens.access_token).await;
    assert_eq!(by_header.status(), StatusCode::OK);
    assert_eq!(by_header.headers()["cache-control"], "no-store");
    assert_eq!(by_header.headers()["x-verified-kid"], header["kid"].as_str().unwrap());
    let body: Value = by_header.json().await.unwrap();
    assert_eq!(body["credential"], "header");
    assert_eq!(body["token"]["kid"], header["kid"]);
    assert_eq!(body["token"]["jti"], claims["jti"]);
    assert_eq!(body["token"]["sid"], claims["sid"]);
    assert_eq!(body["token"]["exp"], claims["exp"]);
    assert_eq!(body["token"]["scope"], json!(["orders:read", "orders:write", "notifications:read"]));
    assert_eq!(body["session"]["id"], claims["sid"]);
    assert_eq!(body["session"]["current"], true);

    let by_cookie = app
        .client
        .get(app.url("/v1/sessions/current"))
        .header("cookie", format!("__Host-access_token={}", tokens.access_token))
        .send()
        .await
        .unwrap();
    let body: Value = by_cookie.json().await.unwrap();
    assert_eq!(body["credential"], "cookie", "{body}");
}

#[tokio::test]
async fn the_current_session_of_an_ended_session_or_a_service_token_is_refused() {
    let app = spawn_app().await;
    let tokens = app.login_new_user("ann@example.com").await;
    assert_eq!(app.logout(&tokens.access_token).await.status(), StatusCode::NO_CONTENT);

    let ended = app.get_with("/v1/sessions/current", &tokens.access_token).await;
    assert_eq!(ended.status(), StatusCode::UNAUTHORIZED);
    assert!(ended.headers().contains_key("www-authenticate"));

    let service = app.service_token(ORDERS_CLIENT).await;
    let refused = app.get_with("/v1/sessions/current", &service).await;
    // Its audience is not auth-service (401) or, were it, it has no session (403).
    assert!(matches!(refused.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN), "{}", refused.status());
    assert!(refused.headers().contains_key("www-authenticate"));

    let anonymous = app.client.get(app.url("/v1/sessions/current")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert!(anonymous.headers().get("x-verified-kid").is_none(), "no token, no verifying key");
}
