//! Builders shared by the auth tests.

use std::{sync::Arc, time::Duration};

use jwt_verifier::{
    JwksCache, StaticKeyStore, TokioClock, Verifier, VerifierConfig,
    clock::Clock,
    jose::encode_b64url,
    testkit::{TestIssuer, TestKey, key_set, test_key, user_claims_at},
};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "orders-service";

/// A verifier over a static store holding `keys`, token cache off unless `cache` is set.
pub fn static_verifier(keys: &[TestKey], cache: bool) -> (Verifier, Arc<StaticKeyStore>) {
    let mut config = VerifierConfig::new(ISSUER, AUDIENCE);
    if !cache {
        config.token_cache_capacity = 0;
    }
    let store = Arc::new(StaticKeyStore::new(key_set(keys)));
    (Verifier::with_key_store(config, store.clone()), store)
}

/// Valid user claims for [`ISSUER`]/[`AUDIENCE`], issued now (system clock).
pub fn claims() -> Value {
    jwt_verifier::testkit::user_claims(ISSUER, &[AUDIENCE], "user-1", "orders:read orders:write")
}

/// `claims` with `name` set to `value` (or removed when `value` is null).
pub fn with(mut claims: Value, name: &str, value: Value) -> Value {
    let map = claims.as_object_mut().expect("claims are an object");
    if value.is_null() {
        map.remove(name);
    } else {
        map.insert(name.to_owned(), value);
    }
    claims
}

/// The standard access-token header for `key`, with extra members merged in.
pub fn header(key: &TestKey, extra: Value) -> Value {
    let mut header = json!({"alg": "RS256", "typ": "at+jwt", "kid": key.kid()});
    if let (Some(map), Some(extra)) = (header.as_object_mut(), extra.as_object()) {
        for (name, value) in extra {
            if value.is_null() {
                map.remove(name);
            } else {
                map.insert(name.clone(), value.clone());
            }
        }
    }
    header
}

/// A token with a well-formed header and claims but a junk signature (for unknown `kid`s).
pub fn unsigned_token(kid: &str, claims: &Value) -> String {
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": kid});
    format!(
        "{}.{}.{}",
        encode_b64url(header.to_string().as_bytes()),
        encode_b64url(claims.to_string().as_bytes()),
        encode_b64url(&[7u8; 256])
    )
}

/// A paused-time setup: an issuer publishing `keys`, a cache over its in-process transport
/// (already loaded), a verifier on a [`TokioClock`].
pub struct Paused {
    pub issuer: TestIssuer,
    pub cache: JwksCache,
    pub verifier: Verifier,
    pub clock: Arc<TokioClock>,
}

impl Paused {
    pub async fn start(keys: Vec<TestKey>, tune: impl FnOnce(&mut VerifierConfig)) -> Self {
        Self::start_unloaded(keys, tune).await.loaded().await
    }

    pub async fn start_unloaded(keys: Vec<TestKey>, tune: impl FnOnce(&mut VerifierConfig)) -> Self {
        let issuer = TestIssuer::start(keys).await;
        let clock = Arc::new(TokioClock::new());
        let mut config = issuer.verifier_config(AUDIENCE);
        config.clock = clock.clone();
        tune(&mut config);
        let cache = JwksCache::with_transport(&config, issuer.transport()).expect("valid config");
        let verifier = Verifier::with_key_store(config, Arc::new(cache.clone()));
        Self { issuer, cache, verifier, clock }
    }

    async fn loaded(self) -> Self {
        let outcome = self.cache.load().await;
        assert_eq!(outcome, jwt_verifier::FetchOutcome::Updated);
        self
    }

    /// Valid user claims at the paused clock's now.
    pub fn claims(&self) -> Value {
        user_claims_at(self.clock.now_unix(), &self.issuer.issuer(), &[AUDIENCE], "user-1", "orders:read")
    }

    /// A token from `key` valid now.
    pub fn token(&self, key: usize) -> String {
        test_key(key).mint(&self.claims())
    }
}

/// Sleeps on tokio time (instant under a paused clock, other tasks run meanwhile).
pub async fn pass(duration: Duration) {
    tokio::time::sleep(duration).await;
}

/// Waits (real time, at most 5 s) until `condition` holds; panics naming `what` otherwise.
pub async fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "not {what} within 5 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
