//! Revocation lag after a logout, the last part of stateless vs stateful.
//!
//! - **With the feed and by introspection**: `plan.revocations` fresh sessions, one after
//!   another; each one's access token is first accepted by both modes (so the feed-on
//!   verifier holds it in its token cache, the case a revocation has to beat), then the
//!   session logs out and both modes are polled with the token every `plan.revocation_poll`
//!   until they answer 401. The lag is the time from the logout's response to the response
//!   of the first refused request. A refusal by the feed-on router counts only when it says
//!   the token was revoked (an expired token is refused too, but that is not the feed's doing).
//! - **Without the feed**: one logout, polled at the feed-off router until `exp` plus the
//!   leeway refuses it. It runs alongside the logouts above (it takes the token's lifetime,
//!   they take milliseconds each), so the part is as long as one token lifetime, not thirty.
//!   Its first feed-on poll also waits for the subscriber to be back after auth-service's
//!   restart: that first lag is reported on its own, not counted.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use http::StatusCode;
use serde::Serialize;

use super::{ORDERS_PATH, OrdersTarget, mode_key, token_expiry, unix_now};
use crate::{comparisons::auth_service::AuthLab, lab::Lab, stats::percentile};

/// Feed-on refusals stop being measured after this many logouts in a row it did not refuse
/// within the deadline: the feed is evidently not working, and each miss costs a deadline.
const MISSES_BEFORE_GIVING_UP: usize = 3;

/// The longest the first feed-on poll waits for the subscriber after auth-service's restart.
const FIRST_AFTER_RESTART_DEADLINE: Duration = Duration::from_secs(30);

/// One logged-out token polled at one mode.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Poll {
    /// Seconds from the logout's response to the first 401; `None`: still accepted at the
    /// deadline.
    pub lag_s: Option<f64>,
    /// Requests the revoked token still got a 2xx for.
    pub served_after_logout: u32,
    /// `error_description` of that 401.
    pub refusal: Option<String>,
}

impl Poll {
    /// Whether the refusal says the token was revoked (the verifier's words for a revoked
    /// session or token), as opposed to expired.
    #[must_use]
    pub fn says_revoked(&self) -> bool {
        self.refusal.as_deref().is_some_and(|d| d.to_ascii_lowercase().contains("revoked"))
    }
}

/// The lags of one mode over many logouts.
#[derive(Debug, Clone, Serialize)]
pub struct LagDistribution {
    /// `local` (verification with the feed) or `introspect`.
    pub mode: &'static str,
    /// Logouts measured.
    pub logouts: usize,
    /// Of them, refused within the deadline (by the feed-on router: refused as revoked).
    pub refused: usize,
    /// Median lag, seconds; `None` when it falls on a logout not refused in time.
    pub p50_s: Option<f64>,
    /// 99th percentile (nearest rank: the slowest of fewer than 100), seconds; `None` as for
    /// `p50_s`.
    pub p99_s: Option<f64>,
    /// The slowest refusal within the deadline, seconds.
    pub max_s: Option<f64>,
    /// Requests served with a logged-out token, over all logouts.
    pub served_after_logout: u64,
    /// Every logout, in order.
    pub samples: Vec<Poll>,
}

impl LagDistribution {
    /// Summarises `samples` of `mode`: a feed-on sample counts only when refused as revoked.
    #[must_use]
    pub fn of(mode: &'static str, samples: Vec<Poll>) -> Self {
        let lags: Vec<Option<f64>> =
            samples.iter().map(|p| p.lag_s.filter(|_| mode != mode_key::LOCAL || p.says_revoked())).collect();
        Self {
            mode,
            logouts: samples.len(),
            refused: lags.iter().flatten().count(),
            p50_s: percentile(&lags, 50.0),
            p99_s: percentile(&lags, 99.0),
            max_s: lags.iter().flatten().copied().reduce(f64::max),
            served_after_logout: samples.iter().map(|p| u64::from(p.served_after_logout)).sum(),
            samples,
        }
    }
}

