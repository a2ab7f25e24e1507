//! Every SQL statement of orders-service.
//!
//! Queries are runtime-checked `sqlx::query` calls through the `Any` driver, so one set runs on
//! SQLite and PostgreSQL (see `shared::db` for the portable-SQL rules). The outbox statements
//! are the part with concurrency rules; they are documented where they are defined.

use std::collections::HashMap;

use shared::{db::Pool, http::context::RequestContext};
use sqlx::{Row, any::AnyRow};
use uuid::Uuid;

use crate::domain::{
    Cursor, Fingerprint, IdempotencyKey, Order, OrderId, OrderItem, OrderItems, OrderStatus, PageLimit, Quantity, Sku,
};

/// The outbox record written with a new order.
#[derive(Debug, Clone)]
pub struct NewOutboxRecord<'a> {
    /// Record id, also the event id of the notification.
    pub id: Uuid,
    /// JSON body to deliver.
    pub payload: String,
    /// Ids of the request that placed the order, replayed on delivery.
    pub context: &'a RequestContext,
}

/// The idempotency key written with a new order.
#[derive(Debug, Clone, Copy)]
pub struct NewIdempotencyKey<'a> {
    /// The client's key.
    pub key: &'a IdempotencyKey,
    /// Fingerprint of the request.
    pub fingerprint: &'a Fingerprint,
    /// Keys created before this time (Unix milliseconds) have expired and may be reused.
    pub expired_before: i64,
}

/// What [`insert_order`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceOutcome {
    /// Order, items, outbox record (and key) committed.
    Placed,
    /// Another request with the same owner and key committed first; nothing was written.
    KeyTaken,
}

/// Stores an order, its items, its outbox record and (when given) its idempotency key in one
/// transaction, so either all exist or none does.
///
/// The key is written last: on PostgreSQL a concurrent request with the same key blocks on the
/// primary key until this transaction ends, then fails with a unique violation and gets
/// [`PlaceOutcome::KeyTaken`]; SQLite serialises the two writers.
///
/// # Errors
/// Database failures.
pub async fn insert_order(
    pool: &Pool,
    order: &Order,
    outbox: &NewOutboxRecord<'_>,
    idempotency: Option<NewIdempotencyKey<'_>>,
) -> Result<PlaceOutcome, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let order_id = order.id.to_string();
    if let Some(idempotency) = idempotency {
        // An expired key may be reused: remove its old row so the insert below can succeed.
        sqlx::query("DELETE FROM idempotency_keys WHERE owner = $1 AND idem_key = $2 AND created_at < $3")
            .bind(&order.owner)
            .bind(idempotency.key.as_ref())
            .bind(idempotency.expired_before)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("INSERT INTO orders (id, owner, status, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&order_id)
        .bind(&order.owner)
        .bind(order.status.as_str())
        .bind(order.created_at)
        .execute(&mut *tx)
        .await?;
    let items = order.items.as_slice();
    let placeholders: Vec<String> =
        (0..items.len()).map(|i| format!("(${}, ${}, ${}, ${})", i * 4 + 1, i * 4 + 2, i * 4 + 3, i * 4 + 4)).collect();
    let sql = format!("INSERT INTO order_items (order_id, line_no, sku, quantity) VALUES {}", placeholders.join(", "));
    let mut insert_items = sqlx::query(&sql);
    for (line_no, item) in (0_i64..).zip(items) {
        insert_items = insert_items
            .bind(order_id.clone())
            .bind(line_no)
            .bind(item.sku.as_ref().to_owned())
            .bind(i64::from(item.quantity.get()));
    }
    insert_items.execute(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO outbox (id, order_id, payload, request_id, traceparent, attempts, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $5, 0, $6, $6)",
    )
    .bind(outbox.id.to_string())
    .bind(&order_id)
    .bind(&outbox.payload)
    .bind(&outbox.context.request_id)
    .bind(&outbox.context.traceparent)
    .bind(order.created_at)
    .execute(&mut *tx)
    .await?;
    if let Some(idempotency) = idempotency {
        let inserted = sqlx::query(
            "INSERT INTO idempotency_keys (owner, idem_key, fingerprint, order_id, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&order.owner)
        .bind(idempotency.key.as_ref())
        .bind(idempotency.fingerprint.as_ref())
        .bind(&order_id)
        .bind(order.created_at)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            // Dropping the transaction rolls back the order written above.
            Err(error) if shared::db::is_unique_violation(&error) => return Ok(PlaceOutcome::KeyTaken),
            Err(error) => return Err(error),
        }
    }
    tx.commit().await?;
    Ok(PlaceOutcome::Placed)
}

/// The fingerprint and order of a live (unexpired) idempotency key.
///
/// # Errors
/// Database failures.
pub async fn find_idempotency_key(
    pool: &Pool,
    owner: &str,
    key: &IdempotencyKey,
    not_before: i64,
) -> Result<Option<(Fingerprint, OrderId)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT fingerprint, order_id FROM idempotency_keys WHERE owner = $1 AND idem_key = $2 AND created_at >= $3",
    )
    .bind(owner)
    .bind(key.as_ref())
    .bind(not_before)
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        let order_id: String = row.try_get("order_id")?;
        let order_id = OrderId::parse(&order_id).ok_or_else(|| decode_error("order_id", "not a UUID"))?;
        Ok((Fingerprint::from_stored(row.try_get("fingerprint")?), order_id))
    })
    .transpose()
}

