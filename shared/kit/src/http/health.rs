//! `/healthz`, `/readyz` and `/metrics` building blocks.
//!
//! Liveness says only that the process serves HTTP (a failing database must not get every
//! replica restarted); readiness lists named checks and answers 503 until all pass, so load
//! balancers and Kubernetes send traffic only to replicas that can serve it.

use std::future::Future;

use axum::{
    Json, Router,
    extract::State,
    response::{IntoResponse, Response},
};
use http::{StatusCode, header};
use jwt_verifier::Verifier;
use serde_json::json;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::openapi::{OPERATIONS_TAG, operation};
use crate::db::Pool;

/// What a service's `/readyz` checks; implemented by its state.
pub trait Readiness: Clone + Send + Sync + 'static {
    /// Named checks, each passed or failed.
    fn checks(&self) -> impl Future<Output = Vec<(&'static str, bool)>> + Send;

    /// Runs before `/metrics` renders (to refresh time-based gauges). Default: nothing.
    fn before_metrics(&self) {}
}

/// `/healthz`, `/readyz` and `/metrics` for a service whose state is `S`.
pub fn router<S: Readiness>() -> Router<S> {
    openapi_router().split_for_parts().0
}

/// The same routes with their OpenAPI operations, for a service that publishes a document.
pub fn openapi_router<S: Readiness>() -> OpenApiRouter<S> {
    OpenApiRouter::new()
        .routes(routes!(liveness))
        .routes(operation::<__path_get_readiness, _, _, _>(get_readiness::<S>))
        .routes(operation::<__path_get_metrics, _, _, _>(get_metrics::<S>))
}

/// The checks of a service that verifies tokens and keeps a database: a replica that cannot
/// verify tokens would answer every API call with 503, so it should not receive traffic yet.
pub async fn database_and_keys(db: &Pool, verifier: &Verifier) -> Vec<(&'static str, bool)> {
    vec![("database", crate::db::is_reachable(db).await), ("keys", verifier.is_ready())]
}

/// Liveness: 200 while the process serves requests (`GET /healthz`).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = OPERATIONS_TAG,
    responses((status = 200, description = "The process serves requests (says nothing of its dependencies).",
        body = Object, example = json!({"status": "ok"})))
)]
pub async fn liveness() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// Whether this replica should receive traffic: 200 once every named check passes.
///
/// The checks are the service's (`Readiness::checks`), answered by `readiness`.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = OPERATIONS_TAG,
    responses(
        (status = 200, description = "Every check passed: send traffic here.", body = Object,
            example = json!({"status": "ready", "checks": {"database": "ok", "keys": "ok"}})),
        (status = 503, description = "A check failed: send no traffic yet.", body = Object,
            headers(("Retry-After" = String, description = "Seconds before asking again.")),
            example = json!({"status": "not_ready", "checks": {"database": "ok", "keys": "failing"}})),
    )
)]
async fn get_readiness<S: Readiness>(State(state): State<S>) -> Response {
    readiness(&state.checks().await)
}

/// This process's metrics in the Prometheus text format.
///
/// Runs the service's `Readiness::before_metrics` first, so time-based gauges are fresh.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = OPERATIONS_TAG,
    responses((status = 200, description = "Prometheus text exposition of this process's metrics.",
        content_type = "text/plain; version=0.0.4; charset=utf-8", body = String,
        example = "# TYPE http_requests_total counter\nhttp_requests_total{method=\"GET\",status=\"200\"} 1\n"))
)]
async fn get_metrics<S: Readiness>(State(state): State<S>) -> Response {
    state.before_metrics();
    metrics().await
}

/// A readiness answer from named checks: 200 when every check passed, else 503 with
/// `Retry-After` and the failing checks listed.
#[must_use]
pub fn readiness(checks: &[(&str, bool)]) -> Response {
    let ready = checks.iter().all(|(_, ok)| *ok);
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": checks.iter().map(|(name, ok)| (name.to_string(), json!(if *ok { "ok" } else { "failing" }))).collect::<serde_json::Map<_, _>>(),
    });
    if ready {
        Json(body).into_response()
    } else {
        let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
        response.headers_mut().insert(header::RETRY_AFTER, http::HeaderValue::from_static("5"));
        response
    }
}

/// `GET /metrics`: the process's Prometheus text exposition.
pub async fn metrics() -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], crate::metrics::handle().render())
        .into_response()
}
