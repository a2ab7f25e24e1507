//! The section of stateless vs stateful (the trade in one table, throughput with the
//! revocation feed on and off, auth-service down, revocation lag), and its charts.

use std::fmt::Write as _;

use super::{
    Charts, bar, grouped, ratio, table,
    targets::{FEED_THROUGHPUT_TARGET, REVOCATION_P99_TARGET_S},
    verdict, verdict_at_most,
};
use crate::{
    charts::{BASELINE, Line, OTHER, OURS},
    comparisons::sessions::{
        SessionsResults, mode_key,
        revocation::{LagDistribution, lag_text},
    },
    lab::Measured,
};

/// How the report names a mode (`local`, `local-no-feed` or `introspect`).
pub(super) fn mode_name(mode: &str) -> &'static str {
    match mode {
        mode_key::LOCAL => "local verification with the feed",
        mode_key::LOCAL_NO_FEED => "local verification without the feed",
        _ => "introspection",
    }
}

/// `p50 …, p99 … over N logouts`, or what was not refused in time.
pub(super) fn lags(l: &LagDistribution, deadline_s: f64) -> String {
    let at = |p: Option<f64>| p.map_or_else(|| format!("over {deadline_s:.0} s"), lag_text);
    let missed = if l.refused < l.logouts {
        format!(", {} not refused within {deadline_s:.0} s", l.logouts - l.refused)
    } else {
        String::new()
    };
    format!("p50 {}, p99 {} over {} logouts{missed}", at(l.p50_s), at(l.p99_s), l.logouts)
}

/// Whether the feed's p99 lag meets its target (a p99 that fell on a logout not refused in
/// time does not).
pub(super) fn p99_met(l: &LagDistribution) -> bool {
    l.p99_s.is_some_and(|p99| p99 <= REVOCATION_P99_TARGET_S)
}

/// The verdict of the feed's p99 lag.
pub(super) fn p99_verdict(l: &LagDistribution) -> &'static str {
    l.p99_s.map_or("**missed**", |p99| verdict_at_most(p99, REVOCATION_P99_TARGET_S))
}

pub(super) fn charts(charts: &mut Charts, s: &SessionsResults) -> anyhow::Result<()> {
    let color = |key: &str| match key {
        mode_key::LOCAL => OURS,
        mode_key::LOCAL_NO_FEED => BASELINE,
        _ => OTHER,
    };
    let bars: Vec<_> = s.throughput.iter().map(|m| bar(m, &m.label, color(m.key))).collect();
    charts.bars("sessions-throughput.svg", "Stateless vs stateful: GET /v1/orders", "requests/s", &bars)?;
    let lines: Vec<Line> = s
        .outage
        .iter()
        .map(|run| Line {
            label: mode_name(run.mode).into(),
            points: run
                .timeline
                .iter()
                .filter(|(_, ok, failed)| ok + failed > 0)
                .map(|(second, ok, failed)| (*second as f64 + 0.5, *ok as f64 * 100.0 / (*ok + *failed) as f64))
                .collect(),
            marker: Some(run.killed_at_s),
            color: color(run.mode),
        })
        .collect();
    charts.timeline(
        "sessions-outage.svg",
        "Stateless vs stateful: auth-service killed at the dashed line",
        "% of requests answered 2xx",
        &lines,
    )
}

