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
    routing::get,
};
use http::{StatusCode, header};
use jwt_verifier::Verifier;
use serde_json::json;

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
    Router::new()
        .route("/healthz", get(liveness))
        .route("/readyz", get(|State(state): State<S>| async move { readiness(&state.checks().await) }))
        .route(
            "/metrics",
            get(|State(state): State<S>| async move {
                state.before_metrics();
                metrics().await
            }),
        )
}

/// The checks of a service that verifies tokens and keeps a database: a replica that cannot
/// verify tokens would answer every API call with 503, so it should not receive traffic yet.
pub async fn database_and_keys(db: &Pool, verifier: &Verifier) -> Vec<(&'static str, bool)> {
    vec![("database", crate::db::is_reachable(db).await), ("keys", verifier.is_ready())]
}

/// `GET /healthz`: 200 while the process serves requests.
pub async fn liveness() -> Response {
    Json(json!({"status": "ok"})).into_response()
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
