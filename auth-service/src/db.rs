//! Queries for users, sessions, refresh tokens and login throttling (signing keys live in
//! [`crate::keys::store`]).
//!
//! Runtime-checked `sqlx::query` through the `Any` driver, one query set for `SQLite` and
//! `PostgreSQL` (portable SQL only: see [`service_kit::db`]). State changes that must not race are
//! single conditional statements (`UPDATE … WHERE used_at IS NULL`), so two replicas handling
//! the same refresh token cannot both succeed. Ending sessions runs in the caller's
//! transaction, so [`crate::revocation`] commits it together with its security events.

use service_kit::db::{Pool, is_unique_violation};

/// A stored user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserRow {
    /// UUID text.
    pub id: String,
    /// Normalised email.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Unix ms.
    pub created_at: i64,
}

/// Inserting a user failed.
#[derive(Debug, thiserror::Error)]
pub enum InsertUserError {
    /// The email is already registered.
    #[error("email already registered")]
    EmailTaken,
    /// Anything else.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Inserts a user.
///
/// # Errors
/// [`InsertUserError::EmailTaken`] on the unique index, else database failures.
pub async fn insert_user(pool: &Pool, user: &UserRow) -> Result<(), InsertUserError> {
    sqlx::query("INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&user.id)
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(user.created_at)
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(|error| {
            if is_unique_violation(&error) { InsertUserError::EmailTaken } else { InsertUserError::Database(error) }
        })
}

/// The user with this normalised email.
///
/// # Errors
/// Database failures.
pub async fn find_user_by_email(pool: &Pool, email: &str) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, email, password_hash, created_at FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(pool)
        .await
}

/// The user with this id.
///
/// # Errors
/// Database failures.
pub async fn find_user(pool: &Pool, id: &str) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, email, password_hash, created_at FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// A stored session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    /// UUID text: the `sid` claim.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// The client the session was opened through.
    pub client_id: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms of the login or the last refresh.
    pub last_seen_at: i64,
    /// Unix ms: absolute end.
    pub expires_at: i64,
    /// `User-Agent` at login, truncated.
    pub user_agent: Option<String>,
    /// Unix ms when it was ended, if it was.
    pub ended_at: Option<i64>,
}

impl SessionRow {
    /// Not ended and not past its absolute lifetime.
    #[must_use]
    pub fn is_active(&self, now: i64) -> bool {
        self.ended_at.is_none() && now < self.expires_at
    }
}

const SESSION_COLUMNS: &str = "id, user_id, client_id, created_at, last_seen_at, expires_at, user_agent, ended_at";

/// Opens a session together with its first refresh token (one transaction).
///
/// # Errors
/// Database failures.
pub async fn create_session(
    pool: &Pool,
    session: &SessionRow,
    refresh_hash: &str,
    refresh_expires_at: i64,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO sessions (id, user_id, client_id, created_at, last_seen_at, expires_at, user_agent) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&session.id)
    .bind(&session.user_id)
    .bind(&session.client_id)
    .bind(session.created_at)
    .bind(session.last_seen_at)
    .bind(session.expires_at)
    .bind(session.user_agent.as_deref())
    .execute(&mut *tx)
    .await?;
    insert_refresh_token(&mut tx, refresh_hash, &session.id, session.created_at, refresh_expires_at).await?;
    tx.commit().await
}

/// Stores a refresh token of `session_id`, inside the caller's transaction.
async fn insert_refresh_token(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    hash: &str,
    session_id: &str,
    created_at: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(hash)
        .bind(session_id)
        .bind(created_at)
        .bind(expires_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The session with this id, whatever its state.
///
/// # Errors
/// Database failures.
pub async fn find_session(pool: &Pool, id: &str) -> Result<Option<SessionRow>, sqlx::Error> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
    sqlx::query_as(&sql).bind(id).fetch_optional(pool).await
}

/// A user's active sessions, most recently used first.
///
/// # Errors
/// Database failures.
pub async fn active_sessions(pool: &Pool, user_id: &str, now: i64) -> Result<Vec<SessionRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 AND ended_at IS NULL AND expires_at > $2 \
         ORDER BY last_seen_at DESC, id"
    );
    sqlx::query_as(&sql).bind(user_id).bind(now).fetch_all(pool).await
}

/// Ends a session inside the caller's transaction; returns its user id.
///
/// `reason` is a [`crate::events::SessionEnd`]'s `db_reason`. With `owner`, only a session of
/// that user is ended. `None` when there was no such session still open.
///
/// # Errors
/// Database failures.
pub async fn end_session(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    owner: Option<&str>,
    reason: &str,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    // `owner` NULL matches any owner: one statement for both cases.
    sqlx::query_scalar(
        "UPDATE sessions SET ended_at = $1, end_reason = $2 \
         WHERE id = $3 AND ended_at IS NULL AND ($4 IS NULL OR user_id = $4) RETURNING user_id",
    )
    .bind(now)
    .bind(reason)
    .bind(id)
    .bind(owner)
    .fetch_optional(&mut **tx)
    .await
}

/// Ends every open session of `user_id` whose absolute end is after `expired_before`, inside
/// the caller's transaction. Returns their ids.
///
/// # Errors
/// Database failures.
pub async fn end_user_sessions(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    user_id: &str,
    reason: &str,
    now: i64,
    expired_before: i64,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE sessions SET ended_at = $1, end_reason = $2 \
         WHERE user_id = $3 AND ended_at IS NULL AND expires_at > $4 RETURNING id",
    )
    .bind(now)
    .bind(reason)
    .bind(user_id)
    .bind(expired_before)
    .fetch_all(&mut **tx)
    .await
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshUse {
    /// Unused until now (it is now marked used).
    Fresh {
        /// Its session.
        session_id: String,
        /// Its own expiry (Unix ms).
        expires_at: i64,
    },
    /// Used before: a replay, or a stolen copy racing the legitimate client.
    Reused {
        /// Its session.
        session_id: String,
    },
    /// Never issued (or purged long after expiry).
    Unknown,
}

