//! Building and running the service: `Application::build` does everything that can fail
//! (database, migrations, verifier, clients, binding the port) so `run_until_stopped` only
//! serves and dispatches.
//!
//! Shutdown is a parameter: `main` passes Ctrl-C/SIGTERM, tests pass their own future. Neither
//! auth-service nor notifications-service needs to be reachable at start: the verifier warms
//! its keys in the background and undelivered notifications wait in the outbox.

use std::{future::Future, net::SocketAddr, process::ExitCode, sync::Arc, time::Duration};

use anyhow::Context;
use axum::Router;
use shared::{auth::Verifier, config::Env, http::layers::ServiceIdentity};
use tokio::{net::TcpListener, sync::Notify};

use crate::{
    clients::{self, notifications::NotificationsClient, token::TokenClient},
    config::{DEFAULT_LISTEN_ADDR, NOTIFICATIONS_AUDIENCE, NOTIFICATIONS_SCOPE, SERVICE_NAME, Settings},
    http,
    outbox::Dispatcher,
    state::AppState,
};

/// How long the dispatcher gets, after the server stopped, to release its claims.
const DISPATCHER_STOP_GRACE: Duration = Duration::from_secs(10);

/// A built service, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    router: Router,
    state: AppState,
    dispatcher: Dispatcher,
}

impl Application {
    /// Connects to the database and migrates it, starts the token verifier, builds the
    /// outgoing clients and the dispatcher, and binds the listen address.
    ///
    /// # Errors
    /// An unreachable database, a failed migration, a verifier that cannot start or an address
    /// that cannot be bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        shared::metrics::install();
        let db = shared::db::connect(&settings.common.database_url, settings.database_max_connections)
            .await
            .context("failed to open the database")?;
        sqlx::migrate!().run(&db).await.context("failed to run the database migrations")?;
        let verifier = Verifier::start(settings.verifier).await.context("failed to start the token verifier")?;
        let http_client = clients::http_client(settings.outbox.request_timeout)?;
        let tokens = Arc::new(TokenClient::new(
            http_client.clone(),
            &settings.client,
            NOTIFICATIONS_SCOPE,
            NOTIFICATIONS_AUDIENCE,
        ));
        let notifications = NotificationsClient::new(http_client, &settings.outbox.notifications_url)?;
        let outbox_wake = Arc::new(Notify::new());
        let dispatcher = Dispatcher::new(
            db.clone(),
            notifications,
            tokens,
            settings.outbox.clone(),
            settings.idempotency_ttl,
            Arc::clone(&outbox_wake),
        );
        let listener = TcpListener::bind(settings.common.listen_addr)
            .await
            .with_context(|| format!("failed to bind {}", settings.common.listen_addr))?;
        let address = listener.local_addr().context("failed to read the bound address")?;
        let state = AppState { db, verifier, outbox_wake, idempotency_ttl: settings.idempotency_ttl };
        let router = http::router(state.clone(), &ServiceIdentity::detect(SERVICE_NAME));
        Ok(Self { listener, address, router, state, dispatcher })
    }

    /// The bound port (useful with port 0).
    #[must_use]
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The bound address.
    #[must_use]
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// This instance's verifier, for tests and embedders that read its statistics.
    #[must_use]
    pub fn verifier(&self) -> &Verifier {
        &self.state.verifier
    }

    /// This instance's database pool.
    #[must_use]
    pub fn db(&self) -> &shared::db::Pool {
        &self.state.db
    }

    /// Serves and runs the outbox dispatcher until `shutdown` completes; then stops the
    /// dispatcher (it releases records it claimed) and drains in-flight requests.
    ///
    /// # Errors
    /// A failure of the listener.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let dispatcher = tokio::spawn(self.dispatcher.run(stopped));
        tracing::info!(address = %self.address, "{SERVICE_NAME} listening");
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move {
                shutdown.await;
                // Stop the dispatcher as soon as shutdown starts, not after draining.
                let _ = stop.send(true);
            })
            .await;
        // If serving failed before shutdown, the sender is gone now and the dispatcher stops too.
        if tokio::time::timeout(DISPATCHER_STOP_GRACE, dispatcher).await.is_err() {
            tracing::warn!("the outbox dispatcher did not stop in time; its claims will expire");
        }
        self.state.db.close().await;
        served.context("server failed")?;
        tracing::info!("{SERVICE_NAME} stopped");
        Ok(())
    }
}

/// `serve`: reads the configuration from the environment and runs until Ctrl-C or SIGTERM.
pub async fn serve() -> ExitCode {
    shared::telemetry::init("orders_service");
    let (settings, dev_defaults) = match Settings::from_process() {
        Ok(loaded) => loaded,
        Err(error) => {
            tracing::error!("{error}");
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    for name in dev_defaults {
        tracing::warn!(variable = %name, "using a development default; set it in production");
    }
    let application = match Application::build(settings).await {
        Ok(application) => application,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "startup failed");
            return ExitCode::FAILURE;
        }
    };
    match application.run_until_stopped(shared::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "server failed");
            ExitCode::FAILURE
        }
    }
}

/// `healthcheck`: GET `/healthz` on `LISTEN_ADDR` and succeed on 200, so container images need
/// no curl.
pub async fn healthcheck() -> ExitCode {
    let mut env = Env::from_process();
    let listen_addr = env.parse_with("LISTEN_ADDR", DEFAULT_LISTEN_ADDR, |raw| {
        raw.parse::<SocketAddr>().map_err(|_| "expected host:port".to_owned())
    });
    if is_healthy(listen_addr).await { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// `true` when the service at `listen_addr` answers `/healthz` with 200 within 3 seconds. An
/// unspecified address (`0.0.0.0`) is probed on loopback.
pub async fn is_healthy(listen_addr: SocketAddr) -> bool {
    let mut target = listen_addr;
    if target.ip().is_unspecified() {
        target.set_ip(match target {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let Ok(client) = reqwest::Client::builder().timeout(Duration::from_secs(3)).build() else {
        return false;
    };
    matches!(client.get(format!("http://{target}/healthz")).send().await, Ok(r) if r.status().is_success())
}
