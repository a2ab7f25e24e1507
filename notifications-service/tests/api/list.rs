//! `GET /v1/notifications` and `POST /v1/notifications/{id}/read`: ownership, order,
//! pagination and read marks.

use serde_json::Value;

use crate::helpers::{detail_fields, error_body, spawn_app};

#[tokio::test]
async fn users_see_only_their_own_notifications_newest_first() {
    let app = spawn_app().await;
    let first = app.deliver("alice", "first").await;
    app.deliver("bob", "for bob").await;
    let second = app.deliver("alice", "second").await;

    let page: Value =
        app.list_notifications(Some(&app.user_token("alice", "notifications:read")), "").await.json().await.unwrap();

    let items = page["items"].as_array().unwrap();
    let ids: Vec<&Value> = items.iter().map(|n| &n["id"]).collect();
    assert_eq!(ids, [&second["id"], &first["id"]]);
    assert!(items.iter().all(|n| n["recipient"] == "alice"));
    assert_eq!(page["next_cursor"], Value::Null);
}

#[tokio::test]
async fn pages_follow_the_cursor_without_gaps_or_repeats() {
    let app = spawn_app().await;
    let mut delivered = Vec::new();
    for i in 0..5 {
        delivered.push(app.deliver("alice", &format!("message {i}")).await["id"].clone());
    }
    delivered.reverse();
    let token = app.user_token("alice", "notifications:read");

    let mut seen = Vec::new();
    let mut query = "limit=2".to_owned();
    let mut pages = 0;
    loop {
        let response = app.list_notifications(Some(&token), &query).await;
        assert_eq!(response.status(), 200);
        let page: Value = response.json().await.unwrap();
        pages += 1;
        seen.extend(page["items"].as_array().unwrap().iter().map(|n| n["id"].clone()));
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("limit=2&cursor={cursor}"),
            None => break,
        }
    }

    assert_eq!(pages, 3);
    assert_eq!(seen, delivered);
}

#[tokio::test]
async fn bad_page_parameters_get_400_naming_the_parameter() {
    let app = spawn_app().await;
    let token = app.user_token("alice", "notifications:read");
    for (query, field) in
        [("limit=0", "limit"), ("limit=101", "limit"), ("limit=abc", "limit"), ("cursor=bogus", "cursor")]
    {
        let response = app.list_notifications(Some(&token), query).await;
        assert_eq!(response.status(), 400, "{query}");
        assert_eq!(detail_fields(&error_body(response).await), [field], "{query}");
    }
}

#[tokio::test]
async fn marking_read_sets_read_at_once() {
    let app = spawn_app().await;
    let delivered = app.deliver("alice", "hello").await;
    let id = delivered["id"].as_str().unwrap();
    let token = app.user_token("alice", "notifications:read");

    let response = app.mark_read(Some(&token), id).await;
    assert_eq!(response.status(), 200);
    let read: Value = response.json().await.unwrap();
    assert!(read["read_at"].is_string());

    let again: Value = app.mark_read(Some(&token), id).await.json().await.unwrap();
    assert_eq!(again["read_at"], read["read_at"], "the first read time is kept");
    let page: Value = app.list_notifications(Some(&token), "").await.json().await.unwrap();
    assert_eq!(page["items"][0]["read_at"], read["read_at"]);
}

#[tokio::test]
async fn another_users_notification_is_not_found() {
    let app = spawn_app().await;
    let delivered = app.deliver("alice", "hello").await;
    let bob = app.user_token("bob", "notifications:read");

    let response = app.mark_read(Some(&bob), delivered["id"].as_str().unwrap()).await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_body(response).await["error"], "not_found");

    let garbage = app.mark_read(Some(&bob), "not-an-id").await;
    assert_eq!(garbage.status(), 404);

    let alice: Value =
        app.list_notifications(Some(&app.user_token("alice", "notifications:read")), "").await.json().await.unwrap();
    assert_eq!(alice["items"][0]["read_at"], Value::Null, "bob's attempt changed nothing");
}
