//! Placing, reading and listing orders; ownership; the outbox record each order leaves.

use serde_json::Value;
use sqlx::Row as _;

use crate::helpers::{detail_fields, error_body, order_body, spawn_app};

#[tokio::test]
async fn placing_an_order_returns_201_with_the_stored_order() {
    // Arrange
    let app = spawn_app().await;
    let body = order_body(&[("ABC-123", 2), ("XYZ-9", 1000)]);

    // Act
    let response = app.post_order(Some(&app.token("alice")), &body).await;

    // Assert
    assert_eq!(response.status(), 201);
    assert!(response.headers()["x-served-by"].to_str().unwrap().starts_with("orders-service/"));
    let key = jwt_verifier::testkit::test_key(0);
    assert_eq!(response.headers()["x-verified-kid"].to_str().unwrap(), key.kid(), "the key that verified the token");
    let order: Value = response.json().await.unwrap();
    assert!(uuid::Uuid::parse_str(order["id"].as_str().unwrap()).is_ok());
    assert_eq!(order["owner"], "alice");
    assert_eq!(order["status"], "placed");
    assert_eq!(order["items"], body["items"]);
    assert!(order["created_at"].as_str().unwrap().ends_with('Z'));

    let fetched: Value =
        app.get_order(Some(&app.token("alice")), order["id"].as_str().unwrap()).await.json().await.unwrap();
    assert_eq!(fetched, order);
}

#[tokio::test]
async fn each_order_leaves_one_outbox_record_with_the_request_ids() {
    let app = spawn_app().await;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let response = app
        .post_order_with(
            Some(&app.token("alice")),
            &order_body(&[("ABC-1", 3), ("DEF-2", 4)]),
            &[("x-request-id", "req-order-1"), ("traceparent", traceparent)],
        )
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-request-id"], "req-order-1");
    let order: Value = response.json().await.unwrap();

    let rows = sqlx::query("SELECT id, order_id, payload, request_id, traceparent, delivered_at FROM outbox")
        .fetch_all(&app.app.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.get::<String, _>("order_id"), order["id"].as_str().unwrap());
    assert_eq!(row.get::<String, _>("request_id"), "req-order-1");
    assert_eq!(row.get::<String, _>("traceparent"), traceparent);
    assert_eq!(row.get::<Option<i64>, _>("delivered_at"), None);
    let payload: Value = serde_json::from_str(&row.get::<String, _>("payload")).unwrap();
    assert_eq!(payload["event_id"], row.get::<String, _>("id").as_str());
    assert_eq!(payload["recipient"], "alice");
    assert_eq!(payload["kind"], "order.placed");
    assert_eq!(payload["data"]["order_id"], order["id"]);
    assert_eq!(payload["data"]["total_quantity"], 7);
}

#[tokio::test]
async fn another_users_order_is_not_found() {
    let app = spawn_app().await;
    let order = app.place_order("alice").await;
    let id = order["id"].as_str().unwrap();

    let response = app.get_order(Some(&app.token("bob")), id).await;
    assert_eq!(response.status(), 404);
    let body = error_body(response).await;
    assert_eq!(body["error"], "not_found");

    // Indistinguishable from an order that does not exist, or an id that is not an id.
    let missing = error_body(app.get_order(Some(&app.token("bob")), &uuid::Uuid::now_v7().to_string()).await).await;
    assert_eq!(missing, body);
    assert_eq!(app.get_order(Some(&app.token("bob")), "not-an-id").await.status(), 404);
}

#[tokio::test]
async fn users_list_only_their_own_orders_newest_first() {
    let app = spawn_app().await;
    let first = app.place_order("alice").await;
    app.place_order("bob").await;
    let second = app.place_order("alice").await;

    let page: Value = app.list_orders(Some(&app.token("alice")), "").await.json().await.unwrap();

    let ids: Vec<&Value> = page["items"].as_array().unwrap().iter().map(|o| &o["id"]).collect();
    assert_eq!(ids, [&second["id"], &first["id"]]);
    assert_eq!(page["next_cursor"], Value::Null);
}

#[tokio::test]
async fn admins_see_every_order() {
    let app = spawn_app().await;
    let alice = app.place_order("alice").await;
    let bob = app.place_order("bob").await;
    let admin = app.admin_token("root");

    let page: Value = app.list_orders(Some(&admin), "").await.json().await.unwrap();
    let ids: Vec<&Value> = page["items"].as_array().unwrap().iter().map(|o| &o["id"]).collect();
    assert_eq!(ids, [&bob["id"], &alice["id"]]);

    let fetched = app.get_order(Some(&admin), alice["id"].as_str().unwrap()).await;
    assert_eq!(fetched.status(), 200);
}

#[tokio::test]
async fn pages_follow_the_cursor_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let mut placed = Vec::new();
    for _ in 0..5 {
        placed.push(app.place_order("alice").await["id"].clone());
    }
    placed.reverse();
    let token = app.token("alice");

    let mut seen = Vec::new();
    let mut query = "limit=2".to_owned();
    let mut pages = 0;
    loop {
        let response = app.list_orders(Some(&token), &query).await;
        assert_eq!(response.status(), 200);
        let page: Value = response.json().await.unwrap();
        pages += 1;
        seen.extend(page["items"].as_array().unwrap().iter().map(|o| o["id"].clone()));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=2&cursor={cursor}"),
            None => break,
        }
    }

    assert_eq!(pages, 3);
    assert_eq!(seen, placed);
}

#[tokio::test]
async fn bad_page_parameters_get_400_naming_the_parameter() {
    let app = spawn_app().await;
    let token = app.token("alice");
    for (query, field) in [("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit"), ("cursor=%%%", "cursor")]
    {
        let response = app.list_orders(Some(&token), query).await;
        assert_eq!(response.status(), 400, "{query}");
        assert_eq!(detail_fields(&error_body(response).await), [field], "{query}");
    }
}
