//! What readers get: the snapshot with its staleness verdict, and the unknown-`kid` path
//! (negative cache, cooldown, bounded wait) that keeps random `kid`s from reaching the issuer.

use std::{sync::Arc, time::Duration};

use tokio::time::Instant;

use super::Inner;
use crate::{
    keys::VerifyingKey,
    store::{KeyLookup, KeySnapshot},
};

impl Inner {
    pub(super) fn snapshot(&self) -> KeySnapshot {
        let state = self.state.load();
        let Some(fresh_until) = state.fresh_until.filter(|_| state.loaded) else {
            // Nothing loaded yet: an empty set sends every token to `resolve_unknown`, which
            // fetches (or says why it cannot).
            return KeySnapshot::Ready { keys: Arc::clone(&state.keys), stale: false };
        };
        let now = Instant::now();
        if now <= fresh_until {
            KeySnapshot::Ready { keys: Arc::clone(&state.keys), stale: false }
        } else if now <= fresh_until + self.settings.max_stale {
            KeySnapshot::Ready { keys: Arc::clone(&state.keys), stale: true }
        } else {
            KeySnapshot::Unavailable { retry_after: self.retry_after(now) }
        }
    }

    fn retry_after(&self, now: Instant) -> Duration {
        let control = self.control.lock();
        let next = control.next_refresh.map_or(Duration::ZERO, |next| next.saturating_duration_since(now));
        next.max(Duration::from_secs(1))
    }

    pub(super) async fn resolve_unknown(self: &Arc<Self>, kid: &str) -> KeyLookup {
        let state = self.state.load_full();
        if let Some(key) = state.keys.get(kid) {
            // A refresh landed between the caller's snapshot and now.
            return self.found(key);
        }
        if let Some((generation, at)) = self.negative.get(kid)
            && generation == state.generation
            && at.elapsed() < self.settings.negative_ttl
        {
            self.count(&self.counters.kid_negative, "negative_cached");
            return KeyLookup::NotFound;
        }
        let Some(flight) = self.join_or_start(false) else {
            self.count(&self.counters.kid_throttled, "throttled");
            let last_failed = self.control.lock().last_outcome.is_some_and(|o| !o.succeeded());
            return if state.loaded && !last_failed {
                KeyLookup::NotFound
            } else {
                KeyLookup::Unavailable { retry_after: self.cooldown_remaining() }
            };
        };
        let outcome = match tokio::time::timeout(self.settings.wait, flight).await {
            Ok(outcome) => outcome,
            Err(_elapsed) => {
                self.count(&self.counters.kid_unavailable, "timeout");
                return KeyLookup::Unavailable { retry_after: Duration::from_secs(1) };
            }
        };
        let state = self.state.load();
        if let Some(key) = state.keys.get(kid) {
            return self.found(key);
        }
        if !outcome.succeeded() {
            self.count(&self.counters.kid_unavailable, "fetch_failed");
            return KeyLookup::Unavailable { retry_after: self.cooldown_remaining() };
        }
        self.negative.insert(kid.to_owned(), (state.generation, Instant::now()));
        self.count(&self.counters.kid_not_found, "not_found");
        KeyLookup::NotFound
    }

    fn found(&self, key: &Arc<VerifyingKey>) -> KeyLookup {
        self.count(&self.counters.kid_found, "found");
        KeyLookup::Found(Arc::clone(key))
    }
}
