//! [`AppState`]: what every handler can reach. Every field is a cheap handle (an `Arc` or a
//! pool), so cloning the state per request copies pointers only.

use std::{
    collections::{BTreeSet, HashMap},
    sync::Arc,
};

use axum::extract::FromRef;
use jwt_verifier::{KeyStore, ProofVerifier, Verifier, VerifierConfig};
use service_kit::db::Pool;

use crate::{config::Settings, events::EventFeed, keys::KeyManager, passwords::PasswordHasher};

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
    /// A verifier per audience this issuer puts in tokens (users' and every client's), so
    /// RFC 7009 revocation can check any of its access tokens.
    pub any_audience: Arc<HashMap<String, Verifier>>,
    /// Password hashing.
    pub passwords: PasswordHasher,
    /// The security event feed of this replica.
    pub events: EventFeed,
    /// Checks the DPoP proofs of `/oauth/token` and `/v1/login` (RFC 9449 §5).
    pub proofs: Arc<ProofVerifier>,
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
            config.dpop_trust_forwarded = settings.dpop.trust_forwarded;
            config.dpop_nonces.clone_from(&settings.dpop.nonces);
            config.dpop.clone_from(&settings.dpop.proofs);
            Verifier::with_key_store(config, Arc::clone(&store))
        };
        let verifier = verifier_for(&settings.audience);
        let introspection = settings.clients.iter().map(|c| (c.id.clone(), verifier_for(&c.id))).collect();
        let audiences: BTreeSet<&String> = settings
            .tokens
            .user_audiences
            .iter()
            .chain(settings.clients.iter().flat_map(|c| c.audiences.iter()))
            .collect();
        let any_audience = audiences.into_iter().map(|a| (a.clone(), verifier_for(a))).collect();
        let events = EventFeed::new(db.clone(), keys.clone(), &settings.issuer, settings.events.clone());
        let proofs = Arc::new(ProofVerifier::configured(settings.dpop.proofs.clone(), settings.dpop.nonces.clone()));
        Self {
            db,
            keys,
            verifier,
            introspection: Arc::new(introspection),
            any_audience: Arc::new(any_audience),
            passwords,
            events,
            proofs,
            settings,
        }
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
