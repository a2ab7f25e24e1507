//! `POST /v1/login`: tokens, cookies, identical failures, throttling.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ISSUER, PASSWORD, assert_error, decode_jwt, spawn_app, spawn_app_with};

#[tokio::test]
async fn login_returns_an_rfc_9068_access_token_a_refresh_token_and_cookies() {
    // Arrange
    let app = spawn_app().await;
    let registered: Value = app.register("ann@example.com", PASSWORD).await.json().await.unwrap();

    // Act
    let response = app.login("Ann@Example.com", PASSWORD).await;

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let cookies: Vec<String> =
        response.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    let refresh_cookie = cookies.iter().find(|c| c.starts_with("__Secure-refresh_token=")).expect("refresh cookie");
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/oauth/token;"] {
        assert!(refresh_cookie.contains(attribute), "{refresh_cookie}");
    }
    assert!(!refresh_cookie.contains("Domain"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    let refresh_token = body["refresh_token"].as_str().unwrap();
    assert!(refresh_token.len() >= 43, "at least 256 bits");
    assert!(refresh_cookie.contains(refresh_token));

    let (header, claims) = decode_jwt(body["access_token"].as_str().unwrap());
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["kid"], app.state.keys.signer().unwrap().kid());
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], registered["id"]);
    assert_eq!(claims["aud"], json!(["auth-service", "orders-service", "notifications-service"]));
    assert_eq!(claims["client_id"], "web");
    assert_eq!(claims["scope"], "orders:read orders:write notifications:read");
    assert_eq!(claims["role"], "user");
    assert!(claims["sid"].as_str().is_some());
    assert!(claims["jti"].as_str().is_some());
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 600);
    assert!(!claims.to_string().contains("ann@example.com"), "no personal data in the token");
}

#[tokio::test]
async fn administrators_get_the_admin_role_and_scope() {
    let app = spawn_app().await;
    let tokens = app.login_admin().await;

    let (_, claims) = decode_jwt(&tokens.access_token);

    assert_eq!(claims["role"], "admin");
    assert!(claims["scope"].as_str().unwrap().split(' ').any(|s| s == "auth:admin"));
}

#[tokio::test]
async fn a_self_registered_account_is_never_an_administrator() {
    // The address an operator might list is registered by someone else first.
    let app = spawn_app().await;
    let squatter = app.login_new_user(crate::helpers::ADMIN_EMAIL).await;

    let (_, claims) = decode_jwt(&squatter.access_token);
    assert_eq!(claims["role"], "user");
    assert!(!claims["scope"].as_str().unwrap().split(' ').any(|s| s == "auth:admin"));
    // Provisioning refuses the squatted address instead of promoting it.
    let provisioned = auth_service::provisioning::create_admin(
        app.pool(),
        &app.state.passwords,
        crate::helpers::ADMIN_EMAIL,
        PASSWORD.to_owned(),
    )
    .await;
    assert!(matches!(provisioned, Err(auth_service::provisioning::ProvisionError::EmailTaken)), "{provisioned:?}");
}