/// What the revocation part measured.
#[derive(Debug, Clone, Serialize)]
pub struct Revocation {
    /// `local` (with the feed) and `introspect`, over the same logouts.
    pub lags: Vec<LagDistribution>,
    /// Local verification without the feed: one logout.
    pub without_feed: Poll,
    /// Remaining lifetime of that logout's token at logout, seconds.
    pub without_feed_remaining_s: f64,
    /// The feed-on router's lag for that same first logout, right after auth-service's
    /// restart (not counted: it includes the subscriber getting back to the feed).
    pub first_after_restart_s: Option<f64>,
    /// Logouts asked for (`lags` may hold fewer when the feed refused none of several).
    pub requested: usize,
    /// Poll interval, milliseconds.
    pub poll_ms: f64,
    /// How long each logout was polled at most, seconds.
    pub deadline_s: f64,
}

impl Revocation {
    /// The lags of `mode`.
    #[must_use]
    pub fn lags(&self, mode: &str) -> Option<&LagDistribution> {
        self.lags.iter().find(|l| l.mode == mode)
    }
}

/// A lag for people: milliseconds below a second, seconds above.
#[must_use]
pub fn lag_text(seconds: f64) -> String {
    if seconds < 0.01 {
        format!("{:.1} ms", seconds * 1000.0)
    } else if seconds < 1.0 {
        format!("{:.0} ms", seconds * 1000.0)
    } else {
        format!("{seconds:.2} s")
    }
}

/// Measures the revocation lags (see the module documentation).
///
/// # Errors
/// A login, a check before the logout, or a logout fails.
pub async fn run(lab: &Lab, auth: &AuthLab, target: &OrdersTarget) -> anyhow::Result<Revocation> {
    let plan = &lab.plan;
    let first = auth.login(0).await?.access_token;
    let modes = [mode_key::LOCAL, mode_key::LOCAL_NO_FEED, mode_key::INTROSPECT];
    accepted(lab, target, &first, &modes).await.context("before the first logout")?;
    let expires_at = token_expiry(&first).context("the access token has no readable exp")?;
    logout(auth, &first).await?;
    let logged_out = Instant::now();
    let remaining = expires_at as f64 - unix_now();
    let expiry_deadline = Duration::from_secs_f64(remaining.max(0.0)) + plan.leeway + Duration::from_secs(15);
    let with_feed = async {
        let deadline = FIRST_AFTER_RESTART_DEADLINE.max(plan.revocation_deadline);
        let after_restart = poll(lab, target.base(mode_key::LOCAL), &first, logged_out, deadline).await;
        let after_restart = after_restart.lag_s.filter(|_| after_restart.says_revoked());
        eprintln!(
            "bench:   revocation first logout after auth-service's restart: the feed refused it {} (not counted)",
            after_restart.map_or_else(|| format!("not within {deadline:?}"), |s| format!("after {}", lag_text(s)))
        );
        logouts(lab, auth, target).await.map(|lags| (after_restart, lags))
    };
    let without_feed = poll(lab, target.base(mode_key::LOCAL_NO_FEED), &first, logged_out, expiry_deadline);
    let (without_feed, measured) = tokio::join!(without_feed, with_feed);
    let (first_after_restart_s, lags) = measured?;
    for lag in &lags {
        eprintln!(
            "bench:   revocation {:<10} p50 {}  p99 {}  over {} logouts ({} refused within {:?}, {} requests served after logout)",
            lag.mode,
            lag.p50_s.map_or_else(|| "–".to_owned(), lag_text),
            lag.p99_s.map_or_else(|| "–".to_owned(), lag_text),
            lag.logouts,
            lag.refused,
            plan.revocation_deadline,
            lag.served_after_logout
        );
    }
    eprintln!(
        "bench:   revocation {:<10} lag {} ({} requests served after logout)",
        mode_key::LOCAL_NO_FEED,
        without_feed.lag_s.map_or_else(|| "none within the deadline".to_owned(), |s| format!("{s:.2}s")),
        without_feed.served_after_logout
    );
    Ok(Revocation {
        lags,
        without_feed,
        without_feed_remaining_s: remaining,
        first_after_restart_s,
        requested: plan.revocations,
        poll_ms: plan.revocation_poll.as_secs_f64() * 1000.0,
        deadline_s: plan.revocation_deadline.as_secs_f64(),
    })
}

