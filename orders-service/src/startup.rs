//! Building and running the service: `Application::build` does everything that can fail
//! (database, migrations, verifier, clients, binding the port) so `run_until_stopped` only
//! serves and dispatches.
//!
//! Shutdown is a parameter: `main` passes Ctrl-C/SIGTERM, tests pass their own future. Neither
//! auth-service nor notifications-service needs to be reachable at start: the verifier warms
//! its keys in the background and undelivered notifications wait in the outbox.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use axum::Router;
use jwt_verifier::Verifier;
use service_kit::{config::ConfigError, http::layers::ServiceIdentity};
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
    const ABOUT: &'static str = "Orders API: places and lists orders, notifies through a transactional outbox.";
    const DEFAULT_LISTEN_ADDR: SocketAddr = DEFAULT_LISTEN_ADDR;

    fn load_settings() -> Result<(Settings, Vec<String>), ConfigError> {
        Settings::from_process()
    }

    /// Connects to the database and migrates it, starts the token verifier, builds the
    /// outgoing clients and the dispatcher, and binds the listen address.
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
        let (listener, address) = service_kit::serve::bind(settings.common.listen_addr).await?;
        let state = AppState { db, verifier, outbox_wake, idempotency_ttl: settings.idempotency_ttl };
        let router = http::router(state.clone(), &ServiceIdentity::detect(SERVICE_NAME));
        Ok(Self { listener, address, router, state, dispatcher })
    }

    /// Serves and runs the outbox dispatcher until `shutdown` completes; then stops the
    /// dispatcher (it releases records it claimed) and drains in-flight requests.
    ///
    /// # Errors
    /// A failure of the listener.
    async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
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
