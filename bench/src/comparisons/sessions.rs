//! Stateless vs stateful: orders-service's real router verifying every token locally,
//! against the same router checking every token by RFC 7662 introspection at a real
//! auth-service ([`AuthLab`], the session-lookup model). Then auth-service is killed part-way
//! through a run, and finally a session is logged out and both modes are polled with its
//! access token until they refuse it.

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

/// Revocation lag of one mode.
#[derive(Debug, Clone, Serialize)]
pub struct RevocationLag {
    /// `local` or `introspect`.
    pub mode: &'static str,
    /// Seconds from the logout's answer to the first 401; `None`: still accepted at the
    /// deadline.
    pub lag_s: Option<f64>,
    /// Requests the revoked token still got a 2xx for.
    pub served_after_logout: u32,
}

/// What stateless vs stateful measured.
#[derive(Debug, Clone, Serialize)]
pub struct SessionsResults {
    /// `local` and `introspect` throughput.
    pub throughput: Vec<Measured>,
    /// Local / introspect, per round.
    pub local_vs_introspect: Spread,
    /// One outage run per mode.
    pub outage: Vec<OutageRun>,
    /// Revocation lag per mode.
    pub revocation: Vec<RevocationLag>,
    /// Access-token lifetime during the revocation measurement.
    pub revocation_ttl_s: u64,
    /// Remaining lifetime of the revoked token at logout.
    pub revoked_token_remaining_s: f64,
    /// The local verifier's leeway on `exp`.
    pub leeway_s: u64,
    /// Orders seeded per user.
    pub orders_per_user: usize,
    /// How long auth-service took to come back after each kill.
    pub restart_s: Vec<f64>,
}

/// The orders target and its two base URLs.
pub struct OrdersTarget {
    server: ChildServer,
    /// Local verification.
    pub local: String,
    /// Introspection.
    pub introspect: String,
}

impl OrdersTarget {
    /// Starts `bench serve orders` against `auth`.
    ///
    /// # Errors
    /// It does not become ready.
    pub async fn start(lab: &Lab, auth: &AuthLab) -> anyhow::Result<Self> {
        let (local_port, introspect_port) = (e2e::ports::free_port()?, e2e::ports::free_port()?);
        let args: Vec<String> = vec![
            "serve".into(),
            "orders".into(),
            "--listen-local".into(),
            format!("127.0.0.1:{local_port}"),
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
        let introspect = format!("http://127.0.0.1:{introspect_port}");
        server.wait_ready(&lab.client, &format!("{local}/healthz"), Duration::from_secs(60)).await?;
        server.wait_ready(&lab.client, &format!("{introspect}/healthz"), Duration::from_secs(10)).await?;
        Ok(Self { server, local, introspect })
    }

    /// Stops it.
    pub async fn stop(self) {
        self.server.stop().await;
    }

    fn base(&self, mode: &str) -> &str {
        if mode == "local" { &self.local } else { &self.introspect }
    }
}

async fn get_status(client: &reqwest::Client, url: &str, token: &str) -> Option<StatusCode> {
    client.get(url).bearer_auth(token).timeout(Duration::from_secs(5)).send().await.ok().map(|r| r.status())
}

/// Part one: sessions, seeded orders, and the interleaved throughput rounds. Returns the
/// token file for the later parts.
///
/// # Errors
/// Set-up or wrk fails.
pub async fn throughput(
    lab: &Lab,
    auth: &AuthLab,
    target: &OrdersTarget,
    orders_per_user: usize,
) -> anyhow::Result<(Vec<Measured>, Spread, PathBuf)> {
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
    for mode in ["local", "introspect"] {
        let url = format!("{}{ORDERS_PATH}", target.base(mode));
        let status = get_status(&lab.client, &url, &tokens[0]).await;
        if status != Some(StatusCode::OK) {
            bail!("{mode} mode answered {status:?} for a valid token");
        }
    }
    let run = |base: &str| Run::tokens("tokens.lua", base, ORDERS_PATH, &file, lab.plan.load.threads);
    let pid = target.server.pid();
    let variants = [
        Variant { key: "local", label: "local verification".into(), run: run(&target.local), stats_url: None, pid },
        Variant {
            key: "introspect",
            label: "RFC 7662 introspection".into(),
            run: run(&target.introspect),
            stats_url: None,
            pid,
        },
    ];
    eprintln!(
        "bench: {}: {} variants x {} rounds",
        Comparison::StatelessVsStateful.title(),
        variants.len(),
        lab.plan.rounds
    );
    let measured = lab::measure(lab, &variants).await?;
    let ratio = paired_ratio(&measured[0].rps_by_round(), &measured[1].rps_by_round());
    Ok((measured, ratio, file))
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
    let modes = ["local", "introspect"];
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

/// Part three: log a fresh session out, then poll both modes with its access token until
/// each refuses it. Returns the lags and the token's remaining lifetime at logout.
///
/// # Errors
/// The login, the first requests or the logout fail.
pub async fn revocation(lab: &Lab, auth: &AuthLab, target: &OrdersTarget) -> anyhow::Result<(Vec<RevocationLag>, f64)> {
    let tokens = auth.login(0).await?;
    let token = tokens.access_token;
    for mode in ["local", "introspect"] {
        let status = get_status(&lab.client, &format!("{}{ORDERS_PATH}", target.base(mode)), &token).await;
        if status != Some(StatusCode::OK) {
            bail!("{mode} mode answered {status:?} before the logout");
        }
    }
    let expires_at = token_expiry(&token).context("the access token has no readable exp")?;
    let reply = auth.api.logout(&token).await?;
    if reply.status != StatusCode::NO_CONTENT {
        bail!("logout answered {}: {}", reply.status, reply.text);
    }
    let logged_out = std::time::Instant::now();
    let remaining = expires_at as f64 - unix_now();
    let deadline = Duration::from_secs_f64(remaining.max(0.0)) + lab.plan.leeway + Duration::from_secs(15);
    let mut lags: Vec<RevocationLag> = ["local", "introspect"]
        .into_iter()
        .map(|mode| RevocationLag { mode, lag_s: None, served_after_logout: 0 })
        .collect();
    while logged_out.elapsed() < deadline && lags.iter().any(|l| l.lag_s.is_none()) {
        for lag in lags.iter_mut().filter(|l| l.lag_s.is_none()) {
            let url = format!("{}{ORDERS_PATH}", target.base(lag.mode));
            match get_status(&lab.client, &url, &token).await {
                Some(StatusCode::UNAUTHORIZED) => lag.lag_s = Some(logged_out.elapsed().as_secs_f64()),
                Some(status) if status.is_success() => lag.served_after_logout += 1,
                _ => {}
            }
        }
        tokio::time::sleep(lab.plan.revocation_poll).await;
    }
    for lag in &lags {
        eprintln!(
            "bench:   revocation {:<10} lag {} ({} requests served after logout)",
            lag.mode,
            lag.lag_s.map_or_else(|| "none within the deadline".to_owned(), |s| format!("{s:.2}s")),
            lag.served_after_logout
        );
    }
    Ok((lags, remaining))
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
