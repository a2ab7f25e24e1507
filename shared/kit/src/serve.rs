//! The one shape of every service binary: `<service> [serve]` and `<service> healthcheck`,
//! plus whatever subcommands a service adds (auth-service's `rotate-keys`).
//!
//! A service implements [`Application`] (build from settings, run until a shutdown future
//! resolves) and its `main` is one call to [`main`] or, with extra subcommands, to
//! [`main_with`]. Start-up failures end the process with a clear message and a distinct exit
//! code: 2 for a configuration problem, 1 for anything else.

use std::{future::Future, net::SocketAddr, process::ExitCode, time::Duration};

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::{ConfigError, Env};

/// What the kit needs to know of a service to run it.
pub trait Application: Sized + Send + 'static {
    /// The service's settings, read from the environment.
    type Settings: Send;
    /// The service name (`orders-service`): the binary, log lines, the CLI's name.
    const NAME: &'static str;
    /// One line for `--help`.
    const ABOUT: &'static str;
    /// `LISTEN_ADDR` when unset, also what `healthcheck` probes by default.
    const DEFAULT_LISTEN_ADDR: SocketAddr;

    /// Reads the settings; the names of variables left on development-only defaults.
    ///
    /// # Errors
    /// Every bad value, at once.
    fn load_settings() -> Result<(Self::Settings, Vec<String>), ConfigError>;

    /// Does everything that can fail (database, migrations, verifier, binding the port).
    fn build(settings: Self::Settings) -> impl Future<Output = anyhow::Result<Self>> + Send;

    /// Serves until `shutdown` resolves, then drains.
    fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// The subcommands every service has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Serve the API on `LISTEN_ADDR` (the default).
    Serve,
    /// Exit 0 when the local instance answers `/healthz` with 200, 1 otherwise (for container
    /// health checks, so images need no curl).
    Healthcheck,
}

/// The command line: one optional subcommand; everything else is configured by environment
/// variables.
#[derive(Debug, Parser)]
pub struct Cli<C: Subcommand> {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<C>,
}

/// `main` of a service with only the common subcommands.
#[must_use]
pub fn main<A: Application>() -> ExitCode {
    main_with::<A, Command, _, _>(|command| run::<A>(command))
}

/// `main` of a service with subcommands of its own.
///
/// `C` is its subcommand enum (which usually flattens [`Command`] in), `dispatch` runs one;
/// no subcommand means [`Command::Serve`], which `C` must be able to express through `From`.
#[must_use]
pub fn main_with<A, C, F, Fut>(dispatch: F) -> ExitCode
where
    A: Application,
    C: Subcommand + From<Command>,
    F: FnOnce(C) -> Fut,
    Fut: Future<Output = ExitCode>,
{
    let matches = Cli::<C>::command().name(A::NAME).about(A::ABOUT).version(env!("CARGO_PKG_VERSION")).get_matches();
    let cli = match Cli::<C>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(dispatch(cli.command.unwrap_or_else(|| Command::Serve.into())))
}

/// Runs one of the common subcommands.
pub async fn run<A: Application>(command: Command) -> ExitCode {
    match command {
        Command::Serve => serve::<A>().await,
        Command::Healthcheck => healthcheck(A::DEFAULT_LISTEN_ADDR).await,
    }
}

/// Logging on, then the settings (exit 2 with every problem listed when they are bad), with
/// a warning per development default still in use.
///
/// # Errors
/// The exit code to end with when the settings are bad.
pub fn init<A: Application>() -> Result<A::Settings, ExitCode> {
    crate::telemetry::init_service(&A::NAME.replace('-', "_"), A::NAME);
    let (settings, dev_defaults) = A::load_settings().map_err(|error| {
        tracing::error!("{error}");
        eprintln!("{error}");
        ExitCode::from(2)
    })?;
    for name in dev_defaults {
        tracing::warn!(variable = %name, "using a development default; set it in production");
    }
    Ok(settings)
}

/// `serve`: reads the configuration from the environment and runs until Ctrl-C or SIGTERM,
/// then flushes the traces still buffered.
pub async fn serve<A: Application>() -> ExitCode {
    let settings = match init::<A>() {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let code = build_and_run::<A>(settings).await;
    // After draining, so the last requests' spans are in the flush; off the async workers,
    // because the exporter blocks while it sends.
    let _ = tokio::task::spawn_blocking(crate::telemetry::shutdown).await;
    code
}

async fn build_and_run<A: Application>(settings: A::Settings) -> ExitCode {
    let application = match A::build(settings).await {
        Ok(application) => application,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "startup failed");
            return ExitCode::FAILURE;
        }
    };
    match application.run_until_stopped(crate::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "server failed");
            ExitCode::FAILURE
        }
    }
}

/// `healthcheck`: GET `/healthz` on `LISTEN_ADDR` (or `default_listen_addr`) and succeed on 200.
pub async fn healthcheck(default_listen_addr: SocketAddr) -> ExitCode {
    let mut env = Env::from_process();
    let listen_addr = env.parse_with("LISTEN_ADDR", default_listen_addr, |raw| {
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

/// Binds `address`; the listener and the address it really got (port 0 picks a free one).
///
/// # Errors
/// The address cannot be bound.
pub async fn bind(address: SocketAddr) -> anyhow::Result<(tokio::net::TcpListener, SocketAddr)> {
    use anyhow::Context as _;
    let listener = tokio::net::TcpListener::bind(address).await.with_context(|| format!("failed to bind {address}"))?;
    let bound = listener.local_addr().context("failed to read the bound address")?;
    Ok((listener, bound))
}
