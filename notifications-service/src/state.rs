//! What every handler can reach: the database pool and the token verifier.
//!
//! Both fields are cheap handles (an `Arc` inside), so cloning the state per request costs a
//! couple of reference-count increments.

use axum::extract::FromRef;
use jwt_verifier::Verifier;
use service_kit::{db::Pool, http::health::Readiness};

/// Shared state of the router.
#[derive(Clone)]
pub struct AppState {
    /// Connection pool.
    pub db: Pool,
    /// Verifies access tokens locally against the issuer's cached keys.
    pub verifier: Verifier,
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
