//! DPoP-bound tokens through the extractors (RFC 9449 §7): each test sends the request that
//! must fail, and the one that must pass beside it. Router-level, no network (`oneshot`).

use std::sync::Arc;

use axum::{Json, Router, body::Body, routing::get};
use http::{Request, StatusCode, header};
use jwt_verifier::{
    Authenticated, DpopKey, NonceKey, ProofAlgorithm, StaticKeyStore, Verifier, VerifierConfig,
    clock::system_now_unix,
    testkit::{key_set, test_key},
};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::helpers::{AUDIENCE, ISSUER, claims, with};

const HOST: &str = "orders.test";
const URI: &str = "http://orders.test/v1/orders";

async fn me(Authenticated(caller): Authenticated) -> Json<Value> {
    Json(json!({"sub": caller.subject, "jkt": caller.dpop_jkt}))
}

fn app(tune: impl FnOnce(&mut VerifierConfig)) -> Router {
    let mut config = VerifierConfig::new(ISSUER, AUDIENCE);
    tune(&mut config);
    let verifier = Verifier::with_key_store(config, Arc::new(StaticKeyStore::new(key_set(&[test_key(0)]))));
    // The verifier is the whole state: `FromRef` of a type to itself is axum's own.
    Router::new().route("/v1/orders", get(me).post(me)).with_state(verifier)
}

fn key() -> DpopKey {
    DpopKey::generate(ProofAlgorithm::Es256).unwrap()
}

/// A token bound to `key`.
fn bound(key: &DpopKey) -> String {
    test_key(0).mint(&with(claims(), "cnf", json!({"jkt": key.thumbprint()})))
}

fn proof(key: &DpopKey, token: &str) -> String {
    key.proof("GET", URI, Some(token), None, system_now_unix())
}

struct Answer {
    status: StatusCode,
    challenges: Vec<String>,
    nonce: Option<String>,
    body: Value,
}

async fn send(app: &Router, scheme: &str, token: &str, proofs: &[&str]) -> Answer {
    send_with(app, scheme, token, proofs, &[]).await
}

async fn send_with(app: &Router, scheme: &str, token: &str, proofs: &[&str], extra: &[(&str, &str)]) -> Answer {
    let mut request = Request::get("/v1/orders").header(header::HOST, HOST);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request = request.header(header::AUTHORIZATION, format!("{scheme} {token}"));
    for proof in proofs {
        request = request.header("dpop", *proof);
    }
    let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let challenges =
        response.headers().get_all(header::WWW_AUTHENTICATE).iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    let nonce = response.headers().get("dpop-nonce").map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
    Answer { status, challenges, nonce, body: serde_json::from_slice(&bytes).unwrap() }
}

