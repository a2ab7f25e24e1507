//! Stateless vs stateful: orders-service's real router verifying every token locally, with
//! the verifier subscribed to auth-service's revocation feed and without it, against the same
//! router checking every token by RFC 7662 introspection at a real auth-service
//! ([`AuthLab`], the session-lookup model). Then auth-service is killed part-way through a
//! run, and finally sessions are logged out and the modes are polled with their access tokens
//! until they refuse them ([`revocation`]).

pub mod revocation;

use std::{path::PathBuf, time::Duration};

use anyhow::{Context, bail};
use base64::Engine;
use e2e::api::Api;
use http::StatusCode;
use serde::Serialize;
use url::Url;

use super::{
    Comparison,
    auth_service::{AuthLab, CLIENT_ID},
};
use crate::{
    child::ChildServer,
    lab::{self, Lab, Measured, Variant},
    stats::{Spread, paired_ratio},
    wrk::{Load, Run, Second},
};

/// The measured endpoint (here and through the gateway).
pub const ORDERS_PATH: &str = "/v1/orders?limit=10";

/// The modes of the orders target, as variant keys and in results.
pub mod mode_key {
    /// Local verification, the verifier subscribed to the revocation feed (how the services
    /// run).
    pub const LOCAL: &str = "local";
    /// Local verification with the feed off: the old behaviour.
    pub const LOCAL_NO_FEED: &str = "local-no-feed";
    /// RFC 7662 introspection at auth-service on every request.
    pub const INTROSPECT: &str = "introspect";
}

/// Share of requests answered 2xx.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Share {
    /// 2xx answers.
    pub ok: u64,
    /// All answers.
    pub total: u64,
}

impl Share {
    /// `ok / total` (0 when nothing was answered).
    #[must_use]
    pub fn fraction(&self) -> f64 {
        if self.total == 0 { 0.0 } else { self.ok as f64 / self.total as f64 }
    }
}

/// One outage run.
#[derive(Debug, Clone, Serialize)]
pub struct OutageRun {
    /// `local` or `introspect`.
    pub mode: &'static str,
    /// Seconds into the run when auth-service was killed.
    pub killed_at_s: f64,
    /// Whole seconds before the kill.
    pub before: Share,
    /// Whole seconds after the kill.
    pub after: Share,
    /// Requests per second, relative to the start: `(second, ok, failed)`.
    pub timeline: Vec<(i64, u64, u64)>,
    /// Socket errors (connection refused by the target counts here, not as an answer).
    pub socket_errors: u64,
}

/// What stateless vs stateful measured.
#[derive(Debug, Clone, Serialize)]
pub struct SessionsResults {
    /// `local` (feed on), `local-no-feed` and `introspect` throughput.
    pub throughput: Vec<Measured>,
    /// Local (feed on) / introspect, per round.
    pub local_vs_introspect: Spread,
    /// Local with the feed off / introspect, per round.
    pub local_no_feed_vs_introspect: Spread,
    /// Local with the feed on / with it off, throughput per round.
    pub feed_on_vs_off: Spread,
    /// The same by server CPU per request (off / on, so that above 1 the feed costs nothing).
    pub cpu_feed_on_vs_off: Option<Spread>,
    /// One outage run per mode (`local` with the feed, `introspect`).
    pub outage: Vec<OutageRun>,
    /// Revocation lags.
    pub revocation: revocation::Revocation,
    /// Access-token lifetime during the revocation measurement.
    pub revocation_ttl_s: u64,
    /// The local verifier's leeway on `exp`.
    pub leeway_s: u64,
    /// Orders seeded per user.
    pub orders_per_user: usize,
    /// How long auth-service took to come back after each kill.
    pub restart_s: Vec<f64>,
}

/// The orders target and its three base URLs.
pub struct OrdersTarget {
    server: ChildServer,
    /// Local verification with the revocation feed.
    pub local: String,
    /// Local verification without it.
    pub local_no_feed: String,
    /// Introspection.
    pub introspect: String,
}

