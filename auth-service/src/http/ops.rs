//! Operations endpoints: `GET /healthz` (the process serves HTTP), `GET /readyz` (database
//! reachable and a signing key active), `GET /metrics` (Prometheus text).

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
    health::readiness(&[("database", database), ("signing_key", signing_key)])
}

/// Refreshes the time-based key gauges, then renders every metric.
async fn metrics(State(state): State<AppState>) -> Response {
    state.keys.record_metrics(now_millis());
    health::metrics().await
}
