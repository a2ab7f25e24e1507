//! The revocation feed over real HTTP: the test issuer's `GET /v1/security-events` long poll,
//! a verifier subscribed to it, and what every verification then refuses. Real time; every
//! wait is bounded (`until`, 5 s).

use std::time::Duration;

use jwt_verifier::{
    AuthError, FeedStatus, RevocationFeed, StartupMode, Verifier, VerifierConfig,
    clock::Clock,
    jose::encode_b64url,
    testkit::{
        TestIssuer,
        events::{session_revoked_claims, set_header},
        test_key, user_claims,
    },
};
use serde_json::{Value, json};

use crate::helpers::{AUDIENCE, until};

/// An issuer publishing key 0 and a verifier subscribed to its feed, synced.
struct Subscribed {
    issuer: TestIssuer,
    verifier: Verifier,
}

impl Subscribed {
    async fn start(tune: impl FnOnce(&mut VerifierConfig)) -> Self {
        let issuer = TestIssuer::start(vec![test_key(0)]).await;
        let mut config = issuer.verifier_config(AUDIENCE);
        config.startup = StartupMode::WarmWithDeadline(Duration::from_secs(5));
        tune(&mut config);
        let verifier = Verifier::start(config).await.expect("keys load");
        until("synced", || verifier.stats().revocation.status == FeedStatus::Synced).await;
        assert!(verifier.is_ready());
        Self { issuer, verifier }
    }

    /// A valid user token of session `sid` (and a fresh `jti`).
    fn token(&self, sid: &str) -> String {
        test_key(0).mint(&self.claims(sid))
    }

    fn claims(&self, sid: &str) -> Value {
        let mut claims = user_claims(&self.issuer.issuer(), &[AUDIENCE], "user-1", "orders:read");
        claims["sid"] = json!(sid);
        claims
    }

    async fn applied(&self, sets: u64) {
        until(&format!("{sets} SETs applied"), || self.verifier.stats().revocation.sets_applied >= sets).await;
    }

    async fn verify(&self, token: &str) -> Result<(), AuthError> {
        self.verifier.verify(token).await.map(|_| ())
    }
}

#[tokio::test]
async fn a_revoked_session_is_refused_fresh_and_cached_and_other_sessions_are_not() {
    // Arrange: two sessions of one user, the first one's token already in the cache.
    let feed = Subscribed::start(|_| {}).await;
    let (cached, other) = (feed.token("s-1"), feed.token("s-2"));
    feed.verify(&cached).await.unwrap();
    feed.verify(&cached).await.unwrap();
    assert_eq!(feed.verifier.stats().token_cache_hits, 1);

    // Act
    feed.issuer.revoke_session("user-1", "s-1");
    feed.applied(1).await;

    // Assert: the cached token, a token never seen, and nothing else.
    assert_eq!(feed.verify(&cached).await, Err(AuthError::Revoked));
    assert_eq!(feed.verify(&feed.token("s-1")).await, Err(AuthError::Revoked));
    assert_eq!(feed.verify(&other).await, Ok(()));
    let stats = feed.verifier.stats().revocation;
    assert_eq!((stats.revoked_sessions, stats.revoked_tokens, stats.tokens_refused), (1, 0, 2));
    assert_eq!(AuthError::Revoked.description(), "the token has been revoked");
}

#[tokio::test]
async fn a_revoked_token_is_refused_and_its_session_lives_on() {
    let feed = Subscribed::start(|_| {}).await;
    let claims = feed.claims("s-1");
    let revoked = test_key(0).mint(&claims);
    feed.verify(&revoked).await.unwrap();

    feed.issuer.revoke_token(claims["jti"].as_str().unwrap(), claims["exp"].as_i64().unwrap());
    feed.applied(1).await;

    assert_eq!(feed.verify(&revoked).await, Err(AuthError::Revoked));
    assert_eq!(feed.verify(&feed.token("s-1")).await, Ok(()));
    assert_eq!(feed.verifier.stats().revocation.revoked_tokens, 1);
}

