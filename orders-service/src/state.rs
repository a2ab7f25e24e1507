//! What every handler can reach.
//!
//! Every field is a cheap handle (an `Arc` inside), so cloning the state per request costs a
//! few reference-count increments.

use std::{sync::Arc, time::Duration};

use axum::extract::FromRef;
use jwt_verifier::Verifier;
use service_kit::{db::Pool, http::health::Readiness};
use tokio::sync::Notify;

/// Shared state of the router.
#[derive(Clone)]
pub struct AppState {
    /// Connection pool.
    pub db: Pool,
    /// Verifies access tokens locally against the issuer's cached keys.
    pub verifier: Verifier,
    /// Wakes this replica's outbox dispatcher after an order commits, so its notification
    /// goes out at once instead of at the next poll.
    pub outbox_wake: Arc<Notify>,
    /// How long an `Idempotency-Key` is remembered.
    pub idempotency_ttl: Duration,
}

/// Lets `jwt_verifier`'s extractors find the verifier in this state.
impl FromRef<AppState> for Verifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

impl Readiness for AppState {
    fn checks(&self) -> impl std::future::Future<Output = Vec<(&'static str, bool)>> + Send {
        service_kit::http::health::database_and_keys(&self.db, &self.verifier)
    }
}
