//! The outbox end to end, with real services: auth-service issues the user's token and
//! orders-service's own client-credentials token; notifications-service verifies the latter
//! and stores the notifications. Two orders replicas share one database and both dispatch.

use std::{collections::BTreeSet, time::Duration};

use serde_json::Value;
use sqlx::Row as _;

use crate::helpers::{
    ORDERS_CLIENT_SECRET, Running, TestDatabase, client, count, eventually, free_port, order_body, register_and_login,
    start_auth, start_auth_with, start_notifications, start_orders,
};

/// An orders replica that delivers to `notifications_url`, retrying fast so tests are quick.
fn dispatching_env(issuer: &str, database_url: &str, notifications_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("LISTEN_ADDR", "127.0.0.1:0".to_owned()),
        ("DATABASE_URL", database_url.to_owned()),
        ("DATABASE_MAX_CONNECTIONS", "5".to_owned()),
        ("AUTH_ISSUER", issuer.to_owned()),
        ("ORDERS_CLIENT_ID", "orders-service".to_owned()),
        ("ORDERS_CLIENT_SECRET", ORDERS_CLIENT_SECRET.to_owned()),
        ("NOTIFICATIONS_URL", notifications_url.to_owned()),
        ("NOTIFICATIONS_TIMEOUT", "2s".to_owned()),
        ("OUTBOX_BATCH_SIZE", "4".to_owned()),
        ("OUTBOX_POLL_INTERVAL", "100ms".to_owned()),
        ("OUTBOX_INITIAL_BACKOFF", "100ms".to_owned()),
        ("OUTBOX_MAX_BACKOFF", "400ms".to_owned()),
        ("OUTBOX_CLAIM_LEASE", "10s".to_owned()),
    ]
}

fn notifications_env(port: u16, database_url: &str, issuer: &str) -> Vec<(&'static str, String)> {
    vec![
        ("LISTEN_ADDR", format!("127.0.0.1:{port}")),
        ("DATABASE_URL", database_url.to_owned()),
        ("AUTH_ISSUER", issuer.to_owned()),
    ]
}

/// Places `n` orders for `token`, alternating between `replicas`; every one must get 201.
async fn place_orders(replicas: &[&Running], token: &str, n: usize) -> BTreeSet<String> {
    let client = client();
    let mut ids = BTreeSet::new();
    for i in 0..n {
        let replica = replicas[i % replicas.len()];
        let response = client
            .post(format!("{}/v1/orders", replica.address))
            .bearer_auth(token)
            .json(&order_body(&[("SKU-1", i64::try_from(i).unwrap() + 1)]))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "order {i}");
        let order: Value = response.json().await.unwrap();
        ids.insert(order["id"].as_str().unwrap().to_owned());
    }
    ids
}

/// `(id, attempts, delivered)` of every outbox record.
async fn outbox(db: &service_kit::db::Pool) -> Vec<(String, i64, bool)> {
    sqlx::query("SELECT id, attempts, delivered_at FROM outbox")
        .fetch_all(db)
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get("id"), row.get("attempts"), row.get::<Option<i64>, _>("delivered_at").is_some()))
        .collect()
}