#[tokio::test]
async fn forged_sets_are_refused_and_not_applied() {
    // Arrange
    let feed = Subscribed::start(|_| {}).await;
    let issuer = feed.issuer.issuer();
    let now = feed.issuer.clock().now_unix();
    let claims = |sid: &str| session_revoked_claims(&issuer, "user-1", sid, now, now + 600);
    let (good, other) = (test_key(0), test_key(1));
    let forged = [
        // Another key's signature under the published key's kid.
        ("wrong-key", other.sign(&set_header(&good), &claims("wrong-key"))),
        // Signed by a key the issuer does not publish.
        ("unknown-kid", other.sign_set(&claims("unknown-kid"))),
        // An access token's typ.
        ("at-jwt", good.sign(&json!({"alg": "RS256", "kid": good.kid(), "typ": "at+jwt"}), &claims("at-jwt"))),
        ("alg-none", unsigned(&json!({"alg": "none", "kid": good.kid(), "typ": "secevent+jwt"}), &claims("alg-none"))),
        (
            "wrong-iss",
            good.sign_set(&session_revoked_claims("https://evil.test", "user-1", "wrong-iss", now, now + 600)),
        ),
        (
            "duplicate",
            good.sign_raw(set_header(&good).to_string().as_bytes(), duplicated(&claims("duplicate")).as_bytes()),
        ),
    ];

    // Act: the forgeries, then one genuine SET to know the answer has been processed.
    for (_, set) in &forged {
        feed.issuer.publish_set(set);
    }
    feed.issuer.revoke_session("user-1", "genuine");
    feed.applied(1).await;

    // Assert
    let stats = feed.verifier.stats().revocation;
    assert_eq!((stats.sets_applied, stats.sets_refused, stats.revoked_sessions), (1, forged.len() as u64, 1));
    for (sid, _) in &forged {
        assert_eq!(feed.verify(&feed.token(sid)).await, Ok(()), "{sid}");
    }
    assert_eq!(feed.verify(&feed.token("genuine")).await, Err(AuthError::Revoked));
}

/// `header.claims.` with no signature.
fn unsigned(header: &Value, claims: &Value) -> String {
    format!("{}.{}.", encode_b64url(header.to_string().as_bytes()), encode_b64url(claims.to_string().as_bytes()))
}

/// The claims' JSON with `iss` written twice (strict JSON refuses it).
fn duplicated(claims: &Value) -> String {
    let json = claims.to_string();
    format!(r#"{{"iss":"https://evil.test",{}"#, &json[1..])
}

#[tokio::test]
async fn a_replayed_set_past_its_relevance_is_ignored() {
    let feed = Subscribed::start(|_| {}).await;
    let now = feed.issuer.clock().now_unix();
    feed.issuer.publish_signed(&session_revoked_claims(&feed.issuer.issuer(), "user-1", "old", now - 700, now - 40));
    feed.issuer.revoke_session("user-1", "new");
    feed.applied(1).await;

    let stats = feed.verifier.stats().revocation;
    assert_eq!((stats.sets_ignored, stats.revoked_sessions), (1, 1));
    assert_eq!(feed.verify(&feed.token("old")).await, Ok(()));
}

#[tokio::test]
async fn a_reset_replaces_the_state() {
    // Arrange
    let feed = Subscribed::start(|_| {}).await;
    feed.issuer.revoke_session("user-1", "before-restore");
    feed.applied(1).await;

    // Act: the issuer's log is restored from before that revocation, then a new one happens.
    feed.issuer.forget_events();
    feed.issuer.revoke_session("user-1", "after-restore");
    until("a second reset", || feed.verifier.stats().revocation.resets >= 2).await;
    feed.applied(2).await;

    // Assert: what the issuer says now, nothing more.
    assert_eq!(feed.verify(&feed.token("after-restore")).await, Err(AuthError::Revoked));
    assert_eq!(feed.verify(&feed.token("before-restore")).await, Ok(()));
    assert_eq!(feed.verifier.stats().revocation.revoked_sessions, 1);
}

#[tokio::test]
async fn a_reset_over_several_pages_is_complete_before_the_verifier_is_ready() {
    let issuer = TestIssuer::start(vec![test_key(0)]).await;
    issuer.set_feed_page_size(2);
    for sid in ["a", "b", "c", "d", "e"] {
        issuer.revoke_session("user-1", sid);
    }
    let mut config = issuer.verifier_config(AUDIENCE);
    config.startup = StartupMode::WarmWithDeadline(Duration::from_secs(5));
    let verifier = Verifier::start(config).await.unwrap();
    until("ready", || verifier.is_ready()).await;

    let stats = verifier.stats().revocation;
    assert_eq!((stats.revoked_sessions, stats.resets), (5, 1));
    assert!(issuer.feed_requests() >= 3, "five events in pages of two");
    let token = |sid: &str| {
        let mut claims = user_claims(&issuer.issuer(), &[AUDIENCE], "user-1", "");
        claims["sid"] = json!(sid);
        test_key(0).mint(&claims)
    };
    assert_eq!(verifier.verify(&token("e")).await.unwrap_err(), AuthError::Revoked);
}

#[tokio::test]
async fn after_an_outage_the_subscriber_resumes_from_its_cursor_and_misses_nothing() {
    // Arrange
    let feed = Subscribed::start(|c| c.revocation_backoff_max = Duration::from_millis(500)).await;
    feed.issuer.revoke_session("user-1", "before");
    feed.applied(1).await;

    // Act: connections refused, then 503s, while sessions keep ending.
    feed.issuer.stop().await;
    feed.issuer.revoke_session("user-1", "while-stopped");
    until("a failed poll", || feed.verifier.stats().revocation.polls_failed >= 1).await;
    feed.issuer.resume().await;
    feed.issuer.set_down(true);
    feed.issuer.revoke_session("user-1", "while-down");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(feed.verify(&feed.token("before")).await, Err(AuthError::Revoked), "the state is kept");
    feed.issuer.set_down(false);
    feed.applied(3).await;

    // Assert: every event arrived, and from the cursor (no second reset).
    for sid in ["before", "while-stopped", "while-down"] {
        assert_eq!(feed.verify(&feed.token(sid)).await, Err(AuthError::Revoked), "{sid}");
    }
    let stats = feed.verifier.stats().revocation;
    assert_eq!((stats.resets, stats.revoked_sessions, stats.status), (1, 3, FeedStatus::Synced));
    assert!(stats.polls_failed >= 2, "{stats:?}");
}

#[tokio::test]
async fn readiness_waits_for_the_first_sync() {
    let issuer = TestIssuer::start(vec![test_key(0)]).await;
    issuer.set_down(true);
    let mut config = issuer.verifier_config(AUDIENCE);
    // Keys count as ready at once: only the feed holds readiness here.
    config.startup = StartupMode::Lazy;
    config.revocation_backoff_max = Duration::from_millis(200);
    let verifier = Verifier::start(config).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!verifier.is_ready());
    assert_eq!(verifier.stats().revocation.status, FeedStatus::Syncing);

    issuer.set_down(false);
    until("ready", || verifier.is_ready()).await;
}

