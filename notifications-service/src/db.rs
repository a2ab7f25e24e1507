//! Every SQL statement of notifications-service.
//!
//! Queries are runtime-checked `sqlx::query` calls through the `Any` driver, so one set runs on
//! SQLite and PostgreSQL (see `service_kit::db` for the portable-SQL rules).

use serde_json::Value;
use service_kit::db::Pool;
use sqlx::{Row, any::AnyRow};

use service_kit::pagination::{Cursor, PageLimit};

use crate::domain::{NewNotification, Notification, NotificationId};

const COLUMNS: &str = "id, source, event_id, recipient, kind, message, data, fingerprint, created_at, read_at";

/// What [`insert_notification`] did.
#[derive(Debug)]
pub enum Inserted {
    /// The event was new and is now stored.
    New(Notification),
    /// The sender had already delivered this event id; this is the stored notification.
    Existing(Notification),
}

/// Stores a notification unless the sender already delivered the same event id.
///
/// `ON CONFLICT DO NOTHING` makes concurrent deliveries of one event safe on both databases:
/// the loser inserts nothing and reads the winner's row.
///
/// # Errors
/// Database failures.
pub async fn insert_notification(
    pool: &Pool,
    id: NotificationId,
    source: &str,
    new: &NewNotification,
    created_at: i64,
) -> Result<Inserted, sqlx::Error> {
    let data = Value::Object(new.data.clone()).to_string();
    let inserted = sqlx::query(&format!(
        "INSERT INTO notifications ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)
         ON CONFLICT (source, event_id) DO NOTHING
         RETURNING {COLUMNS}"
    ))
    .bind(id.as_uuid().to_string())
    .bind(source)
    .bind(new.event_id.as_ref())
    .bind(new.recipient.as_ref())
    .bind(new.kind.as_ref())
    .bind(new.message.as_ref())
    .bind(data)
    .bind(new.fingerprint())
    .bind(created_at)
    .fetch_optional(pool)
    .await?;
    if let Some(row) = inserted {
        return Ok(Inserted::New(from_row(&row)?));
    }
    let existing = sqlx::query(&format!("SELECT {COLUMNS} FROM notifications WHERE source = $1 AND event_id = $2"))
        .bind(source)
        .bind(new.event_id.as_ref())
        .fetch_one(pool)
        .await?;
    Ok(Inserted::Existing(from_row(&existing)?))
}

/// One page of `recipient`'s notifications, newest first, starting after `after`. Returns up to
/// `limit + 1` rows so the caller can tell whether another page exists.
///
/// # Errors
/// Database failures.
pub async fn list_notifications(
    pool: &Pool,
    recipient: &str,
    after: Option<&Cursor>,
    limit: PageLimit,
) -> Result<Vec<Notification>, sqlx::Error> {
    let fetch = i64::from(limit.get()) + 1;
    let rows = match after {
        None => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM notifications WHERE recipient = $1
                 ORDER BY created_at DESC, id DESC LIMIT $2"
            ))
            .bind(recipient)
            .bind(fetch)
            .fetch_all(pool)
            .await?
        }
        Some(cursor) => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM notifications
                 WHERE recipient = $1 AND (created_at < $2 OR (created_at = $2 AND id < $3))
                 ORDER BY created_at DESC, id DESC LIMIT $4"
            ))
            .bind(recipient)
            .bind(cursor.created_at)
            .bind(cursor.id.to_string())
            .bind(fetch)
            .fetch_all(pool)
            .await?
        }
    };
    rows.iter().map(from_row).collect()
}

/// Marks one of `recipient`'s notifications read (keeping the first read time if it already
/// was). `None` when no such notification belongs to `recipient`.
///
/// # Errors
/// Database failures.
pub async fn mark_read(
    pool: &Pool,
    id: NotificationId,
    recipient: &str,
    now: i64,
) -> Result<Option<Notification>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "UPDATE notifications SET read_at = COALESCE(read_at, $1)
         WHERE id = $2 AND recipient = $3
         RETURNING {COLUMNS}"
    ))
    .bind(now)
    .bind(id.as_uuid().to_string())
    .bind(recipient)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(from_row).transpose()
}

fn from_row(row: &AnyRow) -> Result<Notification, sqlx::Error> {
    let id: String = row.try_get("id")?;
    let id = NotificationId::parse(&id).ok_or_else(|| decode_error("id", "not a UUID"))?;
    let data: String = row.try_get("data")?;
    let data = match serde_json::from_str::<Value>(&data) {
        Ok(Value::Object(map)) => map,
        _ => return Err(decode_error("data", "not a JSON object")),
    };
    Ok(Notification {
        id,
        source: row.try_get("source")?,
        event_id: row.try_get("event_id")?,
        recipient: row.try_get("recipient")?,
        kind: row.try_get("kind")?,
        message: row.try_get("message")?,
        data,
        fingerprint: row.try_get("fingerprint")?,
        created_at: row.try_get("created_at")?,
        read_at: row.try_get("read_at")?,
    })
}

fn decode_error(column: &str, problem: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode { index: column.to_owned(), source: format!("stored value is {problem}").into() }
}
