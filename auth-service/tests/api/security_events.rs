//! Every state change that must end access writes exactly its security events, in the same
//! transaction as the change; nothing else writes any.

use auth_service::events::store::EventRow;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{ORDERS_CLIENT, TestApp, Tokens, assert_error, decode_jwt, spawn_app, spawn_app_with};

/// `sub` and `sid` of a user token.
fn sub_and_sid(tokens: &Tokens) -> (String, String) {
    let (_, claims) = decode_jwt(&tokens.access_token);
    (claims["sub"].as_str().unwrap().to_owned(), claims["sid"].as_str().unwrap().to_owned())
}

/// Asserts `event` revokes session `sid` of `sub` for `reason`, started by `initiator`, and
/// matters for the token lifetime plus the leeway (10 min + 60 s by default).
fn assert_session_event(event: &EventRow, (sub, sid): &(String, String), reason: &str, initiator: &str) {
    assert_eq!(event.kind, "session_revoked");
    assert_eq!(event.user_id.as_deref(), Some(sub.as_str()));
    assert_eq!(event.session_id.as_deref(), Some(sid.as_str()));
    assert_eq!(event.token_jti, None);
    assert_eq!(event.reason.as_deref(), Some(reason));
    assert_eq!(event.initiating_entity, initiator);
    assert_eq!(event.relevant_until - event.occurred_at, 660_000);
}

async fn delete(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.client.delete(app.url(path)).bearer_auth(token).send().await.unwrap()
}

#[tokio::test]
async fn logout_writes_one_session_revoked_event() {
    // Arrange
    let app = spawn_app().await;
    let tokens = app.login_new_user("ann@example.com").await;

    // Act
    let response = app.logout(&tokens.access_token).await;

    // Assert
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let events = app.events().await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_session_event(&events[0], &sub_and_sid(&tokens), "logout", "user");
    assert_eq!(events[0].seq, 1);
    assert_eq!(app.state.events.head().last_seq, 1, "this replica's watcher was woken by the commit");
}

#[tokio::test]
async fn a_logout_whose_event_cannot_be_written_is_not_committed_either() {
    // Arrange: occupy the number the next event will take, so writing it fails (relevant far
    // ahead, so housekeeping's first run does not prune it).
    let app = spawn_app().await;
    let tokens = app.login_new_user("ann@example.com").await;
    sqlx::query(
        "INSERT INTO security_events (seq, set_jti, kind, token_jti, occurred_at, relevant_until, initiating_entity, txn) \
         VALUES (1, 'planted', 'token_revoked', 'planted', 0, 9999999999999, 'user', 'planted')",
    )
    .execute(app.pool())
    .await
    .unwrap();

    // Act
    let failed = app.logout(&tokens.access_token).await;

    // Assert: no acknowledgement, no change, no event, no number used.
    let status = failed.status();
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{}", failed.text().await.unwrap());
    assert_eq!(app.get_with("/v1/sessions", &tokens.access_token).await.status(), StatusCode::OK, "session still open");
    assert_eq!(app.events().await.iter().map(|e| e.set_jti.as_str()).collect::<Vec<_>>(), ["planted"]);
    assert_eq!(auth_service::events::store::head(app.pool()).await.unwrap().last_seq, 0);

    // And once the event can be written, the change and its event commit together.
    sqlx::query("DELETE FROM security_events").execute(app.pool()).await.unwrap();
    assert_eq!(app.logout(&tokens.access_token).await.status(), StatusCode::NO_CONTENT);
    let events = app.events().await;
    assert_eq!(events.len(), 1);
    assert_session_event(&events[0], &sub_and_sid(&tokens), "logout", "user");
    assert_error(app.get_with("/v1/sessions", &tokens.access_token).await, StatusCode::UNAUTHORIZED, "invalid_token")
        .await;
}

