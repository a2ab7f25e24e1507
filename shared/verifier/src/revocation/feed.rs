//! The subscriber: finds the feed, keeps one long poll open, applies each answer to the
//! [`RevocationList`], and retries with a jittered backoff, resuming from its cursor.
//!
//! One task per verifier, spawned by [`subscribe`] and aborted when the verifier's last
//! clone is dropped ([`Subscription`]). It talks HTTP through the key cache's transport
//! (same TLS, redirect and body-cap rules; a per-request timeout of the long-poll wait plus
//! `fetch_timeout`), in `wire`; `backoff` paces retries. While a poll is held, a timer prunes
//! entries at their `relevant_until`.

mod backoff;
mod wire;

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
    time::Duration,
};

use parking_lot::Mutex;
use tokio::{task::AbortHandle, time::Instant};
use url::Url;

use self::{
    backoff::Backoff,
    wire::{Answer, Discovery, PollError},
};
use super::{
    FeedStatus, Revocation, RevocationList, RevocationStats,
    metrics::{Counters, Series},
    set::{self, KeysUnavailable, SetContext, Verdict},
};
use crate::{
    clock::Clock,
    config::{RevocationFeed, VerifierConfig},
    jwks::transport::JwksTransport,
    store::KeyStore,
};

/// How often an issuer that advertised no feed is asked again (it may add one later).
const REDISCOVER_AFTER: Duration = Duration::from_secs(300);
/// Pruning runs at the next `relevant_until`, and at least this often (for the age gauge).
const PRUNE_AT_LEAST_EVERY: Duration = Duration::from_secs(60);

/// The verifier's handle on its subscriber; dropping it stops the task.
#[derive(Debug)]
pub(crate) struct Subscription {
    feed: Arc<Feed>,
    task: AbortHandle,
}

impl Subscription {
    pub(crate) fn is_ready(&self) -> bool {
        self.feed.status().is_ready()
    }

