//! The key cache over real HTTP (reqwest against the test issuer on a loopback port):
//! discovery, content type, body cap, redirects, timeouts, refused connections, the https
//! rule. Real time, short timeouts.

use std::time::Duration;

use axum::{Router, response::Redirect, routing::get};
use jwt_verifier::{
    FetchOutcome, JwksCache, JwksCacheError, KeyStore, StartupMode, Verifier, VerifierConfig, VerifierStartError,
    testkit::{TestIssuer, jwks_document, test_key, user_claims},
};
use serde_json::json;

use crate::helpers::{AUDIENCE, until};

fn warm(mut config: VerifierConfig) -> VerifierConfig {
    config.startup = StartupMode::WarmWithDeadline(Duration::from_secs(5));
    config
}

#[tokio::test]
async fn keys_are_found_through_discovery() {
    let issuer = TestIssuer::start(vec![test_key(0)]).await;
    let config = warm(VerifierConfig::new(issuer.issuer(), AUDIENCE));
    let verifier = Verifier::start(config).await.unwrap();
    until("ready", || verifier.is_ready()).await;
    // One metadata fetch for the key set's URL, one for the revocation feed's.
    assert_eq!((issuer.discovery_fetches(), issuer.jwks_fetches()), (2, 1));
    let token = test_key(0).mint(&user_claims(&issuer.issuer(), &[AUDIENCE], "u", "s"));
    assert_eq!(verifier.verify(&token).await.unwrap().subject, "u");
}

#[tokio::test]
async fn discovery_for_another_issuer_is_refused() {
    let issuer = TestIssuer::start(vec![test_key(0)]).await;
    issuer.set_advertised_issuer("https://someone-else.test");
    let error = Verifier::start(warm(VerifierConfig::new(issuer.issuer(), AUDIENCE))).await.unwrap_err();
    assert!(
        matches!(error, VerifierStartError::KeysNotLoaded { outcome: Some(FetchOutcome::Refused), .. }),
        "{error:?}"
    );
    assert_eq!(issuer.jwks_fetches(), 0);
}

#[tokio::test]
async fn a_jwks_with_a_private_member_is_refused() {
    let issuer = TestIssuer::start(vec![]).await;
    let mut leaked = test_key(0).public_jwk();
    leaked["d"] = json!("AQAB");
    issuer.set_jwks_json(&json!({"keys": [leaked]}));
    let error = Verifier::start(warm(issuer.verifier_config(AUDIENCE))).await.unwrap_err();
    assert!(
        matches!(error, VerifierStartError::KeysNotLoaded { outcome: Some(FetchOutcome::Refused), .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_non_json_content_type_is_refused() {
    let issuer = TestIssuer::start(vec![test_key(0)]).await;
    issuer.set_content_type("text/html");
    let cache = JwksCache::new(&issuer.verifier_config(AUDIENCE)).unwrap();
    assert_eq!(cache.load().await, FetchOutcome::Refused);
    issuer.set_content_type("application/jwk-set+json; charset=utf-8");
    assert_eq!(cache.load().await, FetchOutcome::Updated);
}

#[tokio::test]
async fn oversized_bodies_are_not_read() {
    let issuer = TestIssuer::start(vec![test_key(0)]).await;
    let mut document = jwks_document(&[test_key(0)]);
    document["padding"] = json!("x".repeat(70 * 1024));
    issuer.set_jwks_json(&document);
    let cache = JwksCache::new(&issuer.verifier_config(AUDIENCE)).unwrap();
    assert_eq!(cache.load().await, FetchOutcome::Refused);
    assert_eq!(cache.stats().jwks_fetches_refused, 1);
}

#[tokio::test]
async fn error_statuses_and_refused_connections_keep_the_last_keys() {
    let issuer = TestIssuer::start(vec![test_key(0)]).await;
    let cache = JwksCache::new(&issuer.verifier_config(AUDIENCE)).unwrap();
    assert_eq!(cache.load().await, FetchOutcome::Updated);
    issuer.set_status(Some(500));
    assert_eq!(cache.load().await, FetchOutcome::Failed);
    issuer.set_status(None);
    issuer.stop().await;
    assert_eq!(cache.load().await, FetchOutcome::Failed);
    assert_eq!(cache.keys().len(), 1);
    assert_eq!(cache.stats().jwks_fetches_failed, 2);
}

#[tokio::test]
async fn a_slow_issuer_times_out() {
    let issuer = TestIssuer::start(vec![test_key(0)]).await;
    issuer.set_delay(Duration::from_secs(3));
    let mut config = issuer.verifier_config(AUDIENCE);
    config.fetch_timeout = Duration::from_millis(300);
    let cache = JwksCache::new(&config).unwrap();
    let started = std::time::Instant::now();
    assert_eq!(cache.load().await, FetchOutcome::Failed);
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test]
async fn redirects_are_followed_within_the_origin_only() {
    let issuer = TestIssuer::start(vec![test_key(0)]).await;
    let target = issuer.jwks_url().to_string();
    let document = jwks_document(&[test_key(1)]).to_string();
    let router = Router::new()
        .route("/same", get(|| async { Redirect::temporary("/jwks") }))
        .route("/jwks", get(move || async move { ([("content-type", "application/json")], document) }))
        .route("/cross", get(move || async move { Redirect::temporary(&target) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let mut config = VerifierConfig::new("https://issuer.test", AUDIENCE);
    config.jwks_url = Some(format!("{base}/same").parse().unwrap());
    let cache = JwksCache::new(&config).unwrap();
    assert_eq!(cache.load().await, FetchOutcome::Updated);
    assert!(cache.keys().contains(test_key(1).kid()));

    config.jwks_url = Some(format!("{base}/cross").parse().unwrap());
    let cache = JwksCache::new(&config).unwrap();
    assert_eq!(cache.load().await, FetchOutcome::Failed);
    assert_eq!(issuer.jwks_fetches(), 0, "the other origin was never contacted");
}

#[tokio::test]
async fn plain_http_is_refused_except_for_loopback_or_when_allowed() {
    let mut config = VerifierConfig::new("https://issuer.test", AUDIENCE);
    config.jwks_url = Some("http://auth-service:8080/.well-known/jwks.json".parse().unwrap());
    config.startup = StartupMode::Lazy;
    let error = Verifier::start(config.clone()).await.unwrap_err();
    assert!(matches!(error, VerifierStartError::Cache(JwksCacheError::InvalidConfig(_))), "{error:?}");
    config.allow_insecure_http = true;
    assert!(Verifier::start(config).await.is_ok());
    // Discovery from a plain-http, non-loopback issuer is refused the same way.
    let error = Verifier::start(VerifierConfig::new("http://auth-service:8080", AUDIENCE)).await.unwrap_err();
    assert!(matches!(error, VerifierStartError::Cache(JwksCacheError::InvalidConfig(_))), "{error:?}");
}
