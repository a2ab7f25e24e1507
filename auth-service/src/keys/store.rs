//! The `signing_keys` table: every lifecycle transition as one conditional statement or one
//! short transaction, so replicas sharing the database cannot race.
//!
//! Two partial unique indexes (`state = 'active'`, `state = 'pending'`) make "exactly one
//! key signs" and "at most one successor waits" database facts. Transitions name the state
//! they expect (`WHERE kid = $1 AND state = 'pending'`), so a replica acting on a stale read
//! changes nothing and reports `false`. Activation retires the old key *before* promoting
//! the new one inside one transaction, so no committed state ever has two active keys, and
//! readers never see zero. Transactions start with a write, which makes `SQLite` take its
//! write lock (waiting out `busy_timeout`) instead of failing on a stale read snapshot.

use service_kit::db::{Pool, is_unique_violation};
use sqlx::{Any, Transaction, any::AnyArguments, query::Query};

/// Where a key is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyState {
    /// Published, not signing yet.
    Pending,
    /// Signing (exactly one).
    Active,
    /// Published, no longer signing.
    Retired,
    /// Unpublished, private half destroyed.
    Removed,
}

impl KeyState {
    /// The stored text.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Retired => "retired",
            Self::Removed => "removed",
        }
    }
}

impl TryFrom<String> for KeyState {
    type Error = String;

    fn try_from(raw: String) -> Result<Self, Self::Error> {
        match raw.as_str() {
            "pending" => Ok(Self::Pending),
            "active" => Ok(Self::Active),
            "retired" => Ok(Self::Retired),
            "removed" => Ok(Self::Removed),
            other => Err(format!("unknown signing key state `{other}`")),
        }
    }
}

/// One row of `signing_keys`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct KeyRow {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// Lifecycle state.
    #[sqlx(try_from = "String")]
    pub state: KeyState,
    /// Modulus (base64url).
    pub n: String,
    /// Exponent (base64url).
    pub e: String,
    /// Modulus size.
    pub bits: i64,
    /// Sealed PKCS#8 private key; `None` once removed.
    pub private_key: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms from which a pending key may sign.
    pub activate_after: i64,
    /// Unix ms.
    pub activated_at: Option<i64>,
    /// Unix ms.
    pub retired_at: Option<i64>,
    /// Unix ms from which a retired key is removed.
    pub remove_after: Option<i64>,
    /// Unix ms.
    pub removed_at: Option<i64>,
}

/// A freshly generated key ready to insert.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// Thumbprint.
    pub kid: String,
    /// Modulus.
    pub n: String,
    /// Exponent.
    pub e: String,
    /// Size in bits.
    pub bits: i64,
    /// Sealed PKCS#8.
    pub sealed_private_key: String,
}

const COLUMNS: &str = "kid, state, n, e, bits, private_key, created_at, activate_after, activated_at, retired_at, remove_after, removed_at";

/// Keys that are published (pending, active, retired), oldest first.
///
/// # Errors
/// Database failures.
pub async fn published(pool: &Pool) -> Result<Vec<KeyRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM signing_keys WHERE state <> 'removed' ORDER BY created_at, kid");
    sqlx::query_as(&sql).fetch_all(pool).await
}

/// Every key ever created, newest first (the admin listing).
///
/// # Errors
/// Database failures.
pub async fn all(pool: &Pool) -> Result<Vec<KeyRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM signing_keys ORDER BY created_at DESC, kid");
    sqlx::query_as(&sql).fetch_all(pool).await
}

/// Inserts `key` as the active key if no key is active or pending. `false` when another
/// replica got there first.
///
/// # Errors
/// Database failures other than losing that race.
pub async fn insert_active(pool: &Pool, key: &NewKey, now: i64) -> Result<bool, sqlx::Error> {
    let result = bind_key(
        sqlx::query(
            "INSERT INTO signing_keys (kid, state, n, e, bits, private_key, created_at, activate_after, activated_at) \
             SELECT $1, 'active', $2, $3, $4, $5, $6, $6, $6 \
             WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE state IN ('active', 'pending'))",
        ),
        key,
    )
    .bind(now)
    .execute(pool)
    .await;
    lost_race_is_false(result)
}

