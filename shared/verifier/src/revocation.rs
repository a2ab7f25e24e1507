//! Revocation within a second: the issuer's feed and the [`RevocationList`] it fills.
//!
//! The feed carries signed security events (RFC 8417 SETs), delivered by long poll in RFC
//! 8936's answer shape; every verification checks the list.
//!
//! How it works: [`Verifier::start`](crate::Verifier::start) starts a subscriber (unless the
//! feed is [off](crate::RevocationFeed::Off), or the issuer advertises none). It keeps one
//! `GET <feed>?after=<cursor>&wait=<s>` open; the issuer answers as soon as a session ends or
//! a token is revoked. Each SET is verified like an access token's signature, with the same
//! key store, and its revoked session id (`sid`) or token id (`jti`) goes into a lock-free
//! snapshot with its `relevant_until`, the moment after which every access token it could
//! refuse has expired anyway. Every verification, token-cache hits included, looks the
//! token's `sid` and `jti` up in that snapshot.
//!
//! Receiver rules (the wire contract):
//! - a SET must have `typ` exactly `secevent+jwt`, an allowed `alg` (RS256), a `kid` of the
//!   issuer's key set (an unknown `kid` is resolved as for tokens), `iss` equal to the
//!   configured issuer, strict JSON, and be listed under its own `jti`; one that fails is
//!   skipped and counted, never applied, and the rest of the answer is applied;
//! - unknown event types, and SETs whose `relevant_until` has passed (replays), are ignored
//!   and counted;
//! - `reset: true` replaces the state (once every page of the reset has arrived: until then
//!   the union of old and new is enforced, which refuses more, never less);
//! - a failed poll keeps the state and resumes from the last cursor, after a jittered
//!   backoff; if the keys needed to verify a SET cannot be had, the whole answer is retried
//!   rather than skipped, so no event is lost to an outage.
//!
//! Memory: an entry costs about [`RevocationList::BYTES_PER_ENTRY`] bytes (36-character ids),
//! and the list holds at most `revocation_max_entries` (default 100 000, about 12 MB). At the
//! cap the list refuses rather than forgets: a revocation it cannot hold is recorded as an
//! [`Overflow`], and every token issued up to the newest such revocation is refused
//! ([`AuthError::RevocationOverflow`]) until that revocation can no longer matter.
//!
//! Where each part lives: the public types and [`RevocationList`] here; `state` the snapshot
//! and its rules (merge, replace, prune, check); `set` the verification of one SET; `feed`
//! the subscriber (discovery, long poll, backoff, readiness); `metrics` its counters and
//! series.

mod feed;
mod metrics;
mod set;
mod state;

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use arc_swap::ArcSwap;
use parking_lot::Mutex;

pub(crate) use self::feed::{Subscription, subscribe};
use self::state::Snapshot;
use crate::{claims::Caller, error::AuthError};

/// The CAEP event of an ended session (`sub_id` is a complex subject naming the session).
pub const SESSION_REVOKED_EVENT: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
/// This workspace's event of one revoked access token (`sub_id` is the token's `jti`, opaque
/// format). CAEP has no event for a single token.
pub const TOKEN_REVOKED_EVENT: &str = "urn:jwt-verification:secevent:token-revoked";
/// The `typ` every SET carries (RFC 8417 §2.3); an access token's is `at+jwt`, so neither
/// can pass for the other.
pub const SET_TYPE: &str = "secevent+jwt";
/// The (non-standard) metadata member naming the feed.
pub const FEED_METADATA_MEMBER: &str = "security_event_feed_endpoint";

/// What a revocation names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RevocationKind {
    /// A session: every access token whose `sid` is this id.
    Session,
    /// One access token: the one whose `jti` is this id.
    Token,
}

/// One revoked session or token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// Session or token.
    pub kind: RevocationKind,
    /// The `sid` or the `jti`.
    pub id: String,
    /// When the issuer revoked it (the SET's `iat` or `event_timestamp`, whichever is later),
    /// Unix seconds on the issuer's clock, the clock of tokens' `iat`.
    pub revoked_at: i64,
    /// Unix seconds after which it cannot matter (every token it refuses has expired).
    pub relevant_until: i64,
}

/// What [`RevocationList::apply`] or [`RevocationList::replace`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// New entries.
    pub added: usize,
    /// Entries already held (their `relevant_until` extended if later).
    pub repeated: usize,
    /// Revocations already past `relevant_until`, not held.
    pub expired: usize,
    /// Revocations that did not fit under the cap (recorded as an [`Overflow`]).
    pub overflowed: usize,
}

