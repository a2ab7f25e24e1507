//! Applying a fetch and scheduling the next one: a new set replaces the old at once, a 304
//! only extends its freshness, a failure keeps it (stale serving) and retries after about a
//! cooldown. The background loop lives here too.

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use rand::Rng;
use tokio::{sync::Notify, time::Instant};

use super::{
    FetchOutcome, Inner, State,
    fetch::{FetchFailure, Fetched},
};

impl Inner {
    pub(super) async fn fetch_and_apply(self: Arc<Self>, id: u64) -> FetchOutcome {
        let result = self.fetch().await;
        let now = Instant::now();
        let outcome = match result {
            Ok(Fetched::New { keys, skipped, etag, lifetime }) => {
                let previous = self.state.load();
                let kids: Vec<&str> = keys.kids().collect();
                tracing::info!(
                    auth.iss = %self.settings.issuer,
                    auth.kids = ?kids,
                    auth.skipped = skipped.len(),
                    auth.lifetime_secs = lifetime.as_secs(),
                    "key set fetched"
                );
                for (kid, problem) in &skipped {
                    tracing::warn!(auth.iss = %self.settings.issuer, auth.kid = kid.as_deref().unwrap_or("-"), "skipping key that {problem}");
                    self.record_skipped_key(problem);
                }
                self.record_new_key_set(keys.len(), skipped.len());
                self.state.store(Arc::new(State {
                    keys: Arc::new(keys),
                    generation: previous.generation + 1,
                    loaded: true,
                    validated_at: Some(now),
                    fresh_until: Some(now + lifetime),
                    etag,
                }));
                FetchOutcome::Updated
            }
            Ok(Fetched::NotModified { lifetime }) => {
                let previous = self.state.load();
                tracing::debug!(auth.iss = %self.settings.issuer, "key set not modified");
                self.state.store(Arc::new(State {
                    keys: Arc::clone(&previous.keys),
                    generation: previous.generation,
                    loaded: true,
                    validated_at: Some(now),
                    fresh_until: Some(now + lifetime),
                    etag: previous.etag.clone(),
                }));
                FetchOutcome::NotModified
            }
            Err(FetchFailure::Unreachable(reason)) => {
                self.log_failure("issuer unreachable", &reason, now);
                FetchOutcome::Failed
            }
            Err(FetchFailure::Refused(reason)) => {
                self.log_failure("key set refused", &reason, now);
                FetchOutcome::Refused
            }
        };
        self.record_fetch(outcome);
        {
            let mut control = self.control.lock();
            control.last_outcome = Some(outcome);
            let mut rng = rand::rng();
            // Jittered so replicas started together do not fetch together.
            control.next_refresh = Some(if outcome.succeeded() {
                let lifetime =
                    self.state.load().fresh_until.map_or(Duration::ZERO, |f| f.saturating_duration_since(now));
                control.stale_warned = false;
                now + lifetime.mul_f64(rng.random_range(0.75..0.85))
            } else {
                now + self.settings.cooldown.mul_f64(rng.random_range(0.9..1.1))
            });
            if control.in_flight.as_ref().is_some_and(|(flight, _)| *flight == id) {
                control.in_flight = None;
            }
        }
        self.changed.notify_one();
        outcome
    }

    /// Warns once per outage when the set goes stale, so a long outage does not flood the log.
    fn log_failure(&self, what: &str, reason: &str, now: Instant) {
        let state = self.state.load();
        let age = state.validated_at.map(|at| now.saturating_duration_since(at).as_secs());
        let stale = state.fresh_until.is_some_and(|fresh| now > fresh);
        if stale {
            let first = {
                let mut control = self.control.lock();
                !std::mem::replace(&mut control.stale_warned, true)
            };
            if first {
                tracing::warn!(auth.iss = %self.settings.issuer, auth.key_set_age_secs = ?age, reason, "{what}; serving the last good key set past its freshness");
            } else {
                tracing::debug!(auth.iss = %self.settings.issuer, auth.key_set_age_secs = ?age, reason, "{what}");
            }
        } else {
            tracing::warn!(auth.iss = %self.settings.issuer, auth.key_set_age_secs = ?age, reason, "{what}; keeping the current key set");
        }
        if let Some(age) = age {
            self.record_key_set_age(age);
        }
    }
}

/// Refreshes ahead of expiry and retries after failures; ends when the cache is dropped.
pub(super) async fn refresh_loop(inner: Weak<Inner>, changed: Arc<Notify>) {
    loop {
        let next = match inner.upgrade() {
            Some(inner) => inner.control.lock().next_refresh,
            None => return,
        };
        match next {
            // Lazy start and nothing fetched yet: wait for the first fetch to schedule one.
            None => changed.notified().await,
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = changed.notified() => continue,
                }
            }
        }
        // Holds only a weak reference while sleeping, so dropping the last cache ends the loop.
        let Some(strong) = inner.upgrade() else { return };
        let due = strong.control.lock().next_refresh.is_some_and(|at| at <= Instant::now());
        if due {
            let flight = strong.join_or_start(true);
            drop(strong);
            if let Some(flight) = flight {
                flight.await;
            }
        }
    }
}
