//! Minting: tokens per second at auth-service's `POST /oauth/token`, for the
//! `client_credentials` grant (client authentication, then one RS256 signature) and the
//! `refresh_token` grant (rotation of the refresh token in the database, then one signature),
//! next to raw `ring` RS256 signing with an RSA key of the same size (2048 bits) on one core
//! and on all the cores the servers have.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use http::StatusCode;
use jwt_verifier::testkit::test_key;
use serde::Serialize;

use super::{
    Comparison,
    auth_service::{AuthLab, CLIENT_ID},
};
use crate::{
    lab::{self, Lab, Measured},
    stats::Spread,
    wrk::{Load, Outcome, Run},
};

/// What minting measured.
#[derive(Debug, Clone, Serialize)]
pub struct MintingResults {
    /// `client_credentials` and `refresh_token`.
    pub grants: Vec<Measured>,
    /// Requests sent without an unused refresh token (failed chains), over all rounds.
    pub refresh_starved: u64,
    /// Raw RS256 signatures per second, one thread.
    pub ring_one_core: Spread,
    /// Raw RS256 signatures per second, one thread per server core, summed.
    pub ring_server_cores: Spread,
    /// CPU time of one raw signature, microseconds (one thread's own CPU time).
    pub ring_cpu_us_per_signature: Spread,
    /// How many cores the servers (and this measurement) had.
    pub server_cores: usize,
    /// Length of the signed message (a real access token's signing input).
    pub message_bytes: usize,
}

/// Raw signing on `threads` threads for `run`: `(signatures per second, CPU µs per
/// signature)`; the CPU figure counts the signing threads' own CPU time, so it holds on a busy
/// machine.
fn sign(message: &[u8], run: Duration, threads: usize) -> (f64, f64) {
    let key = test_key(0);
    let results: Vec<(u64, f64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let key = key.clone();
                scope.spawn(move || {
                    lab::on_thread_cpu(|| {
                        let started = Instant::now();
                        let mut count = 0u64;
                        while started.elapsed() < run {
                            std::hint::black_box(key.signature(message));
                            count += 1;
                        }
                        count
                    })
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or((0, 0.0))).collect()
    });
    let count: u64 = results.iter().map(|r| r.0).sum();
    let cpu: f64 = results.iter().map(|r| r.1).sum();
    (count as f64 / run.as_secs_f64(), cpu * 1e6 / count.max(1) as f64)
}

/// Runs minting against `auth`.
///
/// # Errors
/// A grant fails during set-up, or wrk fails.
pub async fn run(lab: &Lab, auth: &AuthLab) -> anyhow::Result<MintingResults> {
    let plan = &lab.plan;
    let secret = &auth.client_secret;
    let form = "grant_type=client_credentials&scope=notifications%3Awrite&audience=notifications-service";
    let reply =
        auth.api.client_credentials(CLIENT_ID, secret, "notifications:write", Some("notifications-service")).await?;
    if reply.status != StatusCode::OK {
        bail!("client_credentials answered {}: {}", reply.status, reply.text);
    }
    let access_token = reply.str("access_token").context("no access_token")?.to_owned();
    let message = access_token.rsplit_once('.').map_or(access_token.as_str(), |(input, _)| input).as_bytes().to_vec();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{secret}"));
    let url = auth.url.as_str().trim_end_matches('/').to_owned();
    let threads = plan.load.threads as usize;
    // One session per connection plus a spare per thread (see token_endpoint.lua).
    let sessions_per_run = plan.load.connections.max(plan.load.threads) as usize + threads;

    let cc_run = Run {
        script: "token_endpoint.lua",
        url: url.clone(),
        args: vec!["client_credentials".into(), basic, form.into()],
        secret_args: vec![1],
    };
    let mut outcomes: [Vec<Outcome>; 2] = [Vec::new(), Vec::new()];
    let mut ring_one = Vec::new();
    let mut ring_all = Vec::new();
    let mut ring_cpu = Vec::new();
    let mut cpu: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let auth_pid = auth.pid();
    // Pinned, this process has the servers' cores only: the raw rate is measured on the same
    // cores auth-service runs on.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let rounds = plan.rounds as usize;
    eprintln!("bench: {}: 2 grants + raw signing x {rounds} rounds", Comparison::Minting.title());
    let warmup = (!plan.warmup.is_zero()).then_some(Load { duration: plan.warmup, ..plan.load });
    for round in 0..=rounds {
        // Round 0 is the warm-up, unrecorded (skipped when the plan has none).
        let load = if round == 0 {
            match warmup {
                Some(load) => load,
                None => continue,
            }
        } else {
            plan.load
        };
        for position in 0..2 {
            let grant = (position + round) % 2;
            let run = if grant == 0 {
                cc_run.clone()
            } else {
                // Fresh sessions every run: each refresh token is good for one refresh only.
                let sessions = auth.sessions(sessions_per_run).await?;
                let refresh: Vec<String> = sessions.into_iter().map(|t| t.refresh_token).collect();
                let file = lab::write_tokens(&lab.dir, "refresh.tokens", &refresh)?;
                Run {
                    script: "token_endpoint.lua",
                    url: url.clone(),
                    args: vec!["refresh_token".into(), file.display().to_string(), threads.to_string()],
                    secret_args: Vec::new(),
                }
            };
            let (outcome, cpu_seconds) = lab.wrk_counting_cpu(&run, Some(load), auth_pid).await?;
            if round > 0 {
                let name = if grant == 0 { "client_credentials" } else { "refresh_token" };
                lab::log_round(round, plan.rounds, name, "tokens/s", &outcome);
                outcomes[grant].push(outcome);
                if let Some(seconds) = cpu_seconds {
                    cpu[grant].push(seconds);
                }
            }
        }
        if round > 0 {
            let (message, run) = (message.clone(), plan.signing_run);
            let ((one, cpu_one), (all, _)) =
                tokio::task::spawn_blocking(move || (sign(&message, run, 1), sign(&message, run, cores))).await?;
            eprintln!(
                "bench:   round {round}/{rounds} raw ring RS256: {one:.0}/s on one core ({cpu_one:.0} µs CPU each), \
                 {all:.0}/s on {cores}"
            );
            ring_one.push(one);
            ring_all.push(all);
            ring_cpu.push(cpu_one);
        }
    }
    let [cc, refresh] = outcomes;
    let [cc_cpu, refresh_cpu] = cpu;
    let measured = |key: &'static str, label: &str, rounds: Vec<Outcome>, cpu: &[f64]| {
        let variant = lab::Variant { key, label: label.to_owned(), run: cc_run.clone(), stats_url: None, pid: None };
        lab::summarise(&variant, rounds, None, cpu)
    };
    let refresh_starved = refresh.iter().map(|o| o.starved).sum();
    Ok(MintingResults {
        grants: vec![
            measured("client_credentials", "client_credentials grant", cc, &cc_cpu),
            measured("refresh_token", "refresh_token grant", refresh, &refresh_cpu),
        ],
        refresh_starved,
        ring_one_core: Spread::of(&ring_one),
        ring_server_cores: Spread::of(&ring_all),
        ring_cpu_us_per_signature: Spread::of(&ring_cpu),
        server_cores: cores,
        message_bytes: message.len(),
    })
}
