//! Queries for users, sessions, refresh tokens and login throttling (signing keys live in
//! [`crate::keys::store`]).
//!
//! Runtime-checked `sqlx::query` through the `Any` driver, one query set for `SQLite` and
//! `PostgreSQL` (portable SQL only: see [`service_kit::db`]). State changes that must not race are
//! single conditional statements (`UPDATE … WHERE used_at IS NULL`), so two replicas handling
//! the same refresh token cannot both succeed. Ending sessions runs in the caller's
//! transaction, so [`crate::revocation`] commits it together with its security events.

use service_kit::db::{Pool, is_unique_violation, now_millis};

use crate::domain::{Email, UserId};

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
    /// `user`, or `admin` for accounts the operator provisioned.
    pub role: String,
}

impl UserRow {
    /// A new account, created now with a fresh id: `email` normalised, `password_hash` an
    /// argon2id PHC string, `role` [`ROLE_USER`] or [`ROLE_ADMIN`].
    #[must_use]
    pub fn new(email: &Email, password_hash: String, role: &str) -> Self {
        Self {
            id: UserId::new().to_string(),
            email: email.as_ref().to_owned(),
            password_hash,
            created_at: now_millis(),
            role: role.to_owned(),
        }
    }
}

/// Role of self-registered accounts.
pub const ROLE_USER: &str = "user";
/// Role of provisioned administrators.
pub const ROLE_ADMIN: &str = "admin";

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
    sqlx::query("INSERT INTO users (id, email, password_hash, created_at, role) VALUES ($1, $2, $3, $4, $5)")
        .bind(&user.id)
        .bind(&user.email)
        .bind(&user.password_hash)
        .bind(user.created_at)
        .bind(&user.role)
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
    sqlx::query_as("SELECT id, email, password_hash, created_at, role FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(pool)
        .await
}

/// The user with this id.
///
/// # Errors
/// Database failures.
pub async fn find_user(pool: &Pool, id: &str) -> Result<Option<UserRow>, sqlx::Error> {
    sqlx::query_as("SELECT id, email, password_hash, created_at, role FROM users WHERE id = $1")
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
    /// The RFC 7638 thumbprint of the DPoP key the session was opened with: its refresh
    /// tokens are spent only with a proof by that key.
    pub dpop_jkt: Option<String>,
}

impl SessionRow {
    /// Not ended and not past its absolute lifetime.
    #[must_use]
    pub fn is_active(&self, now: i64) -> bool {
        self.ended_at.is_none() && now < self.expires_at
    }
}

const SESSION_COLUMNS: &str =
    "id, user_id, client_id, created_at, last_seen_at, expires_at, user_agent, ended_at, dpop_jkt";

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
        "INSERT INTO sessions (id, user_id, client_id, created_at, last_seen_at, expires_at, user_agent, dpop_jkt) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&session.id)
    .bind(&session.user_id)
    .bind(&session.client_id)
    .bind(session.created_at)
    .bind(session.last_seen_at)
    .bind(session.expires_at)
    .bind(session.user_agent.as_deref())
    .bind(session.dpop_jkt.as_deref())
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

/// What presenting a refresh token did.
#[derive(Debug, Clone)]
pub enum RefreshRotation {
    /// Spent, and its successor stored; the session was open and is marked seen.
    Rotated {
        /// The session (as it was before this use).
        session: SessionRow,
    },
    /// Never issued (or purged long after expiry).
    Unknown,
    /// Issued to another client than the one presenting it; nothing was spent.
    ForeignClient,
    /// Its session is bound to a DPoP key and the request proved another key, or none;
    /// nothing was spent, and a spent token does not end the session: without the key it
    /// is useless, so whoever holds a copy gains nothing and may not end the session either.
    WrongDpopKey,
    /// Past its own expiry; nothing was spent.
    Expired,
    /// Its session ended or expired.
    SessionEnded,
    /// Spent within the grace window: a concurrent refresh of the same client, not a replay.
    JustUsed,
    /// Spent before the grace window: a replay, or a stolen copy racing the legitimate client.
    Reused {
        /// Its session, which the caller ends.
        session_id: String,
    },
}

