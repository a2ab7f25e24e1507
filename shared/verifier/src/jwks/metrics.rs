//! What the cache counts: per-instance [`Counters`] (read back as [`KeyStoreStats`]) and the
//! process-wide `metrics` series, labelled by audience so several caches in one process stay
//! apart.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::SystemTime,
};

use super::{FetchOutcome, Inner};
use crate::{keys::KeyProblem, store::KeyStoreStats};

#[derive(Default)]
pub(super) struct Counters {
    fetch_ok: AtomicU64,
    fetch_not_modified: AtomicU64,
    fetch_failed: AtomicU64,
    fetch_refused: AtomicU64,
    keys_skipped: AtomicU64,
    pub(super) kid_found: AtomicU64,
    pub(super) kid_not_found: AtomicU64,
    pub(super) kid_negative: AtomicU64,
    pub(super) kid_throttled: AtomicU64,
    pub(super) kid_unavailable: AtomicU64,
}

impl Counters {
    pub(super) fn stats(&self) -> KeyStoreStats {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        KeyStoreStats {
            jwks_fetches_ok: get(&self.fetch_ok),
            jwks_fetches_not_modified: get(&self.fetch_not_modified),
            jwks_fetches_failed: get(&self.fetch_failed),
            jwks_fetches_refused: get(&self.fetch_refused),
            keys_skipped: get(&self.keys_skipped),
            unknown_kid_found: get(&self.kid_found),
            unknown_kid_not_found: get(&self.kid_not_found),
            unknown_kid_negative_cached: get(&self.kid_negative),
            unknown_kid_throttled: get(&self.kid_throttled),
            unknown_kid_unavailable: get(&self.kid_unavailable),
        }
    }
}

impl FetchOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Updated => "ok",
            Self::NotModified => "not_modified",
            Self::Failed => "error",
            Self::Refused => "refused",
        }
    }
}

impl Inner {
    /// One answer for an unknown `kid`: `counter` for the stats, `outcome` for the series.
    pub(super) fn count(&self, counter: &AtomicU64, outcome: &'static str) {
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("auth_unknown_kid_total", "audience" => self.settings.audience.clone(), "outcome" => outcome)
            .increment(1);
    }

    pub(super) fn record_fetch(&self, outcome: FetchOutcome) {
        let counter = match outcome {
            FetchOutcome::Updated => &self.counters.fetch_ok,
            FetchOutcome::NotModified => &self.counters.fetch_not_modified,
            FetchOutcome::Failed => &self.counters.fetch_failed,
            FetchOutcome::Refused => &self.counters.fetch_refused,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("auth_jwks_fetches_total", "audience" => self.settings.audience.clone(), "result" => outcome.label())
            .increment(1);
        if outcome.succeeded() {
            metrics::gauge!("auth_jwks_key_set_age_seconds", "audience" => self.settings.audience.clone()).set(0.0);
            metrics::gauge!("auth_jwks_last_success_timestamp_seconds", "audience" => self.settings.audience.clone())
                .set(SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()));
        }
    }

    pub(super) fn record_skipped_key(&self, problem: &KeyProblem) {
        metrics::counter!("auth_jwks_keys_skipped_total", "audience" => self.settings.audience.clone(), "reason" => problem.label())
            .increment(1);
    }

    pub(super) fn record_new_key_set(&self, keys: usize, skipped: usize) {
        self.counters.keys_skipped.fetch_add(skipped as u64, Ordering::Relaxed);
        metrics::gauge!("auth_jwks_keys", "audience" => self.settings.audience.clone()).set(keys as f64);
    }

    /// Only updated when a fetch fails: on success the age is reset to zero by `record_fetch`.
    pub(super) fn record_key_set_age(&self, age_secs: u64) {
        metrics::gauge!("auth_jwks_key_set_age_seconds", "audience" => self.settings.audience.clone())
            .set(age_secs as f64);
    }
}
