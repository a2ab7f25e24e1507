//! [`EventFeed`]: what one replica does to serve `GET /v1/security-events` cheaply to many
//! receivers from the shared database.
//!
//! One watcher task reads the counter every `AUTH_EVENTS_POLL_INTERVAL` (and at once when
//! this replica commits an event) and publishes it on a `tokio::sync::watch`. A request whose
//! cursor is current waits on that channel, not on the database, so held requests cost
//! nothing until something changes. An answer depends only on (cursor, counter, signing key),
//! so answers are cached under that key and built once however many receivers share a
//! cursor: the cache's loader runs once while the others wait for its result.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::body::Bytes;
use serde::Serialize;
use service_kit::db::{Pool, now_millis};
use tokio::sync::{Notify, watch};

use super::{EventSettings, Head, set::SetSigner, store};
use crate::keys::{KeyManager, signing::SigningKey};

/// Most SETs in one answer (contract: `moreAvailable`).
pub const PAGE_SIZE: usize = 500;

/// Built answers kept per replica. Receivers cluster on the latest cursor, so a few entries
/// per recent counter value are all that is ever hit.
const RESPONSE_CACHE_CAPACITY: usize = 64;

/// Why the feed could not answer.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// This replica has no active signing key yet.
    #[error("no active signing key")]
    NoSigningKey,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Signing failed unexpectedly.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Key of a built answer: the cursor it answers (`None` for a full state), the counter it
/// saw, and the key that signed it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct AnswerKey {
    after: Option<i64>,
    head: (i64, i64),
    kid: Arc<str>,
}

/// The JSON body (contract: "Response").
#[derive(Serialize)]
struct Body<'a> {
    sets: std::collections::BTreeMap<&'a str, &'a str>,
    cursor: String,
    reset: bool,
    #[serde(rename = "moreAvailable")]
    more_available: bool,
}

/// The feed of one replica. Cheap to clone.
#[derive(Clone)]
pub struct EventFeed {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    keys: KeyManager,
    settings: EventSettings,
    head: watch::Sender<Head>,
    /// Wakes the watcher when this replica commits an event.
    committed: Notify,
    /// Set at shutdown: held requests answer at once so draining does not wait for them.
    draining: watch::Sender<bool>,
    sets: Arc<SetSigner>,
    answers: quick_cache::sync::Cache<AnswerKey, Bytes>,
    built: AtomicU64,
}

impl std::fmt::Debug for EventFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventFeed").field("head", &*self.inner.head.borrow()).finish_non_exhaustive()
    }
}