/// A refresh token to store in place of the presented one.
#[derive(Debug, Clone, Copy)]
pub struct Successor<'a> {
    /// SHA-256 of the new token.
    pub hash: &'a str,
    /// The thumbprint of the DPoP key the request proved, if any.
    pub dpop_jkt: Option<&'a str>,
    /// Its lifetime in ms (capped by the session's own expiry).
    pub ttl_ms: i64,
}

/// Spends the refresh token with hash `presented` and stores `successor`, in one transaction.
///
/// The transaction checks everything first: the presenting client (`None`: whichever client the session
/// has), the token's expiry and the session's state. A token refused for any of those reasons
/// stays unspent, so a thief with the wrong `client_id` cannot burn the user's session.
///
/// The spending `UPDATE` is the transaction's first statement: it takes the write lock
/// (`SQLite`) or the row lock (`PostgreSQL`) at once, so of two concurrent uses exactly one
/// rotates and the other, after waiting, finds the token spent.
///
/// # Errors
/// Database failures.
pub async fn rotate_refresh_token(
    pool: &Pool,
    presented: &str,
    client_id: Option<&str>,
    successor: Successor<'_>,
    now: i64,
    grace_ms: i64,
) -> Result<RefreshRotation, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let spent: Option<String> = sqlx::query_scalar(
        "UPDATE refresh_tokens SET used_at = $1 \
         WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
           AND session_id IN (SELECT id FROM sessions \
                              WHERE ended_at IS NULL AND expires_at > $1 AND client_id = COALESCE($3, client_id) \
                                AND (dpop_jkt IS NULL OR dpop_jkt = $4)) \
         RETURNING session_id",
    )
    .bind(now)
    .bind(presented)
    .bind(client_id)
    .bind(successor.dpop_jkt)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(session_id) = spent else {
        tx.rollback().await?;
        return classify_refusal(pool, presented, client_id, successor.dpop_jkt, now, grace_ms).await;
    };
    if let Some(jkt) = successor.dpop_jkt {
        // A public client that proves a key binds its session to it from now on (RFC 9449
        // §5): the successor, and every later refresh token, needs that key.
        sqlx::query("UPDATE sessions SET dpop_jkt = $1 WHERE id = $2 AND dpop_jkt IS NULL")
            .bind(jkt)
            .bind(&session_id)
            .execute(&mut *tx)
            .await?;
    }
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1");
    let session: SessionRow = sqlx::query_as(&sql).bind(&session_id).fetch_one(&mut *tx).await?;
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2")
        .bind(now)
        .bind(&session_id)
        .execute(&mut *tx)
        .await?;
    let expires_at = now.saturating_add(successor.ttl_ms).min(session.expires_at);
    insert_refresh_token(&mut tx, successor.hash, &session_id, now, expires_at).await?;
    tx.commit().await?;
    Ok(RefreshRotation::Rotated { session })
}

/// A refresh token and its session: `session_id`, `expires_at`, `used_at`, the session's
/// `client_id`, `expires_at`, `ended_at` and `dpop_jkt`.
type RefreshTokenState = (String, i64, Option<i64>, String, i64, Option<i64>, Option<String>);

/// Why a refresh token was not spent. Read after the failed `UPDATE`: every condition only
/// moves one way (spent once, ended once, time forward), so the answer cannot be stale in a
/// way that matters.
async fn classify_refusal(
    pool: &Pool,
    presented: &str,
    client_id: Option<&str>,
    dpop_jkt: Option<&str>,
    now: i64,
    grace_ms: i64,
) -> Result<RefreshRotation, sqlx::Error> {
    let row: Option<RefreshTokenState> = sqlx::query_as(
        "SELECT t.session_id, t.expires_at, t.used_at, s.client_id, s.expires_at, s.ended_at, s.dpop_jkt \
         FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.token_hash = $1",
    )
    .bind(presented)
    .fetch_optional(pool)
    .await?;
    let Some((session_id, expires_at, used_at, session_client, session_expires, ended_at, bound_to)) = row else {
        return Ok(RefreshRotation::Unknown);
    };
    Ok(if client_id.is_some_and(|id| id != session_client) {
        RefreshRotation::ForeignClient
    } else if bound_to.is_some_and(|bound| Some(bound.as_str()) != dpop_jkt) {
        RefreshRotation::WrongDpopKey
    } else if let Some(used_at) = used_at {
        if now.saturating_sub(used_at) <= grace_ms {
            RefreshRotation::JustUsed
        } else {
            RefreshRotation::Reused { session_id }
        }
    } else if expires_at <= now {
        RefreshRotation::Expired
    } else if ended_at.is_some() || session_expires <= now {
        RefreshRotation::SessionEnded
    } else {
        // Unspent and valid, yet not spent: a concurrent end or use in between; refuse safely.
        RefreshRotation::SessionEnded
    })
}

