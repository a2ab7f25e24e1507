//! The section of stateless vs stateful (throughput, auth-service down, revocation lag),
//! and its charts.

use std::fmt::Write as _;

use super::{Charts, bar, grouped, ratio, table};
use crate::{
    charts::{Line, OTHER, OURS},
    comparisons::sessions::SessionsResults,
    lab::Measured,
};

/// How the report names a mode (`local` or `introspect`).
pub(super) fn mode_name(mode: &str) -> &'static str {
    if mode == "local" { "local verification" } else { "introspection" }
}

pub(super) fn charts(charts: &mut Charts, s: &SessionsResults) -> anyhow::Result<()> {
    let bars: Vec<_> =
        s.throughput.iter().map(|m| bar(m, &m.label, if m.key == "local" { OURS } else { OTHER })).collect();
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
            color: if run.mode == "local" { OURS } else { OTHER },
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
         SQLite database, served twice by one process: once as orders-service serves it, verifying every token \
         locally, and once behind a layer that asks the real auth-service's `POST /oauth/introspect` about every \
         bearer token first (client authentication, token verification and a session lookup in auth-service's \
         database), the session-lookup model. The router's own check still runs behind that layer and hits \
         its token cache, a few microseconds (see verifier overhead). Introspection answers are deliberately not cached. \
         Load: `GET /v1/orders?limit=10` rotating over the access tokens of the benchmark users' sessions, \
         {} orders each.\n",
        s.orders_per_user
    );
    let rows: Vec<&Measured> = s.throughput.iter().collect();
    table(out, &rows, false);
    let _ = writeln!(
        out,
        "Local verification / introspection: **{}**. The server CPU columns count the orders process only: in \
         introspection mode auth-service does work of its own for every request on top of that.\n",
        ratio(&s.local_vs_introspect)
    );
    charts.embed(out, "sessions-throughput.svg", "throughput of local verification and introspection");
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
         up to `AUTH_JWKS_MAX_STALE`, 24 h by default). Introspection cannot decide anything without the issuer, so \
         every request fails (503 with `Retry-After`), and fails fast: the connection is refused. auth-service \
         came back in {} after each kill.\n",
        s.restart_s.iter().map(|t| format!("{t:.1} s")).collect::<Vec<_>>().join(" and ")
    );
    charts.embed(out, "sessions-outage.svg", "share of requests served per second, auth-service killed part-way");
    let _ = writeln!(out, "### Revocation lag after a logout\n");
    let _ = writeln!(
        out,
        "A fresh session logs out (`POST /v1/logout`); both modes are then polled with that session's access token \
         until they answer 401. To keep the run short auth-service is restarted with `AUTH_ACCESS_TOKEN_TTL={}s` \
         for this part (the default is 10 min); the token had {:.1} s left at logout, and the local verifier allows \
         {} s of leeway on `exp`.\n",
        s.revocation_ttl_s, s.revoked_token_remaining_s, s.leeway_s
    );
    let _ = writeln!(out, "| mode | lag until refused | requests still served after logout |");
    let _ = writeln!(out, "|---|---:|---:|");
    for lag in &s.revocation {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            mode_name(lag.mode),
            lag.lag_s.map_or_else(|| "not within the deadline".to_owned(), |t| format!("{t:.2} s")),
            lag.served_after_logout
        );
    }
    let _ = writeln!(
        out,
        "\nStateless verification cannot see a logout: the token works until `exp` plus the leeway, so the lag is \
         bounded by the access-token lifetime (10 min + 30 s with the defaults). Introspection sees it at the next \
         request. The workspace's answer to that trade is short access tokens that die with their session at the \
         next refresh: the session itself is revoked at once at auth-service.\n"
    );
}
