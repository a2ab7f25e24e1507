//! The orders and idempotency-key SQL of orders-service.
//!
//! Queries are runtime-checked `sqlx::query` calls through the `Any` driver, so one set runs on
//! SQLite and PostgreSQL (see `service_kit::db` for the portable-SQL rules). The outbox record
//! of a new order is written here, in the order's transaction ([`insert_order`]); every later
//! outbox statement (claim, delivery outcome, release, purge) is in [`crate::outbox::store`],
//! next to the dispatcher.

use std::collections::HashMap;

use service_kit::{
    db::Pool,
    http::context::RequestContext,
    pagination::{Cursor, PageLimit},
};
use sqlx::{Row, any::AnyRow};
use uuid::Uuid;

use crate::domain::{Fingerprint, IdempotencyKey, Order, OrderId, OrderItem, OrderItems, OrderStatus, Quantity, Sku};

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
    // Due at once, no attempt yet; the dispatcher takes it from here (`crate::outbox::store`).
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
            Err(error) if service_kit::db::is_unique_violation(&error) => return Ok(PlaceOutcome::KeyTaken),
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

/// Deletes the idempotency keys created before `keys_before`. Returns how many.
///
/// # Errors
/// Database failures.
pub async fn purge_expired_keys(pool: &Pool, keys_before: i64) -> Result<u64, sqlx::Error> {
    let keys =
        sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1").bind(keys_before).execute(pool).await?;
    Ok(keys.rows_affected())
}

fn decode_error(column: &str, problem: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode { index: column.to_owned(), source: format!("stored value is {problem}").into() }
}
