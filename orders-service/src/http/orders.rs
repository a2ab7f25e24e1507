//! `/v1/orders`: users place orders and read their own; admins read everyone's.
//!
//! | method and path | scope | notes |
//! |---|---|---|
//! | `POST /v1/orders` | `orders:write` | optional `Idempotency-Key` header |
//! | `GET /v1/orders` | `orders:read` | own orders (all for role `admin`), newest first, `limit` + `cursor` |
//! | `GET /v1/orders/{id}` | `orders:read` | 404 unless the caller owns it or is an admin |
//!
//! Another user's order answers 404, exactly like a missing one, so ids cannot be probed.

use anyhow::Context;
use axum::{
    extract::{Path, Query, State, rejection::QueryRejection},
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use jwt_verifier::RequireScope;
use serde::{Deserialize, Deserializer, Serialize};
use service_kit::{
    http::{
        context::RequestContext,
        error::CommonError,
        json::AppJson,
        openapi::{
            BadRequest, Forbidden, InternalError, NotFound, PayloadTooLarge, Unauthorized, Unavailable,
            UnsupportedMediaType,
        },
    },
    pagination::{Cursor, Page, PageQuery},
    time::rfc3339_millis as timestamp,
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::error::{ApiError, ORDER_NOT_FOUND, OrderRejected, Result};
use crate::{
    db::{self, NewIdempotencyKey, NewOutboxRecord, PlaceOutcome},
    domain::{Fingerprint, IdempotencyKey, Order, OrderId, OrderItems, OrderNotification, OrderStatus, idempotency},
    state::AppState,
};

jwt_verifier::scope!(OrdersWrite, "orders:write");
jwt_verifier::scope!(OrdersRead, "orders:read");

/// Set on the answer to a retried request that returns the first result.
static IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Tag of the order operations in the OpenAPI document.
const TAG: &str = "orders";

/// The order routes, each registered with its OpenAPI operation.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_order, list_orders)).routes(routes!(find_order))
}

/// Body of `POST /v1/orders`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"items": [{"sku": "ABC-1", "quantity": 2}]}))]
struct CreateOrderRequest {
    /// What to order: 1–50 items.
    #[schema(min_items = 1, max_items = 50)]
    items: Vec<ItemRequest>,
}

/// One item of the request. `quantity` is a signed 64-bit integer so that 0, negative and huge
/// values reach the domain check and get its message instead of a type error.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ItemRequest {
    /// Stock-keeping unit: 1–32 uppercase letters, digits and '-', starting with a letter or digit.
    #[schema(example = "ABC-1", pattern = "^[A-Z0-9][A-Z0-9-]{0,31}$")]
    sku: String,
    /// How many, 1–1000.
    #[schema(example = 2, minimum = 1, maximum = 1000)]
    #[serde(deserialize_with = "integer")]
    quantity: i64,
}

/// A JSON number without a fractional part, however it is written: JSON Schema's `integer`
/// (the document's type) includes `2.0` and `1e3`. Out-of-range values saturate, so they reach
/// the domain check and get its message.
fn integer<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    let number = serde_json::Number::deserialize(deserializer)?;
    if let Some(value) = number.as_i64() {
        return Ok(value);
    }
    if number.as_u64().is_some() {
        return Ok(i64::MAX);
    }
    match number.as_f64() {
        // `as` saturates at the bounds of i64, which is what the range check needs.
        #[allow(clippy::cast_possible_truncation, reason = "integral by the check, saturating by design")]
        Some(value) if value.fract() == 0.0 => Ok(value as i64),
        _ => Err(serde::de::Error::custom("must be an integer")),
    }
}

