//! Operational endpoints: liveness, readiness and Prometheus metrics.
//!
//! Readiness needs both the database and the issuer's keys: a replica that cannot verify tokens
//! would answer every API call with 503, so it should not receive traffic yet.

use axum::{Router, extract::State, response::Response, routing::get};
use service_kit::http::health;

use crate::state::AppState;

/// `/healthz`, `/readyz`, `/metrics`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::liveness))
        .route("/readyz", get(check_readiness))
        .route("/metrics", get(health::metrics))
}

async fn check_readiness(State(state): State<AppState>) -> Response {
    let database = service_kit::db::is_reachable(&state.db).await;
    health::readiness(&[("database", database), ("keys", state.verifier.is_ready())])
}