#[tokio::test]
async fn an_issuer_without_a_feed_leaves_the_verifier_as_it_was() {
    let issuer = TestIssuer::start(vec![test_key(0)]).await;
    issuer.set_feed_advertised(false);
    let mut config = VerifierConfig::new(issuer.issuer(), AUDIENCE);
    config.startup = StartupMode::WarmWithDeadline(Duration::from_secs(5));
    let verifier = Verifier::start(config).await.unwrap();
    until("told there is no feed", || verifier.stats().revocation.status == FeedStatus::NotAdvertised).await;
    assert!(verifier.is_ready());
    assert_eq!(issuer.feed_requests(), 0);

    // Turned off, there is no subscriber at all.
    let mut config = issuer.verifier_config(AUDIENCE);
    config.revocation_feed = RevocationFeed::Off;
    config.startup = StartupMode::Lazy;
    let verifier = Verifier::start(config).await.unwrap();
    assert!(verifier.is_ready() && verifier.revocations().is_none());
    assert_eq!(verifier.stats().revocation.status, FeedStatus::Off);
}

#[tokio::test]
async fn the_feed_is_found_through_the_issuer_metadata() {
    let issuer = TestIssuer::start(vec![test_key(0)]).await;
    let verifier = Verifier::start(VerifierConfig::new(issuer.issuer(), AUDIENCE)).await.unwrap();
    until("ready", || verifier.is_ready()).await;
    issuer.revoke_session("user-1", "s");
    until("applied", || verifier.stats().revocation.sets_applied == 1).await;
    let mut claims = user_claims(&issuer.issuer(), &[AUDIENCE], "user-1", "");
    claims["sid"] = json!("s");
    assert_eq!(verifier.verify(&test_key(0).mint(&claims)).await.unwrap_err(), AuthError::Revoked);
}

#[tokio::test]
async fn at_the_cap_tokens_issued_before_a_revocation_it_could_not_hold_are_refused() {
    // Arrange
    let feed = Subscribed::start(|c| c.revocation_max_entries = 2).await;
    let earlier = feed.token("bystander");

    // Act: three sessions end; the third does not fit.
    feed.issuer.revoke_session("user-1", "a");
    feed.issuer.revoke_session("user-1", "b");
    feed.applied(2).await;
    feed.issuer.revoke_session("user-1", "c");
    until("overflowing", || feed.verifier.stats().revocation.overflowing).await;

    // Assert: held revocations refused as such; every token issued up to the overflow too,
    // even tokens of sessions that never ended; later ones pass, even of session "c".
    let revocations = feed.verifier.revocations().unwrap();
    let overflow = revocations.overflow().unwrap();
    assert_eq!(revocations.len(), 2);
    assert_eq!(feed.verify(&feed.token("a")).await, Err(AuthError::Revoked));
    assert_eq!(feed.verify(&earlier).await, Err(AuthError::RevocationOverflow));
    let mut later = feed.claims("c");
    later["iat"] = json!(overflow.issued_up_to + 1);
    later["nbf"] = json!(overflow.issued_up_to + 1);
    assert_eq!(feed.verify(&test_key(0).mint(&later)).await, Ok(()));
}

#[tokio::test]
async fn dropping_the_verifier_ends_its_long_poll() {
    let feed = Subscribed::start(|_| {}).await;
    let Subscribed { issuer, verifier } = feed;
    drop(verifier);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let requests = issuer.feed_requests();
    issuer.revoke_session("user-1", "s");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(issuer.feed_requests(), requests, "no subscriber polls any more");
}
