//! Operational endpoints, the headers every response carries, and start-up without the
//! services orders-service depends on.

use std::time::Duration;

use jwt_verifier::testkit::{TestIssuer, test_key};
use serde_json::Value;

use crate::helpers::{TestDatabase, client, error_body, eventually, isolated_env, order_body, spawn_app, start_orders};

#[tokio::test]
async fn liveness_answers_and_names_the_replica() {
    let app = spawn_app().await;
    let response = app.client.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let served_by = response.headers()["x-served-by"].to_str().unwrap();
    assert!(served_by.starts_with("orders-service/") && served_by.len() > "orders-service/".len());
}

#[tokio::test]
async fn readiness_turns_ready_once_keys_are_loaded() {
    let app = spawn_app().await;
    let body: Value = eventually(Duration::from_secs(10), "readiness", || async {
        let response = app.client.get(format!("{}/readyz", app.address)).send().await.unwrap();
        if response.status() == 200 { response.json().await.ok() } else { None }
    })
    .await;
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["keys"], "ok");
}

#[tokio::test]
async fn it_starts_and_takes_no_traffic_while_the_issuer_is_down() {
    let issuer = TestIssuer::start(vec![test_key(0)]).await;
    issuer.set_down(true);
    let database = TestDatabase::create("orders").await;

    // Neither the issuer nor notifications-service is reachable: start-up still succeeds.
    let app = start_orders(isolated_env(&issuer.issuer(), &database.url)).await;

    let client = client();
    let response = client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["keys"], "failing");
    assert_eq!(client.get(format!("{}/healthz", app.address)).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn metrics_are_exposed_in_prometheus_text() {
    let app = spawn_app().await;
    app.place_order("alice").await;
    let response = app.client.get(format!("{}/metrics", app.address)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains("orders_placed_total"), "{text}");
}

#[tokio::test]
async fn request_ids_are_kept_or_created_and_unknown_routes_get_the_envelope() {
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

    let created = app.post_order(Some(&app.token("alice")), &order_body(&[("A", 1)])).await;
    assert!(!created.headers()["x-request-id"].is_empty());

    let wrong_method = app.client.delete(format!("{}/v1/orders", app.address)).send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    error_body(wrong_method).await;
}

/// The kit's rule, seen through this service: a database it cannot reach is a 503 with
/// `Retry-After` (come back later), never a 500, and readiness fails with it.
#[tokio::test]
async fn an_unreachable_database_answers_503_with_retry_after() {
    let app = spawn_app().await;
    let token = app.token("user-1");
    assert_eq!(app.list_orders(Some(&token), "").await.status(), 200);

    app.app.db.close().await;
    for response in
        [app.list_orders(Some(&token), "").await, app.post_order(Some(&token), &order_body(&[("SKU-1", 1)])).await]
    {
        assert_eq!(response.status(), 503);
        assert!(response.headers().contains_key("retry-after"), "no Retry-After");
        assert_eq!(error_body(response).await["error"], "temporarily_unavailable");
    }
    let ready = app.client.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status(), 503);
}
