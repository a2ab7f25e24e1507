//! The target of verifier overhead: `GET /plain` (no authentication) and `GET /auth` (the
//! same handler behind [`Authenticated`]), plus `GET /stats` with the verifier's counters so
//! the runner can report the token-cache hit rate of every run.
//!
//! The router is bare axum, like the peer's: no request-id, tracing or metrics layers on
//! either side, so the difference between the two is the verification.

use std::{net::SocketAddr, time::Duration};

use axum::{Json, Router, extract::State, routing::get};
use jwt_verifier::{Authenticated, StartupMode, Verifier, VerifierConfig};
use serde_json::{Value, json};
use url::Url;

/// Settings of the verifier target.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifierArgs {
    /// Address to listen on.
    #[arg(long)]
    pub listen: SocketAddr,
    /// JWKS URL (the runner's test issuer).
    #[arg(long)]
    pub jwks_url: Url,
    /// Expected `iss`.
    #[arg(long)]
    pub issuer: String,
    /// Expected `aud`.
    #[arg(long)]
    pub audience: String,
    /// Verified-token cache capacity (0 turns the cache off).
    #[arg(long, default_value_t = 10_000)]
    pub cache_capacity: usize,
}

async fn plain() -> &'static str {
    "ok"
}

async fn authenticated(Authenticated(_caller): Authenticated) -> &'static str {
    "ok"
}

async fn stats(State(verifier): State<Verifier>) -> Json<Value> {
    let stats = verifier.stats();
    Json(json!({
        "verifications_ok": stats.verifications_ok,
        "verifications_failed": stats.verifications_failed,
        "token_cache_hits": stats.token_cache_hits,
        "jwks_fetches": stats.jwks_fetches(),
    }))
}

/// Runs the target until killed.
///
/// # Errors
/// No keys within 10 s, or the server fails.
pub async fn run(args: VerifierArgs) -> anyhow::Result<()> {
    let mut config = VerifierConfig::new(args.issuer, args.audience);
    config.jwks_url = Some(args.jwks_url);
    config.token_cache_capacity = args.cache_capacity;
    config.startup = StartupMode::WarmWithDeadline(Duration::from_secs(10));
    let verifier = Verifier::start(config).await?;
    let router = Router::new()
        .route("/plain", get(plain))
        .route("/auth", get(authenticated))
        .route("/stats", get(stats))
        .with_state(verifier);
    super::serve(args.listen, router).await
}
