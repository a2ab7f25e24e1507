//! DPoP at the issuer (RFC 9449 §5): a login or a token request with a proof gets tokens
//! bound to the proof's key; a bound session's refresh tokens are spent only with that key.

use jwt_verifier::{DpopKey, ProofAlgorithm, clock::system_now_unix};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{ORDERS_CLIENT, PASSWORD, TestApp, assert_error, decode_jwt, spawn_app, spawn_app_with};

fn key() -> DpopKey {
    DpopKey::generate(ProofAlgorithm::Es256).unwrap()
}

fn proof(app: &TestApp, key: &DpopKey, path: &str) -> String {
    key.proof("POST", &app.url(path), None, None, system_now_unix())
}

fn login_request(app: &TestApp, email: &str) -> RequestBuilder {
    app.client.post(app.url("/v1/login")).json(&json!({"email": email, "password": PASSWORD}))
}

/// Registers `email` and signs in with a proof by `key`, asserting a DPoP-bound answer.
async fn bound_login(app: &TestApp, email: &str, key: &DpopKey) -> Value {
    assert_eq!(app.register(email, PASSWORD).await.status(), StatusCode::CREATED);
    let response = login_request(app, email).header("dpop", proof(app, key, "/v1/login")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("set-cookie").is_none(), "a bound session gets no cookies");
    response.json().await.unwrap()
}

fn refresh_request(app: &TestApp, refresh_token: &str) -> RequestBuilder {
    app.client.post(app.url("/oauth/token")).form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)])
}

