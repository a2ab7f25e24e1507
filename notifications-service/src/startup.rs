//! Building and running the service: `Application::build` does everything that can fail
//! (database, migrations, verifier, binding the port) so `run_until_stopped` only serves.
//!
//! Shutdown is a parameter: `main` passes Ctrl-C/SIGTERM, tests pass their own future.

use std::{future::Future, net::SocketAddr, process::ExitCode, time::Duration};

use anyhow::Context;
use axum::Router;
use shared::{auth::Verifier, config::Env, http::layers::ServiceIdentity};
use tokio::net::TcpListener;

use crate::{
    config::{DEFAULT_LISTEN_ADDR, SERVICE_NAME, Settings},
    http,
    state::AppState,
};

/// A built service, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    router: Router,
    state: AppState,
}

impl Application {
    /// Connects to the database and migrates it, starts the token verifier and binds the
    /// listen address.
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
        let listener = TcpListener::bind(settings.common.listen_addr)
            .await
            .with_context(|| format!("failed to bind {}", settings.common.listen_addr))?;
        let address = listener.local_addr().context("failed to read the bound address")?;
        let state = AppState { db, verifier };
        let router = http::router(state.clone(), &ServiceIdentity::detect(SERVICE_NAME));
        Ok(Self { listener, address, router, state })
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

    /// Serves until `shutdown` completes, then drains in-flight requests (each bounded by the
    /// request timeout of the standard layers).
    ///
    /// # Errors
    /// A failure of the listener.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        tracing::info!(address = %self.address, "{SERVICE_NAME} listening");
        axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown).await.context("server failed")?;
        self.state.db.close().await;
        tracing::info!("{SERVICE_NAME} stopped");
        Ok(())
    }
}

/// `serve`: reads the configuration from the environment and runs until Ctrl-C or SIGTERM.
pub async fn serve() -> ExitCode {
    shared::telemetry::init("notifications_service");
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
