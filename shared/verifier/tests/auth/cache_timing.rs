//! Key-cache behaviour over time, on paused tokio time with the in-process issuer.

use std::time::Duration;

use futures::future::join_all;
use jwt_verifier::{
    AuthError, KeyStore, StartupMode, Verifier, VerifierStartError,
    clock::Clock,
    testkit::{TestIssuer, test_key},
};
use serde_json::json;

use crate::helpers::{AUDIENCE, Paused, pass, unsigned_token};

#[tokio::test(start_paused = true)]
async fn a_thousand_concurrent_verifications_of_a_new_kid_cause_exactly_one_fetch() {
    // Arrange: keys loaded, cooldown passed, then the issuer publishes key 1.
    let setup = Paused::start(vec![test_key(0)], |_| {}).await;
    pass(Duration::from_secs(31)).await;
    setup.issuer.set_keys(vec![test_key(0), test_key(1)]);
    setup.issuer.set_delay(Duration::from_millis(200));
    let before = setup.issuer.jwks_fetches();
    let tokens: Vec<String> = (0..50).map(|_| setup.token(1)).collect();

    // Act
    let results = join_all((0..1000).map(|i| {
        let verifier = setup.verifier.clone();
        let token = tokens[i % tokens.len()].clone();
        tokio::spawn(async move { verifier.verify(&token).await })
    }))
    .await;

    // Assert
    let failures = results.into_iter().map(|r| r.expect("task ran")).filter(Result::is_err).count();
    assert_eq!(failures, 0);
    assert_eq!(setup.issuer.jwks_fetches() - before, 1);
    let stats = setup.verifier.stats();
    assert_eq!(stats.verifications_ok, 1000);
    assert_eq!(stats.store.jwks_fetches_ok, 2);
    assert!(stats.store.unknown_kid_found >= 1);
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_random_kids_cause_at_most_one_fetch_per_cooldown_window() {
    let setup = Paused::start(vec![test_key(0)], |_| {}).await;
    pass(Duration::from_secs(31)).await;
    let before = setup.issuer.jwks_fetches();
    let started = tokio::time::Instant::now();

    for _ in 0..4 {
        let claims = setup.claims();
        let results = join_all((0..2500).map(|_| {
            let verifier = setup.verifier.clone();
            let token = unsigned_token(&uuid::Uuid::new_v4().simple().to_string(), &claims);
            tokio::spawn(async move { verifier.verify(&token).await })
        }))
        .await;
        for result in results {
            assert_eq!(result.unwrap().unwrap_err(), AuthError::UnknownKey);
        }
        pass(Duration::from_secs(10)).await;
    }

    let windows = started.elapsed().as_secs() / 30 + 1;
    let fetches = (setup.issuer.jwks_fetches() - before) as u64;
    assert!(fetches >= 1, "the first unknown kid is looked up");
    assert!(fetches <= windows, "{fetches} fetches in {windows} cooldown windows");
    let stats = setup.verifier.stats().store;
    assert_eq!(
        stats.unknown_kid_not_found + stats.unknown_kid_throttled + stats.unknown_kid_negative_cached,
        10_000,
        "{stats:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn junk_tokens_never_reach_the_issuer() {
    let setup = Paused::start(vec![test_key(0)], |_| {}).await;
    pass(Duration::from_secs(31)).await;
    let before = setup.issuer.jwks_fetches();
    let wrong_issuer = json!({"iss": "https://evil.test"});
    let mut claims = setup.claims();
    claims["iss"] = wrong_issuer["iss"].clone();
    assert_eq!(
        setup.verifier.verify(&unsigned_token("fresh-kid", &claims)).await.unwrap_err(),
        AuthError::InvalidIssuer
    );
    let mut claims = setup.claims();
    let now = setup.clock.now_unix();
    claims["iat"] = json!(now - 7200);
    claims["exp"] = json!(now - 3600);
    assert_eq!(setup.verifier.verify(&unsigned_token("fresh-kid", &claims)).await.unwrap_err(), AuthError::Expired);
    assert_eq!(setup.issuer.jwks_fetches(), before);
}

#[tokio::test(start_paused = true)]
async fn kids_the_issuer_lacks_are_negatively_cached_until_the_key_set_changes() {
    let setup = Paused::start(vec![test_key(0)], |_| {}).await;
    pass(Duration::from_secs(31)).await;
    let token = test_key(1).mint(&setup.claims());
    assert_eq!(setup.verifier.verify(&token).await.unwrap_err(), AuthError::UnknownKey);
    assert_eq!(setup.verifier.stats().store.unknown_kid_not_found, 1);

    // After the cooldown the same kid is answered from the negative cache, without a fetch.
    pass(Duration::from_secs(31)).await;
    let before = setup.issuer.jwks_fetches();
    assert_eq!(setup.verifier.verify(&token).await.unwrap_err(), AuthError::UnknownKey);
    assert_eq!(setup.issuer.jwks_fetches(), before);
    assert_eq!(setup.verifier.stats().store.unknown_kid_negative_cached, 1);

    // A new key set (here fetched by the background refresh) invalidates the entry.
    setup.issuer.set_keys(vec![test_key(0), test_key(1)]);
    pass(Duration::from_secs(300)).await;
    assert!(setup.verifier.verify(&test_key(1).mint(&setup.claims())).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn waiting_for_a_slow_issuer_is_bounded() {
    let setup = Paused::start(vec![test_key(0)], |_| {}).await;
    pass(Duration::from_secs(31)).await;
    setup.issuer.set_keys(vec![test_key(0), test_key(1)]);
    setup.issuer.set_delay(Duration::from_secs(4));
    let started = tokio::time::Instant::now();
    let error = setup.verifier.verify(&setup.token(1)).await.unwrap_err();
    assert!(matches!(error, AuthError::KeysUnavailable { .. }), "{error:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert_eq!(setup.verifier.stats().store.unknown_kid_unavailable, 1);

    // The fetch was not abandoned: once it lands, the key verifies without another fetch.
    pass(Duration::from_secs(3)).await;
    let before = setup.issuer.jwks_fetches();
    assert!(setup.verifier.verify(&setup.token(1)).await.is_ok());
    assert_eq!(setup.issuer.jwks_fetches(), before);
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_issuer_is_survived_until_max_stale_then_503() {
    // Arrange: 5 min freshness (no caching headers), the default max_stale of 1 h.
    let setup = Paused::start(vec![test_key(0)], |_| {}).await;
    let cached = setup.token(0);
    assert!(setup.verifier.verify(&cached).await.is_ok());
    setup.issuer.stop().await;

    // Past freshness, within max_stale: still verifying, counted as stale.
    pass(Duration::from_secs(600)).await;
    assert!(setup.verifier.verify(&setup.token(0)).await.is_ok());
    assert_eq!(setup.verifier.stats().stale_served, 1);
    assert!(setup.verifier.is_ready());
    pass(Duration::from_secs(3600 - 600 + 300 - 60)).await;
    let token = setup.token(0);
    assert!(setup.verifier.verify(&token).await.is_ok());
    assert!(setup.verifier.stats().store.jwks_fetches_failed > 1, "the cache kept retrying");

    // Past max_stale: 503 with Retry-After, also for tokens in the token cache.
    pass(Duration::from_secs(120)).await;
    let error = setup.verifier.verify(&setup.token(0)).await.unwrap_err();
    assert!(matches!(error, AuthError::KeysUnavailable { retry_after_secs } if retry_after_secs >= 1), "{error:?}");
    assert!(!setup.verifier.is_ready());
    let error = setup.verifier.verify(&token).await.unwrap_err();
    assert!(matches!(error, AuthError::KeysUnavailable { .. }), "{error:?}");

    // The issuer comes back: the next retry restores service.
    setup.issuer.resume().await;
    pass(Duration::from_secs(40)).await;
    assert!(setup.verifier.verify(&setup.token(0)).await.is_ok());
    assert!(setup.verifier.is_ready());
}

#[tokio::test(start_paused = true)]
async fn an_issuer_answering_503_is_treated_like_an_outage() {
    let setup = Paused::start(vec![test_key(0)], |_| {}).await;
    setup.issuer.set_down(true);
    assert_eq!(setup.cache.load().await, jwt_verifier::FetchOutcome::Failed);
    assert!(setup.verifier.verify(&setup.token(0)).await.is_ok(), "last good keys still verify");
    // An unknown kid while the issuer fails is "unavailable", not "unknown".
    pass(Duration::from_secs(31)).await;
    let error = setup.verifier.verify(&setup.token(1)).await.unwrap_err();
    assert!(matches!(error, AuthError::KeysUnavailable { .. }), "{error:?}");
}

#[tokio::test(start_paused = true)]
async fn a_304_keeps_the_keys() {
    let setup = Paused::start_unloaded(vec![test_key(0)], |_| {}).await;
    setup.issuer.set_etag(Some("\"v1\""));
    setup.issuer.set_cache_control(Some("max-age=100"));
    assert_eq!(setup.cache.load().await, jwt_verifier::FetchOutcome::Updated);

    pass(Duration::from_secs(101)).await;
    assert_eq!(setup.issuer.not_modified_responses(), 1);
    assert_eq!(setup.verifier.stats().store.jwks_fetches_not_modified, 1);
    assert!(setup.verifier.verify(&setup.token(0)).await.is_ok());
    assert_eq!(setup.verifier.stats().stale_served, 0, "a 304 renews freshness");

    // A changed set under a new ETag replaces the keys at the next refresh.
    setup.issuer.set_keys(vec![test_key(1)]);
    setup.issuer.set_etag(Some("\"v2\""));
    pass(Duration::from_secs(100)).await;
    assert!(setup.verifier.verify(&setup.token(1)).await.is_ok());
    assert_eq!(setup.verifier.verify(&setup.token(0)).await.unwrap_err(), AuthError::UnknownKey);
}

#[tokio::test(start_paused = true)]
async fn refresh_happens_at_about_eighty_percent_of_the_lifetime() {
    let setup = Paused::start_unloaded(vec![test_key(0)], |_| {}).await;
    setup.issuer.set_cache_control(Some("public, max-age=1000"));
    setup.cache.load().await;
    pass(Duration::from_secs(745)).await;
    assert_eq!(setup.issuer.jwks_fetches(), 1);
    pass(Duration::from_secs(110)).await;
    assert_eq!(setup.issuer.jwks_fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn issuer_lifetimes_are_clamped() {
    // max-age=5 is raised to the 60 s minimum: no refresh before 45 s.
    let setup = Paused::start_unloaded(vec![test_key(0)], |_| {}).await;
    setup.issuer.set_cache_control(Some("max-age=5"));
    setup.cache.load().await;
    pass(Duration::from_secs(44)).await;
    assert_eq!(setup.issuer.jwks_fetches(), 1);
    pass(Duration::from_secs(8)).await;
    assert_eq!(setup.issuer.jwks_fetches(), 2);

    // A day is cut to the 1 h maximum.
    let setup = Paused::start_unloaded(vec![test_key(0)], |_| {}).await;
    setup.issuer.set_cache_control(Some("max-age=86400"));
    setup.cache.load().await;
    pass(Duration::from_secs(3600)).await;
    assert_eq!(setup.issuer.jwks_fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn expires_is_honoured_when_there_is_no_max_age() {
    let setup = Paused::start_unloaded(vec![test_key(0)], |_| {}).await;
    setup.issuer.add_header("date", "Sun, 06 Nov 1994 08:49:37 GMT");
    setup.issuer.add_header("expires", "Sun, 06 Nov 1994 09:09:37 GMT");
    setup.cache.load().await;
    pass(Duration::from_secs(899)).await;
    assert_eq!(setup.issuer.jwks_fetches(), 1, "20 min lifetime: refresh not before 15 min");
    pass(Duration::from_secs(125)).await;
    assert_eq!(setup.issuer.jwks_fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_removed_key_stops_verifying_at_once() {
    let setup = Paused::start(vec![test_key(0), test_key(1)], |_| {}).await;
    let token = setup.token(0);
    assert!(setup.verifier.verify(&token).await.is_ok());
    assert!(setup.verifier.verify(&token).await.is_ok());
    assert_eq!(setup.verifier.stats().token_cache_hits, 1);

    setup.issuer.set_keys(vec![test_key(1)]);
    assert_eq!(setup.cache.load().await, jwt_verifier::FetchOutcome::Updated);
    assert_eq!(setup.verifier.verify(&token).await.unwrap_err(), AuthError::UnknownKey);
    assert_eq!(setup.verifier.stats().token_cache_hits, 1, "the cached entry of the removed key was dropped");
}

#[tokio::test(start_paused = true)]
async fn a_refused_document_keeps_the_last_good_keys() {
    let setup = Paused::start(vec![test_key(0)], |_| {}).await;
    let mut leaked = test_key(1).public_jwk();
    leaked["d"] = json!("AQAB");
    setup.issuer.set_jwks_json(&json!({"keys": [test_key(0).public_jwk(), leaked]}));
    assert_eq!(setup.cache.load().await, jwt_verifier::FetchOutcome::Refused);
    assert_eq!(setup.verifier.stats().store.jwks_fetches_refused, 1);
    assert!(setup.verifier.verify(&setup.token(0)).await.is_ok());
    assert_eq!(setup.cache.keys().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn lazy_start_fetches_on_the_first_token() {
    let setup = Paused::start_unloaded(vec![test_key(0)], |c| c.startup = StartupMode::Lazy).await;
    assert!(setup.verifier.is_ready(), "lazy verifiers are ready at once");
    pass(Duration::from_secs(60)).await;
    assert_eq!(setup.issuer.jwks_fetches(), 0);
    assert!(setup.verifier.verify(&setup.token(0)).await.is_ok());
    assert_eq!(setup.issuer.jwks_fetches(), 1);
    // From then on the background refresh runs (5 min default lifetime).
    pass(Duration::from_secs(300)).await;
    assert_eq!(setup.issuer.jwks_fetches(), 2);
}

#[tokio::test(start_paused = true)]
async fn warm_start_is_not_ready_until_keys_arrive() {
    let issuer = TestIssuer::start(vec![test_key(0)]).await;
    issuer.set_delay(Duration::from_secs(1));
    let config = issuer.verifier_config(AUDIENCE);
    let cache = jwt_verifier::JwksCache::with_transport(&config, issuer.transport()).unwrap();
    let verifier = Verifier::start_with_cache(config, cache).await.unwrap();
    assert!(!verifier.is_ready());
    pass(Duration::from_millis(1100)).await;
    assert!(verifier.is_ready());
    assert_eq!(issuer.jwks_fetches(), 1);
}

#[tokio::test(start_paused = true)]
async fn warm_start_with_a_deadline_fails_when_the_issuer_does_not_answer() {
    let issuer = TestIssuer::start(vec![test_key(0)]).await;
    issuer.set_down(true);
    let mut config = issuer.verifier_config(AUDIENCE);
    config.startup = StartupMode::WarmWithDeadline(Duration::from_secs(3));
    let cache = jwt_verifier::JwksCache::with_transport(&config, issuer.transport()).unwrap();
    let error = Verifier::start_with_cache(config.clone(), cache).await.unwrap_err();
    assert!(matches!(error, VerifierStartError::KeysNotLoaded { .. }), "{error:?}");

    issuer.set_down(false);
    let cache = jwt_verifier::JwksCache::with_transport(&config, issuer.transport()).unwrap();
    let verifier = Verifier::start_with_cache(config, cache.clone()).await.unwrap();
    assert!(verifier.is_ready());
    assert!(cache.is_ready());
}

#[tokio::test(start_paused = true)]
async fn a_failed_first_load_is_retried_after_the_cooldown() {
    let setup = Paused::start_unloaded(vec![test_key(0)], |_| {}).await;
    setup.issuer.set_down(true);
    assert_eq!(setup.cache.load().await, jwt_verifier::FetchOutcome::Failed);
    let error = setup.verifier.verify(&setup.token(0)).await.unwrap_err();
    assert!(matches!(error, AuthError::KeysUnavailable { .. }), "no keys yet: {error:?}");
    setup.issuer.set_down(false);
    pass(Duration::from_secs(35)).await;
    assert!(setup.verifier.is_ready());
    assert!(setup.verifier.verify(&setup.token(0)).await.is_ok());
}
