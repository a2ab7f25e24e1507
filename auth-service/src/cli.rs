//! The command line: the kit's `auth-service [serve]` and `auth-service healthcheck`, plus
//! `auth-service rotate-keys [--emergency]`.

use std::process::ExitCode;

use clap::Subcommand;
use service_kit::serve::{Command as Common, init, run};

use crate::startup::{Application, rotate_keys};

/// Subcommands: the kit's common ones and key rotation.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// The common subcommands (`serve`, `healthcheck`).
    #[command(flatten)]
    Common(Common),
    /// Rotate the signing keys now, through the database.
    RotateKeys {
        /// The active key is compromised: replace it at once and remove it.
        #[arg(long)]
        emergency: bool,
    },
}

impl From<Common> for Command {
    fn from(common: Common) -> Self {
        Self::Common(common)
    }
}

/// `main` of the binary.
#[must_use]
pub fn main() -> ExitCode {
    service_kit::serve::main_with::<Application, Command, _, _>(|command| async move {
        match command {
            Command::Common(common) => run::<Application>(common).await,
            Command::RotateKeys { emergency } => rotate(emergency).await,
        }
    })
}

async fn rotate(emergency: bool) -> ExitCode {
    let settings = match init::<Application>() {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    match rotate_keys(&settings, emergency).await {
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
