//! `POST /v1/notifications`: storing, idempotent redelivery and validation.

use serde_json::{Value, json};

use crate::helpers::{ORDERS_CLIENT, detail_fields, error_body, notification, spawn_app};

async fn stored_count(app: &crate::helpers::TestApp) -> i64 {
    use sqlx::Row as _;
    sqlx::query("SELECT COUNT(*) AS n FROM notifications").fetch_one(&app.db).await.unwrap().get::<i64, _>("n")
}

#[tokio::test]
async fn a_service_delivers_a_notification_and_the_recipient_sees_it() {
    // Arrange
    let app = spawn_app().await;
    let body = notification("3b0c8f1e-8d7a-4a57-9f0e-1f9a3c2d4b5e", "alice", "Your order was placed.");

    // Act
    let response = app.post_notification(Some(&app.sender_token()), &body).await;

    // Assert
    assert_eq!(response.status(), 201);
    assert!(response.headers()["x-served-by"].to_str().unwrap().starts_with("notifications-service/"));
    let stored: Value = response.json().await.unwrap();
    assert_eq!(stored["event_id"], body["event_id"]);
    assert_eq!(stored["recipient"], "alice");
    assert_eq!(stored["source"], ORDERS_CLIENT);
    assert_eq!(stored["kind"], "order.placed");
    assert_eq!(stored["data"], body["data"]);
    assert_eq!(stored["read_at"], Value::Null);
    assert!(stored["created_at"].as_str().unwrap().ends_with('Z'));

    let list: Value =
        app.list_notifications(Some(&app.user_token("alice", "notifications:read")), "").await.json().await.unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["items"][0]["id"], stored["id"]);
}

#[tokio::test]
async fn redelivering_an_event_returns_the_stored_notification_with_200() {
    let app = spawn_app().await;
    let body = notification("event-1", "alice", "Your order was placed.");
    let first: Value = app.post_notification(Some(&app.sender_token()), &body).await.json().await.unwrap();

    let retry = app.post_notification(Some(&app.sender_token()), &body).await;

    assert_eq!(retry.status(), 200);
    let second: Value = retry.json().await.unwrap();
    assert_eq!(second["id"], first["id"]);
    assert_eq!(stored_count(&app).await, 1);
}

#[tokio::test]
async fn concurrent_deliveries_of_one_event_store_it_once() {
    let app = spawn_app().await;
    let body = notification("event-race", "alice", "Your order was placed.");
    let token = app.sender_token();
    let responses = futures::future::join_all((0..8).map(|_| app.post_notification(Some(&token), &body))).await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 201 || *s == 200), "{statuses:?}");
    assert_eq!(stored_count(&app).await, 1);
}

#[tokio::test]
async fn an_event_id_reused_for_different_content_gets_409() {
    let app = spawn_app().await;
    let first = app.post_notification(Some(&app.sender_token()), &notification("event-1", "alice", "one")).await;
    assert_eq!(first.status(), 201);

    let response = app.post_notification(Some(&app.sender_token()), &notification("event-1", "alice", "two")).await;

    assert_eq!(response.status(), 409);
    assert_eq!(error_body(response).await["error"], "event_conflict");
    assert_eq!(stored_count(&app).await, 1);
}

#[tokio::test]
async fn event_ids_are_scoped_to_the_sending_service() {
    let app = spawn_app().await;
    let body = notification("event-1", "alice", "hello");
    let other_sender = app.service_token("billing-service", "notifications:write");
    assert_eq!(app.post_notification(Some(&app.sender_token()), &body).await.status(), 201);
    assert_eq!(app.post_notification(Some(&other_sender), &body).await.status(), 201);
    assert_eq!(stored_count(&app).await, 2);
}

#[tokio::test]
async fn invalid_fields_get_422_naming_each_field() {
    let app = spawn_app().await;
    let body = json!({
        "event_id": "has spaces",
        "recipient": "",
        "kind": "Order Placed",
        "message": "   ",
    });
    let response = app.post_notification(Some(&app.sender_token()), &body).await;
    assert_eq!(response.status(), 422);
    let error = error_body(response).await;
    assert_eq!(error["error"], "invalid_request");
    assert_eq!(detail_fields(&error), ["event_id", "recipient", "kind", "message"]);
    assert_eq!(stored_count(&app).await, 0);
}

#[tokio::test]
async fn a_message_with_a_nul_gets_422_not_a_database_error() {
    // PostgreSQL text cannot store U+0000; before the check this was a 500 there.
    let app = spawn_app().await;
    let body = json!({"event_id": "e-nul", "recipient": "alice", "kind": "order_placed", "message": "a\u{0}b"});
    let response = app.post_notification(Some(&app.sender_token()), &body).await;
    assert_eq!(response.status(), 422);
    assert_eq!(detail_fields(&error_body(response).await), ["message"]);
    assert_eq!(stored_count(&app).await, 0);
}

#[tokio::test]
async fn wrong_shapes_get_422_naming_the_field() {
    let app = spawn_app().await;
    let token = app.sender_token();
    let cases = [
        (json!({"event_id": "e", "recipient": 42, "kind": "k", "message": "m"}), "recipient"),
        (json!({"event_id": "e", "recipient": "r", "kind": "k", "message": "m", "data": [1]}), "data"),
        (json!({"event_id": "e", "recipient": "r", "kind": "k"}), "body"),
    ];
    for (body, field) in cases {
        let response = app.post_notification(Some(&token), &body).await;
        assert_eq!(response.status(), 422, "{body}");
        let error = error_body(response).await;
        assert_eq!(detail_fields(&error), [field], "{error}");
    }
}

#[tokio::test]
async fn unknown_fields_are_refused() {
    let app = spawn_app().await;
    let mut body = notification("e-1", "alice", "hi");
    body["priority"] = json!("high");
    let response = app.post_notification(Some(&app.sender_token()), &body).await;
    assert_eq!(response.status(), 422);
    let error = error_body(response).await;
    assert!(error["error_description"].as_str().unwrap().contains("priority"), "{error}");
}

#[tokio::test]
async fn bodies_that_are_not_json_are_refused() {
    let app = spawn_app().await;
    let url = format!("{}/v1/notifications", app.address);
    let token = app.sender_token();

    let malformed = app
        .client
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"event_id\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    error_body(malformed).await;

    let text = app
        .client
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 415);
    error_body(text).await;
}

#[tokio::test]
async fn oversize_bodies_get_413() {
    let app = spawn_app().await;
    let body = notification("e-1", "alice", &"x".repeat(70 * 1024));
    let response = app.post_notification(Some(&app.sender_token()), &body).await;
    assert_eq!(response.status(), 413);
    error_body(response).await;
}
