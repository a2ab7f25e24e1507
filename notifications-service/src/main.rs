//! The notifications-service binary: `serve` (the default) or `healthcheck`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(version, about = "Notifications API")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Exit 0 when the local instance answers /healthz, 1 otherwise (for container health checks).
    Healthcheck,
}

#[tokio::main]
async fn main() -> ExitCode {
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Serve => notifications_service::startup::serve().await,
        Command::Healthcheck => notifications_service::startup::healthcheck().await,
    }
}