/// The user's notifications as `(event_id, order_id)` pairs.
async fn notifications_of(notifications: &Running, token: &str) -> Vec<(String, String)> {
    let page: Value = client()
        .get(format!("{}/v1/notifications?limit=100", notifications.address))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["event_id"].as_str().unwrap().to_owned(), n["data"]["order_id"].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn orders_placed_while_notifications_is_down_are_notified_exactly_once_when_it_returns() {
    // Arrange: auth-service, two orders replicas on one database, notifications-service down.
    let auth_db = TestDatabase::create("auth").await;
    let auth = start_auth(free_port(), &auth_db.url).await;
    let orders_db = TestDatabase::create("orders").await;
    let notifications_port = free_port();
    let notifications_url = format!("http://127.0.0.1:{notifications_port}");
    let replica_a = start_orders(dispatching_env(&auth.address, &orders_db.url, &notifications_url)).await;
    let replica_b = start_orders(dispatching_env(&auth.address, &orders_db.url, &notifications_url)).await;
    let token = register_and_login(&client(), &auth.address, "alice@example.com").await;

    // Act 1: orders are placed while notifications-service is unreachable.
    let order_ids = place_orders(&[&replica_a, &replica_b], &token, 12).await;
    // Every record has been tried and is still waiting.
    eventually(Duration::from_secs(10), "a failed attempt for every record", || async {
        let records = outbox(&replica_a.db).await;
        (records.len() == 12 && records.iter().all(|(_, attempts, delivered)| *attempts >= 1 && !delivered))
            .then_some(())
    })
    .await;

    // Act 2: notifications-service comes up at the address orders-service was given.
    let notifications_db = TestDatabase::create("notifications").await;
    let notifications =
        start_notifications(notifications_env(notifications_port, &notifications_db.url, &auth.address)).await;

    // Assert: every record is delivered, and every order has exactly one notification.
    let records = eventually(Duration::from_secs(20), "every record delivered", || async {
        let records = outbox(&replica_a.db).await;
        records.iter().all(|(_, _, delivered)| *delivered).then_some(records)
    })
    .await;
    assert!(records.iter().all(|(_, attempts, _)| *attempts >= 2), "delivered after failed attempts: {records:?}");
    assert_eq!(count(&notifications.db, "notifications").await, 12);
    let received = notifications_of(&notifications, &token).await;
    assert_eq!(received.len(), 12);
    let event_ids: BTreeSet<String> = received.iter().map(|(event, _)| event.clone()).collect();
    let notified_orders: BTreeSet<String> = received.iter().map(|(_, order)| order.clone()).collect();
    let record_ids: BTreeSet<String> = records.into_iter().map(|(id, _, _)| id).collect();
    assert_eq!(event_ids, record_ids, "one notification per outbox record");
    assert_eq!(notified_orders, order_ids, "one notification per order");
}

#[tokio::test]
async fn orders_keep_working_while_auth_is_down_and_notifications_follow_when_it_returns() {
    // Arrange: everything up; the user logs in and orders-service has verified one request.
    let auth_port = free_port();
    let auth_db = TestDatabase::create("auth").await;
    let auth = start_auth(auth_port, &auth_db.url).await;
    let auth_url = auth.address.clone();
    let notifications_db = TestDatabase::create("notifications").await;
    let notifications = start_notifications(notifications_env(0, &notifications_db.url, &auth_url)).await;
    let orders_db = TestDatabase::create("orders").await;
    let orders = start_orders(dispatching_env(&auth_url, &orders_db.url, &notifications.address)).await;
    let token = register_and_login(&client(), &auth_url, "bob@example.com").await;
    let warm_up = client().get(format!("{}/v1/orders", orders.address)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(warm_up.status(), 200);
    eventually(Duration::from_secs(10), "notifications-service has the keys", || async {
        let ready = client().get(format!("{}/readyz", notifications.address)).send().await.ok()?;
        (ready.status() == 200).then_some(())
    })
    .await;

    // Act 1: auth-service goes away; tokens are still verified locally with cached keys, but
    // the dispatcher cannot get its own token.
    auth.stop().await;
    let order_ids = place_orders(&[&orders], &token, 3).await;
    eventually(Duration::from_secs(10), "failed attempts without a service token", || async {
        let records = outbox(&orders.db).await;
        records.iter().all(|(_, attempts, delivered)| *attempts >= 1 && !delivered).then_some(())
    })
    .await;
    assert_eq!(count(&notifications.db, "notifications").await, 0);

    // Act 2: auth-service returns on the same address and database.
    let _auth = start_auth(auth_port, &auth_db.url).await;

    // Assert
    eventually(Duration::from_secs(20), "every record delivered", || async {
        outbox(&orders.db).await.iter().all(|(_, _, delivered)| *delivered).then_some(())
    })
    .await;
    let received = notifications_of(&notifications, &token).await;
    let notified_orders: BTreeSet<String> = received.into_iter().map(|(_, order)| order).collect();
    assert_eq!(notified_orders, order_ids);
    assert_eq!(count(&notifications.db, "notifications").await, 3);
}

#[tokio::test]
async fn a_notification_that_notifications_refuses_is_parked_not_retried() {
    // Arrange: the whole stack up, one real order delivered.
    let auth_db = TestDatabase::create("auth").await;
    let auth = start_auth(free_port(), &auth_db.url).await;
    let notifications_db = TestDatabase::create("notifications").await;
    let notifications = start_notifications(notifications_env(0, &notifications_db.url, &auth.address)).await;
    let orders_db = TestDatabase::create("orders").await;
    let orders = start_orders(dispatching_env(&auth.address, &orders_db.url, &notifications.address)).await;
    let token = register_and_login(&client(), &auth.address, "carol@example.com").await;
    let order_id = place_orders(&[&orders], &token, 1).await.pop_first().unwrap();

    // Act: a record whose payload notifications-service can never accept (a bad event id).
    let now = service_kit::db::now_millis();
    sqlx::query(
        "INSERT INTO outbox (id, order_id, payload, request_id, traceparent, attempts, next_attempt_at, created_at)
         VALUES ($1, $2, $3, 'req-bad', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 0, $4, $4)",
    )
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&order_id)
    .bind(r#"{"event_id":"not valid!","recipient":"x","kind":"order.placed","message":"m"}"#)
    .bind(now)
    .execute(&orders.db)
    .await
    .unwrap();

    // Assert: it is parked as failed after one attempt, with the reason kept.
    let (attempts, error) = eventually(Duration::from_secs(10), "the bad record parked", || async {
        let row = sqlx::query("SELECT attempts, last_error, failed_at FROM outbox WHERE request_id = 'req-bad'")
            .fetch_one(&orders.db)
            .await
            .unwrap();
        row.get::<Option<i64>, _>("failed_at")
            .map(|_| (row.get::<i64, _>("attempts"), row.get::<Option<String>, _>("last_error").unwrap_or_default()))
    })
    .await;
    assert_eq!(attempts, 1, "a refused payload is not retried");
    assert!(error.contains("422") && error.contains("event_id"), "{error}");
    eventually(Duration::from_secs(10), "the good record delivered", || async {
        let delivered: i64 = sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE delivered_at IS NOT NULL")
            .fetch_one(&orders.db)
            .await
            .unwrap()
            .get("n");
        (delivered == 1).then_some(())
    })
    .await;
    assert_eq!(count(&notifications.db, "notifications").await, 1);
}

#[tokio::test]
async fn the_service_token_is_dpop_bound_and_deliveries_go_through_nonces_at_both_ends() {
    // Arrange: auth-service refuses orders-service a token without a DPoP proof and wants a
    // nonce in every proof; notifications-service wants nonces too, sealed with its own key.
    let auth_db = TestDatabase::create("auth").await;
    let bound_client =
        format!("orders-service|{ORDERS_CLIENT_SECRET}|notifications:write|notifications-service|dpop=required");
    let auth_nonces = "1111111111111111111111111111111111111111111111111111111111111111";
    let auth = start_auth_with(
        free_port(),
        &auth_db.url,
        &[("AUTH_CLIENTS", &bound_client), ("AUTH_DPOP_NONCE_SECRET", auth_nonces)],
    )
    .await;
    let notifications_db = TestDatabase::create("notifications").await;
    let mut env = notifications_env(0, &notifications_db.url, &auth.address);
    env.push(("AUTH_DPOP_NONCE_SECRET", "2222222222222222222222222222222222222222222222222222222222222222".to_owned()));
    let notifications = start_notifications(env).await;
    let orders_db = TestDatabase::create("orders").await;
    let orders = start_orders(dispatching_env(&auth.address, &orders_db.url, &notifications.address)).await;
    let token = register_and_login(&client(), &auth.address, "dora@example.com").await;

    // Act
    let order_ids = place_orders(&[&orders], &token, 3).await;

    // Assert: delivered, so the token was bound (the issuer refuses it unbound) and each
    // delivery carried a proof with a nonce notifications-service sealed.
    eventually(Duration::from_secs(20), "every record delivered", || async {
        outbox(&orders.db).await.iter().all(|(_, _, delivered)| *delivered).then_some(())
    })
    .await;
    let notified: BTreeSet<String> =
        notifications_of(&notifications, &token).await.into_iter().map(|(_, order)| order).collect();
    assert_eq!(notified, order_ids);
}