/// Inserts `key` as the pending successor of `active`, signing from `activate_after`, if
/// `active` is still the active key and no successor exists.
///
/// # Errors
/// Database failures other than losing the race.
pub async fn insert_pending(
    pool: &Pool,
    key: &NewKey,
    active: &str,
    now: i64,
    activate_after: i64,
) -> Result<bool, sqlx::Error> {
    let result = bind_key(
        sqlx::query(
            "INSERT INTO signing_keys (kid, state, n, e, bits, private_key, created_at, activate_after) \
             SELECT $1, 'pending', $2, $3, $4, $5, $6, $7 \
             WHERE EXISTS (SELECT 1 FROM signing_keys WHERE kid = $8 AND state = 'active') \
               AND NOT EXISTS (SELECT 1 FROM signing_keys WHERE state = 'pending')",
        ),
        key,
    )
    .bind(now)
    .bind(activate_after)
    .bind(active)
    .execute(pool)
    .await;
    lost_race_is_false(result)
}

/// `query` with the columns of `key` bound as `$1` to `$5`: kid, n, e, bits, private key.
fn bind_key<'q>(query: Query<'q, Any, AnyArguments<'q>>, key: &'q NewKey) -> Query<'q, Any, AnyArguments<'q>> {
    query.bind(&key.kid).bind(&key.n).bind(&key.e).bind(key.bits).bind(&key.sealed_private_key)
}

/// Whether a conditional statement changed its one row: `false` when it matched nothing or
/// lost a race on a unique index.
fn lost_race_is_false(result: Result<sqlx::any::AnyQueryResult, sqlx::Error>) -> Result<bool, sqlx::Error> {
    match result {
        Ok(done) => Ok(done.rows_affected() == 1),
        Err(error) if is_unique_violation(&error) => Ok(false),
        Err(error) => Err(error),
    }
}

/// Commits `tx` when its transition `applied`, else rolls it back; returns `applied`.
async fn settle(tx: Transaction<'_, Any>, applied: bool) -> Result<bool, sqlx::Error> {
    if applied {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(applied)
}

/// Promotes `pending`, retiring `retiring` first in the same transaction.
///
/// The retired key's removal falls due `retire_hold_ms` later. With `wait_for_publication`,
/// only once the pending key's publication time has passed. `false` when the rows were not in
/// the expected states.
///
/// # Errors
/// Database failures.
pub async fn activate(
    pool: &Pool,
    pending: &str,
    retiring: Option<&str>,
    now: i64,
    retire_hold_ms: i64,
    wait_for_publication: bool,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    if let Some(retiring) = retiring {
        let retired = sqlx::query(
            "UPDATE signing_keys SET state = 'retired', retired_at = $1, remove_after = $2 WHERE kid = $3 AND state = 'active'",
        )
        .bind(now)
        .bind(now.saturating_add(retire_hold_ms))
        .bind(retiring)
        .execute(&mut *tx)
        .await?;
        if retired.rows_affected() != 1 {
            return settle(tx, false).await;
        }
    }
    let cutoff = if wait_for_publication { now } else { i64::MAX };
    let activated = sqlx::query(
        "UPDATE signing_keys SET state = 'active', activated_at = $1 WHERE kid = $2 AND state = 'pending' AND activate_after <= $3",
    )
    .bind(now)
    .bind(pending)
    .bind(cutoff)
    .execute(&mut *tx)
    .await;
    let applied = lost_race_is_false(activated)?;
    settle(tx, applied).await
}

/// Removes a retired key whose hold has passed: unpublished, private half destroyed.
///
/// # Errors
/// Database failures.
pub async fn remove(pool: &Pool, kid: &str, now: i64) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE signing_keys SET state = 'removed', removed_at = $1, private_key = NULL \
         WHERE kid = $2 AND state = 'retired' AND remove_after <= $1",
    )
    .bind(now)
    .bind(kid)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Emergency rotation: `key` becomes the active key at once.
///
/// In one transaction, removes the active key and any pending one (private halves destroyed,
/// unpublished at once) and inserts `key` as active. Returns the removed key ids, or `None`
/// when a concurrent emergency rotation won.
///
/// # Errors
/// Database failures.
pub async fn replace_active(pool: &Pool, key: &NewKey, now: i64) -> Result<Option<Vec<String>>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let removed: Vec<String> = sqlx::query_scalar(
        "UPDATE signing_keys SET state = 'removed', removed_at = $1, private_key = NULL \
         WHERE state IN ('active', 'pending') RETURNING kid",
    )
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    let inserted = bind_key(
        sqlx::query(
            "INSERT INTO signing_keys (kid, state, n, e, bits, private_key, created_at, activate_after, activated_at) \
             VALUES ($1, 'active', $2, $3, $4, $5, $6, $6, $6)",
        ),
        key,
    )
    .bind(now)
    .execute(&mut *tx)
    .await;
    let applied = lost_race_is_false(inserted)?;
    Ok(settle(tx, applied).await?.then_some(removed))
}
