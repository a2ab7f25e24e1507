//! [`AppState`]: what every handler can reach. Every field is a cheap handle (an `Arc` or a
//! pool), so cloning the state per request copies pointers only.

use std::{collections::HashMap, sync::Arc};

use axum::extract::FromRef;
use jwt_verifier::{KeyStore, Verifier, VerifierConfig};
use service_kit::db::Pool;

use crate::{config::Settings, keys::KeyManager, passwords::PasswordHasher};

/// Shared state of the router.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Pool,
    /// Configuration.
    pub settings: Arc<Settings>,
    /// Signing keys, JWKS and rotation.
    pub keys: KeyManager,
    /// Verifies this service's own tokens (audience `AUTH_AUDIENCE`) against the key table.
    pub verifier: Verifier,
    /// Verifiers per registered client, each with the client's id as audience: a client
    /// introspecting a token learns about it only if the token was meant for it.
    pub introspection: Arc<HashMap<String, Verifier>>,
    /// Password hashing.
    pub passwords: PasswordHasher,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("issuer", &self.settings.issuer).finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the state; the verifiers read the key manager's key store, so a rotation is
    /// visible to them as soon as this replica reloads its keys.
    #[must_use]
    pub fn new(db: Pool, settings: Arc<Settings>, keys: KeyManager, passwords: PasswordHasher) -> Self {
        let store: Arc<dyn KeyStore> = keys.verifier_keys();
        let verifier_for = |audience: &str| {
            let mut config = VerifierConfig::new(settings.issuer.clone(), audience);
            config.leeway = settings.keys.clock_leeway;
            config.max_token_lifetime = settings.tokens.access_token_ttl + settings.keys.clock_leeway;
            Verifier::with_key_store(config, Arc::clone(&store))
        };
        let verifier = verifier_for(&settings.audience);
        let introspection = settings.clients.iter().map(|c| (c.id.clone(), verifier_for(&c.id))).collect();
        Self { db, keys, verifier, introspection: Arc::new(introspection), passwords, settings }
    }
}

impl FromRef<AppState> for Verifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

/// `/readyz`: the database answers, a signing key is active, and this replica read the key
/// table recently. `/metrics` first refreshes the time-based key gauges.
impl service_kit::http::health::Readiness for AppState {
    async fn checks(&self) -> Vec<(&'static str, bool)> {
        let database = service_kit::db::is_reachable(&self.db).await;
        let signing_key = self.keys.signer().is_some();
        let keys_fresh = self.keys.is_fresh(service_kit::db::now_millis());
        vec![("database", database), ("signing_key", signing_key), ("signing_keys_fresh", keys_fresh)]
    }

    fn before_metrics(&self) {
        self.keys.record_metrics(service_kit::db::now_millis());
    }
}
