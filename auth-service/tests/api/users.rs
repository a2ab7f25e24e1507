//! `POST /v1/users`: registration and every way its input can be wrong.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_app};

#[tokio::test]
async fn registering_returns_201_with_the_normalised_email_and_no_hash() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app.register("  Ann.Lee@Example.COM ", "correct horse battery").await;

    // Assert
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["email"], "ann.lee@example.com");
    assert!(uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(body.get("password_hash").is_none() && body.get("password").is_none());
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_hashes() {
    let app = spawn_app().await;
    app.register("ann@example.com", "correct horse battery").await;

    let stored: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE email = $1")
        .bind("ann@example.com")
        .fetch_one(app.pool())
        .await
        .unwrap();

    assert!(stored.starts_with("$argon2id$"), "{stored}");
    assert!(!stored.contains("correct horse"));
}

#[tokio::test]
async fn a_duplicate_email_gets_409_whatever_its_case() {
    let app = spawn_app().await;
    assert_eq!(app.register("ann@example.com", "correct horse battery").await.status(), StatusCode::CREATED);

    let response = app.register("ANN@example.com", "another password").await;

    assert_error(response, StatusCode::CONFLICT, "conflict").await;
}

#[tokio::test]
async fn a_bad_email_gets_422_naming_the_field() {
    let app = spawn_app().await;
    for email in ["not-an-email", "ann@", "@example.com", "ann@localhost", "a b@example.com", ""] {
        let response = app.register(email, "correct horse battery").await;

        let body = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
        assert_eq!(body["details"][0]["field"], "email", "{email:?}: {body}");
    }
}

#[tokio::test]
async fn a_password_outside_8_to_128_characters_gets_422() {
    let app = spawn_app().await;
    for password in ["short".to_owned(), "1234567".to_owned(), "x".repeat(129)] {
        let response = app.register("ann@example.com", &password).await;

        let body = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
        assert_eq!(body["details"][0]["field"], "password");
        assert!(body["error_description"].as_str().unwrap().contains("8 and 128"));
    }
}

#[tokio::test]
async fn every_bad_field_is_reported_at_once() {
    let app = spawn_app().await;

    let response = app.register("nope", "short").await;

    let body = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let fields: Vec<&str> = body["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["email", "password"]);
}

#[tokio::test]
async fn malformed_json_gets_400() {
    let app = spawn_app().await;

    let response = app
        .client
        .post(app.url("/v1/users"))
        .header("content-type", "application/json")
        .body(r#"{"email": "ann@example.com", "password": "#)
        .send()
        .await
        .unwrap();

    assert_error(response, StatusCode::BAD_REQUEST, "invalid_json").await;
}

#[tokio::test]
async fn a_wrong_content_type_gets_415() {
    let app = spawn_app().await;

    let response = app
        .client
        .post(app.url("/v1/users"))
        .header("content-type", "text/plain")
        .body(r#"{"email":"ann@example.com","password":"correct horse battery"}"#)
        .send()
        .await
        .unwrap();

    assert_error(response, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;
}

#[tokio::test]
async fn missing_wrongly_typed_and_unknown_fields_get_422() {
    let app = spawn_app().await;
    for (body, mentions) in [
        (json!({"email": "ann@example.com"}), "password"),
        (json!({"password": "correct horse battery"}), "email"),
        (json!({"email": 42, "password": "correct horse battery"}), "email"),
        (json!({"email": "ann@example.com", "password": "correct horse battery", "role": "admin"}), "role"),
        (json!(["ann@example.com"]), "body"),
    ] {
        let response = app.post_json("/v1/users", &body).await;

        let error = assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
        assert!(error.to_string().contains(mentions), "{body} -> {error}");
    }
}

#[tokio::test]
async fn an_oversize_body_gets_413() {
    let app = spawn_app().await;
    let body = json!({"email": "ann@example.com", "password": "x".repeat(70 * 1024)});

    let response = app.post_json("/v1/users", &body).await;

    assert_error(response, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}
