//! The outbox dispatcher: delivers the notifications that placed orders leave in the outbox.
//!
//! Placing an order writes the order and its outbox record in one transaction, so the
//! notification exists exactly when the order does. This background task, running in every
//! replica, then:
//!
//! 1. claims a batch of due records with a lease in the database (see
//!    [`store::claim_outbox`] for why two replicas never claim the same record);
//! 2. delivers each with this service's own client-credentials token and the request id of
//!    the request that placed the order;
//! 3. marks it delivered, or schedules a retry with exponential backoff and jitter, or parks it
//!    as failed when notifications-service refuses the payload for good (400/409/413/422).
//!
//! A record is never lost: a replica that dies mid-delivery leaves a claim whose lease runs
//! out, and any replica picks the record up again. A record is never stored twice: its id is
//! the event id notifications-service deduplicates on. New orders wake the dispatcher of their
//! replica at once; otherwise it polls.
//!
//! Every statement on the outbox after the order's transaction is in [`store`].
//!
//! # Traces
//!
//! Each attempt is an `outbox deliver` span (kind consumer) that starts a trace of its own
//! and carries a **link** to the span of the request that placed the order (the record's
//! stored `traceparent`). A delivery is not part of that request: it may run minutes later,
//! on another replica, several times, and a child span would make the request's trace look
//! as long as the retries. The HTTP call to notifications-service is a client span under the
//! delivery span, so notifications-service's server span is in the delivery's trace.

pub mod store;

use std::{sync::Arc, time::Duration};

use futures::StreamExt as _;
use rand::Rng as _;
use service_kit::db::{Pool, now_millis};
use tokio::sync::{Notify, watch};
use tracing::Instrument as _;
use url::Url;
use uuid::Uuid;

use self::store::ClaimedRecord;
use crate::{
    clients::{
        notifications::{Delivered, DeliveryError, NotificationsClient},
        token::{ServiceToken, TokenClient},
    },
    db,
};

/// Deliveries in flight at once per replica.
pub const CONCURRENCY: u32 = 8;
/// How often expired idempotency keys and old delivered records are deleted.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(600);
/// How often the backlog gauge is refreshed.
const BACKLOG_EVERY: Duration = Duration::from_secs(5);

/// Delivery of outbox records to notifications-service (read and checked by
/// [`crate::config::Settings`]).
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// `NOTIFICATIONS_URL`: base URL of notifications-service.
    pub notifications_url: Url,
    /// `NOTIFICATIONS_TIMEOUT`: per attempt (connect + response).
    pub request_timeout: Duration,
    /// `OUTBOX_BATCH_SIZE`.
    pub batch_size: u32,
    /// `OUTBOX_POLL_INTERVAL`.
    pub poll_interval: Duration,
    /// `OUTBOX_INITIAL_BACKOFF`.
    pub initial_backoff: Duration,
    /// `OUTBOX_MAX_BACKOFF`.
    pub max_backoff: Duration,
    /// `OUTBOX_CLAIM_LEASE`.
    pub claim_lease: Duration,
    /// `OUTBOX_RETENTION`.
    pub retention: Duration,
}

/// The background delivery task of one replica.
pub struct Dispatcher {
    db: Pool,
    notifications: NotificationsClient,
    tokens: Arc<TokenClient>,
    settings: OutboxSettings,
    idempotency_ttl: Duration,
    wake: Arc<Notify>,
}

/// How one delivery attempt ended.
enum Attempt {
    Delivered,
    Retry(String),
    Failed(String),
}

impl Dispatcher {
    /// A dispatcher; `wake` is notified by the order handler after each commit.
    #[must_use]
    pub fn new(
        db: Pool,
        notifications: NotificationsClient,
        tokens: Arc<TokenClient>,
        settings: OutboxSettings,
        idempotency_ttl: Duration,
        wake: Arc<Notify>,
    ) -> Self {
        Self { db, notifications, tokens, settings, idempotency_ttl, wake }
    }

