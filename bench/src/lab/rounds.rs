//! The interleaved measurement loop every comparison uses, and what it records per variant.

use anyhow::Context;
use serde::Serialize;

use super::Lab;
use crate::{
    stats::Spread,
    wrk::{self, Load, Outcome},
};

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
            let (outcome, cpu_seconds) = lab
                .wrk_counting_cpu(&variant.run, None, variant.pid)
                .await
                .with_context(|| format!("run of {}", variant.key))?;
            if let Some(seconds) = cpu_seconds {
                cpu[index].push(seconds);
            }
            if let (Some(url), Some((hits0, ok0))) = (&variant.stats_url, before)
                && let Some((hits1, ok1)) = cache_counters(&lab.client, url).await
            {
                cache[index].0 += hits1.saturating_sub(hits0);
                cache[index].1 += ok1.saturating_sub(ok0);
            }
            log_round(round + 1, lab.plan.rounds, variant.key, "req/s", &outcome);
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

/// The progress line of one measured run: `unit` names what the script's successes are.
pub fn log_round(round: usize, rounds: u32, name: &str, unit: &str, outcome: &Outcome) {
    eprintln!(
        "bench:   round {round}/{rounds} {name:<28} {:>9.0} {unit}  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}",
        outcome.ok_rps(),
        outcome.p50_us as f64 / 1000.0,
        outcome.p99_us as f64 / 1000.0,
        outcome.status_errors + outcome.socket_errors()
    );
}