impl OrdersTarget {
    /// Starts `bench serve orders` against `auth`.
    ///
    /// # Errors
    /// It does not become ready.
    pub async fn start(lab: &Lab, auth: &AuthLab) -> anyhow::Result<Self> {
        let (local_port, no_feed_port, introspect_port) =
            (e2e::ports::free_port()?, e2e::ports::free_port()?, e2e::ports::free_port()?);
        let issuer = auth.url.as_str().trim_end_matches('/');
        let args: Vec<String> = vec![
            "serve".into(),
            "orders".into(),
            "--listen-local".into(),
            format!("127.0.0.1:{local_port}"),
            "--listen-local-no-feed".into(),
            format!("127.0.0.1:{no_feed_port}"),
            "--events-url".into(),
            format!("{issuer}/v1/security-events"),
            "--listen-introspect".into(),
            format!("127.0.0.1:{introspect_port}"),
            "--issuer".into(),
            auth.url.to_string(),
            "--database-url".into(),
            format!("sqlite://{}", lab.dir.join("orders.db").display()),
            "--client-id".into(),
            CLIENT_ID.into(),
            "--leeway-secs".into(),
            lab.plan.leeway.as_secs().to_string(),
        ];
        let env = [("BENCH_CLIENT_SECRET", auth.client_secret.clone()), ("INSTANCE_ID", "orders-bench".to_owned())];
        let mut server = ChildServer::spawn("orders-target", &lab.exe, &args, &env, &lab.dir)?;
        let local = format!("http://127.0.0.1:{local_port}");
        let local_no_feed = format!("http://127.0.0.1:{no_feed_port}");
        let introspect = format!("http://127.0.0.1:{introspect_port}");
        server.wait_ready(&lab.client, &format!("{local}/healthz"), Duration::from_secs(60)).await?;
        server.wait_ready(&lab.client, &format!("{local_no_feed}/healthz"), Duration::from_secs(10)).await?;
        server.wait_ready(&lab.client, &format!("{introspect}/healthz"), Duration::from_secs(10)).await?;
        Ok(Self { server, local, local_no_feed, introspect })
    }

    /// Stops it.
    pub async fn stop(self) {
        self.server.stop().await;
    }

    fn base(&self, mode: &str) -> &str {
        match mode {
            mode_key::LOCAL => &self.local,
            mode_key::LOCAL_NO_FEED => &self.local_no_feed,
            _ => &self.introspect,
        }
    }
}

async fn get_status(client: &reqwest::Client, url: &str, token: &str) -> Option<StatusCode> {
    client.get(url).bearer_auth(token).timeout(Duration::from_secs(5)).send().await.ok().map(|r| r.status())
}

/// What the throughput rounds measured.
pub struct Throughput {
    /// One per mode.
    pub measured: Vec<Measured>,
    /// Local (feed on) / introspect.
    pub local_vs_introspect: Spread,
    /// Local (feed off) / introspect.
    pub local_no_feed_vs_introspect: Spread,
    /// Feed on / feed off.
    pub feed_on_vs_off: Spread,
    /// Feed off / feed on by server CPU per request.
    pub cpu_feed_on_vs_off: Option<Spread>,
    /// The token file, for the later parts.
    pub tokens: PathBuf,
}

/// Part one: sessions, seeded orders, and the interleaved throughput rounds of the three
/// modes (local verification with the feed and without it, introspection).
///
/// # Errors
/// Set-up or wrk fails.
pub async fn throughput(
    lab: &Lab,
    auth: &AuthLab,
    target: &OrdersTarget,
    orders_per_user: usize,
) -> anyhow::Result<Throughput> {
    let sessions = auth.sessions(auth.users).await?;
    let api = Api::new(Url::parse(&target.local)?);
    for tokens in &sessions {
        for n in 0..orders_per_user {
            let reply = api.create_order(&tokens.access_token, &[("BENCH-SKU", u32::try_from(n + 1)?)], None).await?;
            if reply.status != StatusCode::CREATED {
                bail!("seeding an order answered {}: {}", reply.status, reply.text);
            }
        }
    }
    let tokens: Vec<String> = sessions.iter().map(|t| t.access_token.clone()).collect();
    let file = lab::write_tokens(&lab.dir, "sessions.tokens", &tokens)?;
    for mode in [mode_key::LOCAL, mode_key::LOCAL_NO_FEED, mode_key::INTROSPECT] {
        let url = format!("{}{ORDERS_PATH}", target.base(mode));
        let status = get_status(&lab.client, &url, &tokens[0]).await;
        if status != Some(StatusCode::OK) {
            bail!("{mode} mode answered {status:?} for a valid token");
        }
    }
    let run = |base: &str| Run::tokens("tokens.lua", base, ORDERS_PATH, &file, lab.plan.load.threads);
    let pid = target.server.pid();
    let variant = |key: &'static str, label: &str| Variant {
        key,
        label: label.into(),
        run: run(target.base(key)),
        stats_url: None,
        pid,
    };
    let variants = [
        variant(mode_key::LOCAL, "local verification, revocation feed on"),
        variant(mode_key::LOCAL_NO_FEED, "local verification, revocation feed off"),
        variant(mode_key::INTROSPECT, "RFC 7662 introspection"),
    ];
    eprintln!(
        "bench: {}: {} variants x {} rounds",
        Comparison::StatelessVsStateful.title(),
        variants.len(),
        lab.plan.rounds
    );
    let measured = lab::measure(lab, &variants).await?;
    let (on, off, introspect) = (&measured[0], &measured[1], &measured[2]);
    let local_vs_introspect = paired_ratio(&on.rps_by_round(), &introspect.rps_by_round());
    let local_no_feed_vs_introspect = paired_ratio(&off.rps_by_round(), &introspect.rps_by_round());
    let feed_on_vs_off = paired_ratio(&on.rps_by_round(), &off.rps_by_round());
    let cpu_feed_on_vs_off = (!on.cpu_by_round().is_empty() && on.cpu_by_round().len() == off.cpu_by_round().len())
        .then(|| paired_ratio(off.cpu_by_round(), on.cpu_by_round()));
    eprintln!(
        "bench:   revocation feed on / off: throughput {:.2}× ({:.2}–{:.2}){}",
        feed_on_vs_off.median,
        feed_on_vs_off.min,
        feed_on_vs_off.max,
        cpu_feed_on_vs_off.map_or_else(String::new, |c| format!(", by server CPU per request {:.2}×", c.median))
    );
    Ok(Throughput {
        measured,
        local_vs_introspect,
        local_no_feed_vs_introspect,
        feed_on_vs_off,
        cpu_feed_on_vs_off,
        tokens: file,
    })
}