    /// Runs until `stop` turns `true` (or its sender is dropped). Records claimed but not yet
    /// delivered at that moment are released for other replicas.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        tracing::info!(endpoint = %self.notifications.endpoint(), "outbox dispatcher started");
        let mut last_housekeeping: Option<tokio::time::Instant> = None;
        let mut last_backlog: Option<tokio::time::Instant> = None;
        while !*stop.borrow() {
            let full_batch = match self.round(&mut stop).await {
                Ok(RoundEnd::Stopped) => break,
                Ok(RoundEnd::Claimed(count)) => count == self.settings.batch_size as usize,
                Err(error) => {
                    tracing::warn!(error = %error, "cannot claim outbox records, will retry");
                    false
                }
            };
            if last_backlog.is_none_or(|t| t.elapsed() >= BACKLOG_EVERY) {
                last_backlog = Some(tokio::time::Instant::now());
                if let Ok(backlog) = store::outbox_backlog(&self.db).await {
                    #[allow(clippy::cast_precision_loss)]
                    metrics::gauge!("outbox_backlog").set(backlog as f64);
                }
            }
            if last_housekeeping.is_none_or(|t| t.elapsed() >= HOUSEKEEPING_EVERY) {
                last_housekeeping = Some(tokio::time::Instant::now());
                self.housekeeping().await;
            }
            // A full batch means more may be due: go again at once.
            if full_batch {
                continue;
            }
            tokio::select! {
                () = tokio::time::sleep(self.settings.poll_interval) => {}
                () = self.wake.notified() => {}
                _ = stop.changed() => {}
            }
        }
        tracing::info!("outbox dispatcher stopped");
    }

    /// Claims one batch and delivers it, unless told to stop first.
    async fn round(&self, stop: &mut watch::Receiver<bool>) -> Result<RoundEnd, sqlx::Error> {
        let claim_id = Uuid::new_v4().to_string();
        let now = now_millis();
        let lease_until = now.saturating_add(millis(self.settings.claim_lease));
        let records = store::claim_outbox(&self.db, &claim_id, now, lease_until, self.settings.batch_size).await?;
        let count = records.len();
        if count == 0 {
            return Ok(RoundEnd::Claimed(0));
        }
        // One token for the whole round: if the issuer is unreachable, the round fails at once
        // instead of every record waiting for its own token request.
        let token = match self.tokens.token().await {
            Ok(token) => token,
            Err(error) => {
                let error = format!("no service token: {error}");
                for record in &records {
                    self.reschedule(&claim_id, record, &error).await;
                }
                tracing::warn!(claimed = count, error = %error, "cannot get a service token, outbox deliveries will retry with backoff");
                return Ok(RoundEnd::Claimed(count));
            }
        };
        let deliveries = futures::stream::iter(records)
            .map(|record| self.deliver(&claim_id, &token, record))
            .buffer_unordered(CONCURRENCY as usize)
            .collect::<Vec<_>>();
        tokio::select! {
            outcomes = deliveries => {
                let failures: Vec<&String> = outcomes.iter().filter_map(|o| o.as_ref()).collect();
                if let Some(first) = failures.first() {
                    tracing::warn!(failed = failures.len(), claimed = count, first_error = %first, "outbox deliveries failed, will retry with backoff");
                }
                Ok(RoundEnd::Claimed(count))
            }
            _ = stop.changed() => {
                match store::release_claim(&self.db, &claim_id).await {
                    Ok(released) => tracing::info!(released, "stopping: released claimed outbox records"),
                    Err(error) => tracing::warn!(error = %error, "stopping: cannot release claimed records; their lease will expire"),
                }
                Ok(RoundEnd::Stopped)
            }
        }
    }

    /// Delivers one record and records the outcome. Returns the error of a failed attempt.
    async fn deliver(&self, claim_id: &str, token: &Arc<ServiceToken>, record: ClaimedRecord) -> Option<String> {
        let attempt = self.attempt(token, &record).await;
        let now = now_millis();
        match attempt {
            Attempt::Delivered => {
                if let Err(error) = store::mark_delivered(&self.db, &record.id, now).await {
                    // The lease expires and another round redelivers; notifications-service
                    // answers that with the stored notification.
                    tracing::warn!(outbox.id = %record.id, error = %error, "cannot record a delivery");
                }
                None
            }
            Attempt::Retry(error) => {
                self.reschedule(claim_id, &record, &error).await;
                Some(error)
            }
            Attempt::Failed(error) => {
                metrics::counter!("outbox_dead_letters_total").increment(1);
                tracing::error!(outbox.id = %record.id, order.id = %record.order_id, error = %error, "notification refused for good; parked in the outbox as failed");
                if let Err(db_error) = store::mark_failed(&self.db, &record.id, claim_id, now, &error).await {
                    tracing::warn!(outbox.id = %record.id, error = %db_error, "cannot park a refused record");
                }
                None
            }
        }
    }

    /// Releases a record after a failed attempt, due again after the backoff for its attempt
    /// count.
    async fn reschedule(&self, claim_id: &str, record: &ClaimedRecord, error: &str) {
        let delay =
            backoff(record.attempts, self.settings.initial_backoff, self.settings.max_backoff, rand::rng().random());
        let next = now_millis().saturating_add(millis(delay));
        metrics::counter!("outbox_delivery_failures_total").increment(1);
        tracing::debug!(outbox.id = %record.id, attempts = record.attempts, retry_in_ms = delay.as_millis() as u64, error = %error, "delivery failed");
        if let Err(db_error) = store::schedule_retry(&self.db, &record.id, claim_id, next, error).await {
            tracing::warn!(outbox.id = %record.id, error = %db_error, "cannot reschedule a record; its lease will expire");
        }
    }

    async fn attempt(&self, token: &Arc<ServiceToken>, record: &ClaimedRecord) -> Attempt {
        let span = tracing::info_span!(
            parent: None,
            "outbox_delivery",
            otel.name = "outbox deliver",
            otel.kind = "consumer",
            outbox.id = %record.id,
            order.id = %record.order_id,
            outbox.attempt = record.attempts,
            request_id = %record.context.request_id,
        );
        service_kit::telemetry::propagation::add_link(&span, &record.context.traceparent);
        self.attempt_in_span(token, record).instrument(span).await
    }

    async fn attempt_in_span(&self, token: &Arc<ServiceToken>, record: &ClaimedRecord) -> Attempt {
        match self.notifications.deliver(&record.payload, &record.context, token).await {
            Ok(outcome) => {
                let result = match outcome {
                    Delivered::Created => "created",
                    Delivered::AlreadyStored => "already_stored",
                };
                metrics::counter!("outbox_delivered_total", "result" => result).increment(1);
                tracing::info!(
                    outbox.id = %record.id,
                    order.id = %record.order_id,
                    attempts = record.attempts,
                    request_id = %record.context.request_id,
                    result,
                    "notification delivered"
                );
                Attempt::Delivered
            }
            Err(error @ DeliveryError::TokenRejected(_)) => {
                self.tokens.invalidate(token);
                Attempt::Retry(error.to_string())
            }
            Err(error @ DeliveryError::Refused { .. }) => Attempt::Failed(error.to_string()),
            Err(error @ (DeliveryError::Unreachable(_) | DeliveryError::Failed { .. })) => {
                Attempt::Retry(error.to_string())
            }
        }
    }

    async fn housekeeping(&self) {
        let now = now_millis();
        let keys_before = now.saturating_sub(millis(self.idempotency_ttl));
        let delivered_before = now.saturating_sub(millis(self.settings.retention));
        let purged = async {
            let keys = db::purge_expired_keys(&self.db, keys_before).await?;
            let records = store::purge_delivered(&self.db, delivered_before).await?;
            Ok::<_, sqlx::Error>((keys, records))
        };
        match purged.await {
            Ok((0, 0)) => {}
            Ok((keys, records)) => {
                tracing::info!(keys, records, "purged expired idempotency keys and delivered outbox records")
            }
            Err(error) => tracing::warn!(error = %error, "outbox housekeeping failed"),
        }
    }
}

