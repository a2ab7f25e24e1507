//! The security event log behind the revocation feed.
//!
//! Every state change that must end access to tokens already issued (a logout, a deleted
//! session, refresh-token reuse, an RFC 7009 revocation, log out everywhere, the admin
//! action) writes events here, and `GET /v1/security-events` serves them to verifiers as
//! signed SETs (RFC 8417).
//!
//! # Why a reader's cursor never skips an event
//!
//! [`store::record`] writes an event in the *caller's* transaction, the one that makes the
//! state change, and takes its sequence number there with
//! `UPDATE security_event_counter SET last_seq = last_seq + 1 … RETURNING last_seq`. That
//! statement locks the counter's one row until the transaction ends. A second writer (on
//! this replica or another one on the same PostgreSQL) blocks on the same row; when the first
//! commits, PostgreSQL re-reads the row for the waiting `UPDATE` and hands out the next
//! number; when the first rolls back, the waiting writer gets the very number the first had
//! (no gaps). So a writer holding number *n* committed after every holder of a number below
//! *n*: **commit order is sequence order**, and every snapshot a reader takes sees a prefix
//! 1..=*k* of the log, never *k* + 1 without *k*. A reader that remembers the highest number it
//! has seen (its cursor) therefore cannot miss an event that commits later with a lower
//! number: there is none. `SQLite` has one writer at a time anyway: the first statement of
//! every such transaction is a write, which takes the database lock until commit.
//!
//! The feed reads `last_seq` first and then events `seq > after AND seq <= last_seq`, all of
//! them committed before `last_seq` was, so an answer's cursor (`last_seq`, or the last
//! event of a full page) covers everything below it.
//!
//! Deadlocks are avoided by one rule: a transaction takes the counter row *last*, after the
//! session rows it changes, and changes nothing else after it.
//!
//! # Pruning
//!
//! An event matters until `relevant_until`: after it every access token it could refuse has
//! expired. Housekeeping ([`store::prune`]) deletes events past it and raises the counter's
//! `pruned_through` to the highest number it deleted. A cursor below that floor may have
//! missed deleted events, so it is answered like no cursor: the whole still-relevant state
//! with `reset: true` (those deleted events no longer matter, but the receiver cannot know
//! which ones they were).
//!
//! # Signing at serve time
//!
//! Events are stored unsigned and signed when served ([`set`]), with the signing key current
//! then: an emergency rotation removes a key, and SETs stored signed with it would stop
//! verifying. Each replica signs each event once per key (a cache keyed by `(seq, kid)`);
//! RSA PKCS#1 v1.5 is deterministic and the payload is built from the row alone, so every
//! replica serves the same bytes for an event.
//!
//! - [`store`]: the tables.
//! - [`set`]: SET payloads and their signing cache.
//! - [`feed`]: [`EventFeed`], the per-replica watcher, long poll and response cache.

pub mod feed;
pub mod set;
pub mod store;

use std::time::Duration;

pub use self::{
    feed::{EventFeed, FeedError},
    store::record,
};

/// The feed's settings.
#[derive(Debug, Clone)]
pub struct EventSettings {
    /// `AUTH_EVENTS_MAX_WAIT` (default 25 s): the longest long poll; larger `wait` values are
    /// clamped to it. Below the kit's 30 s request timeout, so a held request always ends
    /// with an answer rather than a 408.
    pub max_wait: Duration,
    /// `AUTH_EVENTS_POLL_INTERVAL` (default 200 ms): how often this replica reads the
    /// counter to notice events committed by other replicas. The worst added delay for
    /// those, and this replica's whole database cost of the feed while idle.
    pub poll_interval: Duration,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self { max_wait: Duration::from_secs(25), poll_interval: Duration::from_millis(200) }
    }
}

/// Who started a state change (CAEP `initiating_entity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// The user, or a client acting for them.
    User,
    /// An administrator.
    Admin,
    /// This service's own rules (refresh-token reuse).
    Policy,
}

impl Initiator {
    /// The wire value.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
            Self::Policy => "policy",
        }
    }
}

/// Why a session ended: the stored `end_reason`, the SET's `reason_admin` and who started it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// `POST /v1/logout`.
    Logout,
    /// `DELETE /v1/sessions/{id}`.
    Deleted,
    /// `DELETE /v1/sessions`: every session of the caller.
    LogOutEverywhere,
    /// `DELETE /v1/admin/users/{user_id}/sessions`.
    Admin,
    /// A spent refresh token was presented again.
    RefreshTokenReuse,
    /// RFC 7009 revocation of the session's refresh token.
    RefreshTokenRevoked,
}

impl SessionEnd {
    /// `sessions.end_reason`.
    #[must_use]
    pub fn db_reason(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Deleted => "deleted",
            Self::LogOutEverywhere => "logout_everywhere",
            Self::Admin => "admin",
            Self::RefreshTokenReuse => "refresh_token_reuse",
            Self::RefreshTokenRevoked => "revoked",
        }
    }

    /// The SET's `reason_admin.en`.
    #[must_use]
    pub fn reason(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Deleted => "session ended",
            Self::LogOutEverywhere => "log out everywhere",
            Self::Admin => "admin ended all sessions",
            Self::RefreshTokenReuse => "refresh token reuse",
            Self::RefreshTokenRevoked => "refresh token revoked",
        }
    }

    /// The SET's `initiating_entity`.
    #[must_use]
    pub fn initiator(self) -> Initiator {
        match self {
            Self::Admin => Initiator::Admin,
            Self::RefreshTokenReuse => Initiator::Policy,
            _ => Initiator::User,
        }
    }
}

/// What an event revokes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoked {
    /// A session: every access token with this `sid` (CAEP session-revoked).
    Session {
        /// `sub` of the session's tokens.
        user_id: String,
        /// `sid` of the session's tokens.
        session_id: String,
        /// Why it ended.
        cause: SessionEnd,
    },
    /// One access token, by `jti` (our token-revoked URN).
    Token {
        /// The token's `jti`.
        jti: String,
    },
}

/// An event to write with [`record`].
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// What it revokes.
    pub revoked: Revoked,
    /// Unix ms of the state change.
    pub occurred_at: i64,
    /// Unix ms after which the event can no longer refuse any token.
    pub relevant_until: i64,
    /// Shared by every event of one state change.
    pub txn: String,
}

/// The counter as one read saw it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Head {
    /// The highest committed sequence number (0 before the first event).
    pub last_seq: i64,
    /// The highest sequence number pruning deleted (0 before the first pruning).
    pub floor: i64,
}