#[tokio::test]
async fn deleting_a_session_writes_its_event_and_a_refused_delete_writes_none() {
    let app = spawn_app().await;
    let phone = app.login_new_user("ann@example.com").await;
    let laptop = app.login_new_user("ann@example.com").await;
    let bob = app.login_new_user("bob@example.com").await;
    let (_, bob_sid) = sub_and_sid(&bob);
    let phone_ids = sub_and_sid(&phone);

    assert_eq!(
        delete(&app, &format!("/v1/sessions/{bob_sid}"), &laptop.access_token).await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(app.events().await.is_empty(), "someone else's session: nothing ended, nothing written");
    let response = delete(&app, &format!("/v1/sessions/{}", phone_ids.1), &laptop.access_token).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let events = app.events().await;
    assert_eq!(events.len(), 1);
    assert_session_event(&events[0], &phone_ids, "session ended", "user");
    // Deleting it again ends nothing and writes nothing.
    delete(&app, &format!("/v1/sessions/{}", phone_ids.1), &laptop.access_token).await;
    assert_eq!(app.events().await.len(), 1);
}

#[tokio::test]
async fn refresh_token_reuse_writes_a_policy_event() {
    let app = spawn_app().await;
    let tokens = app.login_new_user("ann@example.com").await;
    let refresh = |token: String| {
        let app = &app;
        async move { app.oauth("token", &[("grant_type", "refresh_token"), ("refresh_token", &token)], None).await }
    };
    assert_eq!(refresh(tokens.refresh_token.clone()).await.status(), StatusCode::OK);
    assert!(app.events().await.is_empty(), "a normal refresh ends nothing");

    let reused = refresh(tokens.refresh_token.clone()).await;

    assert_error(reused, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let events = app.events().await;
    assert_eq!(events.len(), 1);
    assert_session_event(&events[0], &sub_and_sid(&tokens), "refresh token reuse", "policy");
    // A third presentation finds the session already ended: no second event.
    refresh(tokens.refresh_token.clone()).await;
    assert_eq!(app.events().await.len(), 1);
}

#[tokio::test]
async fn revoking_a_refresh_token_writes_a_session_event() {
    let app = spawn_app().await;
    let tokens = app.login_new_user("ann@example.com").await;

    let response = app.oauth("revoke", &[("token", &tokens.refresh_token)], None).await;

    assert_eq!(response.status(), StatusCode::OK);
    let events = app.events().await;
    assert_eq!(events.len(), 1);
    assert_session_event(&events[0], &sub_and_sid(&tokens), "refresh token revoked", "user");
}

#[tokio::test]
async fn revoking_an_access_token_writes_one_token_event_until_its_exp_plus_the_leeway() {
    // Arrange
    let app = spawn_app().await;
    let tokens = app.login_new_user("ann@example.com").await;
    let service_token = app.service_token(ORDERS_CLIENT).await;
    let (_, claims) = decode_jwt(&tokens.access_token);

    // Act
    // Each by the client it was issued to: the web client (no authentication) and orders.
    for (token, client) in [
        (tokens.access_token.as_str(), None),
        (tokens.access_token.as_str(), None),
        (service_token.as_str(), Some(ORDERS_CLIENT)),
        ("not.a.token", None),
    ] {
        assert_eq!(app.oauth("revoke", &[("token", token)], client).await.status(), StatusCode::OK);
    }

    // Assert: one event per valid token (the repeat and the garbage write nothing).
    let events = app.events().await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].kind, "token_revoked");
    assert_eq!(events[0].token_jti.as_deref(), claims["jti"].as_str());
    assert_eq!(events[0].relevant_until, (claims["exp"].as_i64().unwrap() + 60) * 1000);
    assert_eq!((events[0].user_id.as_ref(), events[0].session_id.as_ref()), (None, None));
    assert_eq!(events[0].initiating_entity, "user");
    let (_, service_claims) = decode_jwt(&service_token);
    assert_eq!(events[1].token_jti.as_deref(), service_claims["jti"].as_str(), "service tokens can be revoked too");
}