enum RoundEnd {
    Claimed(usize),
    Stopped,
}

/// `duration` in milliseconds, saturating, for arithmetic on Unix-millisecond timestamps.
fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Delay before attempt `attempts + 1`: `initial × 2^(attempts−1)`, capped at `max`, jittered.
///
/// The jitter is "equal jitter": half the delay is fixed, half is scaled by `jitter` (in
/// `[0, 1)`), so replicas that failed together do not retry in lockstep while the delay still
/// grows.
#[must_use]
pub fn backoff(attempts: i64, initial: Duration, max: Duration, jitter: f64) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    let full = initial.saturating_mul(2_u32.saturating_pow(exponent)).min(max);
    let half = full / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn backoff_doubles_until_the_cap() {
        let max = Duration::from_secs(300);
        // With jitter 1.0 the delay is the full exponential value.
        assert_eq!(backoff(1, SECOND, max, 1.0), SECOND);
        assert_eq!(backoff(2, SECOND, max, 1.0), 2 * SECOND);
        assert_eq!(backoff(5, SECOND, max, 1.0), 16 * SECOND);
        assert_eq!(backoff(20, SECOND, max, 1.0), max);
        assert_eq!(backoff(i64::MAX, SECOND, max, 1.0), max);
    }

    #[test]
    fn jitter_keeps_at_least_half_the_delay() {
        let max = Duration::from_secs(300);
        assert_eq!(backoff(3, SECOND, max, 0.0), 2 * SECOND);
        assert_eq!(backoff(3, SECOND, max, 0.5), 3 * SECOND);
        for attempts in [0, 1, 4, 40] {
            let delay = backoff(attempts, SECOND, max, 0.999);
            assert!(delay >= backoff(attempts, SECOND, max, 0.0) && delay <= max);
        }
    }
}
