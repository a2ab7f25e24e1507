//! Building and running the service: `Application::build` does everything that can fail
//! (database, migrations, verifier, binding the port) so `run_until_stopped` only serves.
//!
//! Shutdown is a parameter: `main` passes Ctrl-C/SIGTERM, tests pass their own future.

use std::{future::Future, net::SocketAddr};

use anyhow::Context;
use axum::Router;
use jwt_verifier::Verifier;
use service_kit::{config::ConfigError, http::layers::ServiceIdentity};
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
    pub fn db(&self) -> &service_kit::db::Pool {
        &self.state.db
    }
}

impl service_kit::serve::Application for Application {
    type Settings = Settings;
    const NAME: &'static str = SERVICE_NAME;
    const ABOUT: &'static str = "Notifications API: services deliver notifications, users read theirs.";
    const DEFAULT_LISTEN_ADDR: SocketAddr = DEFAULT_LISTEN_ADDR;

    fn load_settings() -> Result<(Settings, Vec<String>), ConfigError> {
        Settings::from_process()
    }

    /// Connects to the database and migrates it, starts the token verifier and binds the
    /// listen address.
    ///
    /// # Errors
    /// An unreachable database, a failed migration, a verifier that cannot start or an address
    /// that cannot be bound.
    async fn build(settings: Settings) -> anyhow::Result<Self> {
        service_kit::metrics::install();
        let db =
            service_kit::db::open(&settings.common.database_url, settings.database_max_connections, &sqlx::migrate!())
                .await?;
        let verifier = Verifier::start(settings.verifier).await.context("failed to start the token verifier")?;
        let (listener, address) = service_kit::serve::bind(settings.common.listen_addr).await?;
        let state = AppState { db, verifier };
        let router = http::router(state.clone(), &ServiceIdentity::detect(SERVICE_NAME));
        Ok(Self { listener, address, router, state })
    }

    /// Serves until `shutdown` completes, then drains in-flight requests (each bounded by the
    /// request timeout of the standard layers).
    ///
    /// # Errors
    /// A failure of the listener.
    async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        tracing::info!(address = %self.address, "{SERVICE_NAME} listening");
        axum::serve(self.listener, self.router).with_graceful_shutdown(shutdown).await.context("server failed")?;
        self.state.db.close().await;
        tracing::info!("{SERVICE_NAME} stopped");
        Ok(())
    }
}
