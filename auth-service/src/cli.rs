//! The command line: `auth-service [serve]`, `auth-service rotate-keys [--emergency]`,
//! `auth-service healthcheck` (for container health checks, so images need no curl).

use std::{net::SocketAddr, process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};

use crate::{config::Settings, startup::Application};

/// Command-line arguments. Everything else is configured by environment variables.
#[derive(Debug, Parser)]
#[command(name = "auth-service", version, about = "Users, sessions, RS256 access tokens, key rotation, JWKS.")]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP on `LISTEN_ADDR` (the default).
    Serve,
    /// Rotate the signing keys now, through the database.
    RotateKeys {
        /// The active key is compromised: replace it at once and remove it.
        #[arg(long)]
        emergency: bool,
    },
    /// GET `http://<LISTEN_ADDR>/healthz`; exit 0 when it answers 200, else 1.
    Healthcheck,
}

/// Runs the command; the process exit code.
#[must_use]
pub fn main(cli: Cli) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve) {
            Command::Serve => serve().await,
            Command::RotateKeys { emergency } => rotate(emergency).await,
            Command::Healthcheck => {
                if healthcheck(listen_addr()).await {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
        }
    })
}

fn load_settings() -> Option<Settings> {
    shared::telemetry::init("auth_service");
    match Settings::load() {
        Ok(settings) => Some(settings),
        Err(error) => {
            eprintln!("{error}");
            None
        }
    }
}

async fn serve() -> ExitCode {
    let Some(settings) = load_settings() else { return ExitCode::from(2) };
    let application = match Application::build(settings).await {
        Ok(application) => application,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "cannot start");
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

async fn rotate(emergency: bool) -> ExitCode {
    let Some(settings) = load_settings() else { return ExitCode::from(2) };
    match crate::startup::rotate_keys(&settings, emergency).await {
        Ok(outcome) => {
            println!("{}", serde_json::to_string_pretty(&outcome).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("key rotation failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `LISTEN_ADDR` with a wildcard host replaced by loopback (what a health check can reach).
fn listen_addr() -> SocketAddr {
    let mut env = shared::config::Env::from_process();
    let mut addr = env.parse("LISTEN_ADDR", SocketAddr::from(([127, 0, 0, 1], 8081)));
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    addr
}

/// `true` when `GET http://{address}/healthz` answers 200 within 3 s.
pub async fn healthcheck(address: SocketAddr) -> bool {
    let Ok(client) = reqwest::Client::builder().timeout(Duration::from_secs(3)).build() else {
        return false;
    };
    match client.get(format!("http://{address}/healthz")).send().await {
        Ok(response) => response.status().is_success(),
        Err(_) => false,
    }
}
