//! The revocation snapshot and its rules: how revocations are merged under the cap, when
//! entries are dropped, and the check every verification makes.
//!
//! A snapshot is never changed once published; [`RevocationList`](super::RevocationList)
//! clones, changes and swaps. Ids are `Arc<str>` so a clone copies table slots, not strings.
//!
//! Presence alone refuses: an entry kept a little past its `relevant_until` (pruning runs on
//! every update and on a timer, not on every read) can only refuse tokens that have expired
//! anyway, so the hot path needs no clock for it.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use super::{ApplyReport, Overflow, Revocation, RevocationKind};
use crate::error::AuthError;

/// Revoked ids, each with its `relevant_until`.
pub(super) type Table = HashMap<Arc<str>, i64>;

/// Revoked ids by kind.
#[derive(Debug, Clone)]
pub(super) struct Snapshot {
    /// Unique among every snapshot of the process (see [`next_generation`]): a token known
    /// to pass this snapshot needs no lookup while it is current.
    pub(super) generation: u64,
    pub(super) sessions: Table,
    pub(super) tokens: Table,
    pub(super) overflow: Option<Overflow>,
    /// The earliest `relevant_until` held (`i64::MAX` when empty): nothing to prune before.
    next_expiry: i64,
}

impl Default for Snapshot {
    fn default() -> Self {
        Self {
            generation: next_generation(),
            sessions: HashMap::new(),
            tokens: HashMap::new(),
            overflow: None,
            next_expiry: i64::MAX,
        }
    }
}

impl Snapshot {
    pub(super) fn is_empty(&self) -> bool {
        self.sessions.is_empty() && self.tokens.is_empty() && self.overflow.is_none()
    }

    /// The hot path: nothing to do for an empty snapshot (the usual case); otherwise one
    /// lookup per non-empty table, then the overflow rule.
    #[inline]
    pub(super) fn check(
        &self,
        session_id: Option<&str>,
        token_id: &str,
        issued_at: i64,
        now: i64,
    ) -> Result<(), AuthError> {
        if !self.sessions.is_empty()
            && let Some(sid) = session_id
            && self.sessions.contains_key(sid)
        {
            return Err(AuthError::Revoked);
        }
        if !self.tokens.is_empty() && self.tokens.contains_key(token_id) {
            return Err(AuthError::Revoked);
        }
        if let Some(overflow) = &self.overflow
            && issued_at <= overflow.issued_up_to
            && now < overflow.until
        {
            return Err(AuthError::RevocationOverflow);
        }
        Ok(())
    }

    /// When the next entry or the overflow stops mattering (`i64::MAX`: nothing held).
    pub(super) fn next_change(&self) -> i64 {
        self.overflow.map_or(self.next_expiry, |overflow| overflow.until.min(self.next_expiry))
    }

    /// Whether [`Snapshot::prune`] would change anything at `now`.
    pub(super) fn prune_due(&self, now: i64) -> bool {
        self.next_expiry <= now || self.overflow.is_some_and(|overflow| overflow.until <= now)
    }

    /// Drops entries whose `relevant_until` is at or before `now`, and an overflow whose
    /// revocations all are; returns the entries dropped.
    pub(super) fn prune(&mut self, now: i64) -> usize {
        if self.overflow.is_some_and(|overflow| overflow.until <= now) {
            self.overflow = None;
        }
        if self.next_expiry > now {
            return 0;
        }
        let before = self.sessions.len() + self.tokens.len();
        self.sessions.retain(|_, until| *until > now);
        self.tokens.retain(|_, until| *until > now);
        self.next_expiry = self.sessions.values().chain(self.tokens.values()).copied().min().unwrap_or(i64::MAX);
        before - (self.sessions.len() + self.tokens.len())
    }

