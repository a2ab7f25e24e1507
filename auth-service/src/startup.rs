//! [`Application`]: builds everything from [`Settings`], binds the listener, and serves until
//! the injected shutdown future resolves, so `main` stays tiny and tests run the real thing
//! on port 0.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::Router;
use service_kit::{
    config::ConfigError,
    db::{Pool, now_millis},
    http::layers::ServiceIdentity,
};
use tokio::{net::TcpListener, sync::watch};

use crate::{
    config::{DEFAULT_LISTEN_ADDR, SERVICE_NAME, Settings},
    keys::{
        KeyManager, RotationOutcome,
        master::{MasterKey, MasterKeySource},
    },
    passwords::PasswordHasher,
    state::AppState,
};

/// How often expired sessions, refresh tokens, throttle windows and irrelevant security events
/// are purged.
const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(600);

/// A built service, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    router: Router,
    state: AppState,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("address", &self.address).finish_non_exhaustive()
    }
}

/// Connects to the database, runs the migrations and loads (or creates) the signing keys.
async fn prepare(settings: &Settings) -> anyhow::Result<(Pool, KeyManager)> {
    let (master, source) = MasterKey::resolve(settings.master_key.as_ref(), &settings.common.database_url)?;
    match &source {
        MasterKeySource::Configured => tracing::info!("signing keys are sealed with the configured master key"),
        MasterKeySource::CreatedFile(path) => tracing::warn!(
            path = %path.display(),
            "AUTH_MASTER_KEY is not set: created a master key file beside the SQLite database; back it up, \
             the signing keys cannot be decrypted without it"
        ),
        MasterKeySource::ExistingFile(path) => {
            tracing::info!(path = %path.display(), "AUTH_MASTER_KEY is not set: using the master key file beside the SQLite database");
        }
        MasterKeySource::Ephemeral => {
            tracing::warn!("in-memory database: the master key lives only as long as this process")
        }
    }
    let pool =
        service_kit::db::open(&settings.common.database_url, settings.db_max_connections, &sqlx::migrate!()).await?;
    let keys = KeyManager::new(pool.clone(), master, &settings.keys, settings.tokens.access_token_ttl);
    keys.tick().await.context("cannot load the signing keys")?;
    Ok((pool, keys))
}

impl Application {
    /// The bound port.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The bound address.
    #[must_use]
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The state handlers see (tests inspect keys and the database through it).
    #[must_use]
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The router with every layer, for driving requests in-process (the minting bench
    /// measures the token endpoint's own cost this way, without a socket).
    pub fn router(&self) -> Router {
        self.router.clone()
    }
}

async fn housekeeping(state: AppState, stop: impl Future<Output = ()>) {
    let window_ms = i64::try_from(state.settings.login.failure_window.as_millis()).unwrap_or(i64::MAX / 4);
    let mut ticker = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = ticker.tick() => {
                match crate::db::purge_expired(&state.db, now_millis(), window_ms).await {
                    Ok(0) => {}
                    Ok(deleted) => tracing::debug!(deleted, "purged expired sessions, refresh tokens and throttle windows"),
                    Err(error) => tracing::warn!(%error, "housekeeping failed"),
                }
                match crate::events::store::prune(&state.db, now_millis()).await {
                    Ok(0) => {}
                    Ok(deleted) => {
                        tracing::debug!(deleted, "pruned security events past their relevance");
                        // Publish the new floor now rather than at the next poll.
                        let _ = state.events.poll().await;
                    }
                    Err(error) => tracing::warn!(%error, "pruning security events failed"),
                }
            }
        }
    }
}

/// The `rotate-keys` subcommand: rotates through the database directly (no server needed);
/// running replicas pick the change up within `AUTH_KEY_REFRESH_INTERVAL`.
///
/// # Errors
/// As [`Application::build`], or a concurrent rotation.
pub async fn rotate_keys(settings: &Settings, emergency: bool) -> anyhow::Result<RotationOutcome> {
    let (_pool, keys) = prepare(settings).await?;
    Ok(keys.rotate(emergency).await?)
}

/// The `create-admin` subcommand: a new administrator account, through the database directly.
///
/// # Errors
/// An unreachable database, failed migrations, or what [`crate::provisioning::create_admin`]
/// refuses.
pub async fn create_admin(settings: &Settings, email: &str, password: String) -> anyhow::Result<String> {
    let pool = service_kit::db::open(&settings.common.database_url, 1, &sqlx::migrate!()).await?;
    let hasher = PasswordHasher::new(&settings.login)?;
    Ok(crate::provisioning::create_admin(&pool, &hasher, email, password).await?)
}

impl service_kit::serve::Application for Application {
    type Settings = Settings;
    const NAME: &'static str = SERVICE_NAME;
    const ABOUT: &'static str = "Users, sessions, RS256 access tokens, key rotation, JWKS.";
    const DEFAULT_LISTEN_ADDR: SocketAddr = DEFAULT_LISTEN_ADDR;

    fn load_settings() -> Result<(Settings, Vec<String>), ConfigError> {
        let settings = Settings::load()?;
        let dev_defaults = settings.dev_defaults.clone();
        Ok((settings, dev_defaults))
    }

    /// Builds the service and binds `LISTEN_ADDR` (port 0 picks a free port).
    ///
    /// # Errors
    /// An unusable master key, an unreachable database, failed migrations, signing keys that
    /// cannot be decrypted, or an address that cannot be bound.
    async fn build(settings: Settings) -> anyhow::Result<Self> {
        service_kit::metrics::install();
        let (pool, keys) = prepare(&settings).await?;
        let passwords = PasswordHasher::new(&settings.login)?;
        let (listener, address) = service_kit::serve::bind(settings.common.listen_addr).await?;
        let state = AppState::new(pool, Arc::new(settings), keys, passwords);
        state.events.poll().await.context("cannot read the security event counter")?;
        let identity = ServiceIdentity::detect(SERVICE_NAME);
        let router = crate::http::router(state.clone(), &identity);
        tracing::info!(%address, issuer = %state.settings.issuer, instance = %identity.instance_id, "auth-service listening");
        Ok(Self { listener, address, router, state })
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests (held feed requests
    /// answer at once). Also runs this replica's background work: key refresh and lifecycle
    /// steps, the security event watcher, and housekeeping.
    ///
    /// # Errors
    /// The server failing (not a client's error).
    async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = |mut rx: watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let keys = self.state.keys.clone();
        let refresh_interval = self.state.settings.keys.refresh_interval;
        let key_task = tokio::spawn(keys.run(refresh_interval, stopped(stop_rx.clone())));
        let watcher = tokio::spawn(self.state.events.clone().run(stopped(stop_rx.clone())));
        let housekeeping = tokio::spawn(housekeeping(self.state.clone(), stopped(stop_rx)));

        let feed = self.state.events.clone();
        // Long polls would otherwise hold the drain for up to AUTH_EVENTS_MAX_WAIT.
        let shutdown = async move {
            shutdown.await;
            feed.drain();
        };
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(self.listener, service).with_graceful_shutdown(shutdown).await;
        let _ = stop_tx.send(true);
        let _ = key_task.await;
        let _ = watcher.await;
        let _ = housekeeping.await;
        tracing::info!("auth-service stopped");
        served.context("the HTTP server failed")
    }
}