/// An order on the wire.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0192f1c4-5a6b-7c8d-9e0f-1a2b3c4d5e6f",
    "owner": "user-123",
    "items": [{"sku": "ABC-1", "quantity": 2}],
    "status": "placed",
    "created_at": "2026-12-02T09:30:00.123Z"
}))]
struct OrderResponse {
    /// The order's id (a UUID v7).
    id: String,
    /// `sub` of the user who placed it.
    owner: String,
    items: Vec<ItemResponse>,
    /// `placed`.
    #[schema(value_type = String)]
    status: &'static str,
    /// RFC 3339 with milliseconds, UTC.
    #[schema(format = DateTime)]
    created_at: String,
}

/// One item of an order.
#[derive(Debug, Serialize, ToSchema)]
struct ItemResponse {
    sku: String,
    quantity: u32,
}

impl From<&Order> for OrderResponse {
    fn from(order: &Order) -> Self {
        Self {
            id: order.id.to_string(),
            owner: order.owner.clone(),
            items: order
                .items
                .as_slice()
                .iter()
                .map(|i| ItemResponse { sku: i.sku.as_ref().to_owned(), quantity: i.quantity.get() })
                .collect(),
            status: order.status.as_str(),
            created_at: timestamp(order.created_at),
        }
    }
}

/// Places an order for the caller. With an `Idempotency-Key`, a retry of the same request
/// answers the first order again (201 with `Idempotent-Replayed: true`).
#[utoipa::path(
    post,
    path = "/v1/orders",
    tag = TAG,
    security(("bearerAuth" = ["orders:write"])),
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$",
        description = "Makes retries safe: the same key and body answer the first order again (1–255 visible ASCII characters).")),
    request_body(content = CreateOrderRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The order was placed, or this is a retry of a request that placed it.",
            body = OrderResponse,
            headers(("Idempotent-Replayed" = String, description = "`true` when this answers a retry with the stored order."))),
        BadRequest, Unauthorized, Forbidden, PayloadTooLarge, UnsupportedMediaType, OrderRejected, InternalError, Unavailable,
    )
)]
async fn create_order(
    State(state): State<AppState>,
    RequireScope(caller, ..): RequireScope<OrdersWrite>,
    context: RequestContext,
    headers: HeaderMap,
    AppJson(body): AppJson<CreateOrderRequest>,
) -> Result<Response> {
    let key = headers
        .get(idempotency::HEADER)
        .map(|value| IdempotencyKey::parse(value.as_bytes()))
        .transpose()
        .map_err(CommonError::InvalidParameter)?;
    let items =
        OrderItems::parse(body.items.iter().map(|i| (i.sku.as_str(), i.quantity))).map_err(CommonError::Validation)?;
    let fingerprint = Fingerprint::of_items(&items);
    let now = service_kit::db::now_millis();
    let keys_valid_since = now.saturating_sub(i64::try_from(state.idempotency_ttl.as_millis()).unwrap_or(i64::MAX));

    // Fast path for retries: no transaction needed when the key is already known.
    if let Some(key) = &key
        && let Some(response) = replay(&state, &caller.subject, key, &fingerprint, keys_valid_since).await?
    {
        return Ok(response);
    }

    let order = Order {
        id: OrderId::generate(),
        owner: caller.subject.clone(),
        items,
        status: OrderStatus::Placed,
        created_at: now,
    };
    let event_id = Uuid::now_v7();
    let payload = serde_json::to_string(&OrderNotification::for_order(event_id, &order))
        .context("failed to serialise the order notification")?;
    let outbox = NewOutboxRecord { id: event_id, payload, context: &context };
    let idempotency =
        key.as_ref().map(|key| NewIdempotencyKey { key, fingerprint: &fingerprint, expired_before: keys_valid_since });
    match db::insert_order(&state.db, &order, &outbox, idempotency).await? {
        PlaceOutcome::Placed => {
            state.outbox_wake.notify_one();
            metrics::counter!("orders_placed_total").increment(1);
            tracing::info!(order.id = %order.id, items = order.items.as_slice().len(), "order placed");
            Ok((StatusCode::CREATED, AppJson(OrderResponse::from(&order))).into_response())
        }
        // A concurrent request with the same key committed first: answer with its order.
        PlaceOutcome::KeyTaken => {
            let Some(key) = &key else {
                return Err(anyhow::anyhow!("key conflict reported for a request without a key").into());
            };
            replay(&state, &caller.subject, key, &fingerprint, keys_valid_since)
                .await?
                .ok_or_else(|| anyhow::anyhow!("idempotency key conflict but no stored key").into())
        }
    }
}

