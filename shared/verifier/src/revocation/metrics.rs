//! What the subscriber counts: per-instance [`Counters`] (read back as
//! [`RevocationStats`]) and the process-wide `metrics` series, labelled by audience like the
//! key cache's (`auth_jwks_*`), so several verifiers in one process stay apart.
//!
//! Series: `auth_revocation_polls_total{result=ok|error}`,
//! `auth_revocation_sets_total{result=applied|ignored|refused, reason}`,
//! `auth_revocation_entries{kind=session|token}`, `auth_revocation_overflow` (0/1),
//! `auth_revocation_sync_age_seconds` (seconds since the last successful poll) and
//! `auth_revocation_last_success_timestamp_seconds`.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::SystemTime,
};

use super::{RevocationList, RevocationStats};

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) polls_ok: AtomicU64,
    pub(super) polls_failed: AtomicU64,
    pub(super) resets: AtomicU64,
    pub(super) applied: AtomicU64,
    pub(super) ignored: AtomicU64,
    pub(super) refused: AtomicU64,
}

impl Counters {
    pub(super) fn fill(&self, stats: &mut RevocationStats) {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        stats.polls_ok = get(&self.polls_ok);
        stats.polls_failed = get(&self.polls_failed);
        stats.resets = get(&self.resets);
        stats.sets_applied = get(&self.applied);
        stats.sets_ignored = get(&self.ignored);
        stats.sets_refused = get(&self.refused);
    }
}

/// The series of one subscriber.
#[derive(Debug)]
pub(super) struct Series {
    pub(super) audience: String,
}

impl Series {
    pub(super) fn poll(&self, counters: &Counters, ok: bool) {
        let (counter, result) = if ok { (&counters.polls_ok, "ok") } else { (&counters.polls_failed, "error") };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("auth_revocation_polls_total", "audience" => self.audience.clone(), "result" => result)
            .increment(1);
        if ok {
            self.sync_age(0);
            metrics::gauge!("auth_revocation_last_success_timestamp_seconds", "audience" => self.audience.clone())
                .set(SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()));
        }
    }

    pub(super) fn sync_age(&self, seconds: u64) {
        metrics::gauge!("auth_revocation_sync_age_seconds", "audience" => self.audience.clone()).set(seconds as f64);
    }

    pub(super) fn set(&self, counters: &Counters, result: &'static str, reason: &'static str) {
        let counter = match result {
            "applied" => &counters.applied,
            "ignored" => &counters.ignored,
            _ => &counters.refused,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("auth_revocation_sets_total", "audience" => self.audience.clone(), "result" => result, "reason" => reason)
            .increment(1);
    }

    pub(super) fn entries(&self, list: &RevocationList) {
        let gauge = |kind: &'static str, value: usize| {
            metrics::gauge!("auth_revocation_entries", "audience" => self.audience.clone(), "kind" => kind)
                .set(value as f64);
        };
        gauge("session", list.revoked_sessions());
        gauge("token", list.revoked_tokens());
        metrics::gauge!("auth_revocation_overflow", "audience" => self.audience.clone())
            .set(if list.overflow().is_some() { 1.0 } else { 0.0 });
    }
}
