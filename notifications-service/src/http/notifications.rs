//! `/v1/notifications`: services deliver notifications, users list and read their own.
//!
//! | method and path | who | scope |
//! |---|---|---|
//! | `POST /v1/notifications` | service tokens only (a user token gets 403) | `notifications:write` |
//! | `GET /v1/notifications` | the recipient | `notifications:read` |
//! | `POST /v1/notifications/{id}/read` | the recipient | `notifications:read` |
//!
//! Delivery is idempotent on `(sending client, event_id)`: the first delivery answers 201, a
//! retry of the same event answers 200 with the stored notification, and the same event id with
//! different content answers 409.

use axum::{
    extract::{Path, Query, State, rejection::QueryRejection},
    response::{IntoResponse, Response},
};
use http::StatusCode;
use jwt_verifier::{RequireScope, ServiceWithScope};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use service_kit::{
    http::{
        error::CommonError,
        json::AppJson,
        openapi::{
            BadRequest, Forbidden, InternalError, NotFound, PayloadTooLarge, Unauthorized, Unavailable,
            UnprocessableEntity, UnsupportedMediaType,
        },
    },
    pagination::{Cursor, Page, PageQuery},
    time::rfc3339_millis as timestamp,
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::error::{ApiError, EventConflict, NOTIFICATION_NOT_FOUND, Result};
use crate::{
    db::{self, Inserted},
    domain::{NewNotification, Notification, NotificationId},
    state::AppState,
};

jwt_verifier::scope!(NotificationsWrite, "notifications:write");
jwt_verifier::scope!(NotificationsRead, "notifications:read");

/// Tag of the notification operations in the OpenAPI document.
const TAG: &str = "notifications";

/// The notification routes, each registered with its OpenAPI operation.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_notification, list_notifications))
        .routes(routes!(mark_notification_read))
}

/// Body of `POST /v1/notifications`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "event_id": "0192f1c4-5a6b-7c8d-9e0f-1a2b3c4d5e6f",
    "recipient": "user-123",
    "kind": "order_placed",
    "message": "Your order of 2 items was placed.",
    "data": {"order_id": "0192f1c4-0000-7000-8000-000000000001"}
}))]
struct CreateNotificationRequest {
    /// The sender's id for the event; the idempotency key: 1–128 letters, digits, '.', '_',
    /// ':' or '-'.
    #[schema(pattern = "^[A-Za-z0-9._:-]{1,128}$")]
    event_id: String,
    /// `sub` of the user it is for: 1–255 characters, no control characters, no surrounding
    /// whitespace.
    #[schema(
        max_length = 255,
        pattern = "^[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000](?:[^\\x00-\\x1f\\x7f-\\x9f]*[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000])?$"
    )]
    recipient: String,
    /// What happened: a lowercase letter, then up to 63 of a-z, 0-9, '.', '_', '-'
    /// (`order_placed`).
    #[schema(pattern = "^[a-z][a-z0-9._-]{0,63}$")]
    kind: String,
    /// One sentence for the recipient: 1–2000 characters, not only whitespace, no NUL.
    #[schema(
        min_length = 1,
        max_length = 2000,
        pattern = "^[^\\x00]*[^\\x00\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000][^\\x00]*$"
    )]
    message: String,
    /// Optional structured details (a JSON object).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    data: Option<Map<String, Value>>,
}

/// A notification on the wire.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "0192f1c4-7777-7000-8000-000000000002",
    "event_id": "0192f1c4-5a6b-7c8d-9e0f-1a2b3c4d5e6f",
    "source": "orders-service",
    "recipient": "user-123",
    "kind": "order_placed",
    "message": "Your order of 2 items was placed.",
    "data": {"order_id": "0192f1c4-0000-7000-8000-000000000001"},
    "created_at": "2026-12-02T09:30:00.456Z",
    "read_at": null
}))]
struct NotificationResponse {
    /// The notification's id (a UUID v7).
    id: String,
    /// The sender's event id.
    event_id: String,
    /// Client id of the service that sent it.
    source: String,
    /// `sub` of the user it is for.
    recipient: String,
    kind: String,
    message: String,
    /// Structured details (`{}` when none were sent).
    #[schema(value_type = Object)]
    data: Map<String, Value>,
    /// RFC 3339 with milliseconds, UTC.
    #[schema(format = DateTime)]
    created_at: String,
    /// When the recipient marked it read; `null` while unread.
    #[schema(format = DateTime)]
    read_at: Option<String>,
}

impl From<Notification> for NotificationResponse {
    fn from(n: Notification) -> Self {
        Self {
            id: n.id.to_string(),
            event_id: n.event_id,
            source: n.source,
            recipient: n.recipient,
            kind: n.kind,
            message: n.message,
            data: n.data,
            created_at: timestamp(n.created_at),
            read_at: n.read_at.map(timestamp),
        }
    }
}

