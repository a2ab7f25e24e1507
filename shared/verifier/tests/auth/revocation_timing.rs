//! The revocation subscriber over time, on paused tokio time with the in-process issuer:
//! entries dropped at `relevant_until`, the backoff of a failing feed, and the catch-up
//! after it.

use std::{sync::Arc, time::Duration};

use jwt_verifier::{
    AuthError, FeedStatus, JwksCache, StartupMode, TokioClock, Verifier,
    clock::Clock,
    testkit::{TestIssuer, test_key, user_claims_at},
};
use serde_json::json;

use crate::helpers::{AUDIENCE, pass};

struct Paused {
    issuer: TestIssuer,
    verifier: Verifier,
    clock: Arc<TokioClock>,
}

impl Paused {
    async fn start() -> Self {
        let issuer = TestIssuer::start(vec![test_key(0)]).await;
        let clock = issuer.clock();
        let mut config = issuer.verifier_config(AUDIENCE);
        config.clock = clock.clone();
        config.startup = StartupMode::WarmWithDeadline(Duration::from_secs(5));
        let cache = JwksCache::with_transport(&config, issuer.transport()).expect("valid config");
        let verifier = Verifier::start_with_cache(config, cache).await.expect("keys load");
        pass(Duration::from_millis(10)).await;
        assert_eq!(verifier.stats().revocation.status, FeedStatus::Synced);
        Self { issuer, verifier, clock }
    }

    fn token(&self, sid: &str) -> String {
        let mut claims = user_claims_at(self.clock.now_unix(), &self.issuer.issuer(), &[AUDIENCE], "u", "");
        claims["sid"] = json!(sid);
        test_key(0).mint(&claims)
    }
}

#[tokio::test(start_paused = true)]
async fn entries_are_dropped_at_their_relevant_until() {
    // Arrange
    let setup = Paused::start().await;
    let now = setup.clock.now_unix();
    setup.issuer.revoke_session_until("u", "short", now + 30);
    setup.issuer.revoke_session("u", "long");
    pass(Duration::from_millis(10)).await;
    assert_eq!(setup.verifier.stats().revocation.revoked_sessions, 2);

    // Act / Assert: kept until relevant_until, dropped at it, the other one kept.
    pass(Duration::from_secs(29)).await;
    assert_eq!(setup.verifier.stats().revocation.revoked_sessions, 2);
    pass(Duration::from_secs(2)).await;
    assert_eq!(setup.verifier.stats().revocation.revoked_sessions, 1);
    assert_eq!(setup.verifier.verify(&setup.token("long")).await.unwrap_err(), AuthError::Revoked);
}

#[tokio::test(start_paused = true)]
async fn a_failing_feed_is_retried_with_a_doubling_backoff_then_caught_up() {
    // Arrange
    let setup = Paused::start().await;
    setup.issuer.revoke_session("u", "before");
    pass(Duration::from_millis(10)).await;

    // Act: a minute of 503s, during which a session ends.
    setup.issuer.set_down(true);
    pass(Duration::from_secs(30)).await;
    setup.issuer.revoke_session("u", "during");
    pass(Duration::from_secs(30)).await;
    let failed = setup.verifier.stats().revocation.polls_failed;
    setup.issuer.set_down(false);
    pass(Duration::from_secs(10)).await;

    // Assert: 250 ms doubling to 1 s (jittered 50-100 %): after the first two, a pause of
    // 0.5-1 s, so 60-120 failed polls in the minute, never a tight loop; the old state was
    // enforced throughout; nothing was missed.
    assert!((55..=125).contains(&failed), "{failed} failed polls in a minute");
    let stats = setup.verifier.stats().revocation;
    assert_eq!((stats.revoked_sessions, stats.resets, stats.status), (2, 1, FeedStatus::Synced));
    for sid in ["before", "during"] {
        assert_eq!(setup.verifier.verify(&setup.token(sid)).await.unwrap_err(), AuthError::Revoked, "{sid}");
    }
    assert!(setup.verifier.is_ready());
    // The catch-up answer came within one backoff pause; a long poll is held since.
    assert!(stats.seconds_since_sync.is_some_and(|age| age <= 10), "{stats:?}");
}
