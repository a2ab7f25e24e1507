//! Operations endpoints: `GET /healthz` (the process serves HTTP), `GET /readyz` (database
//! reachable, a signing key active, and the key table read recently), `GET /metrics`.

use axum::{Router, extract::State, response::Response, routing::get};
use shared::{
    db::{is_reachable, now_millis},
    http::health,
};

use crate::state::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health::liveness))
        .route("/readyz", get(readiness))
        .route("/metrics", get(metrics))
}

async fn readiness(State(state): State<AppState>) -> Response {
    let database = is_reachable(&state.db).await;
    let signing_key = state.keys.signer().is_some();
    let keys_fresh = state.keys.is_fresh(now_millis());
    health::readiness(&[("database", database), ("signing_key", signing_key), ("signing_keys_fresh", keys_fresh)])
}

/// Refreshes the time-based key gauges, then renders every metric.
async fn metrics(State(state): State<AppState>) -> Response {
    state.keys.record_metrics(now_millis());
    health::metrics().await
}