fn assert_refused(answer: &Answer, error: &str) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{:?}", answer.body);
    let challenge = answer.challenges.first().expect("a challenge");
    assert!(challenge.starts_with("DPoP "), "{challenge}");
    assert!(challenge.contains(r#"algs="ES256 EdDSA""#), "{challenge}");
    assert!(challenge.contains(&format!(r#"error="{error}""#)), "{challenge}");
    assert_eq!(answer.body["error"], error, "{:?}", answer.body);
}

#[tokio::test]
async fn a_bound_token_needs_the_dpop_scheme_and_a_proof_by_its_key() {
    let app = app(|_| {});
    let (holder, thief) = (key(), key());
    let token = bound(&holder);

    let ok = send(&app, "DPoP", &token, &[&proof(&holder, &token)]).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(ok.body["jkt"], holder.thumbprint());

    assert_refused(&send(&app, "Bearer", &token, &[]).await, "invalid_token");
    assert_refused(&send(&app, "Bearer", &token, &[&proof(&holder, &token)]).await, "invalid_token");
    assert_refused(&send(&app, "DPoP", &token, &[]).await, "invalid_dpop_proof");
    let stolen = send(&app, "DPoP", &token, &[&proof(&thief, &token)]).await;
    assert_refused(&stolen, "invalid_dpop_proof");
    assert!(stolen.body["error_description"].as_str().unwrap().contains("not bound"), "{:?}", stolen.body);
    let two = [proof(&holder, &token), proof(&holder, &token)];
    assert_refused(&send(&app, "DPoP", &token, &[&two[0], &two[1]]).await, "invalid_dpop_proof");
}

#[tokio::test]
async fn the_proof_must_be_for_this_request_this_token_and_used_once() {
    let app = app(|_| {});
    let holder = key();
    let token = bound(&holder);
    let now = system_now_unix();

    let replayed = proof(&holder, &token);
    assert_eq!(send(&app, "DPoP", &token, &[&replayed]).await.status, StatusCode::OK);
    assert_refused(&send(&app, "DPoP", &token, &[&replayed]).await, "invalid_dpop_proof");

    for wrong in [
        holder.proof("POST", URI, Some(&token), None, now),
        holder.proof("GET", "http://orders.test/v1/notifications", Some(&token), None, now),
        holder.proof("GET", "https://orders.test/v1/orders", Some(&token), None, now),
        holder.proof("GET", URI, None, None, now),
        holder.proof("GET", URI, Some(&bound(&holder)), None, now),
        holder.proof("GET", URI, Some(&token), None, now - 3600),
        holder.proof("GET", URI, Some(&token), None, now + 3600),
    ] {
        assert_refused(&send(&app, "DPoP", &token, &[&wrong]).await, "invalid_dpop_proof");
    }
}

#[tokio::test]
async fn an_unbound_token_is_refused_with_the_dpop_scheme_and_bearer_still_works() {
    let app = app(|_| {});
    let holder = key();
    let token = test_key(0).mint(&claims());
    assert_eq!(send(&app, "Bearer", &token, &[]).await.status, StatusCode::OK);
    assert_refused(&send(&app, "DPoP", &token, &[&proof(&holder, &token)]).await, "invalid_token");
}

#[tokio::test]
async fn a_token_bound_by_an_unknown_confirmation_method_is_refused() {
    let app = app(|_| {});
    let token = test_key(0).mint(&with(claims(), "cnf", json!({"x5t#S256": "abc"})));
    let answer = send(&app, "Bearer", &token, &[]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.body["error"], "invalid_token");
}

#[tokio::test]
async fn with_nonces_required_a_proof_without_one_gets_a_nonce_every_replica_accepts() {
    let secret = [7u8; 32];
    let replicas = [
        app(|c| c.dpop_nonces = Some(NonceKey::new(&secret))),
        app(|c| {
            c.dpop_nonces = Some(NonceKey::new(&secret));
        }),
    ];
    let holder = key();
    let token = bound(&holder);
    let first = send(&replicas[0], "DPoP", &token, &[&proof(&holder, &token)]).await;
    assert_refused(&first, "use_dpop_nonce");
    let nonce = first.nonce.expect("a DPoP-Nonce header");
    for replica in &replicas {
        let with_nonce = holder.proof("GET", URI, Some(&token), Some(&nonce), system_now_unix());
        assert_eq!(send(replica, "DPoP", &token, &[&with_nonce]).await.status, StatusCode::OK);
    }
    // A nonce sealed with another key (another service, or before the key changed) is
    // replaced, not fatal: the client gets a fresh one of this service.
    let other_service = app(|c| c.dpop_nonces = Some(NonceKey::new(&[8u8; 32])));
    let foreign = holder.proof("GET", URI, Some(&token), Some(&nonce), system_now_unix());
    let answer = send(&other_service, "DPoP", &token, &[&foreign]).await;
    assert_refused(&answer, "use_dpop_nonce");
    assert_ne!(answer.nonce.as_deref(), Some(nonce.as_str()));
}

#[tokio::test]
async fn a_token_error_under_the_dpop_scheme_is_answered_in_that_scheme() {
    let app = app(|_| {});
    let holder = key();
    let expired = test_key(0).mint(&with(
        with(with(claims(), "cnf", json!({"jkt": holder.thumbprint()})), "exp", json!(1_000_001)),
        "iat",
        json!(1_000_000),
    ));
    let answer = send(&app, "DPoP", &expired, &[&proof(&holder, &expired)]).await;
    assert_refused(&answer, "invalid_token");
    let bearer = send(&app, "Bearer", &expired, &[]).await;
    assert!(bearer.challenges[0].starts_with("Bearer "), "{:?}", bearer.challenges);
}

#[tokio::test]
async fn a_full_replay_cache_is_a_503_to_retry_and_other_keys_cannot_fill_it() {
    let app = app(|c| c.dpop.replay_capacity = 2);
    let (holder, thief) = (key(), key());
    let token = bound(&holder);
    // Proofs by keys the token is not bound to are refused before they are remembered.
    for _ in 0..5 {
        assert_refused(&send(&app, "DPoP", &token, &[&proof(&thief, &token)]).await, "invalid_dpop_proof");
    }
    for _ in 0..2 {
        assert_eq!(send(&app, "DPoP", &token, &[&proof(&holder, &token)]).await.status, StatusCode::OK);
    }
    let full = send(&app, "DPoP", &token, &[&proof(&holder, &token)]).await;
    assert_eq!(full.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(full.body["error"], "temporarily_unavailable");
}

#[tokio::test]
async fn behind_a_trusted_gateway_the_proof_names_the_public_uri() {
    let app = app(|c| c.dpop_trust_forwarded = true);
    let holder = key();
    let token = bound(&holder);
    let gateway = [("x-forwarded-proto", "https"), ("x-forwarded-host", "api.example.com")];
    let public = holder.proof("GET", "https://api.example.com/v1/orders", Some(&token), None, system_now_unix());
    assert_eq!(send_with(&app, "DPoP", &token, &[&public], &gateway).await.status, StatusCode::OK);
    // A proof for the address inside the network is not one for the address the client used.
    let internal = proof(&holder, &token);
    assert_refused(&send_with(&app, "DPoP", &token, &[&internal], &gateway).await, "invalid_dpop_proof");
}

#[tokio::test]
async fn a_missing_token_is_answered_with_both_challenges() {
    let app = app(|_| {});
    let response =
        app.oneshot(Request::get("/v1/orders").header(header::HOST, HOST).body(Body::empty()).unwrap()).await.unwrap();
    let challenges: Vec<_> = response.headers().get_all(header::WWW_AUTHENTICATE).iter().collect();
    assert_eq!(challenges.len(), 2, "{challenges:?}");
    assert!(challenges[0].to_str().unwrap().starts_with("Bearer realm="));
    assert_eq!(challenges[1].to_str().unwrap(), format!(r#"DPoP realm="{AUDIENCE}", algs="ES256 EdDSA""#));
}
