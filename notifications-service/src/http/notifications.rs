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
    Router,
    extract::{Path, Query, State, rejection::QueryRejection},
    response::{IntoResponse, Response},
    routing::post,
};
use http::StatusCode;
use jwt_verifier::{RequireScope, ServiceWithScope};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use service_kit::{
    http::{error::CommonError, json::AppJson},
    pagination::{Cursor, Page, PageQuery},
    time::rfc3339_millis as timestamp,
};

use super::error::{ApiError, NOTIFICATION_NOT_FOUND, Result};
use crate::{
    db::{self, Inserted},
    domain::{NewNotification, Notification, NotificationId},
    state::AppState,
};

jwt_verifier::scope!(NotificationsWrite, "notifications:write");
jwt_verifier::scope!(NotificationsRead, "notifications:read");

/// The notification routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/notifications", post(create_notification).get(list_notifications))
        .route("/v1/notifications/{id}/read", post(mark_notification_read))
}

/// Body of `POST /v1/notifications`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateNotificationRequest {
    /// The sender's id for the event; the idempotency key.
    event_id: String,
    /// `sub` of the user it is for.
    recipient: String,
    kind: String,
    message: String,
    /// Optional structured details (a JSON object).
    #[serde(default)]
    data: Option<Map<String, Value>>,
}

/// A notification on the wire.
#[derive(Debug, Serialize)]
struct NotificationResponse {
    id: String,
    event_id: String,
    source: String,
    recipient: String,
    kind: String,
    message: String,
    data: Map<String, Value>,
    created_at: String,
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
