//! `stack`: the whole system on this machine without Docker, for manual use.
//!
//! Starts 2 auth-service, 3 orders-service and 2 notifications-service replicas (override with
//! `E2E_TOPOLOGY`) behind nginx or the built-in gateway, with SQLite under `./data/stack/`
//! (or fresh PostgreSQL databases when `E2E_DATABASE_URL` is set), prints exactly one line
//! `ready: <gateway URL>` on stdout once every replica is ready, and stops everything on
//! Ctrl-C or SIGTERM. Progress and problems go to stderr.
//!
//! ```text
//! cargo run --release --bin stack                 # gateway on 127.0.0.1:8080
//! cargo run --release --bin stack -- --port 0     # any free port
//! cargo run --release --bin stack -- --data-dir /tmp/stack
//! ```

use std::{path::PathBuf, process::ExitCode};

use e2e::{
    binaries::{Binaries, BuildPolicy},
    stack::{Stack, StackOptions},
};

const USAGE: &str = "usage: stack [--port PORT] [--data-dir DIR | --temp]\n\
    \n\
    --port PORT      gateway port on 127.0.0.1 (default 8080; 0 picks a free one)\n\
    --data-dir DIR   where the SQLite databases, logs and the master key live (default ./data/stack)\n\
    --temp           use a temporary directory, removed on exit\n\
    \n\
    Environment: E2E_DATABASE_URL (PostgreSQL server for fresh databases), E2E_GATEWAY\n\
    (nginx | builtin | auto), E2E_TOPOLOGY (auth=2,orders=3,notifications=2), E2E_RUST_LOG.";

struct Args {
    port: u16,
    dir: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { port: 8080, dir: Some(PathBuf::from("data/stack")) };
    let mut raw = std::env::args().skip(1);
    while let Some(arg) = raw.next() {
        match arg.as_str() {
            "--port" => {
                let value = raw.next().ok_or("--port needs a value")?;
                args.port = value.parse().map_err(|_| format!("--port: `{value}` is not a port number"))?;
            }
            "--data-dir" => args.dir = Some(PathBuf::from(raw.next().ok_or("--data-dir needs a value")?)),
            "--temp" => args.dir = None,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("stack: {message}");
            }
            eprintln!("{USAGE}");
            return if message.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) };
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("stack: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    // Under `cargo run`, rebuild the services too (a no-op when fresh) so stale binaries are
    // never started; elsewhere, build only what is missing.
    let policy = if std::env::var_os("CARGO").is_some() { BuildPolicy::Always } else { BuildPolicy::IfMissing };
    let binaries = tokio::task::spawn_blocking(move || Binaries::next_to_current_exe(policy)).await??;
    let mut options = StackOptions::from_env("stack", binaries)?;
    options.gateway_port = Some(args.port);
    options.dir = args.dir;
    let start = Stack::start(options);
    // Ctrl-C during start-up drops the half-started stack, which kills what it started.
    let stack = tokio::select! {
        stack = start => stack?,
        () = shutdown_signal() => {
            eprintln!("stack: interrupted during start-up");
            return Ok(());
        }
    };
    println!("ready: {}", stack.gateway_url().as_str().trim_end_matches('/'));
    shutdown_signal().await;
    eprintln!("stack: stopping");
    stack.shutdown().await;
    eprintln!("stack: stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
