//! `/healthz`, `/readyz`, `/metrics`, the `healthcheck` subcommand, and the middleware every
//! response goes through.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{ORDERS_CLIENT, assert_error, spawn_app};

#[tokio::test]
async fn healthz_and_readyz_answer_ok_with_a_database_and_an_active_key() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let live = app.client.get(app.url("/healthz")).send().await.unwrap();
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();

    // Assert
    assert_eq!(live.status(), StatusCode::OK);
    assert_eq!(ready.status(), StatusCode::OK);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["signing_key"], "ok");
    assert_eq!(body["checks"]["signing_keys_fresh"], "ok");
}

#[tokio::test]
async fn readyz_fails_when_the_database_is_gone() {
    let app = spawn_app().await;
    app.pool().close().await;

    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();

    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.headers().contains_key("retry-after"));
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "failing");
}

#[tokio::test]
async fn metrics_expose_issuance_login_and_key_series() {
    let app = spawn_app().await;
    app.service_token(ORDERS_CLIENT).await;
    app.register("ann@example.com", "correct horse battery").await;
    let failed = app.login("ann@example.com", "wrong password!").await;
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    let unknown = app.login("nobody@example.com", "wrong password!").await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);

    let response = app.client.get(app.url("/metrics")).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    // Several apps share the process-wide recorder when tests run in one process, so
    // counters are at least what this test did.
    for (series, at_least) in [
        (r#"auth_tokens_issued_total{grant_type="client_credentials"}"#, 1.0),
        (r#"auth_login_failures_total{reason="invalid_credentials"}"#, 1.0),
        (r#"auth_login_failures_total{reason="unknown_account"}"#, 1.0),
        (r#"auth_signing_keys{state="active"}"#, 1.0),
        (r#"auth_signing_key_age_seconds{state="active"}"#, 0.0),
        ("auth_key_rotation_due_seconds", 1.0),
    ] {
        let value = metric_value(&text, series).unwrap_or_else(|| panic!("missing `{series}` in:\n{text}"));
        assert!(value >= at_least, "{series} = {value}");
    }
    assert!(text.contains("http_requests_total{"), "{text}");
}

/// The value of the sample whose name and labels are exactly `series`.
fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test]
async fn request_ids_are_kept_and_responses_name_the_replica() {
    let app = spawn_app().await;

    let response = app.client.get(app.url("/healthz")).header("x-request-id", "req-42").send().await.unwrap();

    assert_eq!(response.headers()["x-request-id"], "req-42");
    let served_by = response.headers()["x-served-by"].to_str().unwrap();
    assert!(served_by.starts_with("auth-service/"), "{served_by}");
}

#[tokio::test]
async fn unknown_routes_and_methods_get_the_json_envelope() {
    let app = spawn_app().await;

    let missing = app.client.get(app.url("/v1/nothing-here")).send().await.unwrap();
    assert_error(missing, StatusCode::NOT_FOUND, "not_found").await;

    let wrong_method = app.client.get(app.url("/v1/users")).send().await.unwrap();
    assert_error(wrong_method, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
}

#[tokio::test]
async fn healthcheck_subcommand_probe_succeeds_only_against_a_live_server() {
    let app = spawn_app().await;
    let address = app.address.trim_start_matches("http://").parse().unwrap();
    assert!(service_kit::serve::is_healthy(address).await);

    app.stop().await;
    assert!(!service_kit::serve::is_healthy(address).await);
}
