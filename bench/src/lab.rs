//! Where the comparisons run: the plan ([`plan`]), the working directory, the wrk scripts
//! and the command lines run, CPU pinning, the interleaved rounds ([`rounds`]) and CPU time
//! from `/proc` ([`procfs`]).

mod plan;
mod procfs;
mod rounds;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context;
use serde::Serialize;

pub use self::{
    plan::Plan,
    procfs::{child_running, cpu_seconds, on_thread_cpu},
    rounds::{Measured, Variant, log_round, measure, summarise},
};
use crate::wrk::{self, Load, Outcome};

/// Everything a comparison needs: the plan, a working directory, the wrk scripts, an HTTP
/// client, this binary and its build profile.
#[derive(Debug)]
pub struct Lab {
    /// The plan.
    pub plan: Plan,
    /// Temporary directory for logs, token files and databases.
    pub dir: PathBuf,
    /// Where the wrk scripts are.
    pub scripts: PathBuf,
    /// For set-up requests.
    pub client: reqwest::Client,
    /// This executable (started again as `bench serve …`).
    pub exe: PathBuf,
    /// Whether this is an optimised build (other binaries are built the same way).
    pub release: bool,
    /// Every wrk command line run, for the report (deduplicated).
    pub commands: std::sync::Mutex<Vec<String>>,
    /// CPU pinning, when the machine has more than one core.
    pub pinning: Option<Pinning>,
}

/// Which CPUs the load generator and the servers run on.
///
/// On a small machine wrk and the servers compete for the same cores, and wrk's own cost
/// per request then dilutes every difference between servers. Pinned, wrk has its core and
/// the servers (this runner and every process it starts inherit its affinity) have the
/// others, so a difference in server cost shows in full wherever the server is the
/// bottleneck; the report also gives the servers' CPU time per request, which does not
/// depend on who the bottleneck was.
#[derive(Debug, Clone, Serialize)]
pub struct Pinning {
    /// wrk's CPU list (`taskset -c` syntax).
    pub load: String,
    /// How many CPUs wrk has (its thread count, unless set on the command line).
    pub load_cores: usize,
    /// The servers' CPU list.
    pub servers: String,
    /// How many CPUs the servers have.
    pub server_cores: usize,
}

impl Pinning {
    /// Pins this process (all its threads, and so every child started from now on) to all
    /// CPUs but the first quarter (at least one), which is left to wrk. `None` on a
    /// single-core machine or without `taskset`.
    pub async fn apply() -> Option<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        if cores < 2 {
            return None;
        }
        let load_cores = (cores / 4).max(1);
        let load = if load_cores == 1 { "0".to_owned() } else { format!("0-{}", load_cores - 1) };
        let servers =
            if load_cores + 1 == cores { load_cores.to_string() } else { format!("{load_cores}-{}", cores - 1) };
        let pid = std::process::id().to_string();
        let status = tokio::process::Command::new("taskset")
            .args(["-a", "-p", "-c", &servers, &pid])
            .stdout(std::process::Stdio::null())
            .status()
            .await;
        match status {
            Ok(status) if status.success() => {
                Some(Self { load, load_cores, servers, server_cores: cores - load_cores })
            }
            _ => {
                eprintln!("bench: taskset failed or is missing; the load generator shares the servers' cores");
                None
            }
        }
    }
}

impl Lab {
    /// Prepares the directory and scripts.
    ///
    /// # Errors
    /// Files cannot be written.
    pub fn new(plan: Plan, dir: &Path) -> anyhow::Result<Self> {
        let scripts = wrk::write_scripts(&dir.join("lua"))?;
        Ok(Self {
            plan,
            dir: dir.to_path_buf(),
            scripts,
            client: reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(30)).build()?,
            exe: std::env::current_exe().context("cannot find this executable")?,
            release: crate::child::is_release_build(),
            commands: std::sync::Mutex::new(Vec::new()),
            pinning: None,
        })
    }

    /// Runs wrk once with the plan's load (or `load`), recording the command line.
    ///
    /// # Errors
    /// As [`wrk::run`].
    pub async fn wrk(&self, run: &wrk::Run, load: Option<Load>) -> anyhow::Result<(Outcome, Vec<wrk::Second>)> {
        let load = load.unwrap_or(self.plan.load);
        let prefix: Vec<String> = match &self.pinning {
            Some(pinning) => vec!["taskset".into(), "-c".into(), pinning.load.clone()],
            None => Vec::new(),
        };
        let shown = wrk::Run {
            args: run
                .args
                .iter()
                .enumerate()
                .map(|(i, a)| if run.secret_args.contains(&i) { "<secret>".to_owned() } else { a.clone() })
                .collect(),
            ..run.clone()
        };
        let mut full = prefix.clone();
        full.extend(wrk::command_line(&self.scripts, &load, &shown));
        let line = full
            .join(" ")
            .replace(&self.scripts.display().to_string(), "bench/lua")
            .replace(&self.dir.display().to_string(), "$RUN_DIR");
        if let Ok(mut commands) = self.commands.lock() {
            let shape = normalise_ports(&line);
            if !commands.iter().any(|c| normalise_ports(c) == shape) {
                commands.push(line);
            }
        }
        wrk::run(&prefix, &self.scripts, &load, run).await
    }

    /// [`Self::wrk`], and the CPU seconds process `pid` spent meanwhile (`None` without a
    /// pid, or when `/proc` cannot say).
    ///
    /// # Errors
    /// As [`wrk::run`].
    pub async fn wrk_counting_cpu(
        &self,
        run: &wrk::Run,
        load: Option<Load>,
        pid: Option<u32>,
    ) -> anyhow::Result<(Outcome, Option<f64>)> {
        let before = pid.and_then(cpu_seconds);
        let (outcome, _) = self.wrk(run, load).await?;
        Ok((outcome, before.zip(pid.and_then(cpu_seconds)).map(|(a, b)| b - a)))
    }
}

fn normalise_ports(line: &str) -> String {
    line.split(' ')
        .map(|part| match part.strip_prefix("http://127.0.0.1:") {
            Some(_) => "http://127.0.0.1:PORT",
            None => part,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Writes `tokens` one per line to `dir/name` and returns the path.
///
/// # Errors
/// The file cannot be written.
pub fn write_tokens(dir: &Path, name: &str, tokens: &[String]) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, tokens.join("\n") + "\n").with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}