#[tokio::test]
async fn log_out_everywhere_writes_one_event_per_session_with_one_txn() {
    // Arrange
    let app = spawn_app().await;
    let sessions: Vec<Tokens> = log_in_times(&app, "ann@example.com", 3).await;
    let bob = app.login_new_user("bob@example.com").await;

    // Act
    let response = delete(&app, "/v1/sessions", &sessions[0].access_token).await;

    // Assert
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared: Vec<&str> = response.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
    assert!(cleared.iter().any(|c| c.starts_with("__Secure-refresh_token=;")), "{cleared:?}");
    let events = app.events().await;
    assert_eq!(events.len(), 3, "{events:?}");
    let mut expected: Vec<(String, String)> = sessions.iter().map(sub_and_sid).collect();
    expected.sort_by(|a, b| a.1.cmp(&b.1));
    for (event, ids) in events.iter().zip(&expected) {
        assert_session_event(event, ids, "log out everywhere", "user");
        assert_eq!(event.txn, events[0].txn, "one state change, one txn");
    }
    for tokens in &sessions {
        assert_error(
            app.get_with("/v1/sessions", &tokens.access_token).await,
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        )
        .await;
    }
    assert_eq!(app.get_with("/v1/sessions", &bob.access_token).await.status(), StatusCode::OK, "Bob is untouched");
}

async fn log_in_times(app: &TestApp, email: &str, count: usize) -> Vec<Tokens> {
    let mut sessions = Vec::new();
    for _ in 0..count {
        sessions.push(app.login_new_user(email).await);
    }
    sessions
}

#[tokio::test]
async fn an_admin_can_end_every_session_of_a_user() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.login_admin().await;
    let ann = log_in_times(&app, "ann@example.com", 2).await;
    let (ann_id, _) = sub_and_sid(&ann[0]);
    let path = format!("/v1/admin/users/{ann_id}/sessions");

    // Act
    let refused = delete(&app, &path, &ann[0].access_token).await;
    let response = delete(&app, &path, &admin.access_token).await;

    // Assert
    assert_error(refused, StatusCode::FORBIDDEN, "insufficient_scope").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let events = app.events().await;
    assert_eq!(events.len(), 2);
    let mut expected: Vec<(String, String)> = ann.iter().map(sub_and_sid).collect();
    expected.sort_by(|a, b| a.1.cmp(&b.1));
    for (event, ids) in events.iter().zip(&expected) {
        assert_session_event(event, ids, "admin ended all sessions", "admin");
    }
    assert_eq!(events[0].txn, events[1].txn);
    for bad in ["00000000-0000-0000-0000-000000000000", "not-a-user"] {
        let missing = delete(&app, &format!("/v1/admin/users/{bad}/sessions"), &admin.access_token).await;
        assert_error(missing, StatusCode::NOT_FOUND, "not_found").await;
    }
    // Once the admin's own session has ended, its token cannot do it any more.
    assert_eq!(app.logout(&admin.access_token).await.status(), StatusCode::NO_CONTENT);
    assert_error(delete(&app, &path, &admin.access_token).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_eq!(app.events().await.len(), 3, "only the admin's logout was added");
}

#[tokio::test]
async fn natural_expiry_writes_nothing() {
    let app = spawn_app_with(&[("AUTH_SESSION_TTL", "1s"), ("AUTH_REFRESH_TOKEN_TTL", "1s")]).await;
    let tokens = app.login_new_user("ann@example.com").await;
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;

    let refresh =
        app.oauth("token", &[("grant_type", "refresh_token"), ("refresh_token", &tokens.refresh_token)], None).await;
    let listed = app.get_with("/v1/sessions", &tokens.access_token).await;

    assert_error(refresh, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_error(listed, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert!(app.events().await.is_empty());
    let feed: Value = app.feed(None, 0).await;
    assert_eq!(feed["sets"], serde_json::json!({}));
}
