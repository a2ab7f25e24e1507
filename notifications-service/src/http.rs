//! The HTTP API: one router per resource, merged here and wrapped in the workspace's standard
//! middleware (request ids, `traceparent`, `X-Served-By`, spans, metrics, body limit, timeout).
//!
//! - [`notifications`]: `POST /v1/notifications`, `GET /v1/notifications`,
//!   `POST /v1/notifications/{id}/read`.
//! - `/healthz`, `/readyz`, `/metrics`: the kit's (`service_kit::http::health`).
//! - [`error`]: the service's one error type.

pub mod error;
pub mod notifications;

use axum::Router;
use service_kit::http::{health, layers::ServiceIdentity, service_router};

use crate::state::AppState;

/// The complete router, ready to serve.
pub fn router(state: AppState, identity: &ServiceIdentity) -> Router {
    service_router(notifications::router().merge(health::router()), identity).with_state(state)
}