    pub(crate) fn stats(&self, list: &RevocationList) -> RevocationStats {
        let mut stats = RevocationStats::of_list(list);
        stats.status = self.feed.status();
        self.feed.counters.fill(&mut stats);
        stats.seconds_since_sync = self.feed.last_success.lock().map(|at| at.elapsed().as_secs());
        stats
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the task and the verifier share.
#[derive(Debug)]
struct Feed {
    status: AtomicU8,
    counters: Counters,
    series: Series,
    last_success: Mutex<Option<Instant>>,
}

impl Feed {
    const STATUSES: [FeedStatus; 5] =
        [FeedStatus::Off, FeedStatus::Discovering, FeedStatus::NotAdvertised, FeedStatus::Syncing, FeedStatus::Synced];

    fn status(&self) -> FeedStatus {
        Self::STATUSES.get(usize::from(self.status.load(Ordering::Acquire))).copied().unwrap_or_default()
    }

    /// Moves to `status`, except away from `Synced`: once synced, the state held is
    /// enforced whatever happens to the feed (availability first).
    fn set_status(&self, status: FeedStatus) {
        if self.status() != FeedStatus::Synced {
            self.status.store(Self::code(status), Ordering::Release);
        }
    }

    fn code(status: FeedStatus) -> u8 {
        Self::STATUSES.iter().position(|s| *s == status).and_then(|i| u8::try_from(i).ok()).unwrap_or(0)
    }
}

/// Starts the subscriber for `config` (none when the feed is off). SETs are verified with
/// `store`, the verifier's own key store; requests go through `transport`.
pub(crate) fn subscribe(
    config: &VerifierConfig,
    store: Arc<dyn KeyStore>,
    transport: Arc<dyn JwksTransport>,
    list: Arc<RevocationList>,
) -> Option<Subscription> {
    let endpoint = match &config.revocation_feed {
        RevocationFeed::Off => return None,
        RevocationFeed::Url(url) => Some(url.clone()),
        RevocationFeed::Discover => None,
    };
    let status = if endpoint.is_some() { FeedStatus::Syncing } else { FeedStatus::Discovering };
    let feed = Arc::new(Feed {
        status: AtomicU8::new(Feed::code(status)),
        counters: Counters::default(),
        series: Series { audience: config.audience.clone() },
        last_success: Mutex::new(None),
    });
    let subscriber = Subscriber {
        issuer: config.issuer.clone(),
        discover: endpoint.is_none(),
        endpoint,
        allow_insecure_http: config.allow_insecure_http,
        // Out-of-range settings are reported by `problems()`; here they are only made safe.
        wait: config.revocation_wait.max(Duration::from_secs(1)),
        request_timeout: config.revocation_wait.max(Duration::from_secs(1)) + config.fetch_timeout,
        backoff: Backoff::new(
            config.revocation_backoff_min.max(Duration::from_millis(10)),
            config.revocation_backoff_max.max(config.revocation_backoff_min),
        ),
        clock: Arc::clone(&config.clock),
        max_set_bytes: config.max_token_bytes,
        feed: Arc::clone(&feed),
        store,
        transport,
        list,
    };
    let task = tokio::spawn(subscriber.run()).abort_handle();
    Some(Subscription { feed, task })
}

struct Subscriber {
    issuer: String,
    discover: bool,
    endpoint: Option<Url>,
    allow_insecure_http: bool,
    wait: Duration,
    request_timeout: Duration,
    backoff: Backoff,
    clock: Arc<dyn Clock>,
    max_set_bytes: usize,
    feed: Arc<Feed>,
    store: Arc<dyn KeyStore>,
    transport: Arc<dyn JwksTransport>,
    list: Arc<RevocationList>,
}

impl Subscriber {
    async fn run(mut self) {
        let mut cursor: Option<String> = None;
        // The revocations of a reset that spans several answers, applied as a whole at its
        // last page; meanwhile each page is merged into the state (a superset, never less).
        let mut pending: Option<Vec<Revocation>> = None;
        loop {
            let Some(endpoint) = self.endpoint.clone() else {
                match self.discover().await {
                    Discovery::Found(url) => {
                        tracing::info!(auth.iss = %self.issuer, auth.feed = %url, "discovered the revocation feed");
                        self.endpoint = Some(url);
                        self.feed.set_status(FeedStatus::Syncing);
                    }
                    Discovery::NotAdvertised => {
                        // Said once; the metadata is asked again every few minutes.
                        if self.feed.status() == FeedStatus::NotAdvertised {
                            tracing::debug!(auth.iss = %self.issuer, "the issuer still advertises no revocation feed");
                        } else {
                            tracing::info!(auth.iss = %self.issuer, "the issuer advertises no revocation feed");
                        }
                        self.feed.set_status(FeedStatus::NotAdvertised);
                        self.backoff.reset();
                        self.pruning(tokio::time::sleep(REDISCOVER_AFTER)).await;
                    }
                    Discovery::Impossible(reason) => {
                        tracing::error!(auth.iss = %self.issuer, reason, "cannot discover the revocation feed; set its URL or turn it off");
                        self.feed.set_status(FeedStatus::NotAdvertised);
                        return;
                    }
                    Discovery::Failed(reason) => self.failed("revocation feed discovery failed", &reason).await,
                }
                continue;
            };
            let started = Instant::now();
            let long_poll = cursor.is_some();
            match self.pruning(self.poll(&endpoint, cursor.as_deref())).await {
                Ok(answer) => {
                    let quiet = answer.sets.is_empty() && !answer.more && !answer.reset;
                    match self.apply(answer, &mut pending).await {
                        Ok((next, more)) => {
                            cursor = Some(next);
                            self.succeeded(!more && pending.is_none());
                            // A long poll answered empty at once means something in between
                            // does not hold requests: do not turn that into a busy loop.
                            if quiet && long_poll && started.elapsed() < self.backoff.min {
                                tokio::time::sleep(self.backoff.min).await;
                            }
                        }
                        Err(KeysUnavailable) => {
                            self.failed(
                                "revocation feed answer not applied",
                                "the keys to verify its SETs are unavailable",
                            )
                            .await;
                        }
                    }
                }
                Err(PollError::BadCursor(reason)) => {
                    cursor = None;
                    pending = None;
                    self.failed("revocation feed refused the cursor; starting over", &reason).await;
                }
                Err(PollError::Moved(reason)) if self.discover => {
                    self.endpoint = None;
                    self.failed("revocation feed gone; discovering it again", &reason).await;
                }
                Err(PollError::Moved(reason) | PollError::Failed(reason)) => {
                    self.failed("revocation feed unreachable", &reason).await;
                }
            }
        }
    }

    /// Verifies every SET of `answer`, then applies them in one update.
    async fn apply(
        &self,
        answer: Answer,
        pending: &mut Option<Vec<Revocation>>,
    ) -> Result<(String, bool), KeysUnavailable> {
        let now = self.clock.now_unix();
        let context = SetContext { issuer: &self.issuer, store: &*self.store, max_bytes: self.max_set_bytes, now };
        // All verdicts first: if keys are missing, nothing is applied or counted, and the
        // same answer is asked for again.
        let mut verdicts = Vec::with_capacity(answer.sets.len());
        for (jti, compact) in &answer.sets {
            verdicts.push((jti, set::check_set(&context, jti, compact).await?));
        }
        let (feed, series) = (&self.feed, &self.feed.series);
        let mut revocations = Vec::new();
        for (jti, verdict) in verdicts {
            match verdict {
                Verdict::Apply(found) => {
                    series.set(&feed.counters, "applied", "ok");
                    revocations.extend(found);
                }
                Verdict::Ignore(reason) => {
                    series.set(&feed.counters, "ignored", reason);
                    tracing::debug!(auth.set_jti = %jti, auth.reason = reason, "security event ignored");
                }
                Verdict::Refuse(reason) => {
                    series.set(&feed.counters, "refused", reason);
                    tracing::warn!(auth.iss = %self.issuer, auth.set_jti = %jti, auth.reason = reason, "security event refused");
                }
            }
        }
        if answer.reset {
            feed.counters.resets.fetch_add(1, Ordering::Relaxed);
            if feed.status() == FeedStatus::Synced {
                tracing::info!(auth.iss = %self.issuer, "revocation feed reset: replacing the revocations held");
            }
            *pending = Some(Vec::new());
        }
        if let Some(collected) = pending.as_mut() {
            collected.extend(revocations.iter().cloned());
        }
        let overflowing = self.list.overflow().is_some();
        if pending.is_some() && !answer.more {
            self.list.replace(pending.take().unwrap_or_default(), now);
        } else {
            self.list.apply(revocations, now);
        }
        match (overflowing, self.list.overflow()) {
            (false, Some(overflow)) => tracing::error!(
                auth.max_entries = self.list.max_entries(),
                auth.issued_up_to = overflow.issued_up_to,
                auth.until = overflow.until,
                "revocation list full: refusing tokens issued before revocations it could not hold"
            ),
            (true, None) => tracing::info!("revocation list back under its cap"),
            _ => {}
        }
        series.entries(&self.list);
        Ok((answer.cursor, answer.more))
    }

    fn succeeded(&mut self, caught_up: bool) {
        if self.backoff.failures > 0 {
            tracing::info!(auth.iss = %self.issuer, auth.failures = self.backoff.failures, "revocation feed reachable again");
        }
        self.backoff.reset();
        *self.feed.last_success.lock() = Some(Instant::now());
        self.feed.series.poll(&self.feed.counters, true);
        if caught_up && self.feed.status() != FeedStatus::Synced {
            tracing::info!(auth.iss = %self.issuer, auth.revocations = self.list.len(), "revocation feed synced");
            self.feed.set_status(FeedStatus::Synced);
        }
    }

    /// Counts and logs a failure (a warning for the first of a row), then waits the backoff.
    async fn failed(&mut self, what: &str, reason: &str) {
        self.feed.series.poll(&self.feed.counters, false);
        if self.backoff.failures == 0 {
            tracing::warn!(auth.iss = %self.issuer, reason, "{what}; keeping the revocations held and retrying");
        } else {
            tracing::debug!(auth.iss = %self.issuer, reason, auth.failures = self.backoff.failures, "{what}");
        }
        let delay = self.backoff.next_delay();
        self.pruning(tokio::time::sleep(delay)).await;
    }

    /// Runs `work`, pruning the list whenever an entry (or an overflow) stops mattering.
    async fn pruning<T>(&self, work: impl Future<Output = T>) -> T {
        let mut work = std::pin::pin!(work);
        loop {
            let now = self.clock.now_unix();
            let due = u64::try_from(self.list.next_change().saturating_sub(now)).unwrap_or(0);
            let delay = Duration::from_secs(due).clamp(Duration::from_secs(1), PRUNE_AT_LEAST_EVERY);
            tokio::select! {
                result = &mut work => return result,
                () = tokio::time::sleep(delay) => {
                    if self.list.prune(self.clock.now_unix()) > 0 {
                        self.feed.series.entries(&self.list);
                    }
                    if let Some(at) = *self.feed.last_success.lock() {
                        self.feed.series.sync_age(at.elapsed().as_secs());
                    }
                }
            }
        }
    }
}
