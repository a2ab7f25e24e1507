//! The target of stateless vs stateful: orders-service's real router three times, over one
//! database, on three ports.
//!
//! - **local**: exactly the router orders-service serves; every token verified locally, with
//!   the verifier subscribed to auth-service's revocation feed (`GET /v1/security-events`),
//!   so a logout reaches it within about a second.
//! - **local-no-feed**: the same router with a verifier of its own whose subscriber is off
//!   (`AUTH_REVOCATION_FEED=off`): a revoked token keeps verifying until `exp` plus leeway.
//! - **introspect**: the same router behind a layer that asks auth-service's real
//!   `POST /oauth/introspect` (RFC 7662) about every bearer token, as a service holding
//!   opaque session tokens would. Inactive tokens get 401, and an unreachable auth-service
//!   503, before the request reaches the router.
//!
//! The introspect router shares the feed-off verifier, so its refusals come from
//! introspection alone. The router's own extractor still runs behind the layer and answers
//! from its token cache
//! (verifier overhead measures that at a few microseconds), so the introspect mode pays
//! introspection plus a cache hit. Introspection answers are not cached: caching them would
//! trade away the immediate revocation this mode exists for.
//!
//! orders-service's outbox dispatcher is not started: the measured endpoint is
//! `GET /v1/orders`, which never touches the outbox, and seeded orders' notifications simply
//! wait in the table.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::{
    extract::{Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};
use jwt_verifier::{RevocationFeed, StartupMode, Verifier, VerifierConfig, extract::token_from_request};
use orders_service::state::AppState;
use serde_json::Value;
use service_kit::http::{error::error_response, layers::ServiceIdentity};
use tokio::sync::Notify;
use url::Url;

/// Settings of the orders target.
#[derive(Debug, Clone, clap::Args)]
pub struct OrdersArgs {
    /// Address of the local-verification router (revocation feed on).
    #[arg(long)]
    pub listen_local: SocketAddr,
    /// Address of the local-verification router with the revocation feed off.
    #[arg(long)]
    pub listen_local_no_feed: SocketAddr,
    /// Address of the introspection router.
    #[arg(long)]
    pub listen_introspect: SocketAddr,
    /// auth-service's base URL, also the tokens' `iss`.
    #[arg(long)]
    pub issuer: Url,
    /// The revocation feed the local router subscribes to (`AUTH_EVENTS_URL`). Default
    /// `<issuer>/v1/security-events`.
    #[arg(long)]
    pub events_url: Option<Url>,
    /// orders-service's database.
    #[arg(long)]
    pub database_url: String,
    /// The OAuth client that introspects (auth-service checks tokens against it as audience).
    #[arg(long)]
    pub client_id: String,
    /// Its secret (from the environment, so it stays out of process listings).
    #[arg(long, env = "BENCH_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: String,
    /// Verifier leeway on token dates, seconds.
    #[arg(long, default_value_t = 30)]
    pub leeway_secs: u64,
}

/// Calls auth-service's introspection endpoint.
#[derive(Clone)]
struct Introspector {
    http: reqwest::Client,
    url: Url,
    client_id: Arc<str>,
    client_secret: Arc<str>,
}

/// What introspection said about a token.
enum Verdict {
    Active,
    Inactive,
    Unavailable,
}

impl Introspector {
    async fn check(&self, token: &str) -> Verdict {
        let sent = self
            .http
            .post(self.url.clone())
            .basic_auth(&*self.client_id, Some(&*self.client_secret))
            .form(&[("token", token)])
            .send()
            .await;
        let response = match sent {
            Ok(response) if response.status().is_success() => response,
            Ok(response) => {
                tracing::debug!(status = %response.status(), "introspection refused");
                return Verdict::Unavailable;
            }
            Err(error) => {
                tracing::debug!(%error, "introspection failed");
                return Verdict::Unavailable;
            }
        };
        match response.json::<Value>().await {
            Ok(answer) if answer.get("active") == Some(&Value::Bool(true)) => Verdict::Active,
            Ok(_) => Verdict::Inactive,
            Err(_) => Verdict::Unavailable,
        }
    }
}

