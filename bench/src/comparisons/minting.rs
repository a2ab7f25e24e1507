//! Comparison 5: tokens per second at auth-service's `POST /oauth/token`, for the
//! `client_credentials` grant (client authentication, then one RS256 signature) and the
//! `refresh_token` grant (rotation of the refresh token in the database, then one signature),
//! next to raw `ring` RS256 signing with an RSA key of the same size (2048 bits) on one core
//! and on all the cores the servers have.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use http::StatusCode;
use serde::Serialize;
use shared::auth::testkit::test_key;

use super::sessions::{AuthLab, CLIENT_ID};
use crate::{
    lab::{self, Lab, Measured},
    stats::Spread,
    wrk::{Load, Outcome, Run},
};

/// What comparison 5 measured.
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
    /// How many cores the servers (and this measurement) had.
    pub server_cores: usize,
    /// Length of the signed message (a real access token's signing input).
    pub message_bytes: usize,
}

fn signs_per_second(message: &[u8], run: Duration, threads: usize) -> f64 {
    let key = test_key(0);
    let total: u64 = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let key = key.clone();
                scope.spawn(move || {
                    let started = Instant::now();
                    let mut count = 0u64;
                    while started.elapsed() < run {
                        std::hint::black_box(key.signature(message));
                        count += 1;
                    }
                    count
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    total as f64 / run.as_secs_f64()
}

/// Runs comparison 5 against `auth`.
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
    // Pinned, this process has the servers' cores only: the raw rate is measured on the same
    // cores auth-service runs on.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let rounds = plan.rounds as usize;
    eprintln!("bench: comparison 5: 2 grants + raw signing x {rounds} rounds");
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
            let outcome = if grant == 0 {
                lab.wrk(&cc_run, Some(load)).await?.0
            } else {
                let sessions = auth.sessions(sessions_per_run).await?;
                let refresh: Vec<String> = sessions.into_iter().map(|t| t.refresh_token).collect();
                let file = lab::write_tokens(&lab.dir, "refresh.tokens", &refresh)?;
                let run = Run {
                    script: "token_endpoint.lua",
                    url: url.clone(),
                    args: vec!["refresh_token".into(), file.display().to_string(), threads.to_string()],
                    secret_args: Vec::new(),
                };
                lab.wrk(&run, Some(load)).await?.0
            };
            if round > 0 {
                eprintln!(
                    "bench:   round {round}/{rounds} {:<28} {:>9.0} tokens/s  p50 {:>7.2} ms  p99 {:>7.2} ms  errors {}",
                    if grant == 0 { "client_credentials" } else { "refresh_token" },
                    outcome.ok_rps(),
                    outcome.p50_us as f64 / 1000.0,
                    outcome.p99_us as f64 / 1000.0,
                    outcome.status_errors + outcome.socket_errors()
                );
                outcomes[grant].push(outcome);
            }
        }
        if round > 0 {
            let (message, run) = (message.clone(), plan.signing_run);
            let (one, all) = tokio::task::spawn_blocking(move || {
                (signs_per_second(&message, run, 1), signs_per_second(&message, run, cores))
            })
            .await?;
            eprintln!("bench:   round {round}/{rounds} raw ring RS256: {one:.0}/s on one core, {all:.0}/s on {cores}");
            ring_one.push(one);
            ring_all.push(all);
        }
    }
    let [cc, refresh] = outcomes;
    let measured = |key: &'static str, label: &str, rounds: Vec<Outcome>| {
        let rps: Vec<f64> = rounds.iter().map(Outcome::ok_rps).collect();
        Measured {
            key,
            label: label.to_owned(),
            rps: Spread::of(&rps),
            p50_ms: Spread::of(&rounds.iter().map(|o| o.p50_us as f64 / 1000.0).collect::<Vec<_>>()),
            p99_ms: Spread::of(&rounds.iter().map(|o| o.p99_us as f64 / 1000.0).collect::<Vec<_>>()),
            status_errors: rounds.iter().map(|o| o.status_errors).sum(),
            socket_errors: rounds.iter().map(Outcome::socket_errors).sum(),
            cache_hit_rate: None,
            cpu_us_per_request: None,
            cpu_cores: None,
            cpu_us_by_round: Vec::new(),
            rounds,
        }
    };
    let refresh_starved = refresh.iter().map(|o| o.starved).sum();
    Ok(MintingResults {
        grants: vec![
            measured("client_credentials", "client_credentials grant", cc),
            measured("refresh_token", "refresh_token grant", refresh),
        ],
        refresh_starved,
        ring_one_core: Spread::of(&ring_one),
        ring_server_cores: Spread::of(&ring_all),
        server_cores: cores,
        message_bytes: message.len(),
    })
}
