//! `GET /v1/admin/keys` and `POST /v1/admin/keys/rotate`, and the `rotate-keys` subcommand.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_error, settings, spawn_app, wait_until};

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_normal_rotation_publishes_a_successor_that_does_not_sign_yet() {
    // Arrange
    let app = spawn_app().await;
    let admin = app.login_admin().await;
    let old_kid = app.state.keys.signer().unwrap().kid().to_owned();

    // Act
    let response =
        app.client.post(app.url("/v1/admin/keys/rotate")).bearer_auth(&admin.access_token).send().await.unwrap();

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["rotation"]["outcome"], "scheduled");
    let new_kid = body["rotation"]["kid"].as_str().unwrap().to_owned();
    let states: Vec<(&str, &str)> = body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["kid"].as_str().unwrap(), k["state"].as_str().unwrap()))
        .collect();
    assert!(
        states.contains(&(new_kid.as_str(), "pending")) && states.contains(&(old_kid.as_str(), "active")),
        "{states:?}"
    );
    assert_eq!(kids(&app.jwks().await), [old_kid.clone(), new_kid.clone()], "published before it signs");
    assert_eq!(app.state.keys.signer().unwrap().kid(), old_kid, "still signing with the old key");
    // Asking again changes nothing.
    let again: Value = app
        .client
        .post(app.url("/v1/admin/keys/rotate"))
        .bearer_auth(&admin.access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["rotation"]["outcome"], "already_scheduled");
    assert_eq!(again["rotation"]["kid"], new_kid.as_str());
}

#[tokio::test]
async fn an_emergency_rotation_replaces_and_removes_the_active_key_at_once() {
    let app = spawn_app().await;
    let admin = app.login_admin().await;
    let old_kid = app.state.keys.signer().unwrap().kid().to_owned();

    let response = app
        .client
        .post(app.url("/v1/admin/keys/rotate?emergency=true"))
        .bearer_auth(&admin.access_token)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["rotation"]["outcome"], "replaced");
    assert_eq!(body["rotation"]["removed"], serde_json::json!([old_kid]));
    let new_kid = body["rotation"]["kid"].as_str().unwrap();
    assert_eq!(kids(&app.jwks().await), [new_kid.to_owned()]);
    assert_eq!(app.state.keys.signer().unwrap().kid(), new_kid);
    let private: Option<String> = sqlx::query_scalar("SELECT private_key FROM signing_keys WHERE kid = $1")
        .bind(&old_kid)
        .fetch_one(app.pool())
        .await
        .unwrap();
    assert!(private.is_none(), "the compromised private half is destroyed");
    // Tokens signed by the compromised key stop working here at once.
    assert_error(app.get_with("/v1/admin/keys", &admin.access_token).await, StatusCode::UNAUTHORIZED, "invalid_token")
        .await;
}

#[tokio::test]
async fn key_administration_needs_the_admin_scope() {
    let app = spawn_app().await;
    let user = app.login_new_user("ann@example.com").await;

    let forbidden =
        app.client.post(app.url("/v1/admin/keys/rotate")).bearer_auth(&user.access_token).send().await.unwrap();
    assert_error(forbidden, StatusCode::FORBIDDEN, "insufficient_scope").await;
    let listing = app.get_with("/v1/admin/keys", &user.access_token).await;
    assert_error(listing, StatusCode::FORBIDDEN, "insufficient_scope").await;
    let anonymous = app.client.post(app.url("/v1/admin/keys/rotate")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.jwks().await["keys"].as_array().unwrap().len(), 1, "nothing rotated");
}

#[tokio::test]
async fn a_bad_rotation_parameter_gets_400() {
    let app = spawn_app().await;
    let admin = app.login_admin().await;

    let response = app
        .client
        .post(app.url("/v1/admin/keys/rotate?emergency=perhaps"))
        .bearer_auth(&admin.access_token)
        .send()
        .await
        .unwrap();

    // A query parameter, not the body: 400 like every malformed parameter.
    let body = assert_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(body["details"][0]["field"], "emergency");
}

#[tokio::test]
async fn listing_keys_shows_states_and_schedule_without_private_material() {
    let app = spawn_app().await;
    let admin = app.login_admin().await;

    let body: Value = app.get_with("/v1/admin/keys", &admin.access_token).await.json().await.unwrap();

    assert_eq!(body["keys"].as_array().unwrap().len(), 1);
    assert_eq!(body["keys"][0]["state"], "active");
    assert_eq!(body["jwks_max_age"], 900);
    assert!(body["next_rotation_at"].as_str().is_some());
    let text = body.to_string();
    assert!(!text.contains("private") && !text.contains("v1."), "{text}");
}

#[tokio::test]
async fn the_rotate_keys_subcommand_reaches_running_replicas() {
    // Arrange
    let app = spawn_app_fast_refresh().await;
    let before = kids(&app.jwks().await);

    // Act: the subcommand works on the database directly, as an operator would run it.
    let outcome = auth_service::startup::rotate_keys(&settings(&app.db, &[]), false).await.unwrap();

    // Assert
    let auth_service::keys::RotationOutcome::Scheduled { kid, .. } = outcome else { panic!("{outcome:?}") };
    wait_until(Duration::from_secs(5), "the replica publishes the new key", || async {
        kids(&app.jwks().await).contains(&kid)
    })
    .await;
    assert_eq!(kids(&app.jwks().await).len(), before.len() + 1);
}

async fn spawn_app_fast_refresh() -> crate::helpers::TestApp {
    crate::helpers::spawn_app_with(&[("AUTH_KEY_REFRESH_INTERVAL", "100ms")]).await
}

#[tokio::test]
async fn a_logged_out_administrators_token_can_no_longer_administer() {
    let app = spawn_app().await;
    let admin = app.login_admin().await;
    let keys = || app.client.get(app.url("/v1/admin/keys")).bearer_auth(&admin.access_token).send();
    assert_eq!(keys().await.unwrap().status(), StatusCode::OK);

    assert_eq!(app.logout(&admin.access_token).await.status(), StatusCode::NO_CONTENT);

    let response =
        app.client.post(app.url("/v1/admin/keys/rotate")).bearer_auth(&admin.access_token).send().await.unwrap();
    assert_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_error(keys().await.unwrap(), StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn a_demoted_administrators_token_can_no_longer_administer() {
    let app = spawn_app().await;
    let admin = app.login_admin().await;

    sqlx::query("UPDATE users SET role = 'user'").execute(app.pool()).await.unwrap();

    let response = app.client.get(app.url("/v1/admin/keys")).bearer_auth(&admin.access_token).send().await.unwrap();
    assert_error(response, StatusCode::FORBIDDEN, "insufficient_scope").await;
}