/// Delivers a notification (service tokens only). Idempotent on the sender's `event_id`.
#[utoipa::path(
    post,
    path = "/v1/notifications",
    tag = TAG,
    security(("bearerAuth" = ["notifications:write"])),
    request_body(content = CreateNotificationRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "The notification was stored.", body = NotificationResponse),
        (status = 200, description = "This event was already delivered with the same content: the stored notification.",
            body = NotificationResponse),
        BadRequest, Unauthorized, Forbidden, EventConflict, PayloadTooLarge, UnsupportedMediaType, UnprocessableEntity,
        InternalError, Unavailable,
    )
)]
async fn create_notification(
    State(state): State<AppState>,
    ServiceWithScope(caller, ..): ServiceWithScope<NotificationsWrite>,
    AppJson(body): AppJson<CreateNotificationRequest>,
) -> Result<Response> {
    let new = NewNotification::parse(&body.event_id, &body.recipient, &body.kind, &body.message, body.data)
        .map_err(CommonError::Validation)?;
    let now = service_kit::db::now_millis();
    let inserted = db::insert_notification(&state.db, NotificationId::generate(), &caller.client_id, &new, now).await?;
    match inserted {
        Inserted::New(notification) => {
            metrics::counter!("notifications_created_total").increment(1);
            tracing::info!(
                notification.id = %notification.id,
                event.id = %notification.event_id,
                source = %notification.source,
                kind = %notification.kind,
                "notification stored"
            );
            Ok((StatusCode::CREATED, AppJson(NotificationResponse::from(notification))).into_response())
        }
        Inserted::Existing(notification) if notification.fingerprint == new.fingerprint() => {
            metrics::counter!("notifications_duplicate_deliveries_total").increment(1);
            tracing::info!(
                notification.id = %notification.id,
                event.id = %notification.event_id,
                source = %notification.source,
                "event already delivered, returning the stored notification"
            );
            Ok((StatusCode::OK, AppJson(NotificationResponse::from(notification))).into_response())
        }
        Inserted::Existing(notification) => {
            tracing::warn!(
                event.id = %notification.event_id,
                source = %notification.source,
                "event id reused with different content"
            );
            Err(ApiError::EventConflict)
        }
    }
}

/// The caller's notifications, newest first, one page at a time.
#[utoipa::path(
    get,
    path = "/v1/notifications",
    tag = TAG,
    security(("bearerAuth" = ["notifications:read"])),
    params(PageQuery),
    responses(
        (status = 200, description = "One page of notifications; `next_cursor` is `null` on the last page.",
            body = Page<NotificationResponse>),
        BadRequest, Unauthorized, Forbidden, InternalError, Unavailable,
    )
)]
async fn list_notifications(
    State(state): State<AppState>,
    RequireScope(caller, ..): RequireScope<NotificationsRead>,
    query: std::result::Result<Query<PageQuery>, QueryRejection>,
) -> Result<AppJson<Page<NotificationResponse>>> {
    let (limit, after) = PageQuery::parse(query).map_err(CommonError::InvalidParameter)?;
    let rows = db::list_notifications(&state.db, &caller.subject, after.as_ref(), limit).await?;
    let position = |n: &Notification| Cursor::after(n.created_at, n.id.as_uuid());
    Ok(AppJson(Page::from_rows(rows, limit, position, NotificationResponse::from)))
}

/// Marks one of the caller's notifications read (again answers the first `read_at`).
#[utoipa::path(
    post,
    path = "/v1/notifications/{id}/read",
    tag = TAG,
    security(("bearerAuth" = ["notifications:read"])),
    params(("id" = String, Path, description = "The notification's id.")),
    responses(
        (status = 200, description = "The notification, now read.", body = NotificationResponse),
        BadRequest, Unauthorized, Forbidden, NotFound, InternalError, Unavailable,
    )
)]
async fn mark_notification_read(
    State(state): State<AppState>,
    RequireScope(caller, ..): RequireScope<NotificationsRead>,
    Path(id): Path<String>,
) -> Result<AppJson<NotificationResponse>> {
    // A malformed id cannot name anything: same 404 as an id that does not exist.
    let id = NotificationId::parse(&id).ok_or(NOTIFICATION_NOT_FOUND)?;
    let notification = db::mark_read(&state.db, id, &caller.subject, service_kit::db::now_millis())
        .await?
        .ok_or(NOTIFICATION_NOT_FOUND)?;
    Ok(AppJson(NotificationResponse::from(notification)))
}