pub(super) fn section(out: &mut String, s: &SessionsResults, charts: &Charts) {
    let _ = writeln!(out, "## Stateless vs stateful: local verification vs RFC 7662 introspection\n");
    let _ = writeln!(
        out,
        "orders-service's real router (`orders_service::http::router`, with the workspace's middleware) over one \
         SQLite database, served three times by one process: as orders-service serves it, verifying every token \
         locally with the verifier subscribed to auth-service's revocation feed (`GET /v1/security-events`, \
         signed security events, long-polled); the same with the subscriber off (`AUTH_REVOCATION_FEED=off`, a \
         verifier of its own); and behind a layer that asks the real auth-service's `POST /oauth/introspect` about \
         every bearer token first (client authentication, token verification and a session lookup in \
         auth-service's database), the session-lookup model. Behind that layer the router's own check still runs, \
         with the feed-off verifier, and hits its token cache, a few microseconds (see verifier overhead). \
         Introspection answers are deliberately not cached. Load: `GET /v1/orders?limit=10` rotating over the \
         access tokens of the benchmark users' sessions, {} orders each.\n",
        s.orders_per_user
    );
    trade(out, s);
    let rows: Vec<&Measured> = s.throughput.iter().collect();
    table(out, &rows, false);
    let _ = writeln!(
        out,
        "- Local verification with the feed / introspection: **{}**; without the feed: {}. The server CPU columns \
         count the orders process only: in introspection mode auth-service does work of its own for every request \
         on top of that.",
        ratio(&s.local_vs_introspect),
        ratio(&s.local_no_feed_vs_introspect)
    );
    let cpu = s.cpu_feed_on_vs_off.as_ref().map_or_else(String::new, |c| {
        format!(
            "; by server CPU per request (feed off / feed on) **{}** ({})",
            ratio(c),
            verdict(c.median, FEED_THROUGHPUT_TARGET)
        )
    });
    let _ = writeln!(
        out,
        "- Revocation feed on / off, the two local-verification variants interleaved round by round: throughput \
         **{}** (target ≥ {FEED_THROUGHPUT_TARGET:.2}×: {}){cpu}. With the feed, every verification (token-cache \
         hits included) also checks the revocations: one load of the current snapshot, plus a lookup of the \
         token's `sid` and `jti` when revocations are held and have changed since the token last passed. During \
         these rounds none are held yet (this run's logouts come after them), so this is the check's fixed cost; \
         meanwhile the subscriber holds one idle long poll.\n",
        ratio(&s.feed_on_vs_off),
        verdict(s.feed_on_vs_off.median, FEED_THROUGHPUT_TARGET)
    );
    charts.embed(
        out,
        "sessions-throughput.svg",
        "throughput of local verification with and without the feed, and of introspection",
    );
    outage(out, s);
    charts.embed(out, "sessions-outage.svg", "share of requests served per second, auth-service killed part-way");
    revocation(out, s);
}

/// The trade in one table: the root README's, from this run.
fn trade(out: &mut String, s: &SessionsResults) {
    let r = &s.revocation;
    let served = |mode: &str| {
        s.outage
            .iter()
            .find(|o| o.mode == mode)
            .map_or_else(|| "not measured".to_owned(), |o| format!("{:.1} %", o.after.fraction() * 100.0))
    };
    let lag = |mode: &str| r.lags(mode).map_or_else(|| "not measured".to_owned(), |l| lags(l, r.deadline_s));
    let without = r.without_feed.lag_s.map_or_else(
        || "not refused within the deadline".to_owned(),
        |t| {
            format!(
                "{t:.2} s (one logout), with {} s tokens and {} s leeway: at most the access-token lifetime plus leeway",
                s.revocation_ttl_s, s.leeway_s
            )
        },
    );
    let _ = writeln!(
        out,
        "The trade, measured (throughput: medians with the smallest and largest round, against introspection; \
         revocation lag: over the logouts of the revocation part below):\n"
    );
    let _ = writeln!(
        out,
        "| | session lookup (RFC 7662 introspection at auth-service on every request) | local JWT verification with \
         the revocation feed | local JWT verification without the feed |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    let _ = writeln!(
        out,
        "| throughput of `GET /v1/orders` | 1× | {} | {} |",
        ratio(&s.local_vs_introspect),
        ratio(&s.local_no_feed_vs_introspect)
    );
    let _ = writeln!(
        out,
        "| requests served while auth-service is down (issuer outage) | {} | {} | not measured (the same key cache, \
         without the subscriber) |",
        served(mode_key::INTROSPECT),
        served(mode_key::LOCAL)
    );
    let _ = writeln!(
        out,
        "| revocation lag after a logout | {} | {} | {without} |\n",
        lag(mode_key::INTROSPECT),
        lag(mode_key::LOCAL)
    );
}

