//! HTTP pieces every service uses.
//!
//! - [`error`]: the one JSON error envelope ([`error::ErrorBody`]).
//! - [`form`]: strict form bodies (each parameter once, counts capped, linear work).
//! - [`json`]: a JSON body extractor whose rejections use that envelope and name the field.
//! - [`layers`]: request ids, `traceparent`, `X-Served-By`, request spans and metrics.
//! - [`context`]: the ids of the current request, for passing on to outgoing calls.
//! - [`health`]: `/healthz`, `/readyz` and `/metrics` handlers.
//! - [`openapi`]: the OpenAPI 3.1 pieces services share (`bearerAuth`, error responses,
//!   `/openapi.json`).
//! - [`protected_resource`]: a resource server's RFC 9728 metadata document.

pub mod context;
pub mod error;
pub mod form;
pub mod health;
pub mod json;
pub mod layers;
pub mod openapi;
pub mod protected_resource;

/// Request bodies above this size get 413 (64 KiB, plenty for every API in the workspace).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A service's complete router: its routes, the JSON 404/405 fallbacks and the standard
/// layers of [`layers::apply`].
pub fn service_router<S>(routes: axum::Router<S>, identity: &layers::ServiceIdentity) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let routes =
        routes.fallback(error::not_found_fallback).method_not_allowed_fallback(error::method_not_allowed_fallback);
    layers::apply(routes, identity)
}