    /// Merges `revocations`: a repeated id keeps the later `relevant_until`; a new id that
    /// would exceed `max_entries` is not held but widens the overflow (refuse, never forget).
    pub(super) fn insert(
        &mut self,
        revocations: impl IntoIterator<Item = Revocation>,
        now: i64,
        max_entries: usize,
    ) -> ApplyReport {
        let mut report = ApplyReport::default();
        for revocation in revocations {
            if revocation.relevant_until <= now {
                report.expired += 1;
                continue;
            }
            let held = self.sessions.len() + self.tokens.len();
            let table = match revocation.kind {
                RevocationKind::Session => &mut self.sessions,
                RevocationKind::Token => &mut self.tokens,
            };
            if let Some(until) = table.get_mut(revocation.id.as_str()) {
                *until = (*until).max(revocation.relevant_until);
                report.repeated += 1;
                continue;
            }
            if held >= max_entries {
                let overflow =
                    self.overflow.get_or_insert(Overflow { issued_up_to: revocation.revoked_at, until: now });
                overflow.issued_up_to = overflow.issued_up_to.max(revocation.revoked_at);
                overflow.until = overflow.until.max(revocation.relevant_until);
                report.overflowed += 1;
                continue;
            }
            table.insert(Arc::from(revocation.id), revocation.relevant_until);
            self.next_expiry = self.next_expiry.min(revocation.relevant_until);
            report.added += 1;
        }
        report
    }
}

/// A generation no snapshot had: 0 is never handed out, and stands for "not checked yet".
pub(super) fn next_generation() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str, revoked_at: i64, relevant_until: i64) -> Revocation {
        Revocation { kind: RevocationKind::Session, id: id.to_owned(), revoked_at, relevant_until }
    }

    fn token(id: &str, relevant_until: i64) -> Revocation {
        Revocation { kind: RevocationKind::Token, id: id.to_owned(), revoked_at: 0, relevant_until }
    }

    #[test]
    fn sessions_and_tokens_are_refused_and_others_pass() {
        let mut snapshot = Snapshot::default();
        let report = snapshot.insert([session("s1", 100, 500), token("t1", 500)], 100, 10);
        assert_eq!(report.added, 2);
        assert_eq!(snapshot.check(Some("s1"), "other", 50, 100), Err(AuthError::Revoked));
        assert_eq!(snapshot.check(None, "t1", 50, 100), Err(AuthError::Revoked));
        assert_eq!(snapshot.check(Some("s2"), "t2", 50, 100), Ok(()));
        // A token's jti never matches a session id and the other way round.
        assert_eq!(snapshot.check(Some("t1"), "s1", 50, 100), Ok(()));
    }

    #[test]
    fn expired_revocations_are_not_held_and_entries_are_pruned_at_relevant_until() {
        let mut snapshot = Snapshot::default();
        let report = snapshot.insert([session("old", 0, 100), session("s", 0, 200), token("t", 300)], 100, 10);
        assert_eq!((report.added, report.expired), (2, 1));
        assert!(!snapshot.prune_due(199));
        assert_eq!(snapshot.prune(199), 0);
        assert!(snapshot.prune_due(200));
        assert_eq!(snapshot.prune(200), 1);
        assert_eq!(snapshot.check(Some("s"), "x", 0, 200), Ok(()));
        assert_eq!(snapshot.prune(300), 1);
        assert!(snapshot.is_empty());
    }

    #[test]
    fn a_repeated_revocation_keeps_the_later_relevant_until() {
        let mut snapshot = Snapshot::default();
        snapshot.insert([session("s", 0, 200)], 100, 10);
        let report = snapshot.insert([session("s", 0, 400), session("s", 0, 300)], 100, 10);
        assert_eq!(report.repeated, 2);
        assert_eq!(snapshot.sessions.get("s"), Some(&400));
    }

    #[test]
    fn at_the_cap_older_tokens_are_refused_until_the_overflowed_revocations_expire() {
        let mut snapshot = Snapshot::default();
        let report = snapshot.insert([session("a", 90, 500), session("b", 95, 600), session("c", 99, 700)], 100, 1);
        assert_eq!((report.added, report.overflowed), (1, 2));
        assert_eq!(snapshot.overflow, Some(Overflow { issued_up_to: 99, until: 700 }));
        // Issued up to the newest revocation not held: refused; issued after: accepted.
        assert_eq!(snapshot.check(Some("x"), "y", 99, 100), Err(AuthError::RevocationOverflow));
        assert_eq!(snapshot.check(Some("x"), "y", 100, 100), Ok(()));
        // Back under the cap is not enough: "b" and "c" still matter until 700.
        snapshot.prune(500);
        assert!(snapshot.sessions.is_empty());
        assert_eq!(snapshot.check(Some("x"), "y", 99, 650), Err(AuthError::RevocationOverflow));
        assert_eq!(snapshot.check(Some("x"), "y", 99, 700), Ok(()));
        snapshot.prune(700);
        assert!(snapshot.is_empty());
    }
}