/// Revocations that did not fit under the cap: tokens issued at or before `issued_up_to`
/// are refused until `until`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow {
    /// The newest `revoked_at` among the revocations that were not held.
    pub issued_up_to: i64,
    /// The latest `relevant_until` among them: after it, none of them can matter.
    pub until: i64,
}

/// The revoked sessions and tokens, shared lock-free with every verification.
///
/// Readers load one snapshot (a few atomic operations) and, only when it holds something,
/// make one hash lookup for `sid` and one for `jti` (the verifier's cached tokens skip them
/// while the snapshot they passed is current). Writers (the feed, or an application
/// revoking on its own) build a new snapshot and swap it in; they are serialised by a mutex
/// readers never touch. Cloning a snapshot copies the tables but not the ids (shared
/// `Arc<str>`s), so an update costs well under a millisecond at 100 000 entries.
#[derive(Debug)]
pub struct RevocationList {
    current: ArcSwap<Snapshot>,
    max_entries: usize,
    writer: Mutex<()>,
    refused: AtomicU64,
}

impl RevocationList {
    /// Approximate memory per entry, for sizing `revocation_max_entries`: a hash-table slot
    /// (`Arc<str>` and an `i64`, 24 bytes, about 40 with the table's load factor and control
    /// bytes) plus the shared id (16 bytes of counts and 36 of UUID text, 64 as allocated),
    /// rounded up. While an update is swapped in, the table (not the ids) exists twice.
    pub const BYTES_PER_ENTRY: usize = 120;

    /// An empty list holding at most `max_entries` revocations (at least 1).
    #[must_use]
    pub fn new(max_entries: usize) -> Self {
        Self {
            current: ArcSwap::from_pointee(Snapshot::default()),
            max_entries: max_entries.max(1),
            writer: Mutex::new(()),
            refused: AtomicU64::new(0),
        }
    }

    /// Adds revocations (and drops entries past their `relevant_until` at `now`).
    pub fn apply(&self, revocations: impl IntoIterator<Item = Revocation>, now: i64) -> ApplyReport {
        self.update(false, revocations, now)
    }

    /// Replaces every entry by `revocations` (the feed's `reset`); an overflow recorded
    /// before is forgotten, since the new state is complete.
    pub fn replace(&self, revocations: impl IntoIterator<Item = Revocation>, now: i64) -> ApplyReport {
        self.update(true, revocations, now)
    }

    /// Drops entries past their `relevant_until`, and an overflow that can no longer matter;
    /// returns the number of entries dropped. Costs one comparison when nothing is due.
    pub fn prune(&self, now: i64) -> usize {
        if !self.current.load().prune_due(now) {
            return 0;
        }
        let _writer = self.writer.lock();
        let mut next = Snapshot::clone(&self.current.load());
        next.generation = state::next_generation();
        let dropped = next.prune(now);
        self.current.store(Arc::new(next));
        dropped
    }

    fn update(&self, replace: bool, revocations: impl IntoIterator<Item = Revocation>, now: i64) -> ApplyReport {
        let mut revocations = revocations.into_iter().peekable();
        let _writer = self.writer.lock();
        let current = self.current.load_full();
        if !replace && revocations.peek().is_none() && !current.prune_due(now) {
            return ApplyReport::default();
        }
        let mut next = if replace { Snapshot::default() } else { Snapshot::clone(&current) };
        next.generation = state::next_generation();
        next.prune(now);
        let report = next.insert(revocations, now, self.max_entries);
        self.current.store(Arc::new(next));
        report
    }