#[tokio::test]
async fn a_login_with_a_proof_binds_the_session_and_its_tokens_to_the_key() {
    let app = spawn_app().await;
    let holder = key();
    let body = bound_login(&app, "ann@example.com", &holder).await;
    assert_eq!(body["token_type"], "DPoP");
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(decode_jwt(access).1["cnf"], json!({"jkt": holder.thumbprint()}));

    // auth-service's own endpoints hold the token to its key like every verifier.
    let current = app.url("/v1/sessions/current");
    let with_proof = app
        .client
        .get(&current)
        .header("authorization", format!("DPoP {access}"))
        .header("dpop", holder.proof("GET", &current, Some(access), None, system_now_unix()))
        .send()
        .await
        .unwrap();
    assert_eq!(with_proof.status(), StatusCode::OK);
    let as_bearer = app.get_with("/v1/sessions/current", access).await;
    assert!(as_bearer.headers()["www-authenticate"].to_str().unwrap().starts_with("DPoP "));
    assert_error(as_bearer, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn a_bound_refresh_token_is_spent_only_with_a_proof_by_its_key() {
    let app = spawn_app().await;
    let (holder, thief) = (key(), key());
    let body = bound_login(&app, "ann@example.com", &holder).await;
    let refresh_token = body["refresh_token"].as_str().unwrap();

    let without = refresh_request(&app, refresh_token).send().await.unwrap();
    assert_error(without, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
    let stolen = refresh_request(&app, refresh_token).header("dpop", proof(&app, &thief, "/oauth/token"));
    assert_error(stolen.send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;

    // Neither attempt spent the token, nor ended the session.
    let proof = proof(&app, &holder, "/oauth/token");
    let rotated = refresh_request(&app, refresh_token).header("dpop", &proof).send().await.unwrap();
    assert_eq!(rotated.status(), StatusCode::OK);
    let rotated: Value = rotated.json().await.unwrap();
    assert_eq!(rotated["token_type"], "DPoP");
    assert_eq!(decode_jwt(rotated["access_token"].as_str().unwrap()).1["cnf"]["jkt"], holder.thumbprint());

    // The same proof twice is a replay, whatever it carries.
    let next = rotated["refresh_token"].as_str().unwrap();
    let replayed = refresh_request(&app, next).header("dpop", &proof).send().await.unwrap();
    let error = assert_error(replayed, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
    assert!(error["error_description"].as_str().unwrap().contains("used before"), "{error}");
}

#[tokio::test]
async fn proofs_that_fail_a_check_are_refused_before_the_password_is_tried() {
    // Each refused proof counts as a login attempt; this test makes several.
    let app = spawn_app_with(&[("AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT", "100")]).await;
    let holder = key();
    assert_eq!(app.register("ann@example.com", PASSWORD).await.status(), StatusCode::CREATED);
    let now = system_now_unix();
    for (why, proof) in [
        ("another URI", holder.proof("POST", &app.url("/oauth/token"), None, None, now)),
        ("another method", holder.proof("GET", &app.url("/v1/login"), None, None, now)),
        ("stale", holder.proof("POST", &app.url("/v1/login"), None, None, now - 3600)),
        (
            "an access token hash at the token endpoint",
            holder.proof("POST", &app.url("/v1/login"), Some("a.b.c"), None, now),
        ),
        ("not a JWT", "not-a-proof".to_owned()),
    ] {
        let response = login_request(&app, "ann@example.com").header("dpop", proof).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{why}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_dpop_proof", "{why}");
    }
    let cookies = app
        .client
        .post(app.url("/v1/login"))
        .header("dpop", holder.proof("POST", &app.url("/v1/login"), None, None, now))
        .json(&json!({"email": "ann@example.com", "password": PASSWORD, "token_delivery": "cookie"}))
        .send()
        .await
        .unwrap();
    assert_eq!(cookies.status(), StatusCode::UNPROCESSABLE_ENTITY, "a bound token in a cookie is useless");
}

#[tokio::test]
async fn a_flood_of_refused_proofs_is_throttled_like_wrong_passwords() {
    let app = spawn_app().await;
    assert_eq!(app.register("ann@example.com", PASSWORD).await.status(), StatusCode::CREATED);
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let response = login_request(&app, "ann@example.com").header("dpop", "not-a-proof").send().await.unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses[..5], [400; 5], "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "past the account's attempts: {statuses:?}");
}

#[tokio::test]
async fn service_tokens_are_bound_on_request_and_required_where_configured() {
    let app = spawn_app_with(&[(
        "AUTH_CLIENTS",
        "orders-service|orders-secret|notifications:write|notifications-service|dpop=required",
    )])
    .await;
    let holder = key();
    let grant = [("grant_type", "client_credentials")];
    let token_request = || app.client.post(app.url("/oauth/token")).basic_auth(ORDERS_CLIENT.0, Some(ORDERS_CLIENT.1));

    let unbound = token_request().form(&grant).send().await.unwrap();
    let error = assert_error(unbound, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
    assert!(error["error_description"].as_str().unwrap().contains("must send a DPoP proof"), "{error}");

    let bound = token_request().form(&grant).header("dpop", proof(&app, &holder, "/oauth/token")).send().await.unwrap();
    assert_eq!(bound.status(), StatusCode::OK);
    let body: Value = bound.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(decode_jwt(body["access_token"].as_str().unwrap()).1["cnf"]["jkt"], holder.thumbprint());
}

#[tokio::test]
async fn with_nonces_required_the_issuer_hands_out_one_and_accepts_it() {
    let secret = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    let app = spawn_app_with(&[("AUTH_DPOP_NONCE_SECRET", secret)]).await;
    let holder = key();
    assert_eq!(app.register("ann@example.com", PASSWORD).await.status(), StatusCode::CREATED);
    let first = login_request(&app, "ann@example.com").header("dpop", proof(&app, &holder, "/v1/login"));
    let first = first.send().await.unwrap();
    let nonce = first.headers().get("dpop-nonce").expect("a DPoP-Nonce").to_str().unwrap().to_owned();
    assert_error(first, StatusCode::BAD_REQUEST, "use_dpop_nonce").await;

    let with_nonce = holder.proof("POST", &app.url("/v1/login"), None, Some(&nonce), system_now_unix());
    let second = login_request(&app, "ann@example.com").header("dpop", with_nonce).send().await.unwrap();
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(second.json::<Value>().await.unwrap()["token_type"], "DPoP");
}

#[tokio::test]
async fn the_metadata_lists_the_proof_algorithms() {
    let app = spawn_app().await;
    let metadata: Value =
        app.client.get(app.url("/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();
    assert_eq!(metadata["dpop_signing_alg_values_supported"], json!(["ES256", "EdDSA"]));
}

#[tokio::test]
async fn a_bound_token_is_revoked_only_with_a_proof_by_its_key() {
    let app = spawn_app().await;
    let holder = key();
    let body = bound_login(&app, "ann@example.com", &holder).await;
    let refresh_token = body["refresh_token"].as_str().unwrap();
    let revoke = || app.client.post(app.url("/oauth/revoke")).form(&[("token", refresh_token)]);

    // A copy of the refresh token without the key: 200 as always, and nothing happens.
    assert_eq!(revoke().send().await.unwrap().status(), StatusCode::OK);
    let still = refresh_request(&app, refresh_token).header("dpop", proof(&app, &holder, "/oauth/token"));
    let still = still.send().await.unwrap();
    assert_eq!(still.status(), StatusCode::OK, "the session survived a revocation without the key");
    let next = still.json::<Value>().await.unwrap()["refresh_token"].as_str().unwrap().to_owned();

    // With the key, the session ends.
    let with_key = app
        .client
        .post(app.url("/oauth/revoke"))
        .form(&[("token", next.as_str())])
        .header("dpop", proof(&app, &holder, "/oauth/revoke"));
    assert_eq!(with_key.send().await.unwrap().status(), StatusCode::OK);
    let after = refresh_request(&app, &next).header("dpop", proof(&app, &holder, "/oauth/token"));
    assert_error(after.send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn a_proof_on_an_unbound_session_binds_it_from_then_on() {
    let app = spawn_app().await;
    let holder = key();
    let tokens = app.login_new_user("ann@example.com").await;
    let bound = refresh_request(&app, &tokens.refresh_token).header("dpop", proof(&app, &holder, "/oauth/token"));
    let bound: Value = bound.send().await.unwrap().json().await.unwrap();
    assert_eq!(bound["token_type"], "DPoP");
    let next = bound["refresh_token"].as_str().unwrap();
    let without = refresh_request(&app, next).send().await.unwrap();
    assert_error(without, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
}

#[tokio::test]
async fn with_dpop_required_for_users_logins_and_refreshes_need_a_proof() {
    let app = spawn_app_with(&[("AUTH_USER_DPOP", "required")]).await;
    assert_eq!(app.register("ann@example.com", PASSWORD).await.status(), StatusCode::CREATED);
    let plain = app.login("ann@example.com", PASSWORD).await;
    assert_error(plain, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
    let holder = key();
    let response = login_request(&app, "ann@example.com").header("dpop", proof(&app, &holder, "/v1/login"));
    assert_eq!(response.send().await.unwrap().status(), StatusCode::OK);
}