/// The session a refresh token belongs to, used or not, and that session's client
/// (revocation).
///
/// # Errors
/// Database failures.
pub async fn refresh_token_session(
    pool: &Pool,
    hash: &str,
) -> Result<Option<(String, String, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT t.session_id, s.client_id, s.dpop_jkt FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id \
         WHERE t.token_hash = $1",
    )
    .bind(hash)
    .fetch_optional(pool)
    .await
}

/// What reserving an attempt in a throttle bucket found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reservation {
    /// The attempt is counted. `anchor` is the bucket's `window_started_at` right after it:
    /// [`release_attempt`] gives the attempt back only while the bucket still shows it.
    Granted {
        /// `window_started_at` as this reservation left it.
        anchor: i64,
    },
    /// The bucket is full: nothing was counted; a retry can succeed in this many seconds.
    Refused {
        /// Whole seconds, at least 1.
        retry_after_secs: u64,
    },
}

/// Reserves one attempt in a fixed-window bucket (a client address, registrations): at most
/// `max_attempts` per window, the window starting with the first attempt.
///
/// One statement decides and counts, so the limit holds however many requests race, on any
/// replica: of concurrent attempts, exactly the ones the limit allows get a row back.
///
/// # Errors
/// Database failures.
pub async fn reserve_attempt(
    pool: &Pool,
    bucket: &str,
    max_attempts: u32,
    now: i64,
    window_ms: i64,
) -> Result<Reservation, sqlx::Error> {
    // `DO UPDATE … WHERE` leaves a full bucket untouched and returns no row.
    let granted: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO login_throttle (bucket, failures, window_started_at) VALUES ($1, 1, $2) \
         ON CONFLICT (bucket) DO UPDATE SET \
           failures = CASE WHEN login_throttle.window_started_at + $3 <= $2 THEN 1 ELSE login_throttle.failures + 1 END, \
           window_started_at = CASE WHEN login_throttle.window_started_at + $3 <= $2 THEN $2 ELSE login_throttle.window_started_at END \
         WHERE login_throttle.window_started_at + $3 <= $2 OR login_throttle.failures < $4 \
         RETURNING window_started_at",
    )
    .bind(bucket)
    .bind(now)
    .bind(window_ms)
    .bind(i64::from(max_attempts))
    .fetch_optional(pool)
    .await?;
    if let Some((anchor,)) = granted {
        return Ok(Reservation::Granted { anchor });
    }
    // A concurrent request that read the clock after ours may have started the window: its
    // start is then a few milliseconds ahead of `now`, and the wait is never over a window.
    let started = bucket_anchor(pool, bucket).await?.unwrap_or(now).min(now);
    Ok(Reservation::Refused { retry_after_secs: whole_seconds_until(started.saturating_add(window_ms), now) })
}

/// How an account bucket spaces attempts once its free ones are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DelayPolicy {
    /// Attempts allowed back to back.
    pub free_attempts: u32,
    /// Wait after the last free attempt; each further attempt doubles it.
    pub first_delay_ms: i64,
    /// Longest wait.
    pub max_delay_ms: i64,
}

impl DelayPolicy {
    /// The doublings after which the wait is `max_delay_ms` (the SQL below needs no power
    /// function, and its shift never overflows).
    fn doublings_to_cap(&self) -> i64 {
        let mut doublings = 0;
        while doublings < 30 && self.first_delay_ms.saturating_mul(1 << doublings) < self.max_delay_ms {
            doublings += 1;
        }
        doublings
    }