    /// Whether a token with this `sid`, `jti` and `iat` must be refused at `now`: the
    /// verifier's check, on every verification.
    ///
    /// # Errors
    /// [`AuthError::Revoked`] for a revoked session or token, [`AuthError::RevocationOverflow`]
    /// for a token issued before revocations the list could not hold.
    #[inline]
    pub fn check(&self, session_id: Option<&str>, token_id: &str, issued_at: i64, now: i64) -> Result<(), AuthError> {
        let result = self.current.load().check(session_id, token_id, issued_at, now);
        if result.is_err() {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// [`RevocationList::check`], skipped when `passed` already holds the generation of the
    /// current snapshot; records it when the token passes. The verified-token cache keeps one
    /// per entry, so a repeated token costs the lookups only once per change of the list.
    pub(crate) fn check_once(
        &self,
        passed: &AtomicU64,
        session_id: Option<&str>,
        token_id: &str,
        issued_at: i64,
        now: i64,
    ) -> Result<(), AuthError> {
        let snapshot = self.current.load();
        // Generations are unique per snapshot, and a snapshot never changes: equal means
        // this very token passed this very state (the overflow rule only relaxes with time).
        if passed.load(Ordering::Relaxed) == snapshot.generation {
            return Ok(());
        }
        let result = snapshot.check(session_id, token_id, issued_at, now);
        match result {
            Ok(()) => passed.store(snapshot.generation, Ordering::Relaxed),
            Err(_) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
            }
        }
        result
    }

    /// [`RevocationList::check`] for a verified caller.
    ///
    /// # Errors
    /// As [`RevocationList::check`].
    pub fn check_caller(&self, caller: &Caller, now: i64) -> Result<(), AuthError> {
        self.check(caller.session_id.as_deref(), &caller.token_id, caller.issued_at, now)
    }

    /// Whether the session `sid` is revoked.
    #[must_use]
    pub fn is_session_revoked(&self, sid: &str) -> bool {
        self.current.load().sessions.contains_key(sid)
    }

    /// Whether the token `jti` is revoked.
    #[must_use]
    pub fn is_token_revoked(&self, jti: &str) -> bool {
        self.current.load().tokens.contains_key(jti)
    }

    /// Revoked sessions held.
    #[must_use]
    pub fn revoked_sessions(&self) -> usize {
        self.current.load().sessions.len()
    }

    /// Revoked tokens held.
    #[must_use]
    pub fn revoked_tokens(&self) -> usize {
        self.current.load().tokens.len()
    }

    /// All entries held.
    #[must_use]
    pub fn len(&self) -> usize {
        let snapshot = self.current.load();
        snapshot.sessions.len() + snapshot.tokens.len()
    }

    /// Whether nothing is held (no entry, no overflow).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.current.load().is_empty()
    }

    /// The overflow in force, if any.
    #[must_use]
    pub fn overflow(&self) -> Option<Overflow> {
        self.current.load().overflow
    }

    /// The cap.
    #[must_use]
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// When the next entry or the overflow stops mattering (`i64::MAX`: nothing held).
    fn next_change(&self) -> i64 {
        self.current.load().next_change()
    }

    /// Tokens refused by [`RevocationList::check`] so far.
    #[must_use]
    pub fn tokens_refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// Where the subscriber stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FeedStatus {
    /// No subscriber: the feed is off, or the verifier was built without one.
    #[default]
    Off,
    /// Looking for the feed in the issuer's metadata (not ready).
    Discovering,
    /// The issuer advertises no feed (or its metadata cannot be fetched as configured): the
    /// verifier works as without a feed (ready). The metadata is asked again now and then.
    NotAdvertised,
    /// Subscribed, first sync not complete (not ready: a revoked session would pass).
    Syncing,
    /// The whole state has been received once. Stays so while the feed is unreachable: the
    /// last state is kept and enforced, as stale keys are (availability first).
    Synced,
}

impl FeedStatus {
    /// Whether the verifier may take traffic as far as revocations are concerned.
    #[must_use]
    pub fn is_ready(self) -> bool {
        !matches!(self, Self::Discovering | Self::Syncing)
    }
}

/// The revocation side of [`VerifierStats`](crate::VerifierStats): exact per-instance
/// counters (the `metrics` facade carries the same events process-wide).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RevocationStats {
    /// Where the subscriber stands.
    pub status: FeedStatus,
    /// Answers received and applied.
    pub polls_ok: u64,
    /// Polls (and discoveries) that failed: unreachable, error status, malformed answer,
    /// keys unavailable.
    pub polls_failed: u64,
    /// Answers that replaced the state (`reset: true`), the first sync included.
    pub resets: u64,
    /// SETs verified and applied.
    pub sets_applied: u64,
    /// SETs verified and ignored (past `relevant_until`, or no event type we know).
    pub sets_ignored: u64,
    /// SETs refused (bad signature, unknown key, wrong `typ`, `alg` or `iss`, bad JSON…).
    pub sets_refused: u64,
    /// Revoked sessions held.
    pub revoked_sessions: usize,
    /// Revoked tokens held.
    pub revoked_tokens: usize,
    /// Whether an overflow is in force.
    pub overflowing: bool,
    /// Access tokens refused because of a revocation or an overflow.
    pub tokens_refused: u64,
    /// Seconds since the last successful answer (`None` before the first).
    pub seconds_since_sync: Option<u64>,
}

impl RevocationStats {
    /// The list's part of the stats, for a verifier without a subscriber.
    pub(crate) fn of_list(list: &RevocationList) -> Self {
        Self {
            revoked_sessions: list.revoked_sessions(),
            revoked_tokens: list.revoked_tokens(),
            overflowing: list.overflow().is_some(),
            tokens_refused: list.tokens_refused(),
            ..Self::default()
        }
    }
}
