//! Operational endpoints and the headers every response carries.

use std::time::Duration;

use jwt_verifier::testkit::{TestIssuer, test_key};

use crate::helpers::{error_body, spawn_app, spawn_app_with};

#[tokio::test]
async fn liveness_answers_and_names_the_replica() {
    let app = spawn_app().await;
    let response = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let served_by = response.headers()["x-served-by"].to_str().unwrap();
    assert!(served_by.starts_with("notifications-service/") && served_by.len() > "notifications-service/".len());
}

#[tokio::test]
async fn readiness_turns_ready_once_keys_are_loaded() {
    let app = spawn_app().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = app.client.get(format!("{}/readyz", app.address)).send().await.unwrap();
        if response.status() == 200 {
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["checks"]["database"], "ok");
            assert_eq!(body["checks"]["keys"], "ok");
            break;
        }
        assert_eq!(response.status(), 503);
        assert!(tokio::time::Instant::now() < deadline, "never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn without_the_issuer_the_service_starts_but_is_not_ready_and_answers_503() {
    let issuer = TestIssuer::start(vec![test_key(0)]).await;
    issuer.set_down(true);
    let app = spawn_app_with(issuer).await;

    let response = app.client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["keys"], "failing");

    let token = app.user_token("alice", "notifications:read");
    let response = app.list_notifications(Some(&token), "").await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    error_body(response).await;
}

#[tokio::test]
async fn metrics_are_exposed_in_prometheus_text() {
    let app = spawn_app().await;
    app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    let response = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
}

#[tokio::test]
async fn request_ids_are_kept_and_unknown_routes_get_the_envelope() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/no/such/route", app.address))
        .header("x-request-id", "req-abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["x-request-id"], "req-abc-123");
    error_body(response).await;

    let wrong_method = app.client.delete(format!("{}/v1/notifications", app.address)).send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    error_body(wrong_method).await;
}

/// The kit's rule, seen through this service: a database it cannot reach is a 503 with
/// `Retry-After` (come back later), never a 500, and readiness fails with it.
#[tokio::test]
async fn an_unreachable_database_answers_503_with_retry_after() {
    let app = spawn_app().await;
    let reader = app.user_token("user-1", "notifications:read");
    assert_eq!(app.list_notifications(Some(&reader), "").await.status(), 200);

    app.db.close().await;
    let body = crate::helpers::notification(&uuid::Uuid::now_v7().to_string(), "user-1", "hello");
    for response in
        [app.list_notifications(Some(&reader), "").await, app.post_notification(Some(&app.sender_token()), &body).await]
    {
        assert_eq!(response.status(), 503);
        assert!(response.headers().contains_key("retry-after"), "no Retry-After");
        assert_eq!(error_body(response).await["error"], "temporarily_unavailable");
    }
    let ready = app.client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status(), 503);
}

#[tokio::test]
async fn made_up_methods_share_one_metric_label() {
    let app = spawn_app().await;
    for i in 0..50 {
        let method = reqwest::Method::from_bytes(format!("PROBE{i}").as_bytes()).unwrap();
        app.client.request(method, format!("{}/healthz", app.address)).send().await.unwrap();
    }
    let text = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    assert!(!text.contains("PROBE"), "a raw method became a label");
    assert!(text.contains("method=\"other\""), "{text}");
}
