//! Where token responses put the tokens: `token_delivery` at login, and refreshes answering
//! the way the refresh token came.

use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, spawn_app};

fn set_cookies(response: &Response) -> Vec<String> {
    response.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

/// The value of cookie `name` among `Set-Cookie` headers.
fn cookie_value(cookies: &[String], name: &str) -> Option<String> {
    cookies.iter().find_map(|c| c.strip_prefix(&format!("{name}="))?.split(';').next().map(str::to_owned))
}

async fn login_with(app: &TestApp, email: &str, delivery: &str) -> Response {
    app.register(email, PASSWORD).await;
    app.post_json("/v1/login", &json!({"email": email, "password": PASSWORD, "token_delivery": delivery})).await
}

#[tokio::test]
async fn cookie_delivery_sets_the_cookies_and_keeps_the_tokens_out_of_the_body() {
    let app = spawn_app().await;

    let response = login_with(&app, "ann@example.com", "cookie").await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let cookies = set_cookies(&response);
    let access = cookie_value(&cookies, "__Host-access_token").expect("access cookie");
    assert!(cookie_value(&cookies, "__Secure-refresh_token").is_some_and(|t| t.len() >= 43));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body, json!({"token_type": "Bearer", "expires_in": 600, "scope": body["scope"]}));
    assert!(body["scope"].as_str().unwrap().contains("orders:write"));

    // The cookie alone is a working credential.
    let current =
        app.client.get(app.url("/v1/sessions/current")).header("cookie", format!("__Host-access_token={access}"));
    assert_eq!(current.send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn body_delivery_sets_no_cookie() {
    let app = spawn_app().await;

    let response = login_with(&app, "ann@example.com", "body").await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookies(&response).is_empty(), "{:?}", set_cookies(&response));
    let body: Value = response.json().await.unwrap();
    assert!(body["access_token"].is_string() && body["refresh_token"].is_string());
}

#[tokio::test]
async fn an_unknown_delivery_is_a_clear_client_error() {
    let app = spawn_app().await;

    let response = login_with(&app, "ann@example.com", "carrier-pigeon").await;

    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::BAD_REQUEST, "{status} {body}");
    assert_eq!(body["error"], "invalid_request", "{body}");
    assert!(body["error_description"].as_str().unwrap().contains("token_delivery"), "{body}");
}

#[tokio::test]
async fn a_refresh_from_the_cookie_answers_in_cookies_only() {
    let app = spawn_app().await;
    let login = login_with(&app, "ann@example.com", "cookie").await;
    let refresh = cookie_value(&set_cookies(&login), "__Secure-refresh_token").unwrap();

    let response = app
        .client
        .post(app.url("/oauth/token"))
        .header("cookie", format!("__Secure-refresh_token={refresh}"))
        .form(&[("grant_type", "refresh_token")])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let cookies = set_cookies(&response);
    let rotated = cookie_value(&cookies, "__Secure-refresh_token").expect("the rotated refresh token");
    assert_ne!(rotated, refresh);
    assert!(cookie_value(&cookies, "__Host-access_token").is_some());
    let body: Value = response.json().await.unwrap();
    assert!(body.get("access_token").is_none() && body.get("refresh_token").is_none(), "{body}");
}

#[tokio::test]
async fn a_refresh_from_the_form_answers_in_the_body_only() {
    let app = spawn_app().await;
    let tokens = app.login_new_user("ann@example.com").await;

    let response =
        app.oauth("token", &[("grant_type", "refresh_token"), ("refresh_token", &tokens.refresh_token)], None).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookies(&response).is_empty(), "{:?}", set_cookies(&response));
    let body: Value = response.json().await.unwrap();
    assert!(body["access_token"].is_string() && body["refresh_token"].is_string());
}

#[tokio::test]
async fn a_refresh_from_the_form_by_a_client_holding_the_cookie_renews_both() {
    let app = spawn_app().await;
    let tokens = app.login_new_user("ann@example.com").await;

    let response = app
        .client
        .post(app.url("/oauth/token"))
        .header("cookie", format!("__Secure-refresh_token={}", tokens.refresh_token))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", &tokens.refresh_token)])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let rotated = cookie_value(&set_cookies(&response), "__Secure-refresh_token").expect("the cookie follows");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["refresh_token"].as_str(), Some(rotated.as_str()), "one rotated token, in both places");
}
