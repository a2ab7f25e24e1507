//! The run's plan (full or smoke), its working directory, and the interleaved measurement
//! loop every comparison uses.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::Context;
use e2e::service::Topology;
use serde::Serialize;

use crate::{
    stats::Spread,
    wrk::{self, Load, Outcome},
};

/// How long and how hard a run measures.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// `smoke` or `full`.
    pub mode: &'static str,
    /// Measured rounds per variant.
    pub rounds: u32,
    /// The wrk load of every measured run.
    pub load: Load,
    /// Unrecorded run per variant before the rounds (0: none).
    pub warmup: Duration,
    /// Distinct tokens the cold runs rotate through.
    pub cold_tokens: usize,
    /// The verifier target's token-cache capacity (well below `cold_tokens`, so cold runs
    /// miss).
    pub cache_capacity: usize,
    /// Users (one session each) whose tokens the orders runs rotate through.
    pub users: usize,
    /// auth-service's access-token lifetime in comparison 3 (bounds the revocation lag).
    pub access_ttl: Duration,
    /// The orders target's leeway on token dates.
    pub leeway: Duration,
    /// Length of each outage run.
    pub outage_run: Duration,
    /// Poll interval of the revocation-lag measurement.
    pub revocation_poll: Duration,
    /// Replicas of the gateway stack (comparison 4).
    #[serde(skip)]
    pub topology: Topology,
    /// `auth=…, orders=…, notifications=…` for the report.
    pub topology_text: String,
    /// Length of each raw signing measurement.
    pub signing_run: Duration,
    /// Comparisons to run (1 to 5).
    pub only: Vec<u8>,
}

impl Plan {
    /// The full plan: minutes.
    #[must_use]
    pub fn full() -> Self {
        Self {
            mode: "full",
            rounds: 5,
            load: Load { threads: 2, connections: 32, duration: Duration::from_secs(8) },
            warmup: Duration::from_secs(2),
            cold_tokens: 25_000,
            cache_capacity: 1_000,
            users: 8,
            access_ttl: Duration::from_secs(30),
            leeway: Duration::from_secs(30),
            outage_run: Duration::from_secs(12),
            revocation_poll: Duration::from_millis(250),
            topology: Topology::default(),
            topology_text: String::new(),
            signing_run: Duration::from_secs(2),
            only: vec![1, 2, 3, 4, 5],
        }
        .with_topology_text()
    }

    /// The smoke plan: every comparison for about a second, so the runner cannot rot.
    #[must_use]
    pub fn smoke() -> Self {
        Self {
            mode: "smoke",
            rounds: 1,
            load: Load { threads: 2, connections: 8, duration: Duration::from_secs(1) },
            warmup: Duration::ZERO,
            cold_tokens: 600,
            cache_capacity: 100,
            users: 2,
            access_ttl: Duration::from_secs(2),
            leeway: Duration::from_secs(1),
            outage_run: Duration::from_secs(3),
            revocation_poll: Duration::from_millis(100),
            topology: Topology { auth: 1, orders: 2, notifications: 1 },
            topology_text: String::new(),
            signing_run: Duration::from_millis(300),
            only: vec![1, 2, 3, 4, 5],
        }
        .with_topology_text()
    }

    fn with_topology_text(mut self) -> Self {
        let t = self.topology;
        self.topology_text = format!("auth={}, orders={}, notifications={}", t.auth, t.orders, t.notifications);
        self
    }

    /// Sets the replica counts.
    #[must_use]
    pub fn with_topology(mut self, topology: Topology) -> Self {
        self.topology = topology;
        self.with_topology_text()
    }

    /// Whether comparison `n` is selected.
    #[must_use]
    pub fn runs(&self, n: u8) -> bool {
        self.only.contains(&n)
    }
}

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

/// One variant of a comparison.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Short key (`ours-hot`).
    pub key: &'static str,
    /// Label for tables and charts.
    pub label: String,
    /// The wrk run.
    pub run: wrk::Run,
    /// A `/stats` URL of the verifier target, read before and after each run to get the
    /// token-cache hit rate.
    pub stats_url: Option<String>,
    /// The server's process, whose CPU time is read before and after each run.
    pub pid: Option<u32>,
}

/// What the rounds measured for one variant.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    /// The variant's key.
    pub key: &'static str,
    /// Its label.
    pub label: String,
    /// Every round's wrk outcome.
    pub rounds: Vec<Outcome>,
    /// Successful responses per second.
    pub rps: Spread,
    /// Median latency, milliseconds.
    pub p50_ms: Spread,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: Spread,
    /// Responses of 400 or more, over all rounds.
    pub status_errors: u64,
    /// Socket errors and timeouts, over all rounds.
    pub socket_errors: u64,
    /// Token-cache hits / accepted tokens over all rounds (verifier target only).
    pub cache_hit_rate: Option<f64>,
    /// The server process's CPU time per successful response, microseconds.
    pub cpu_us_per_request: Option<Spread>,
    /// The server process's CPU time / wall time: how many cores it kept busy.
    pub cpu_cores: Option<Spread>,
    /// CPU µs per successful response of every round (empty when not measured).
    pub cpu_us_by_round: Vec<f64>,
}

impl Measured {
    /// Server CPU per request of every round, for paired ratios.
    #[must_use]
    pub fn cpu_by_round(&self) -> &[f64] {
        &self.cpu_us_by_round
    }

    /// Throughput of every round, for paired ratios.
    #[must_use]
    pub fn rps_by_round(&self) -> Vec<f64> {
        self.rounds.iter().map(Outcome::ok_rps).collect()
    }
}