/// The introspection layer: requests without a bearer token go straight to the router (which
/// refuses them on protected routes itself); the others only when auth-service says active.
async fn introspect(State(introspector): State<Introspector>, request: Request, next: Next) -> Response {
    let token = match token_from_request(request.method(), request.headers(), false, &[]) {
        Ok(Some((token, _))) => token.to_owned(),
        Ok(None) | Err(_) => return next.run(request).await,
    };
    match introspector.check(&token).await {
        Verdict::Active => next.run(request).await,
        Verdict::Inactive => {
            let mut response =
                error_response(StatusCode::UNAUTHORIZED, "invalid_token", "the token is not active (RFC 7662)");
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"orders-service\", error=\"invalid_token\""),
            );
            response
        }
        Verdict::Unavailable => {
            let mut response = error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the token cannot be checked now: introspection is unavailable",
            );
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response.into_response()
        }
    }
}

/// Runs both routers until killed.
///
/// # Errors
/// The database, the verifier or a listener fails to start.
pub async fn run(args: OrdersArgs) -> anyhow::Result<()> {
    service_kit::metrics::install();
    let db = service_kit::db::open(&args.database_url, 10, &sqlx::migrate!("../orders-service/migrations"))
        .await
        .context("the orders database")?;
    let base = args.issuer.as_str().trim_end_matches('/').to_owned();
    let events_url = match args.events_url {
        Some(url) => url,
        None => Url::parse(&format!("{base}/v1/security-events"))?,
    };
    let config = |feed: Option<Url>| -> anyhow::Result<VerifierConfig> {
        let mut config = VerifierConfig::new(base.clone(), orders_service::config::AUDIENCE);
        config.jwks_url = Some(Url::parse(&format!("{base}/.well-known/jwks.json"))?);
        config.leeway = Duration::from_secs(args.leeway_secs);
        config.startup = StartupMode::WarmWithDeadline(Duration::from_secs(10));
        set_revocation_feed(&mut config, feed);
        Ok(config)
    };
    let with_feed = Verifier::start(config(Some(events_url))?).await.context("verifier with the revocation feed")?;
    let without_feed = Verifier::start(config(None)?).await.context("verifier without the revocation feed")?;
    let state = |verifier: Verifier| AppState {
        db: db.clone(),
        verifier,
        outbox_wake: Arc::new(Notify::new()),
        idempotency_ttl: Duration::from_secs(24 * 3600),
    };
    let identity = ServiceIdentity::detect(orders_service::config::SERVICE_NAME);
    let introspector = Introspector {
        http: reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_millis(500))
            .timeout(Duration::from_secs(2))
            .pool_max_idle_per_host(128)
            .build()?,
        url: Url::parse(&format!("{base}/oauth/introspect"))?,
        client_id: Arc::from(args.client_id.as_str()),
        client_secret: Arc::from(args.client_secret.as_str()),
    };
    let local = orders_service::http::router(state(with_feed), &identity);
    let local_no_feed = orders_service::http::router(state(without_feed.clone()), &identity);
    let introspected = orders_service::http::router(state(without_feed), &identity)
        .layer(middleware::from_fn_with_state(introspector, introspect));
    tokio::try_join!(
        super::serve(args.listen_local, local),
        super::serve(args.listen_local_no_feed, local_no_feed),
        super::serve(args.listen_introspect, introspected)
    )?;
    Ok(())
}

/// Turns the verifier's revocation-feed subscriber on (subscribed to `feed`) or off
/// (`None`), as `AUTH_EVENTS_URL` and `AUTH_REVOCATION_FEED=off` do for the services; the
/// subscriber's other settings keep their defaults.
fn set_revocation_feed(config: &mut VerifierConfig, feed: Option<Url>) {
    config.revocation_feed = feed.map_or(RevocationFeed::Off, RevocationFeed::Url);
}