/// One order, if it exists and (when `owner` is given) belongs to `owner`.
///
/// # Errors
/// Database failures.
pub async fn find_order(pool: &Pool, id: OrderId, owner: Option<&str>) -> Result<Option<Order>, sqlx::Error> {
    let row = match owner {
        Some(owner) => {
            sqlx::query("SELECT id, owner, status, created_at FROM orders WHERE id = $1 AND owner = $2")
                .bind(id.to_string())
                .bind(owner)
                .fetch_optional(pool)
                .await?
        }
        None => {
            sqlx::query("SELECT id, owner, status, created_at FROM orders WHERE id = $1")
                .bind(id.to_string())
                .fetch_optional(pool)
                .await?
        }
    };
    let Some(row) = row else { return Ok(None) };
    let mut orders = with_items(pool, vec![row]).await?;
    Ok(orders.pop())
}

/// One page of orders, newest first, after `after`: `owner`'s, or everyone's when `owner` is
/// `None` (admins). Returns up to `limit + 1` orders so the caller can tell whether another page
/// exists.
///
/// # Errors
/// Database failures.
pub async fn list_orders(
    pool: &Pool,
    owner: Option<&str>,
    after: Option<&Cursor>,
    limit: PageLimit,
) -> Result<Vec<Order>, sqlx::Error> {
    let fetch = i64::from(limit.get()) + 1;
    // Placeholders are numbered in the order the filters are appended.
    let mut filters = Vec::new();
    let mut next = 1;
    if owner.is_some() {
        filters.push(format!("owner = ${next}"));
        next += 1;
    }
    if after.is_some() {
        filters.push(format!("(created_at < ${a} OR (created_at = ${a} AND id < ${b}))", a = next, b = next + 1));
        next += 2;
    }
    let where_clause = if filters.is_empty() { String::new() } else { format!("WHERE {}", filters.join(" AND ")) };
    let sql = format!(
        "SELECT id, owner, status, created_at FROM orders {where_clause} ORDER BY created_at DESC, id DESC LIMIT ${next}"
    );
    let mut query = sqlx::query(&sql);
    if let Some(owner) = owner {
        query = query.bind(owner.to_owned());
    }
    if let Some(cursor) = after {
        query = query.bind(cursor.created_at).bind(cursor.id.to_string());
    }
    let rows = query.bind(fetch).fetch_all(pool).await?;
    with_items(pool, rows).await
}