#[tokio::test]
async fn the_removed_admin_email_setting_is_refused_at_start() {
    let db = crate::helpers::fresh_db().await;
    let mut vars = crate::helpers::base_env(&db);
    vars.push(("AUTH_ADMIN_EMAILS".to_owned(), "boss@example.com".to_owned()));

    let error = auth_service::config::Settings::from_env(service_kit::config::Env::from_pairs(vars)).unwrap_err();

    assert!(error.to_string().contains("AUTH_ADMIN_EMAILS"), "{error}");
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_401() {
    let app = spawn_app().await;
    app.register("ann@example.com", PASSWORD).await;

    let wrong_password = app.login("ann@example.com", "not the password").await;
    let unknown_email = app.login("nobody@example.com", PASSWORD).await;
    let malformed_email = app.login("nobody", PASSWORD).await;

    let a = assert_error(wrong_password, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let b = assert_error(unknown_email, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let c = assert_error(malformed_email, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(a, b);
    assert_eq!(b, c);
}

#[tokio::test]
async fn empty_and_missing_credentials_get_422() {
    let app = spawn_app().await;

    let empty = app.login("", "").await;
    let missing = app.post_json("/v1/login", &json!({"email": "ann@example.com"})).await;

    let body = assert_error(empty, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    assert_eq!(body["details"].as_array().unwrap().len(), 2);
    assert_error(missing, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
}

#[tokio::test]
async fn repeated_failures_on_one_account_get_429_with_retry_after_even_for_the_right_password() {
    // Arrange
    let app =
        spawn_app_with(&[("AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT", "3"), ("AUTH_LOGIN_FAILURE_WINDOW", "10m")]).await;
    app.register("ann@example.com", PASSWORD).await;
    for _ in 0..3 {
        assert_eq!(app.login("ann@example.com", "wrong password").await.status(), StatusCode::UNAUTHORIZED);
    }

    // Act
    let throttled = app.login("ann@example.com", PASSWORD).await;

    // Assert
    let retry_after: u64 = throttled.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=600).contains(&retry_after), "{retry_after}");
    assert_error(throttled, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    // Other accounts are not affected by this one's counter.
    app.register("bob@example.com", PASSWORD).await;
    assert_eq!(app.login("bob@example.com", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_accounts_are_throttled_like_real_ones() {
    let app = spawn_app_with(&[("AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT", "2")]).await;
    for _ in 0..2 {
        app.login("ghost@example.com", "whatever1").await;
    }

    let response = app.login("ghost@example.com", "whatever1").await;

    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
}

#[tokio::test]
async fn a_successful_login_resets_the_account_counter() {
    let app = spawn_app_with(&[("AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT", "2")]).await;
    app.register("ann@example.com", PASSWORD).await;
    app.login("ann@example.com", "wrong password").await;
    assert_eq!(app.login("ann@example.com", PASSWORD).await.status(), StatusCode::OK);

    app.login("ann@example.com", "wrong password").await;
    let response = app.login("ann@example.com", PASSWORD).await;

    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn failures_across_accounts_from_one_address_get_429() {
    let app = spawn_app_with(&[("AUTH_LOGIN_MAX_FAILURES_PER_ADDRESS", "4")]).await;
    for i in 0..4 {
        let response = app.login(&format!("user{i}@example.com"), "wrong password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }

    let response = app.login("someone-else@example.com", "wrong password").await;

    assert!(response.headers().contains_key("retry-after"));
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
}

#[tokio::test]
async fn forwarded_for_is_ignored_unless_trusted() {
    let app = spawn_app_with(&[("AUTH_LOGIN_MAX_FAILURES_PER_ADDRESS", "2")]).await;
    for forwarded in ["10.0.0.1", "10.0.0.2"] {
        let response = app
            .client
            .post(app.url("/v1/login"))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"email": format!("{forwarded}@example.com"), "password": "wrong password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }

    // Both failures counted against the TCP peer, whatever the header claimed.
    let response = app
        .client
        .post(app.url("/v1/login"))
        .header("x-forwarded-for", "10.0.0.3")
        .json(&json!({"email": "third@example.com", "password": "wrong password"}))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
}

#[tokio::test]
async fn trusted_forwarded_for_throttles_per_client_behind_the_proxy() {
    let app =
        spawn_app_with(&[("AUTH_LOGIN_MAX_FAILURES_PER_ADDRESS", "2"), ("AUTH_TRUST_FORWARDED_FOR", "true")]).await;
    let attempt = |forwarded: &'static str, email: &'static str| {
        app.client
            .post(app.url("/v1/login"))
            .header("x-forwarded-for", forwarded)
            .json(&json!({"email": email, "password": "wrong password"}))
            .send()
    };
    // The proxy appends the real client last; anything before it is client-supplied.
    attempt("6.6.6.6, 10.0.0.1", "a@example.com").await.unwrap();
    attempt("7.7.7.7, 10.0.0.1", "b@example.com").await.unwrap();

    let same_client = attempt("8.8.8.8, 10.0.0.1", "c@example.com").await.unwrap();
    let other_client = attempt("10.0.0.1, 10.0.0.2", "d@example.com").await.unwrap();

    assert_error(same_client, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
    assert_error(other_client, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}