/// Marks the refresh token with this hash used, atomically: of two concurrent uses, exactly
/// one sees [`RefreshUse::Fresh`].
///
/// # Errors
/// Database failures.
pub async fn use_refresh_token(pool: &Pool, hash: &str, now: i64) -> Result<RefreshUse, sqlx::Error> {
    let fresh: Option<(String, i64)> = sqlx::query_as(
        "UPDATE refresh_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL RETURNING session_id, expires_at",
    )
    .bind(now)
    .bind(hash)
    .fetch_optional(pool)
    .await?;
    if let Some((session_id, expires_at)) = fresh {
        return Ok(RefreshUse::Fresh { session_id, expires_at });
    }
    Ok(match refresh_token_session(pool, hash).await? {
        Some(session_id) => RefreshUse::Reused { session_id },
        None => RefreshUse::Unknown,
    })
}

/// The session a refresh token belongs to, used or not (revocation).
///
/// # Errors
/// Database failures.
pub async fn refresh_token_session(pool: &Pool, hash: &str) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT session_id FROM refresh_tokens WHERE token_hash = $1")
        .bind(hash)
        .fetch_optional(pool)
        .await
}

/// Stores the successor of a used refresh token and marks the session seen.
///
/// Only while the session is open: `false` (nothing stored) when it ended meanwhile. The
/// `UPDATE` waits for a concurrent end to commit, so no token is issued for a session whose
/// revocation event is already out.
///
/// # Errors
/// Database failures.
pub async fn add_refresh_token(
    pool: &Pool,
    session_id: &str,
    hash: &str,
    now: i64,
    expires_at: i64,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let open = sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND ended_at IS NULL")
        .bind(now)
        .bind(session_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
        == 1;
    if !open {
        tx.rollback().await?;
        return Ok(false);
    }
    insert_refresh_token(&mut tx, hash, session_id, now, expires_at).await?;
    tx.commit().await?;
    Ok(true)
}

/// Seconds until the first of `buckets` that reached its limit reopens, or `None` when all
/// are under their limit. Each bucket is `(key, max_failures)`.
///
/// # Errors
/// Database failures.
pub async fn throttled_for(
    pool: &Pool,
    buckets: &[(&str, u32)],
    now: i64,
    window_ms: i64,
) -> Result<Option<(usize, u64)>, sqlx::Error> {
    for (index, (bucket, max_failures)) in buckets.iter().enumerate() {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT failures, window_started_at FROM login_throttle WHERE bucket = $1")
                .bind(*bucket)
                .fetch_optional(pool)
                .await?;
        let Some((failures, started)) = row else { continue };
        let reopens = started.saturating_add(window_ms);
        if failures >= i64::from(*max_failures) && now < reopens {
            let wait_ms = u64::try_from(reopens - now).unwrap_or(0);
            return Ok(Some((index, wait_ms.div_ceil(1000).max(1))));
        }
    }
    Ok(None)
}

/// Counts a failed login in `bucket`, starting a new window when the previous one is over.
///
/// # Errors
/// Database failures.
pub async fn record_login_failure(pool: &Pool, bucket: &str, now: i64, window_ms: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO login_throttle (bucket, failures, window_started_at) VALUES ($1, 1, $2) \
         ON CONFLICT (bucket) DO UPDATE SET \
           failures = CASE WHEN login_throttle.window_started_at + $3 <= $2 THEN 1 ELSE login_throttle.failures + 1 END, \
           window_started_at = CASE WHEN login_throttle.window_started_at + $3 <= $2 THEN $2 ELSE login_throttle.window_started_at END",
    )
    .bind(bucket)
    .bind(now)
    .bind(window_ms)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets the failures of `bucket` (after a successful login to that account).
///
/// # Errors
/// Database failures.
pub async fn clear_login_failures(pool: &Pool, bucket: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_throttle WHERE bucket = $1").bind(bucket).execute(pool).await?;
    Ok(())
}

/// Deletes what can no longer matter: refresh tokens expired a day ago, sessions that ended
/// or expired a week ago (with their tokens), throttle windows that are over. Returns the
/// number of rows deleted.
///
/// # Errors
/// Database failures.
pub async fn purge_expired(pool: &Pool, now: i64, throttle_window_ms: i64) -> Result<u64, sqlx::Error> {
    const DAY_MS: i64 = 86_400_000;
    let mut deleted = 0;
    deleted += sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
        .bind(now - DAY_MS)
        .execute(pool)
        .await?
        .rows_affected();
    let cutoff = now - 7 * DAY_MS;
    deleted += sqlx::query("DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM sessions WHERE ended_at < $1 OR expires_at < $1)")
        .bind(cutoff)
        .execute(pool)
        .await?
        .rows_affected();
    deleted += sqlx::query("DELETE FROM sessions WHERE ended_at < $1 OR expires_at < $1")
        .bind(cutoff)
        .execute(pool)
        .await?
        .rows_affected();
    deleted += sqlx::query("DELETE FROM login_throttle WHERE window_started_at + $1 < $2")
        .bind(throttle_window_ms)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(deleted)
}
