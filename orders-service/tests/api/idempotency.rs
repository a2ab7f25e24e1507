//! `Idempotency-Key`: retries return the first order and store nothing twice.

use serde_json::Value;

use crate::helpers::{detail_fields, error_body, isolated_env, order_body, spawn_app, start_orders};

#[tokio::test]
async fn a_retried_request_returns_the_first_order_and_stores_one() {
    // Arrange
    let app = spawn_app().await;
    let token = app.token("alice");
    let body = order_body(&[("ABC-1", 2)]);
    let key = [("idempotency-key", "7d6f3a0e-2c1b-4f7e-9a8d-0b1c2d3e4f50")];

    // Act
    let first = app.post_order_with(Some(&token), &body, &key).await;
    let retry = app.post_order_with(Some(&token), &body, &key).await;

    // Assert
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    let first: Value = first.json().await.unwrap();
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(first, retry);
    assert_eq!(app.count("orders").await, 1);
    assert_eq!(app.count("outbox").await, 1);
}

#[tokio::test]
async fn concurrent_retries_store_one_order() {
    let app = spawn_app().await;
    let token = app.token("alice");
    let body = order_body(&[("ABC-1", 2)]);
    let key = [("idempotency-key", "race-key")];

    let responses = futures::future::join_all((0..10).map(|_| app.post_order_with(Some(&token), &body, &key))).await;

    let mut ids = Vec::new();
    for response in responses {
        assert_eq!(response.status(), 201);
        let order: Value = response.json().await.unwrap();
        ids.push(order["id"].clone());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every retry got the same order");
    assert_eq!(app.count("orders").await, 1);
    assert_eq!(app.count("outbox").await, 1);
}

#[tokio::test]
async fn a_retry_on_another_replica_returns_the_first_order() {
    // Two replicas on one database, as behind a load balancer.
    let app = spawn_app().await;
    let replica = start_orders(isolated_env(&app.issuer.issuer(), app.database_url())).await;
    let token = app.token("alice");
    let body = order_body(&[("ABC-1", 2)]);

    let first = app.post_order_with(Some(&token), &body, &[("idempotency-key", "k-1")]).await;
    let retry = app
        .client
        .post(format!("{}/v1/orders", replica.address))
        .bearer_auth(&token)
        .header("idempotency-key", "k-1")
        .json(&body)
        .send()
        .await
        .unwrap();

    assert_eq!(first.status(), 201);
    assert_eq!(retry.status(), 201);
    let served_by = |r: &reqwest::Response| r.headers()["x-served-by"].to_str().unwrap().to_owned();
    assert_ne!(served_by(&first), served_by(&retry), "two different replicas answered");
    let first: Value = first.json().await.unwrap();
    let retry: Value = retry.json().await.unwrap();
    assert_eq!(first["id"], retry["id"]);
    assert_eq!(app.count("orders").await, 1);
}

#[tokio::test]
async fn the_same_key_with_a_different_body_gets_422() {
    let app = spawn_app().await;
    let token = app.token("alice");
    let key = [("idempotency-key", "k-1")];
    assert_eq!(app.post_order_with(Some(&token), &order_body(&[("A", 1)]), &key).await.status(), 201);

    let response = app.post_order_with(Some(&token), &order_body(&[("A", 2)]), &key).await;

    assert_eq!(response.status(), 422);
    let error = error_body(response).await;
    assert_eq!(error["error"], "idempotency_key_reused");
    assert_eq!(detail_fields(&error), ["Idempotency-Key"]);
    assert_eq!(app.count("orders").await, 1);
}

#[tokio::test]
async fn keys_are_scoped_to_the_user() {
    let app = spawn_app().await;
    let key = [("idempotency-key", "shared-key")];
    let body = order_body(&[("A", 1)]);
    let alice: Value = app.post_order_with(Some(&app.token("alice")), &body, &key).await.json().await.unwrap();
    let bob = app.post_order_with(Some(&app.token("bob")), &body, &key).await;
    assert_eq!(bob.status(), 201);
    let bob: Value = bob.json().await.unwrap();
    assert_ne!(alice["id"], bob["id"]);
    assert_eq!(bob["owner"], "bob");
    assert_eq!(app.count("orders").await, 2);
}

#[tokio::test]
async fn malformed_keys_get_400() {
    let app = spawn_app().await;
    let long = "k".repeat(256);
    for key in ["", long.as_str(), "has space"] {
        let response =
            app.post_order_with(Some(&app.token("alice")), &order_body(&[("A", 1)]), &[("idempotency-key", key)]).await;
        assert_eq!(response.status(), 400, "{key:.10}");
        assert_eq!(detail_fields(&error_body(response).await), ["Idempotency-Key"]);
    }
    assert_eq!(app.count("orders").await, 0);
}