/// User plus system CPU time of process `pid` so far, in seconds (Linux `/proc`).
#[must_use]
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// User plus system CPU time of the calling thread so far, in seconds: timings taken in the
/// runner count the CPU they used, not the wall time a busy machine stretched them to.
#[must_use]
pub fn thread_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// The process id of this process's child running `binary` (Linux `/proc`).
#[must_use]
pub fn child_running(binary: &Path) -> Option<u32> {
    let me = std::process::id().to_string();
    let wanted = binary.canonicalize().ok()?;
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
        let parent = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.to_owned();
        let exe = std::fs::read_link(entry.path().join("exe")).ok()?;
        (parent == me && exe == wanted).then_some(pid)
    })
}

/// `USER_HZ`: 100 on every mainstream Linux; `getconf CLK_TCK` would say otherwise.
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|t: &f64| *t > 0.0)
            .unwrap_or(100.0)
    })
}

async fn cache_counters(client: &reqwest::Client, url: &str) -> Option<(u64, u64)> {
    let stats: serde_json::Value = client.get(url).send().await.ok()?.json().await.ok()?;
    Some((stats["token_cache_hits"].as_u64()?, stats["verifications_ok"].as_u64()?))
}

/// Measures every variant `plan.rounds` times, interleaved: round `r` runs all variants, in
/// an order rotated by `r` so no variant always follows the same neighbour.
///
/// # Errors
/// A wrk run fails.
pub async fn measure(lab: &Lab, variants: &[Variant]) -> anyhow::Result<Vec<Measured>> {
    if !lab.plan.warmup.is_zero() {
        let warm = Load { duration: lab.plan.warmup, ..lab.plan.load };
        for variant in variants {
            lab.wrk(&variant.run, Some(warm)).await.with_context(|| format!("warm-up of {}", variant.key))?;
        }
    }
    let count = variants.len();
    let mut outcomes: Vec<Vec<Outcome>> = vec![Vec::new(); count];
    let mut cache: Vec<(u64, u64)> = vec![(0, 0); count];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); count];
    for round in 0..lab.plan.rounds as usize {
        for position in 0..count {
            let index = (position + round) % count;
            let variant = &variants[index];
            let before = match &variant.stats_url {
                Some(url) => cache_counters(&lab.client, url).await,
                None => None,
            };
            let cpu_before = variant.pid.and_then(cpu_seconds);
            let (outcome, _) = lab.wrk(&variant.run, None).await.with_context(|| format!("run of {}", variant.key))?;
            if let (Some(pid), Some(before)) = (variant.pid, cpu_before)
                && let Some(after) = cpu_seconds(pid)
            {
                cpu[index].push(after - before);
            }
            if let (Some(url), Some((hits0, ok0))) = (&variant.stats_url, before)
                && let Some((hits1, ok1)) = cache_counters(&lab.client, url).await
            {
                cache[index].0 += hits1.saturating_sub(hits0);
                cache[index].1 += ok1.saturating_sub(ok0);
            }
            eprintln!(
                "bench:   round {}/{} {:<28} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}",
                round + 1,
                lab.plan.rounds,
                variant.key,
                outcome.ok_rps(),
                outcome.p50_us as f64 / 1000.0,
                outcome.p99_us as f64 / 1000.0,
                outcome.status_errors + outcome.socket_errors()
            );
            outcomes[index].push(outcome);
        }
    }
    Ok(variants
        .iter()
        .zip(outcomes)
        .zip(cache)
        .zip(cpu)
        .map(|(((variant, rounds), (hits, ok)), cpu)| {
            summarise(variant, rounds, variant.stats_url.as_ref().map(|_| (hits, ok)), &cpu)
        })
        .collect())
}

/// Summarises rounds; `cpu` holds the server's CPU seconds of each round (empty when not
/// measured).
#[must_use]
pub fn summarise(variant: &Variant, rounds: Vec<Outcome>, cache: Option<(u64, u64)>, cpu: &[f64]) -> Measured {
    let rps: Vec<f64> = rounds.iter().map(Outcome::ok_rps).collect();
    let p50: Vec<f64> = rounds.iter().map(|o| o.p50_us as f64 / 1000.0).collect();
    let p99: Vec<f64> = rounds.iter().map(|o| o.p99_us as f64 / 1000.0).collect();
    let cpu_per_request: Vec<f64> = cpu
        .iter()
        .zip(&rounds)
        .map(|(seconds, o)| seconds * 1e6 / o.requests.saturating_sub(o.status_errors).max(1) as f64)
        .collect();
    Measured {
        key: variant.key,
        label: variant.label.clone(),
        rps: Spread::of(&rps),
        p50_ms: Spread::of(&p50),
        p99_ms: Spread::of(&p99),
        status_errors: rounds.iter().map(|o| o.status_errors).sum(),
        socket_errors: rounds.iter().map(Outcome::socket_errors).sum(),
        cache_hit_rate: cache.and_then(|(hits, ok)| (ok > 0).then(|| hits as f64 / ok as f64)),
        cpu_us_per_request: (cpu.len() == rounds.len() && !cpu.is_empty()).then(|| Spread::of(&cpu_per_request)),
        cpu_us_by_round: if cpu.len() == rounds.len() { cpu_per_request.clone() } else { Vec::new() },
        cpu_cores: (cpu.len() == rounds.len() && !cpu.is_empty()).then(|| {
            let busy: Vec<f64> =
                cpu.iter().zip(&rounds).map(|(seconds, o)| seconds * 1e6 / o.duration_us.max(1) as f64).collect();
            Spread::of(&busy)
        }),
        rounds,
    }
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