fn outage(out: &mut String, s: &SessionsResults) {
    let _ = writeln!(out, "### auth-service down\n");
    let _ = writeln!(
        out,
        "One run per mode; auth-service is killed (SIGKILL) a third of the way in and stays down until the run \
         ends. The second in which the kill happened is left out of both shares.\n"
    );
    let _ = writeln!(out, "| mode | served before the kill | served while auth-service was down | killed at |");
    let _ = writeln!(out, "|---|---:|---:|---:|");
    for run in &s.outage {
        let _ = writeln!(
            out,
            "| {} | {:.1} % of {} | {:.1} % of {} | {:.1} s |",
            mode_name(run.mode),
            run.before.fraction() * 100.0,
            grouped(run.before.total as f64),
            run.after.fraction() * 100.0,
            grouped(run.after.total as f64),
            run.killed_at_s
        );
    }
    let _ = writeln!(
        out,
        "\nLocal verification keeps serving from the keys it already holds (the verifier serves a stale key set for \
         up to `AUTH_JWKS_MAX_STALE`, 24 h by default), feed or no feed: a subscriber that cannot reach the feed \
         does not stop verification. Introspection cannot decide anything without the issuer, so every request \
         fails (503 with `Retry-After`), and fails fast: the connection is refused. auth-service came back in {} \
         after each kill.\n",
        s.restart_s.iter().map(|t| format!("{t:.1} s")).collect::<Vec<_>>().join(" and ")
    );
}

fn revocation(out: &mut String, s: &SessionsResults) {
    let r = &s.revocation;
    let _ = writeln!(out, "### Revocation lag after a logout\n");
    let _ = writeln!(
        out,
        "{} fresh sessions log out (`POST /v1/logout`) one after another. Each session's access token is accepted by \
         the routers first (so the verifier holds it in its token cache, the case a revocation has to beat); after \
         the logout's response the router with the feed and the introspecting one are polled with it every {:.0} ms, \
         at the same time, until they answer 401. The lag runs from the logout's response to the response of the \
         first refused request. A refusal by the router with the feed counts only when it says the token was \
         revoked (not expired); a logout still accepted after {:.0} s counts as not refused. For the router without \
         the feed one logout is enough: it is refused when the token expires, polled alongside the others. To keep \
         that short auth-service is restarted with `AUTH_ACCESS_TOKEN_TTL={}s` for this part (the default is \
         10 min); that token had {:.1} s left at logout, and the local verifier allows {} s of leeway on `exp`.\n",
        r.lags(mode_key::LOCAL).map_or(r.requested, |l| l.logouts),
        r.poll_ms,
        r.deadline_s,
        s.revocation_ttl_s,
        r.without_feed_remaining_s,
        s.leeway_s
    );
    let _ = writeln!(
        out,
        "| mode | logouts | refused in time | lag p50 | lag p99 | slowest | requests still served after logout | target |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---|");
    let cell = |v: Option<f64>| v.map_or_else(|| format!("> {:.0} s", r.deadline_s), lag_text);
    for l in &r.lags {
        let target = if l.mode == mode_key::LOCAL {
            format!("p99 ≤ {} ({})", lag_text(REVOCATION_P99_TARGET_S), p99_verdict(l))
        } else {
            "report".to_owned()
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {target} |",
            mode_name(l.mode),
            l.logouts,
            l.refused,
            cell(l.p50_s),
            cell(l.p99_s),
            l.max_s.map_or_else(|| "–".to_owned(), lag_text),
            l.served_after_logout
        );
    }
    let w = &r.without_feed;
    let single = w.lag_s.map_or_else(|| "not within the deadline".to_owned(), |t| format!("{t:.2} s"));
    let _ = writeln!(
        out,
        "| {} | 1 | {} | {single} | {single} | {single} | {} | report |",
        mode_name(mode_key::LOCAL_NO_FEED),
        u8::from(w.lag_s.is_some()),
        w.served_after_logout
    );
    let restart = r.first_after_restart_s.map_or_else(
        || "was not refused as revoked within the wait".to_owned(),
        |t| format!("was refused after {}", lag_text(t)),
    );
    let _ = writeln!(
        out,
        "\np99 is the nearest rank: over fewer than 100 logouts, the slowest one. The first logout after \
         auth-service's restart (the one polled without the feed) {restart} by the router with the feed; it is not \
         counted, since it includes the subscriber getting back to the feed after the outage runs.\n"
    );
    let _ = writeln!(
        out,
        "Stateless verification alone cannot see a logout: the token works until `exp` plus the leeway, so the lag \
         is bounded by the access-token lifetime (10 min + 30 s with the defaults). With the feed, auth-service \
         publishes a signed event when the session ends and every verifier refuses the session's tokens once it \
         has it, while each request is still verified locally. Introspection sees the logout at the next request, \
         at the cost of a call to auth-service on every request (the throughput above).\n"
    );
}
