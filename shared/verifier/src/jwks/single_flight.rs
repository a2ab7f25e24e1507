//! Single flight: every caller that wants keys at the same time shares one fetch, and a new
//! fetch starts only when forced or when the cooldown since the last attempt has passed.

use std::{sync::Arc, time::Duration};

use futures::{
    FutureExt,
    future::{BoxFuture, Shared},
};
use tokio::time::Instant;

use super::{FetchOutcome, Inner};

impl Inner {
    /// The shared fetch: the one in flight, or a new one if `force` or the cooldown allows.
    pub(super) fn join_or_start(self: &Arc<Self>, force: bool) -> Option<Shared<BoxFuture<'static, FetchOutcome>>> {
        let mut control = self.control.lock();
        if let Some((_, flight)) = &control.in_flight {
            return Some(flight.clone());
        }
        let now = Instant::now();
        let cooled = control.last_attempt.is_none_or(|last| now.duration_since(last) >= self.settings.cooldown);
        if !force && !cooled {
            return None;
        }
        control.last_attempt = Some(now);
        control.flights += 1;
        let id = control.flights;
        let inner = Arc::clone(self);
        let task = tokio::spawn(async move { inner.fetch_and_apply(id).await });
        // A panicking or cancelled fetch task counts as a failed fetch for its waiters.
        let flight = async move { task.await.unwrap_or(FetchOutcome::Failed) }.boxed().shared();
        control.in_flight = Some((id, flight.clone()));
        Some(flight)
    }

    pub(super) fn cooldown_remaining(&self) -> Duration {
        let control = self.control.lock();
        let remaining =
            control.last_attempt.map_or(Duration::ZERO, |last| self.settings.cooldown.saturating_sub(last.elapsed()));
        remaining.max(Duration::from_secs(1))
    }
}
