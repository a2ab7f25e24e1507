//! The verified-token cache: hits, expiry, and what never hits.

use std::{sync::Arc, time::Duration};

use jwt_verifier::{
    AuthError, StaticKeyStore, Verifier, VerifierConfig,
    clock::Clock,
    testkit::{key_set, test_key},
};
use serde_json::json;

use crate::helpers::{AUDIENCE, ISSUER, Paused, claims, pass, static_verifier};

#[tokio::test]
async fn a_repeated_token_is_answered_from_the_cache() {
    let (verifier, _) = static_verifier(&[test_key(0)], true);
    let token = test_key(0).mint(&claims());
    let first = verifier.verify(&token).await.unwrap();
    let second = verifier.verify(&token).await.unwrap();
    assert_eq!(first, second);
    let stats = verifier.stats();
    assert_eq!((stats.verifications_ok, stats.token_cache_hits), (2, 1));
}

#[tokio::test]
async fn a_tampered_copy_of_a_cached_token_does_not_hit() {
    let (verifier, _) = static_verifier(&[test_key(0)], true);
    let token = test_key(0).mint(&claims());
    verifier.verify(&token).await.unwrap();
    let replacement = if token.ends_with('A') { 'Q' } else { 'A' };
    let tampered = format!("{}{replacement}", &token[..token.len() - 1]);
    assert!(verifier.verify(&tampered).await.is_err());
    assert_eq!(verifier.stats().token_cache_hits, 0);
}

#[tokio::test]
async fn another_payload_under_a_cached_tokens_signature_does_not_hit() {
    // The cache is keyed by the end of the signature: a token that ends the same, such as the
    // cached token's signature on an admin's claims, must be compared in full and refused.
    let (verifier, _) = static_verifier(&[test_key(0)], true);
    let token = test_key(0).mint(&claims());
    verifier.verify(&token).await.unwrap();
    let mut other = claims();
    other["sub"] = json!("someone-else");
    let other = test_key(0).mint(&other);
    let (header_and_payload, _) = other.rsplit_once('.').unwrap();
    let (_, signature) = token.rsplit_once('.').unwrap();
    let forged = format!("{header_and_payload}.{signature}");

    assert_eq!(verifier.verify(&forged).await.unwrap_err(), AuthError::InvalidSignature);
    assert_eq!(verifier.stats().token_cache_hits, 0);
    assert_eq!(verifier.verify(&token).await.unwrap().subject, "user-1");
}

#[tokio::test]
async fn the_cache_can_be_turned_off() {
    let (verifier, _) = static_verifier(&[test_key(0)], false);
    let token = test_key(0).mint(&claims());
    verifier.verify(&token).await.unwrap();
    verifier.verify(&token).await.unwrap();
    assert_eq!(verifier.stats().token_cache_hits, 0);
}

#[tokio::test]
async fn replacing_a_static_key_set_drops_entries_of_removed_keys() {
    let (verifier, store) = static_verifier(&[test_key(0)], true);
    let token = test_key(0).mint(&claims());
    verifier.verify(&token).await.unwrap();
    store.replace(jwt_verifier::testkit::key_set(&[test_key(1)]));
    assert_eq!(verifier.verify(&token).await.unwrap_err(), AuthError::UnknownKey);
    assert_eq!(verifier.stats().token_cache_hits, 0);
}

#[tokio::test(start_paused = true)]
async fn entries_do_not_outlive_the_token() {
    let setup = Paused::start(vec![test_key(0)], |_| {}).await;
    let mut claims = setup.claims();
    claims["exp"] = json!(setup.clock.now_unix() + 60);
    let token = test_key(0).mint(&claims);
    setup.verifier.verify(&token).await.unwrap();
    pass(Duration::from_secs(59)).await;
    setup.verifier.verify(&token).await.unwrap();
    assert_eq!(setup.verifier.stats().token_cache_hits, 1);
    // Past exp the entry is gone; the full check then applies the leeway, and past that
    // the token is expired.
    pass(Duration::from_secs(2)).await;
    setup.verifier.verify(&token).await.unwrap();
    assert_eq!(setup.verifier.stats().token_cache_hits, 1);
    pass(Duration::from_secs(30)).await;
    assert_eq!(setup.verifier.verify(&token).await.unwrap_err(), AuthError::Expired);
}

#[tokio::test]
async fn once_the_cache_has_been_filled_a_token_gets_in_on_its_second_verification() {
    let mut config = VerifierConfig::new(ISSUER, AUDIENCE);
    config.token_cache_capacity = 1;
    let store = Arc::new(StaticKeyStore::new(key_set(&[test_key(0)])));
    let verifier = Verifier::with_key_store(config, store);
    let mint = |sub: &str| {
        let mut claims = claims();
        claims["sub"] = json!(sub);
        test_key(0).mint(&claims)
    };
    let (first, second) = (mint("first"), mint("second"));
    verifier.verify(&first).await.unwrap();
    verifier.verify(&first).await.unwrap();
    assert_eq!(verifier.stats().token_cache_hits, 1, "room: admitted on first sight");

    // Full: a token seen once stays out and does not push out the one in use.
    verifier.verify(&second).await.unwrap();
    verifier.verify(&first).await.unwrap();
    assert_eq!(verifier.stats().token_cache_hits, 2);
    // Seen again, it gets in, and hits from then on.
    verifier.verify(&second).await.unwrap();
    verifier.verify(&second).await.unwrap();
    assert_eq!(verifier.stats().token_cache_hits, 3);
}
