//! The HTTP API: one router per resource, merged here and wrapped in the workspace's standard
//! middleware (request ids, `traceparent`, `X-Served-By`, spans, metrics, body limit, timeout).
//!
//! - [`notifications`]: `POST /v1/notifications`, `GET /v1/notifications`,
//!   `POST /v1/notifications/{id}/read`.
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`.
//! - [`error`]: the service's one error type.

pub mod error;
pub mod notifications;
pub mod ops;

use axum::Router;
use service_kit::http::{
    error::{method_not_allowed_fallback, not_found_fallback},
    layers::{ServiceIdentity, apply},
};

use crate::state::AppState;

/// The complete router, ready to serve.
pub fn router(state: AppState, identity: &ServiceIdentity) -> Router {
    let routes = Router::new()
        .merge(notifications::router())
        .merge(ops::router())
        .fallback(not_found_fallback)
        .method_not_allowed_fallback(method_not_allowed_fallback);
    apply(routes, identity).with_state(state)
}
