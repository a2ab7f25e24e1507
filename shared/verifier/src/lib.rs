//! Local verification of OAuth 2.0 JWT access tokens (RFC 9068, RS256), hardened per RFC 8725.
//!
//! A service verifies every token itself with keys cached from its issuer's JWKS: no call to
//! the issuer per request, and requests keep being served while the issuer is down. Ended
//! sessions and revoked tokens still stop working within about a second: the verifier keeps
//! a long poll open on the issuer's feed of signed security events ([`revocation`]). Nothing
//! here can sign (except the test kit behind the `test-helpers` feature), and nothing depends
//! on a database or on a particular service chassis.
//!
//! # Features
//!
//! - `axum` (default): the extractors in [`extract`] and the RFC 6750 responses of
//!   [`AuthError`]. Without it the crate is the verifier alone ([`Verifier::verify`]).
//! - `test-helpers`: fixed RSA test keys, a token minter, an in-process issuer and a rotation
//!   conformance check, for your tests.
//!
//! # Layout
//!
//! - [`verifier`]: [`Verifier`], the entry point: strict checks in cheapest-first order, a
//!   verified-token cache, per-instance [`VerifierStats`].
//! - [`config`]: [`VerifierConfig`], [`RevocationFeed`] and their defaults.
//! - [`jose`]: compact JWS parsing and [`verify_jws`], the signature layer on its own.
//! - [`json`]: strict JSON (duplicate members refused).
//! - [`keys`]: [`VerifyingKey`], [`KeySet`] and JWKS ingest rules.
//! - [`metadata`]: where an issuer's metadata lives (RFC 8414, then OpenID) and which to trust.
//! - [`origin`]: [`Origin`], the web origins the cookie's CSRF guard compares.
//! - [`dpop`]: DPoP proofs (RFC 9449): the proof checks, the key thumbprint, server nonces
//!   and the replay cache; not yet wired into the extractors.
//! - [`store`]: the [`KeyStore`] trait and [`StaticKeyStore`].
//! - [`jwks`]: [`JwksCache`], the HTTP-backed store (refresh, single flight, cooldown,
//!   stale serving).
//! - [`revocation`]: the feed's subscriber (signed SETs by long poll) and the
//!   [`RevocationList`] every verification checks.
//! - [`claims`]: [`Caller`], [`ScopeSet`] and the claim rules.
//! - [`extract`]: axum extractors ([`Authenticated`], [`MaybeAuthenticated`],
//!   [`RequireScope`], [`ServiceWithScope`]) and the [`scope!`](crate::scope) macro.
//! - [`error`]: [`AuthError`], one variant per reason, and its RFC 6750 responses.
//! - [`clock`]: injectable wall clock for token dates.
//! - `testkit` (feature `test-helpers`): fixed test keys, a minter, an in-process issuer and a
//!   rotation conformance check.
//!
//! # Quick start
//!
//! ```no_run
//! use axum::{Json, Router, extract::FromRef, routing::{get, post}};
//! use jwt_verifier::{Authenticated, RequireScope, Verifier, VerifierConfig};
//!
//! jwt_verifier::scope!(OrdersWrite, "orders:write");
//!
//! #[derive(Clone)]
//! struct AppState {
//!     verifier: Verifier,
//! }
//!
//! impl FromRef<AppState> for Verifier {
//!     fn from_ref(state: &AppState) -> Verifier {
//!         state.verifier.clone()
//!     }
//! }
//!
//! async fn whoami(Authenticated(caller): Authenticated) -> Json<serde_json::Value> {
//!     Json(serde_json::json!({ "sub": caller.subject, "scope": caller.scopes.to_string() }))
//! }
//!
//! async fn create_order(RequireScope(caller, ..): RequireScope<OrdersWrite>) -> String {
//!     format!("order placed for {}", caller.subject)
//! }
//!
//! # async fn run() -> anyhow::Result<()> {
//! // The exact `iss` of your tokens and the audience this service is; every other setting
//! // has a safe default (see `VerifierConfig`). The JWKS URL is discovered from the issuer.
//! let config = VerifierConfig::new("https://auth.example.com", "orders-service");
//! let verifier = Verifier::start(config).await?;
//! let app: Router = Router::new()
//!     .route("/whoami", get(whoami))
//!     .route("/orders", post(create_order))
//!     .with_state(AppState { verifier });
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```

pub mod claims;
pub mod clock;
pub mod config;
pub mod dpop;
pub mod error;
#[cfg(feature = "axum")]
pub mod extract;
pub mod jose;
pub mod json;
pub mod jwks;
pub mod keys;
pub mod metadata;
pub mod origin;
pub mod resource;
pub mod revocation;
pub mod store;
#[cfg(feature = "test-helpers")]
pub mod testkit;
pub mod verifier;

#[cfg(feature = "axum")]
pub use self::extract::{
    ACCESS_TOKEN_COOKIE, Authenticated, CallerSlot, MaybeAuthenticated, RequireScope, Scope, ServiceWithScope,
    TokenSource, binding::DPOP_HEADER,
};
pub use self::{
    claims::{Caller, MAX_SCOPES, ScopeSet},
    clock::{Clock, SystemClock, TokioClock},
    config::{RevocationFeed, StartupMode, VerifierConfig},
    dpop::{
        DPOP_NONCE_HEADER, ProofError, ProofSettings, ProofVerifier, client::DpopKey, jwk::ProofAlgorithm,
        nonce::NonceKey,
    },
    error::{AuthError, AuthRejection, TokenPart},
    jose::verify_jws,
    jwks::{FetchOutcome, JwksCache, JwksCacheError},
    keys::{IngestReport, JwksError, JwksLimits, JwsAlgorithm, KeyProblem, KeySet, VerifyingKey},
    origin::{Origin, OriginError},
    revocation::{FeedStatus, Revocation, RevocationKind, RevocationList, RevocationStats},
    store::{KeyLookup, KeySnapshot, KeyStore, KeyStoreStats, StaticKeyStore},
    verifier::{Verifier, VerifierStartError, VerifierStats},
};