/// The response for a request whose key is already stored: the first order (201, marked as a
/// replay), or 422 when the key came with a different body. `None` for an unknown key.
async fn replay(
    state: &AppState,
    owner: &str,
    key: &IdempotencyKey,
    fingerprint: &Fingerprint,
    keys_valid_since: i64,
) -> Result<Option<Response>> {
    let Some((stored_fingerprint, order_id)) =
        db::find_idempotency_key(&state.db, owner, key, keys_valid_since).await?
    else {
        return Ok(None);
    };
    if &stored_fingerprint != fingerprint {
        return Err(ApiError::IdempotencyKeyReused);
    }
    let order = db::find_order(&state.db, order_id, Some(owner))
        .await?
        .with_context(|| format!("idempotency key points at missing order {order_id}"))?;
    metrics::counter!("orders_idempotent_replays_total").increment(1);
    tracing::info!(order.id = %order.id, "idempotent retry, returning the stored order");
    let mut response = (StatusCode::CREATED, AppJson(OrderResponse::from(&order))).into_response();
    response.headers_mut().insert(IDEMPOTENT_REPLAYED.clone(), HeaderValue::from_static("true"));
    Ok(Some(response))
}

/// The caller's orders (everyone's for role `admin`), newest first, one page at a time.
#[utoipa::path(
    get,
    path = "/v1/orders",
    tag = TAG,
    security(("bearerAuth" = ["orders:read"])),
    params(PageQuery),
    responses(
        (status = 200, description = "One page of orders; `next_cursor` is `null` on the last page.",
            body = Page<OrderResponse>),
        BadRequest, Unauthorized, Forbidden, InternalError, Unavailable,
    )
)]
async fn list_orders(
    State(state): State<AppState>,
    RequireScope(caller, ..): RequireScope<OrdersRead>,
    query: std::result::Result<Query<PageQuery>, QueryRejection>,
) -> Result<AppJson<Page<OrderResponse>>> {
    let (limit, after) = PageQuery::parse(query).map_err(CommonError::InvalidParameter)?;
    let owner = (!caller.is_admin()).then_some(caller.subject.as_str());
    let orders = db::list_orders(&state.db, owner, after.as_ref(), limit).await?;
    let position = |order: &Order| Cursor::after(order.created_at, order.id.as_uuid());
    Ok(AppJson(Page::from_rows(orders, limit, position, |order| OrderResponse::from(&order))))
}

/// One of the caller's orders (any order for role `admin`).
#[utoipa::path(
    get,
    path = "/v1/orders/{id}",
    tag = TAG,
    security(("bearerAuth" = ["orders:read"])),
    params(("id" = String, Path, description = "The order's id.")),
    responses(
        (status = 200, description = "The order.", body = OrderResponse),
        BadRequest, Unauthorized, Forbidden, NotFound, InternalError, Unavailable,
    )
)]
async fn find_order(
    State(state): State<AppState>,
    RequireScope(caller, ..): RequireScope<OrdersRead>,
    Path(id): Path<String>,
) -> Result<AppJson<OrderResponse>> {
    // A malformed id cannot name anything: same 404 as an id that does not exist.
    let id = OrderId::parse(&id).ok_or(ORDER_NOT_FOUND)?;
    let owner = (!caller.is_admin()).then_some(caller.subject.as_str());
    let order = db::find_order(&state.db, id, owner).await?.ok_or(ORDER_NOT_FOUND)?;
    Ok(AppJson(OrderResponse::from(&order)))
}
