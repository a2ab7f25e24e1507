//! The outbox's SQL, next to the dispatcher that drives it. A record's life:
//!
//! - written with its order, in the order's transaction ([`crate::db::insert_order`]): due at
//!   once, no attempt yet;
//! - [`claim_outbox`]: due → claimed by one dispatcher until its lease ends (attempts + 1);
//! - then [`mark_delivered`] (→ delivered), [`schedule_retry`] (→ due again after the backoff),
//!   [`mark_failed`] (→ parked as failed), or [`release_claim`] on shutdown (→ due at once); a
//!   lease that runs out also makes the record due again;
//! - [`purge_delivered`]: delivered records are deleted after the retention.
//!
//! Runtime-checked `sqlx::query` calls through the `Any` driver, like the rest of the crate
//! (see `service_kit::db` for the portable-SQL rules). The statements that run under
//! concurrency say why they are safe where they are defined.

use service_kit::{db::Pool, http::context::RequestContext};
use sqlx::Row;

/// An outbox record a dispatcher has claimed.
#[derive(Debug, Clone)]
pub struct ClaimedRecord {
    /// Record id (the event id).
    pub id: String,
    /// The order it belongs to.
    pub order_id: String,
    /// JSON body to deliver.
    pub payload: String,
    /// Ids of the request that placed the order; its `traceparent` names that request's
    /// server span, which the delivery span links to.
    pub context: RequestContext,
    /// Delivery attempts including the one this claim is for.
    pub attempts: i64,
}

/// Conditions under which a record may be claimed, written once and used twice in
/// [`claim_outbox`]: `$1` is now.
const CLAIMABLE: &str = "delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 \
                         AND (claimed_until IS NULL OR claimed_until <= $1)";

/// Claims up to `batch` due records for `claim_id` until `lease_until`.
///
/// One portable statement: `UPDATE … WHERE id IN (SELECT … LIMIT n) AND <claimable> RETURNING
/// …`. Repeating the claimable conditions in the outer `WHERE` is what makes it safe with
/// several replicas: on PostgreSQL (read committed) a concurrent claimer that picked the same
/// rows waits for the first one's row locks and then re-checks the outer `WHERE` on the updated
/// rows, which now fail it, so it skips them; SQLite runs one writer at a time. A record is
/// therefore owned by one dispatcher until its lease ends; only a dispatcher that outlives its
/// lease (stuck longer than the lease) can cause a second delivery, which notifications-service
/// deduplicates on the event id.
///
/// # Errors
/// Database failures.
pub async fn claim_outbox(
    pool: &Pool,
    claim_id: &str,
    now: i64,
    lease_until: i64,
    batch: u32,
) -> Result<Vec<ClaimedRecord>, sqlx::Error> {
    let sql = format!(
        "UPDATE outbox SET claimed_by = $2, claimed_until = $3, attempts = attempts + 1
         WHERE id IN (SELECT id FROM outbox WHERE {CLAIMABLE} ORDER BY next_attempt_at, id LIMIT $4)
           AND {CLAIMABLE}
         RETURNING id, order_id, payload, request_id, traceparent, attempts"
    );
    let rows =
        sqlx::query(&sql).bind(now).bind(claim_id).bind(lease_until).bind(i64::from(batch)).fetch_all(pool).await?;
    rows.iter()
        .map(|row| {
            Ok(ClaimedRecord {
                id: row.try_get("id")?,
                order_id: row.try_get("order_id")?,
                payload: row.try_get("payload")?,
                context: RequestContext {
                    request_id: row.try_get("request_id")?,
                    traceparent: row.try_get("traceparent")?,
                },
                attempts: row.try_get("attempts")?,
            })
        })
        .collect()
}

/// Records a successful delivery. Not conditional on the claim: whoever delivered it, the
/// record is done, and a dispatcher whose lease ran out must not cause another delivery.
///
/// # Errors
/// Database failures.
pub async fn mark_delivered(pool: &Pool, id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbox SET delivered_at = $1, claimed_by = NULL, claimed_until = NULL, last_error = NULL
         WHERE id = $2 AND delivered_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Releases a failed attempt and schedules the next one at `next_attempt_at`, if this claim
/// still owns the record.
///
/// # Errors
/// Database failures.
pub async fn schedule_retry(
    pool: &Pool,
    id: &str,
    claim_id: &str,
    next_attempt_at: i64,
    error: &str,
) -> Result<(), sqlx::Error> {
    end_failed_attempt(pool, id, claim_id, "next_attempt_at", next_attempt_at, error).await
}

/// Parks a record notifications-service refused for good; it is no longer retried (an operator
/// can requeue it by clearing `failed_at`).
///
/// # Errors
/// Database failures.
pub async fn mark_failed(pool: &Pool, id: &str, claim_id: &str, now: i64, error: &str) -> Result<(), sqlx::Error> {
    end_failed_attempt(pool, id, claim_id, "failed_at", now, error).await
}

/// Ends a failed attempt: releases the claim, keeps `error` as `last_error` and sets `column`
/// (`next_attempt_at` to retry, `failed_at` to park) to `at`.
///
/// Conditional on the claim: a dispatcher whose lease ran out, and whose record another claim
/// now holds (or delivered), must not reschedule or park it.
async fn end_failed_attempt(
    pool: &Pool,
    id: &str,
    claim_id: &str,
    column: &'static str,
    at: i64,
    error: &str,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "UPDATE outbox SET {column} = $1, claimed_by = NULL, claimed_until = NULL, last_error = $2
         WHERE id = $3 AND claimed_by = $4 AND delivered_at IS NULL"
    );
    sqlx::query(&sql).bind(at).bind(truncate(error)).bind(id).bind(claim_id).execute(pool).await?;
    Ok(())
}

/// Gives back every record `claim_id` still holds (on shutdown), so another replica can
/// deliver them without waiting for the lease to run out.
///
/// # Errors
/// Database failures.
pub async fn release_claim(pool: &Pool, claim_id: &str) -> Result<u64, sqlx::Error> {
    let result = sqlx::query(
        "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = $1 AND delivered_at IS NULL",
    )
    .bind(claim_id)
    .execute(pool)
    .await?;
    Ok(result.rows_affected())
}

/// Undelivered and not-failed records (the delivery backlog).
///
/// # Errors
/// Database failures.
pub async fn outbox_backlog(pool: &Pool) -> Result<i64, sqlx::Error> {
    sqlx::query("SELECT COUNT(*) AS backlog FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL")
        .fetch_one(pool)
        .await?
        .try_get("backlog")
}

/// Deletes the records delivered before `delivered_before`. Returns how many.
///
/// # Errors
/// Database failures.
pub async fn purge_delivered(pool: &Pool, delivered_before: i64) -> Result<u64, sqlx::Error> {
    let records = sqlx::query("DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < $1")
        .bind(delivered_before)
        .execute(pool)
        .await?;
    Ok(records.rows_affected())
}

/// Error texts come from remote services; keep what is stored bounded.
fn truncate(error: &str) -> String {
    service_kit::text::clip(error, 500)
}