impl EventFeed {
    /// The feed over `pool`, signing with `keys`' active key; call [`poll`](Self::poll)
    /// once before serving.
    #[must_use]
    pub fn new(pool: Pool, keys: KeyManager, issuer: &str, settings: EventSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                pool,
                keys,
                settings,
                head: watch::Sender::new(Head::default()),
                committed: Notify::new(),
                draining: watch::Sender::new(false),
                sets: Arc::new(SetSigner::new(issuer)),
                answers: quick_cache::sync::Cache::new(RESPONSE_CACHE_CAPACITY),
                built: AtomicU64::new(0),
            }),
        }
    }

    /// The settings in force.
    #[must_use]
    pub fn settings(&self) -> &EventSettings {
        &self.inner.settings
    }

    /// The counter as this replica last read it.
    #[must_use]
    pub fn head(&self) -> Head {
        *self.inner.head.borrow()
    }

    /// Answers built (cache misses) and SETs signed by this replica, for tests and metrics.
    #[must_use]
    pub fn stats(&self) -> (u64, u64) {
        (self.inner.built.load(Ordering::Relaxed), self.inner.sets.signed())
    }

    /// Tells the feed this replica committed the event numbered `seq`, so local receivers
    /// hear of it at once rather than at the next poll. Publishing `seq` without reading the
    /// counter is safe: every lower number committed before this one was handed out.
    pub fn committed(&self, seq: i64) {
        self.inner.head.send_if_modified(|head| {
            let newer = seq > head.last_seq;
            head.last_seq = head.last_seq.max(seq);
            newer
        });
        self.inner.committed.notify_one();
    }

    /// Starts draining: held requests answer now.
    pub fn drain(&self) {
        self.inner.draining.send_replace(true);
    }

    /// Reads the counter and publishes it.
    ///
    /// # Errors
    /// Database failures.
    pub async fn poll(&self) -> Result<Head, sqlx::Error> {
        let head = store::head(&self.inner.pool).await?;
        self.inner.head.send_if_modified(|current| {
            let changed = *current != head;
            *current = head;
            changed
        });
        Ok(head)
    }

    /// The watcher: [`poll`](Self::poll) every interval, or when woken, until `stop`.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        let mut ticker = tokio::time::interval(self.inner.settings.poll_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                _ = ticker.tick() => {}
                () = self.inner.committed.notified() => {}
            }
            match self.poll().await {
                Ok(_) if failing => {
                    failing = false;
                    tracing::info!("security event counter readable again");
                }
                Ok(_) => {}
                // Once per outage, not every interval; held requests keep waiting meanwhile.
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(%error, "cannot read the security event counter");
                }
                Err(_) => {}
            }
        }
    }

    /// The answer to `after` (`None`: the receiver holds nothing), waiting up to `wait` for
    /// an event when the cursor is current.
    ///
    /// # Errors
    /// No signing key, database or signing failures.
    pub async fn answer(&self, after: Option<i64>, wait: Duration) -> Result<Bytes, FeedError> {
        let inner = &self.inner;
        let deadline = tokio::time::Instant::now() + wait.min(inner.settings.max_wait);
        if after.is_none() {
            // A receiver starting from nothing (rare) gets the state as of now, not as of this
            // replica's last poll, so an event just committed on another replica is in it.
            let head = self.poll().await?;
            return self.build(None, head).await;
        }
        let mut head_rx = inner.head.subscribe();
        let mut draining = inner.draining.subscribe();
        loop {
            let mut head = *head_rx.borrow_and_update();
            if let Some(after) = after
                && after > head.last_seq
            {
                // Either another replica's watcher is ahead of ours (it handed out this
                // cursor) or the cursor is not from this database: only the database can say.
                head = self.poll().await?;
            }
            let cursor = match after {
                Some(cursor) if cursor == head.last_seq => cursor,
                // Events after the cursor, or a full state: answer now.
                _ => return self.build(after, head).await,
            };
            if *draining.borrow_and_update() {
                return Ok(empty(cursor));
            }
            tokio::select! {
                changed = head_rx.changed() => if changed.is_err() { return Ok(empty(cursor)) },
                () = tokio::time::sleep_until(deadline) => return Ok(empty(cursor)),
                _ = draining.changed() => {}
            }
        }
    }

    /// The answer for `after` at `head`, from the cache or built once.
    async fn build(&self, after: Option<i64>, head: Head) -> Result<Bytes, FeedError> {
        let reset = after.is_none_or(|after| after < head.floor || after > head.last_seq);
        let key = self.inner.keys.signer().ok_or(FeedError::NoSigningKey)?;
        let cache_key = AnswerKey {
            after: if reset { None } else { after },
            head: (head.last_seq, head.floor),
            kid: key.kid().into(),
        };
        let from = cache_key.after.unwrap_or(0);
        self.inner.answers.get_or_insert_async(&cache_key, self.render(from, reset, head, key)).await
    }

    async fn render(&self, from: i64, reset: bool, head: Head, key: Arc<SigningKey>) -> Result<Bytes, FeedError> {
        let inner = &self.inner;
        inner.built.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("auth_security_event_answers_built_total").increment(1);
        let rows = store::page(&inner.pool, from, head.last_seq, now_millis(), PAGE_SIZE).await?;
        // A full page may stop short of the counter; otherwise everything up to it was read.
        let cursor = if rows.len() == PAGE_SIZE { rows.last().map_or(head.last_seq, |r| r.seq) } else { head.last_seq };
        let sets = if inner.sets.all_cached(&key, &rows) {
            inner.sets.sign_all(&key, &rows)?
        } else {
            let signer = Arc::clone(&inner.sets);
            tokio::task::spawn_blocking(move || signer.sign_all(&key, &rows))
                .await
                .map_err(|e| anyhow::anyhow!("SET signing task failed: {e}"))??
        };
        let body = Body {
            sets: sets.iter().map(|(jti, set)| (jti.as_str(), &**set)).collect(),
            cursor: cursor.to_string(),
            reset,
            more_available: cursor < head.last_seq,
        };
        Ok(Bytes::from(serde_json::to_vec(&body).map_err(anyhow::Error::from)?))
    }
}

/// No events after `cursor` (a long poll that timed out).
fn empty(cursor: i64) -> Bytes {
    Bytes::from(format!(r#"{{"sets":{{}},"cursor":"{cursor}","reset":false,"moreAvailable":false}}"#))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_answer_is_the_contract_shape() {
        let body: serde_json::Value = serde_json::from_slice(&empty(42)).unwrap();
        assert_eq!(body, serde_json::json!({"sets": {}, "cursor": "42", "reset": false, "moreAvailable": false}));
    }
}