/// Part two: for each mode, a timeline run during which auth-service is killed a third of
/// the way in; auth-service is restarted after each (with `ttl_after` as access-token
/// lifetime after the last one). Returns the runs and the restart times.
///
/// # Errors
/// wrk or a restart fails.
pub async fn outage(
    lab: &Lab,
    auth: &mut AuthLab,
    target: &OrdersTarget,
    tokens: &std::path::Path,
    ttl_normal: Duration,
    ttl_after: Duration,
) -> anyhow::Result<(Vec<OutageRun>, Vec<f64>)> {
    let mut runs = Vec::new();
    let mut restarts = Vec::new();
    let modes = [mode_key::LOCAL, mode_key::INTROSPECT];
    for (index, mode) in modes.into_iter().enumerate() {
        let run = Run::tokens("timeline.lua", target.base(mode), ORDERS_PATH, tokens, lab.plan.load.threads);
        let load = Load { duration: lab.plan.outage_run, ..lab.plan.load };
        let started = unix_now();
        let (result, killed_at) = tokio::join!(lab.wrk(&run, Some(load)), async {
            tokio::time::sleep(lab.plan.outage_run / 3).await;
            let at = unix_now();
            auth.kill().await;
            at
        });
        let (outcome, seconds) = result.with_context(|| format!("outage run, {mode}"))?;
        runs.push(summarise_outage(mode, started, killed_at, &seconds, outcome.socket_errors()));
        let last = index + 1 == modes.len();
        let restart = auth.restart_with_ttl(if last { ttl_after } else { ttl_normal }).await?;
        restarts.push(restart.as_secs_f64());
        eprintln!(
            "bench:   outage {mode:<10} served before {:.1} %, after {:.1} % (auth-service back in {:.1}s)",
            runs[index].before.fraction() * 100.0,
            runs[index].after.fraction() * 100.0,
            restart.as_secs_f64()
        );
    }
    Ok((runs, restarts))
}

fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

fn summarise_outage(
    mode: &'static str,
    started: f64,
    killed_at: f64,
    seconds: &[Second],
    socket_errors: u64,
) -> OutageRun {
    let (mut before, mut after) = (Share::default(), Share::default());
    let kill_second = killed_at.floor() as i64;
    for second in seconds {
        // The second in which the kill happened mixes both states: left out of both shares.
        let share = match second.unix.cmp(&kill_second) {
            std::cmp::Ordering::Less => &mut before,
            std::cmp::Ordering::Greater => &mut after,
            std::cmp::Ordering::Equal => continue,
        };
        share.ok += second.ok;
        share.total += second.ok + second.failed;
    }
    let start_second = started.floor() as i64;
    OutageRun {
        mode,
        killed_at_s: killed_at - started,
        before,
        after,
        timeline: seconds.iter().map(|s| (s.unix - start_second, s.ok, s.failed)).collect(),
        socket_errors,
    }
}

/// `exp` of a JWT, read without verification (the runner only needs the date).
fn token_expiry(token: &str) -> Option<i64> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes).ok()?.get("exp")?.as_i64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outage_shares_leave_out_the_kill_second() {
        let seconds = [
            Second { unix: 100, ok: 10, failed: 0 },
            Second { unix: 101, ok: 5, failed: 5 },
            Second { unix: 102, ok: 1, failed: 9 },
        ];
        let run = summarise_outage("introspect", 100.2, 101.5, &seconds, 0);
        assert_eq!((run.before.ok, run.before.total), (10, 10));
        assert_eq!((run.after.ok, run.after.total), (1, 10));
        assert!((run.after.fraction() - 0.1).abs() < 1e-12);
        assert_eq!(run.timeline[0].0, 0);
        assert_eq!(Share::default().fraction(), 0.0);
    }

    #[test]
    fn expiry_is_read_from_the_payload() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"exp":1700000000}"#);
        assert_eq!(token_expiry(&format!("h.{payload}.s")), Some(1_700_000_000));
        assert_eq!(token_expiry("garbage"), None);
    }
}
