//! The command line: the kit's `serve` and `healthcheck`, plus operator subcommands.
//!
//! `auth-service rotate-keys [--emergency]` and `auth-service create-admin --email <address>`
//! (the password is read from standard input, never from the command line, where other users
//! of the machine could see it).

use std::process::ExitCode;

use clap::Subcommand;
use service_kit::serve::{Command as Common, init, run};

use crate::startup::{Application, create_admin, rotate_keys};

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
    /// Create an administrator account (the password is the first line of standard input).
    CreateAdmin {
        /// The administrator's email; refused if an account already has it.
        #[arg(long)]
        email: String,
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
            Command::CreateAdmin { email } => provision_admin(&email).await,
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

async fn provision_admin(email: &str) -> ExitCode {
    let settings = match init::<Application>() {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let mut password = String::new();
    if let Err(error) = std::io::stdin().read_line(&mut password) {
        eprintln!("cannot read the password from standard input: {error}");
        return ExitCode::FAILURE;
    }
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    match create_admin(&settings, email, password).await {
        Ok(user_id) => {
            println!("{}", serde_json::json!({ "id": user_id, "email": email, "role": "admin" }));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("create-admin failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}