    /// The wait after an account's first attempt of a streak.
    fn delay_after_first(&self) -> i64 {
        if self.free_attempts > 1 { 0 } else { self.first_delay_ms.min(self.max_delay_ms) }
    }
}

/// Reserves one attempt in an account bucket, with progressive delays.
///
/// `free_attempts` go back to back, then each next attempt only after a wait that doubles
/// from `first_delay_ms` up to `max_delay_ms`. The streak ends after a whole window without
/// an attempt.
///
/// Here `window_started_at` is the earliest time the next attempt is allowed (and the start
/// of the quiet window that ends the streak). A refused attempt changes nothing, so asking
/// early never pushes the next opening back. The free attempts pass whatever that time says:
/// concurrent requests read the clock in any order, and one that read it a millisecond
/// before another's write must not be told to wait. One statement, as in
/// [`reserve_attempt`].
///
/// # Errors
/// Database failures.
pub async fn reserve_account_attempt(
    pool: &Pool,
    bucket: &str,
    policy: &DelayPolicy,
    now: i64,
    window_ms: i64,
) -> Result<Reservation, sqlx::Error> {
    // The attempt's number in the streak, and the wait it leaves before the next one.
    const ATTEMPT: &str =
        "(CASE WHEN login_throttle.window_started_at + $3 <= $2 THEN 1 ELSE login_throttle.failures + 1 END)";
    let delay = format!(
        "CASE WHEN {ATTEMPT} < $4 THEN 0 WHEN {ATTEMPT} - $4 >= $7 THEN $6 \
         ELSE $5 * (1 << CAST({ATTEMPT} - $4 AS INTEGER)) END"
    );
    let statement = format!(
        "INSERT INTO login_throttle (bucket, failures, window_started_at) VALUES ($1, 1, $2 + $8) \
         ON CONFLICT (bucket) DO UPDATE SET failures = {ATTEMPT}, window_started_at = $2 + {delay} \
         WHERE {ATTEMPT} <= $4 OR login_throttle.window_started_at <= $2 \
         RETURNING window_started_at"
    );
    let granted: Option<(i64,)> = sqlx::query_as(&statement)
        .bind(bucket)
        .bind(now)
        .bind(window_ms)
        .bind(i64::from(policy.free_attempts))
        .bind(policy.first_delay_ms)
        .bind(policy.max_delay_ms)
        .bind(policy.doublings_to_cap())
        .bind(policy.delay_after_first())
        .fetch_optional(pool)
        .await?;
    if let Some((anchor,)) = granted {
        return Ok(Reservation::Granted { anchor });
    }
    let opens = bucket_anchor(pool, bucket).await?.unwrap_or(now);
    Ok(Reservation::Refused { retry_after_secs: whole_seconds_until(opens, now) })
}

/// Gives back an attempt that turned out not to count.
///
/// That is a successful login from an address, or a request the password hasher had no room
/// for. Only while the bucket is still at `anchor`: a window that has started over, or a
/// later attempt on the account, keeps its count (the safe side).
///
/// # Errors
/// Database failures.
pub async fn release_attempt(pool: &Pool, bucket: &str, anchor: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE login_throttle SET failures = failures - 1 \
         WHERE bucket = $1 AND window_started_at = $2 AND failures > 0",
    )
    .bind(bucket)
    .bind(anchor)
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

async fn bucket_anchor(pool: &Pool, bucket: &str) -> Result<Option<i64>, sqlx::Error> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT window_started_at FROM login_throttle WHERE bucket = $1")
        .bind(bucket)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|(anchor,)| anchor))
}

/// Whole seconds from `now` until `at` (milliseconds), at least 1: a refusal always names a
/// wait (the bucket may have reopened between the two statements).
fn whole_seconds_until(at: i64, now: i64) -> u64 {
    u64::try_from(at.saturating_sub(now)).unwrap_or(0).div_ceil(1000).max(1)
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