/// `plan.revocations` logouts, each polled at the feed-on and the introspect router at once.
async fn logouts(lab: &Lab, auth: &AuthLab, target: &OrdersTarget) -> anyhow::Result<Vec<LagDistribution>> {
    let plan = &lab.plan;
    let (mut feed, mut introspect) = (Vec::new(), Vec::new());
    let mut misses = 0;
    for index in 0..plan.revocations {
        let token = auth.login(index + 1).await?.access_token;
        accepted(lab, target, &token, &[mode_key::LOCAL, mode_key::INTROSPECT])
            .await
            .with_context(|| format!("before logout {}", index + 1))?;
        logout(auth, &token).await?;
        let logged_out = Instant::now();
        let (by_feed, by_introspection) = tokio::join!(
            poll(lab, target.base(mode_key::LOCAL), &token, logged_out, plan.revocation_deadline),
            poll(lab, target.base(mode_key::INTROSPECT), &token, logged_out, plan.revocation_deadline)
        );
        misses = if by_feed.lag_s.is_some() && by_feed.says_revoked() { 0 } else { misses + 1 };
        feed.push(by_feed);
        introspect.push(by_introspection);
        if misses == MISSES_BEFORE_GIVING_UP {
            eprintln!(
                "bench:   revocation: the feed refused none of the last {misses} logouts as revoked within {:?}; \
                 stopping after {} of {}",
                plan.revocation_deadline,
                index + 1,
                plan.revocations
            );
            break;
        }
    }
    Ok(vec![LagDistribution::of(mode_key::LOCAL, feed), LagDistribution::of(mode_key::INTROSPECT, introspect)])
}

async fn accepted(lab: &Lab, target: &OrdersTarget, token: &str, modes: &[&str]) -> anyhow::Result<()> {
    for mode in modes {
        let url = format!("{}{ORDERS_PATH}", target.base(mode));
        let status = super::get_status(&lab.client, &url, token).await;
        if status != Some(StatusCode::OK) {
            bail!("{mode} mode answered {status:?} for a valid token");
        }
    }
    Ok(())
}

async fn logout(auth: &AuthLab, token: &str) -> anyhow::Result<()> {
    let reply = auth.api.logout(token).await?;
    if reply.status != StatusCode::NO_CONTENT {
        bail!("logout answered {}: {}", reply.status, reply.text);
    }
    Ok(())
}

/// Polls `base` with `token` until it answers 401 or `deadline` has passed since `from`.
async fn poll(lab: &Lab, base: &str, token: &str, from: Instant, deadline: Duration) -> Poll {
    let url = format!("{base}{ORDERS_PATH}");
    let mut poll = Poll::default();
    while from.elapsed() < deadline {
        if let Ok(response) = lab.client.get(&url).bearer_auth(token).timeout(Duration::from_secs(5)).send().await {
            let status = response.status();
            // Read to the end either way, so the connection goes back to the pool.
            let body = response.bytes().await.unwrap_or_default();
            if status == StatusCode::UNAUTHORIZED {
                poll.lag_s = Some(from.elapsed().as_secs_f64());
                poll.refusal = Some(description(&body));
                break;
            }
            if status.is_success() {
                poll.served_after_logout += 1;
            }
        }
        tokio::time::sleep(lab.plan.revocation_poll).await;
    }
    poll
}

/// The `error_description` of an error body (the whole body, clipped, when it has none).
fn description(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error_description")?.as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(lag: f64, description: &str) -> Poll {
        Poll { lag_s: Some(lag), served_after_logout: 1, refusal: Some(description.to_owned()) }
    }

    #[test]
    fn feed_lags_count_refusals_as_revoked_only() {
        let samples = vec![
            refused(0.02, "the token has been revoked"),
            refused(0.01, "the token has been revoked"),
            refused(2.5, "the token has expired"),
            Poll::default(),
        ];
        let feed = LagDistribution::of(mode_key::LOCAL, samples.clone());
        assert_eq!((feed.logouts, feed.refused, feed.served_after_logout), (4, 2, 3));
        assert_eq!(feed.p50_s, Some(0.02));
        assert_eq!(feed.p99_s, None);
        assert_eq!(feed.max_s, Some(0.02));
        let introspect = LagDistribution::of(mode_key::INTROSPECT, samples);
        assert_eq!((introspect.refused, introspect.max_s), (3, Some(2.5)));
    }

    #[test]
    fn descriptions_and_lags_read_well() {
        assert_eq!(
            description(br#"{"error":"invalid_token","error_description":"the token has been revoked"}"#),
            "the token has been revoked"
        );
        assert_eq!(description(b"plain"), "plain");
        assert_eq!(lag_text(0.0042), "4.2 ms");
        assert_eq!(lag_text(0.25), "250 ms");
        assert_eq!(lag_text(59.97), "59.97 s");
    }
}
