//! The HTTP API: one router per resource, merged here and wrapped in the workspace's standard
//! middleware (request ids, `traceparent`, `X-Served-By`, spans, metrics, body limit, timeout).
//!
//! - [`notifications`]: `POST /v1/notifications`, `GET /v1/notifications`,
//!   `POST /v1/notifications/{id}/read`.
//! - `/healthz`, `/readyz`, `/metrics`: the kit's (`service_kit::http::health`).
//! - `/.well-known/oauth-protected-resource` (and the path RFC 9728 derives from
//!   `AUTH_RESOURCE_URL`): this resource's metadata (`service_kit::http::protected_resource`).
//! - `/openapi.json`: the OpenAPI 3.1 document of all of the above, built from the same
//!   registration as the router (`service_kit::http::openapi`).
//! - [`error`]: the service's one error type.

pub mod error;
pub mod notifications;

use axum::Router;
use jwt_verifier::{Scope, VerifierConfig};
use service_kit::http::{layers::ServiceIdentity, openapi, service_router};

use crate::state::AppState;

/// The complete router, ready to serve.
pub fn router(state: AppState, identity: &ServiceIdentity) -> Router {
    let (routes, _) = documented(state.verifier.config());
    service_router(routes, identity).with_state(state)
}

/// The OpenAPI 3.1 document served at `GET /openapi.json` by a service verifying with
/// `verifier` (its `resource` decides the metadata's second path).
#[must_use]
pub fn openapi(verifier: &VerifierConfig) -> utoipa::openapi::OpenApi {
    documented(verifier).1
}

/// Every route with its OpenAPI operation, each registered once (`routes!`), so the router
/// and the document come from one registration.
fn documented(verifier: &VerifierConfig) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let scopes = [notifications::NotificationsRead::NAME, notifications::NotificationsWrite::NAME];
    openapi::resource_server(notifications::router(), verifier, &scopes, service_kit::this_crate!())
}
