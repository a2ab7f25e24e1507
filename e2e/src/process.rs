//! One service replica as a child process: spawn, wait for `/readyz`, SIGKILL, SIGTERM,
//! restart on the same port.
//!
//! Every replica writes stdout and stderr to its own log file in the stack's directory
//! (appending across restarts), so a failing scenario can show what each replica said.

use std::{
    fs::OpenOptions,
    io::{Read, Seek, SeekFrom, Write},
    path::PathBuf,
    process::Stdio,
    time::Duration,
};

use anyhow::{Context, bail};
use tokio::{
    process::{Child, Command},
    time::Instant,
};
use url::Url;

use crate::service::Service;

/// Parent environment variables a replica inherits; everything else is set explicitly, so a
/// developer's shell (a stray `DATABASE_URL`, `AUTH_ISSUER`…) cannot change what a test runs.
const INHERITED: [&str; 6] = ["PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "RUST_BACKTRACE"];

/// What a replica runs with.
#[derive(Debug, Clone)]
pub struct ReplicaSpec {
    /// Which service.
    pub service: Service,
    /// 1-based replica number.
    pub index: usize,
    /// Port on 127.0.0.1 it listens on (kept across restarts).
    pub port: u16,
    /// The service binary.
    pub binary: PathBuf,
    /// Environment (besides [`INHERITED`]).
    pub env: Vec<(String, String)>,
    /// Where stdout and stderr go.
    pub log_path: PathBuf,
}

impl ReplicaSpec {
    /// `orders-2`: the replica's `INSTANCE_ID`, and what follows the slash in `X-Served-By`.
    #[must_use]
    pub fn instance_id(&self) -> String {
        format!("{}-{}", self.service.short(), self.index)
    }

    /// `http://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> Url {
        Url::parse(&format!("http://127.0.0.1:{}", self.port)).unwrap_or_else(|_| unreachable_url())
    }
}

fn unreachable_url() -> Url {
    Url::parse("http://127.0.0.1:9").unwrap_or_else(|_| unreachable!("static URL parses"))
}

/// A replica and, while it runs, its process.
#[derive(Debug)]
pub struct ReplicaProcess {
    spec: ReplicaSpec,
    child: Option<Child>,
    starts: u32,
}

impl ReplicaProcess {
    /// A replica that has not been started yet.
    #[must_use]
    pub fn new(spec: ReplicaSpec) -> Self {
        Self { spec, child: None, starts: 0 }
    }

    /// What it runs with.
    #[must_use]
    pub fn spec(&self) -> &ReplicaSpec {
        &self.spec
    }

    /// Its base URL.
    #[must_use]
    pub fn url(&self) -> Url {
        self.spec.url()
    }

    /// Starts the process (again, after a kill), appending to its log file.
    ///
    /// # Errors
    /// It is already running, or the binary cannot be executed.
    pub fn spawn(&mut self) -> anyhow::Result<()> {
        if self.is_running() {
            bail!("{} is already running", self.spec.instance_id());
        }
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.spec.log_path)
            .with_context(|| format!("cannot open {}", self.spec.log_path.display()))?;
        self.starts += 1;
        writeln!(log, "==== e2e: start #{} of {} ====", self.starts, self.spec.instance_id())?;
        let stderr = log.try_clone()?;
        let mut command = Command::new(&self.spec.binary);
        command.env_clear();
        for name in INHERITED {
            if let Ok(value) = std::env::var(name) {
                command.env(name, value);
            }
        }
        command
            .envs(self.spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(stderr))
            // A test that panics drops its stack; nothing may outlive it.
            .kill_on_drop(true);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {} ({})", self.spec.instance_id(), self.spec.binary.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// `true` while the process runs.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Polls `/readyz` until it answers 200.
    ///
    /// # Errors
    /// The process exited, or `timeout` passed; the message carries the end of its log.
    pub async fn wait_ready(&mut self, client: &reqwest::Client, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let url = self.url().join("/readyz")?;
        let mut last: String;
        loop {
            if !self.is_running() {
                let status = match &mut self.child {
                    Some(child) => child.try_wait().ok().flatten().map_or_else(|| "?".to_owned(), |s| s.to_string()),
                    None => "never started".to_owned(),
                };
                bail!(
                    "{} exited ({status}) before it was ready; its log ends with:\n{}",
                    self.spec.instance_id(),
                    self.log_tail(40)
                );
            }
            match client.get(url.clone()).timeout(Duration::from_secs(2)).send().await {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => {
                    let status = response.status();
                    last = format!("{status}: {}", response.text().await.unwrap_or_default());
                }
                Err(error) => last = error.to_string(),
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} not ready after {timeout:?} (last /readyz: {last}); its log ends with:\n{}",
                    self.spec.instance_id(),
                    self.log_tail(40)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL, then reaps the process. No-op when it is not running.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// SIGKILL without waiting (for `Drop`, where nothing can be awaited); the process is
    /// reaped in the background.
    pub fn kill_now(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
        }
    }

    /// SIGTERM (graceful shutdown), SIGKILL after `grace`.
    pub async fn stop(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id().and_then(|id| i32::try_from(id).ok()).and_then(rustix::process::Pid::from_raw);
        if let Some(pid) = pid {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            if tokio::time::timeout(grace, child.wait()).await.is_ok() {
                return;
            }
        }
        let _ = child.start_kill();
        let _ = child.wait().await;
    }

    /// The last `lines` lines of its log.
    #[must_use]
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.spec.log_path, lines)
    }
}

/// The last `lines` lines of a file (reads at most the last 64 KiB).
#[must_use]
pub fn tail(path: &std::path::Path, lines: usize) -> String {
    let Ok(mut file) = std::fs::File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buffer = Vec::new();
    let _ = file.read_to_end(&mut buffer);
    let text = String::from_utf8_lossy(&buffer);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
