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
            cold_tokens: 20_000,
            cache_capacity: 5_000,
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
        })
    }

    /// Runs wrk once with the plan's load (or `load`), recording the command line.
    ///
    /// # Errors
    /// As [`wrk::run`].
    pub async fn wrk(&self, run: &wrk::Run, load: Option<Load>) -> anyhow::Result<(Outcome, Vec<wrk::Second>)> {
        let load = load.unwrap_or(self.plan.load);
        let line = wrk::command_line(&self.scripts, &load, run)
            .join(" ")
            .replace(&self.scripts.display().to_string(), "bench/lua")
            .replace(&self.dir.display().to_string(), "$RUN_DIR");
        if let Ok(mut commands) = self.commands.lock() {
            let shape = normalise_ports(&line);
            if !commands.iter().any(|c| normalise_ports(c) == shape) {
                commands.push(line);
            }
        }
        wrk::run(&self.scripts, &load, run).await
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
}

impl Measured {
    /// Throughput of every round, for paired ratios.
    #[must_use]
    pub fn rps_by_round(&self) -> Vec<f64> {
        self.rounds.iter().map(Outcome::ok_rps).collect()
    }
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
    for round in 0..lab.plan.rounds as usize {
        for position in 0..count {
            let index = (position + round) % count;
            let variant = &variants[index];
            let before = match &variant.stats_url {
                Some(url) => cache_counters(&lab.client, url).await,
                None => None,
            };
            let (outcome, _) = lab.wrk(&variant.run, None).await.with_context(|| format!("run of {}", variant.key))?;
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
        .map(|((variant, rounds), (hits, ok))| summarise(variant, rounds, variant.stats_url.as_ref().map(|_| (hits, ok))))
        .collect())
}

fn summarise(variant: &Variant, rounds: Vec<Outcome>, cache: Option<(u64, u64)>) -> Measured {
    let rps: Vec<f64> = rounds.iter().map(Outcome::ok_rps).collect();
    let p50: Vec<f64> = rounds.iter().map(|o| o.p50_us as f64 / 1000.0).collect();
    let p99: Vec<f64> = rounds.iter().map(|o| o.p99_us as f64 / 1000.0).collect();
    Measured {
        key: variant.key,
        label: variant.label.clone(),
        rps: Spread::of(&rps),
        p50_ms: Spread::of(&p50),
        p99_ms: Spread::of(&p99),
        status_errors: rounds.iter().map(|o| o.status_errors).sum(),
        socket_errors: rounds.iter().map(Outcome::socket_errors).sum(),
        cache_hit_rate: cache.and_then(|(hits, ok)| (ok > 0).then(|| hits as f64 / ok as f64)),
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
