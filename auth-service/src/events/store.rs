//! The `security_events` and `security_event_counter` tables (migration
//! `20250301000001_security_events.sql`). Why the counter makes cursors safe is in
//! [`crate::events`].

use service_kit::db::Pool;
use sqlx::{Any, Transaction};

use super::{Head, NewEvent, Revoked};

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EventRow {
    /// Sequence number: commit order.
    pub seq: i64,
    /// The SET's `jti`.
    pub set_jti: String,
    /// `session_revoked` or `token_revoked`.
    pub kind: String,
    /// `sub` (session events).
    pub user_id: Option<String>,
    /// `sid` (session events).
    pub session_id: Option<String>,
    /// The revoked token's `jti` (token events).
    pub token_jti: Option<String>,
    /// Unix ms.
    pub occurred_at: i64,
    /// Unix ms.
    pub relevant_until: i64,
    /// `reason_admin.en` (session events).
    pub reason: Option<String>,
    /// `user`, `admin` or `policy`.
    pub initiating_entity: String,
    /// Shared by the events of one state change.
    pub txn: String,
}

/// `kind` of a session event.
pub const SESSION_REVOKED: &str = "session_revoked";
/// `kind` of a token event.
pub const TOKEN_REVOKED: &str = "token_revoked";

const COLUMNS: &str = "seq, set_jti, kind, user_id, session_id, token_jti, occurred_at, relevant_until, reason, \
                       initiating_entity, txn";

/// Writes `event` in the caller's transaction and returns its sequence number.
///
/// Takes the counter row's lock until the transaction ends: call it after every other change
/// of the transaction (see the deadlock rule in [`crate::events`]). On a unique violation
/// (this token already revoked) the transaction is unusable on PostgreSQL: roll it back.
///
/// # Errors
/// Database failures; a unique violation when the token already has its event.
pub async fn record(tx: &mut Transaction<'_, Any>, event: &NewEvent) -> Result<i64, sqlx::Error> {
    let seq: i64 =
        sqlx::query_scalar("UPDATE security_event_counter SET last_seq = last_seq + 1 WHERE id = 1 RETURNING last_seq")
            .fetch_one(&mut **tx)
            .await?;
    let (kind, user_id, session_id, token_jti, reason, initiator) = match &event.revoked {
        Revoked::Session { user_id, session_id, cause } => (
            SESSION_REVOKED,
            Some(user_id.as_str()),
            Some(session_id.as_str()),
            None,
            Some(cause.reason()),
            cause.initiator(),
        ),
        Revoked::Token { jti } => (TOKEN_REVOKED, None, None, Some(jti.as_str()), None, super::Initiator::User),
    };
    sqlx::query(
        "INSERT INTO security_events (seq, set_jti, kind, user_id, session_id, token_jti, occurred_at, relevant_until, \
         reason, initiating_entity, txn) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(seq)
    .bind(uuid::Uuid::new_v4().to_string())
    .bind(kind)
    .bind(user_id)
    .bind(session_id)
    .bind(token_jti)
    .bind(event.occurred_at)
    .bind(event.relevant_until)
    .bind(reason)
    .bind(initiator.as_str())
    .bind(&event.txn)
    .execute(&mut **tx)
    .await?;
    metrics::counter!("auth_security_events_recorded_total", "kind" => kind).increment(1);
    Ok(seq)
}

/// The counter: the highest committed number and the pruning floor.
///
/// # Errors
/// Database failures.
pub async fn head(pool: &Pool) -> Result<Head, sqlx::Error> {
    let (last_seq, floor): (i64, i64) =
        sqlx::query_as("SELECT last_seq, pruned_through FROM security_event_counter WHERE id = 1")
            .fetch_one(pool)
            .await?;
    Ok(Head { last_seq, floor })
}

/// At most `limit` events with `after < seq <= upto` still relevant at `now` (Unix ms), in
/// sequence order.
///
/// # Errors
/// Database failures.
pub async fn page(pool: &Pool, after: i64, upto: i64, now: i64, limit: usize) -> Result<Vec<EventRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM security_events WHERE seq > $1 AND seq <= $2 AND relevant_until > $3 ORDER BY seq LIMIT $4"
    );
    sqlx::query_as(&sql)
        .bind(after)
        .bind(upto)
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(pool)
        .await
}

/// Every event, in sequence order (tests and diagnostics).
///
/// # Errors
/// Database failures.
pub async fn all(pool: &Pool) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM security_events ORDER BY seq")).fetch_all(pool).await
}

/// Whether the access token with this `jti` has been revoked (auth-service's own endpoints
/// refuse it, as verifiers do from the feed).
///
/// # Errors
/// Database failures.
pub async fn is_token_revoked(pool: &Pool, jti: &str) -> Result<bool, sqlx::Error> {
    let found: Option<i64> = sqlx::query_scalar("SELECT seq FROM security_events WHERE token_jti = $1")
        .bind(jti)
        .fetch_optional(pool)
        .await?;
    Ok(found.is_some())
}

/// Deletes the events no longer relevant at `now` (Unix ms) and raises the pruning floor to
/// the highest number deleted. Returns how many were deleted.
///
/// Only numbers up to the highest irrelevant one seen first are deleted, so the floor is
/// never below a deleted number even if an event commits meanwhile. Two replicas pruning at
/// once both succeed: the floor only rises.
///
/// # Errors
/// Database failures.
pub async fn prune(pool: &Pool, now: i64) -> Result<u64, sqlx::Error> {
    let highest: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM security_events WHERE relevant_until <= $1")
        .bind(now)
        .fetch_one(pool)
        .await?;
    let Some(highest) = highest else { return Ok(0) };
    let mut tx = pool.begin().await?;
    let deleted = sqlx::query("DELETE FROM security_events WHERE seq <= $1 AND relevant_until <= $2")
        .bind(highest)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    sqlx::query(
        "UPDATE security_event_counter SET pruned_through = \
         CASE WHEN pruned_through < $1 THEN $1 ELSE pruned_through END WHERE id = 1",
    )
    .bind(highest)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(deleted)
}
