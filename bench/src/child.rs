//! Servers under test as child processes: this binary's own `serve` modes and the peer.
//!
//! Each target runs in a process of its own, like the peer, so no variant shares a runtime
//! or an allocator with the runner or with another variant. Output goes to a log file in the
//! run's directory; readiness is polled over HTTP.

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context, bail};
use tokio::{
    process::{Child, Command},
    time::Instant,
};

/// A running child server; killed when dropped.
#[derive(Debug)]
pub struct ChildServer {
    name: String,
    child: Child,
    log: PathBuf,
}

impl ChildServer {
    /// Starts `program args…` with `env` (plus `PATH` and `HOME` only), output to
    /// `dir/<name>.log`.
    ///
    /// # Errors
    /// The program cannot be started.
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(&str, String)],
        dir: &Path,
    ) -> anyhow::Result<Self> {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let err = out.try_clone()?;
        let mut command = Command::new(program);
        command.args(args).env_clear();
        for inherited in ["PATH", "HOME", "TMPDIR"] {
            if let Ok(value) = std::env::var(inherited) {
                command.env(inherited, value);
            }
        }
        let child = command
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        Ok(Self { name: name.to_owned(), child, log })
    }

    /// Waits until `url` answers 200, or fails with the end of the log.
    ///
    /// # Errors
    /// The process exited, or `timeout` passed.
    pub async fn wait_ready(&mut self, client: &reqwest::Client, url: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited ({status}) before it was ready:\n{}", self.name, self.log_tail());
            }
            if let Ok(response) = client.get(url).timeout(Duration::from_secs(2)).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{} not ready at {url} within {timeout:?}:\n{}", self.name, self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Its process id (while it runs).
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The last lines of its log.
    #[must_use]
    pub fn log_tail(&self) -> String {
        e2e::process::tail(&self.log, 20)
    }

    /// Kills it and waits for it to exit.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The `bench-peer` project's manifest.
#[must_use]
pub fn peer_manifest() -> PathBuf {
    e2e::binaries::workspace_root().join("bench-peer/Cargo.toml")
}

/// Builds `bench-peer` (its own cargo project, see its Cargo.toml for why) with the profile
/// this runner was built with, and returns the binary's path.
///
/// # Errors
/// cargo fails.
pub async fn build_peer(release: bool) -> anyhow::Result<PathBuf> {
    let manifest = peer_manifest();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(&cargo);
    command.args(["build", "--manifest-path"]).arg(&manifest).args(["--message-format", "short"]);
    if release {
        command.arg("--release");
    }
    // Its own target directory: it has its own lockfile and dependency versions.
    command.env_remove("CARGO_TARGET_DIR");
    eprintln!(
        "bench: building the peer: cargo build {}--manifest-path {}",
        if release { "--release " } else { "" },
        manifest.display()
    );
    let output = command.stdin(Stdio::null()).output().await.with_context(|| format!("cannot run {cargo}"))?;
    if !output.status.success() {
        bail!("building bench-peer failed:\n{}", String::from_utf8_lossy(&output.stderr));
    }
    let binary = manifest
        .parent()
        .context("manifest has a directory")?
        .join("target")
        .join(if release { "release" } else { "debug" })
        .join("bench-peer");
    if !binary.is_file() {
        bail!("bench-peer built but {} is missing", binary.display());
    }
    Ok(binary)
}

/// Whether this binary was built with optimisations (the profile the other binaries get).
#[must_use]
pub fn is_release_build() -> bool {
    !cfg!(debug_assertions)
}