/// Builds orders from their rows, loading all their items with one query.
async fn with_items(pool: &Pool, rows: Vec<AnyRow>) -> Result<Vec<Order>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.try_get::<String, _>("id")).collect::<Result<_, _>>()?;
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT order_id, sku, quantity FROM order_items WHERE order_id IN ({}) ORDER BY order_id, line_no",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(&sql);
    for id in &ids {
        query = query.bind(id.clone());
    }
    let mut items: HashMap<String, Vec<OrderItem>> = HashMap::new();
    for row in query.fetch_all(pool).await? {
        let sku: String = row.try_get("sku")?;
        let quantity: i64 = row.try_get("quantity")?;
        let item = OrderItem {
            sku: Sku::parse(&sku).map_err(|_| decode_error("sku", "not a valid SKU"))?,
            quantity: Quantity::parse(quantity).map_err(|_| decode_error("quantity", "out of range"))?,
        };
        items.entry(row.try_get("order_id")?).or_default().push(item);
    }
    rows.iter()
        .map(|row| {
            let id: String = row.try_get("id")?;
            let status: String = row.try_get("status")?;
            Ok(Order {
                id: OrderId::parse(&id).ok_or_else(|| decode_error("id", "not a UUID"))?,
                owner: row.try_get("owner")?,
                items: OrderItems::from_stored(items.remove(&id).unwrap_or_default()),
                status: OrderStatus::parse(&status).ok_or_else(|| decode_error("status", "not a known status"))?,
                created_at: row.try_get("created_at")?,
            })
        })
        .collect()
}

/// An outbox record a dispatcher has claimed.
#[derive(Debug, Clone)]
pub struct ClaimedRecord {
    /// Record id (the event id).
    pub id: String,
    /// The order it belongs to.
    pub order_id: String,
    /// JSON body to deliver.
    pub payload: String,
    /// Ids of the request that placed the order.
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
    sqlx::query(
        "UPDATE outbox SET next_attempt_at = $1, claimed_by = NULL, claimed_until = NULL, last_error = $2
         WHERE id = $3 AND claimed_by = $4 AND delivered_at IS NULL",
    )
    .bind(next_attempt_at)
    .bind(truncate(error))
    .bind(id)
    .bind(claim_id)
    .execute(pool)
    .await?;
    Ok(())
}

/// Parks a record notifications-service refused for good; it is no longer retried (an operator
/// can requeue it by clearing `failed_at`).
///
/// # Errors
/// Database failures.
pub async fn mark_failed(pool: &Pool, id: &str, claim_id: &str, now: i64, error: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbox SET failed_at = $1, claimed_by = NULL, claimed_until = NULL, last_error = $2
         WHERE id = $3 AND claimed_by = $4 AND delivered_at IS NULL",
    )
    .bind(now)
    .bind(truncate(error))
    .bind(id)
    .bind(claim_id)
    .execute(pool)
    .await?;
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

/// Deletes idempotency keys created before `keys_before` and outbox records delivered before
/// `delivered_before`. Returns how many of each.
///
/// # Errors
/// Database failures.
pub async fn purge_expired(pool: &Pool, keys_before: i64, delivered_before: i64) -> Result<(u64, u64), sqlx::Error> {
    let keys =
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1").bind(keys_before).execute(pool).await?;
    let records = sqlx::query("DELETE FROM outbox WHERE delivered_at IS NOT NULL AND delivered_at < $1")
        .bind(delivered_before)
        .execute(pool)
        .await?;
    Ok((keys.rows_affected(), records.rows_affected()))
}

/// Error texts come from remote services; keep what is stored bounded.
fn truncate(error: &str) -> String {
    error.chars().take(500).collect()
}

fn decode_error(column: &str, problem: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode { index: column.to_owned(), source: format!("stored value is {problem}").into() }
}
