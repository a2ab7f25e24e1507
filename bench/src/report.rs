//! `REPORT.md`, `results.json` and the charts, from one run's [`Results`].
//!
//! Every figure in the report comes from the run; the prose around a figure that misses its
//! target is chosen by the figure, and says why and what would close the gap.

use std::{fmt::Write as _, path::Path};

use anyhow::Context;
use plotters::style::RGBColor;

use crate::{
    Results,
    charts::{self, BASELINE, Bar, LIMIT, Line, OTHER, OURS},
    lab::Measured,
    stats::Spread,
};

/// Targets from issue 7.
const HOT_TARGET: f64 = 0.9;
const PEER_HOT_TARGET: f64 = 1.5;
const PEER_COLD_TARGET: f64 = 1.0;

fn grouped(value: f64) -> String {
    let whole = value.round().max(0.0) as u64;
    let text = whole.to_string();
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i > 0 && (text.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn rps(spread: &Spread) -> String {
    format!("{} ({}–{})", grouped(spread.median), grouped(spread.min), grouped(spread.max))
}

fn ms(spread: &Spread) -> String {
    format!("{:.2} ({:.2}–{:.2})", spread.median, spread.min, spread.max)
}

fn ratio(spread: &Spread) -> String {
    format!("{:.2}× ({:.2}–{:.2})", spread.median, spread.min, spread.max)
}

fn verdict(value: f64, target: f64) -> &'static str {
    if value >= target { "**met**" } else { "**missed**" }
}

fn table(out: &mut String, rows: &[&Measured], cache: bool) {
    let cpu = rows.iter().any(|m| m.cpu_us_per_request.is_some());
    let _ = writeln!(
        out,
        "| variant | req/s, median (min–max) | p50 ms | p99 ms | errors |{}{}",
        if cpu { " server CPU µs/request | server cores busy |" } else { "" },
        if cache { " token-cache hits |" } else { "" }
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|{}{}",
        if cpu { "---:|---:|" } else { "" },
        if cache { "---:|" } else { "" }
    );
    for m in rows {
        let cpu_cells = match (cpu, &m.cpu_us_per_request, &m.cpu_cores) {
            (true, Some(per), Some(busy)) => {
                format!(" {:.1} ({:.1}–{:.1}) | {:.2} |", per.median, per.min, per.max, busy.median)
            }
            (true, _, _) => " – | – |".to_owned(),
            (false, _, _) => String::new(),
        };
        let hits = match (cache, m.cache_hit_rate) {
            (true, Some(rate)) => format!(" {:.1} % |", rate * 100.0),
            (true, None) => " – |".to_owned(),
            (false, _) => String::new(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |{cpu_cells}{hits}",
            m.label,
            rps(&m.rps),
            ms(&m.p50_ms),
            ms(&m.p99_ms),
            m.status_errors + m.socket_errors
        );
    }
    out.push('\n');
}

fn bar(m: &Measured, label: &str, color: RGBColor) -> Bar {
    Bar { label: label.to_owned(), value: m.rps, color }
}

fn latency_bar(m: &Measured, label: &str, color: RGBColor) -> Bar {
    Bar { label: label.to_owned(), value: m.p99_ms, color }
}

/// Writes `REPORT.md`, `results.json` and the SVG charts into `out`.
///
/// # Errors
/// A file cannot be written.
pub fn write(results: &Results, out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    std::fs::write(out.join("results.json"), serde_json::to_string_pretty(results)? + "\n")?;
    let mut charts_written = Vec::new();
    draw_charts(results, out, &mut charts_written)?;
    std::fs::write(out.join("REPORT.md"), render(results, &charts_written))?;
    Ok(())
}

fn draw_charts(results: &Results, out: &Path, written: &mut Vec<&'static str>) -> anyhow::Result<()> {
    if let Some(v) = &results.verifier {
        let pick = |key: &str, label: &str, color| v.variant(key).map(|m| bar(m, label, color));
        let bars: Vec<Bar> = [
            pick("ours-plain", "no auth (axum 0.8)", BASELINE),
            pick("ours-hot", "shared, hot", OURS),
            pick("ours-cold", "shared, cold", OURS),
            pick("peer-plain", "no auth (axum 0.7)", BASELINE),
            pick("peer-hot", "jwt-authorizer, hot", OTHER),
            pick("peer-cold", "jwt-authorizer, cold", OTHER),
        ]
        .into_iter()
        .flatten()
        .collect();
        charts::bars(&out.join("verifier-throughput.svg"), "Comparisons 1 and 2: throughput", "requests/s", &bars)?;
        written.push("verifier-throughput.svg");
        let pick = |key: &str, label: &str, color| v.variant(key).map(|m| latency_bar(m, label, color));
        let bars: Vec<Bar> = [
            pick("ours-plain", "no auth (axum 0.8)", BASELINE),
            pick("ours-hot", "shared, hot", OURS),
            pick("ours-cold", "shared, cold", OURS),
            pick("peer-plain", "no auth (axum 0.7)", BASELINE),
            pick("peer-hot", "jwt-authorizer, hot", OTHER),
            pick("peer-cold", "jwt-authorizer, cold", OTHER),
        ]
        .into_iter()
        .flatten()
        .collect();
        charts::bars(&out.join("verifier-latency.svg"), "Comparisons 1 and 2: p99 latency", "ms", &bars)?;
        written.push("verifier-latency.svg");
    }
    if let Some(s) = &results.sessions {
        let bars: Vec<Bar> =
            s.throughput.iter().map(|m| bar(m, &m.label, if m.key == "local" { OURS } else { OTHER })).collect();
        charts::bars(&out.join("sessions-throughput.svg"), "Comparison 3: GET /v1/orders", "requests/s", &bars)?;
        written.push("sessions-throughput.svg");
        let lines: Vec<Line> = s
            .outage
            .iter()
            .map(|run| Line {
                label: if run.mode == "local" { "local verification".into() } else { "introspection".into() },
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
        charts::timeline(
            &out.join("sessions-outage.svg"),
            "Comparison 3: auth-service killed at the dashed line",
            "% of requests answered 2xx",
            &lines,
        )?;
        written.push("sessions-outage.svg");
    }
    if let Some(g) = &results.gateway {
        let bars: Vec<Bar> = g
            .variants
            .iter()
            .map(|m| {
                let color = if m.key == "gateway-healthz" { BASELINE } else { OURS };
                let label = match m.key {
                    "gateway-healthz" => "nginx /healthz",
                    "gateway-orders" => "orders via nginx",
                    _ => "orders, one replica",
                };
                bar(m, label, color)
            })
            .collect();
        charts::bars(&out.join("gateway-throughput.svg"), "Comparison 4: the stack behind nginx", "requests/s", &bars)?;
        written.push("gateway-throughput.svg");
    }
    if let Some(m) = &results.minting {
        let mut bars: Vec<Bar> = m.grants.iter().map(|g| bar(g, &g.key.replace('_', " "), OURS)).collect();
        bars.push(Bar { label: "ring, 1 core".into(), value: m.ring_one_core, color: BASELINE });
        bars.push(Bar {
            label: format!("ring, {} server core{}", m.server_cores, if m.server_cores == 1 { "" } else { "s" }),
            value: m.ring_server_cores,
            color: BASELINE,
        });
        if let Some(o) = &results.openssl {
            let one = Spread { median: o.sign_per_s, min: o.sign_per_s, max: o.sign_per_s };
            bars.push(Bar { label: "openssl, 1 core".into(), value: one, color: LIMIT });
            if o.sign_per_s_all_cores > 0.0 {
                let all = o.sign_per_s_all_cores;
                bars.push(Bar {
                    label: "openssl, all cores".into(),
                    value: Spread { median: all, min: all, max: all },
                    color: LIMIT,
                });
            }
        }
        charts::bars(&out.join("minting.svg"), "Comparison 5: RS256 tokens per second", "tokens/s", &bars)?;
        written.push("minting.svg");
    }
    Ok(())
}

fn render(r: &Results, charts: &[&str]) -> String {
    let mut out = String::new();
    let chart = |out: &mut String, name: &str, alt: &str| {
        if charts.contains(&name) {
            let _ = writeln!(out, "![{alt}]({name})\n");
        }
    };
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Produced by `{}` on {} ({} run, {:.0} s). Every figure below comes from that run; the raw numbers \
         are in [`results.json`](results.json). Re-run it on your own machine to get yours.\n",
        r.command, r.date, r.plan.mode, r.elapsed_s
    );
    headline(&mut out, r);
    machine(&mut out, r);
    method(&mut out, r);
    if let Some(v) = &r.verifier {
        comparison_1_2(&mut out, r, v, &chart);
    }
    if let Some(s) = &r.sessions {
        comparison_3(&mut out, s, &chart);
    }
    if let Some(g) = &r.gateway {
        let server_cores = r.pinning.as_ref().map_or(r.machine.cores, |p| p.server_cores);
        comparison_4(&mut out, g, server_cores, &chart);
    }
    if let Some(m) = &r.minting {
        comparison_5(&mut out, r, m, &chart);
    }
    closing(&mut out, r);
    commands(&mut out, r);
    out
}

fn headline(out: &mut String, r: &Results) {
    let _ = writeln!(out, "## Headline\n");
    let _ = writeln!(out, "| comparison | figure | target | verdict |");
    let _ = writeln!(out, "|---|---|---|---|");
    if let Some(v) = &r.verifier {
        let target_rows = [
            (
                "1. verifier overhead",
                "hot token vs no authentication",
                Some(&v.hot_vs_plain),
                v.cpu_hot_vs_plain.as_ref(),
                Some(HOT_TARGET),
            ),
            (
                "1. verifier overhead",
                "cold tokens (full RSA check) vs no authentication",
                Some(&v.cold_vs_plain),
                v.cpu_cold_vs_plain.as_ref(),
                None,
            ),
            (
                "2. vs jwt-authorizer",
                "hot token",
                v.hot_vs_peer.as_ref(),
                v.cpu_hot_vs_peer.as_ref(),
                Some(PEER_HOT_TARGET),
            ),
            (
                "2. vs jwt-authorizer",
                "cold tokens",
                v.cold_vs_peer.as_ref(),
                v.cpu_cold_vs_peer.as_ref(),
                Some(PEER_COLD_TARGET),
            ),
        ];
        for (name, what, throughput, cpu, target) in target_rows {
            let Some(throughput) = throughput else { continue };
            let target_text = target.map_or_else(|| "report".to_owned(), |t| format!("≥ {t:.2}×"));
            let _ = writeln!(
                out,
                "| {name} | {what}: throughput {} | {target_text} | {} |",
                ratio(throughput),
                target.map_or("–", |t| verdict(throughput.median, t))
            );
            if let Some(cpu) = cpu {
                let _ = writeln!(
                    out,
                    "| {name} | {what}: by server CPU per request {} | {target_text} | {} |",
                    ratio(cpu),
                    target.map_or("–", |t| verdict(cpu.median, t))
                );
            }
        }
    }
    if let Some(s) = &r.sessions {
        let _ = writeln!(
            out,
            "| 3. stateless vs stateful | local verification: {} the throughput of introspection | report | – |",
            ratio(&s.local_vs_introspect)
        );
        for run in &s.outage {
            let _ = writeln!(
                out,
                "| 3. issuer outage | {}: {:.1} % of requests served while auth-service was down | report | – |",
                mode_name(run.mode),
                run.after.fraction() * 100.0
            );
        }
        for lag in &s.revocation {
            let _ = writeln!(
                out,
                "| 3. revocation lag | {}: {} after logout (access tokens living {} s, leeway {} s) | report | – |",
                mode_name(lag.mode),
                lag.lag_s.map_or_else(|| "not revoked within the deadline".to_owned(), |s| format!("{s:.2} s")),
                s.revocation_ttl_s,
                if lag.mode == "local" { s.leeway_s } else { 0 }
            );
        }
    }
    if let Some(g) = &r.gateway
        && let Some(m) = g.variants.iter().find(|m| m.key == "gateway-orders")
    {
        let _ = writeln!(
            out,
            "| 4. through the gateway | {} authenticated req/s, p50 {:.2} ms, p99 {:.2} ms ({}) | report | – |",
            grouped(m.rps.median),
            m.p50_ms.median,
            m.p99_ms.median,
            g.topology
        );
    }
    if let Some(m) = &r.minting {
        for g in &m.grants {
            let _ = writeln!(out, "| 5. minting | {}: {} | report | – |", g.key, minting_figure(g, m));
        }
    }
    out.push('\n');
}

/// Tokens/s, and auth-service's CPU per token against one raw signature's CPU (or, without
/// CPU figures, the rate against raw signing on the same cores).
fn minting_figure(g: &Measured, m: &crate::comparisons::minting::MintingResults) -> String {
    let raw = m.ring_cpu_us_per_signature.median;
    match g.cpu_us_per_request {
        Some(cpu) if raw > 0.0 => format!(
            "{} tokens/s; {:.0} µs of auth-service CPU per token = {:.2}× the CPU of one raw ring signature ({:.0} µs)",
            grouped(g.rps.median),
            cpu.median,
            cpu.median / raw,
            raw
        ),
        _ => format!(
            "{} tokens/s = {:.0} % of raw ring signing on the same cores ({}/s)",
            grouped(g.rps.median),
            share(g.rps.median, m.ring_server_cores.median),
            grouped(m.ring_server_cores.median)
        ),
    }
}

fn share(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { part * 100.0 / whole } else { 0.0 }
}

fn mode_name(mode: &str) -> &'static str {
    if mode == "local" { "local verification" } else { "introspection" }
}

fn machine(out: &mut String, r: &Results) {
    let m = &r.machine;
    let _ = writeln!(out, "## Machine\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| CPU | {} |", m.cpu);
    let _ = writeln!(out, "| cores | {} |", m.cores);
    let _ = writeln!(out, "| memory | {:.1} GiB |", m.memory_gib);
    let _ = writeln!(out, "| kernel | {} |", m.kernel);
    let _ = writeln!(out, "| rustc | {} |", m.rustc);
    let _ = writeln!(out, "| load generator | {} |", m.wrk);
    let _ = writeln!(out, "| gateway | {} |", m.nginx);
    let _ = writeln!(out, "| OpenSSL | {} |", m.openssl);
    let _ = writeln!(out, "| load average (1, 5, 15 min) | {} at the start, {} at the end |", m.load_start, m.load_end);
    if let Some(o) = &r.openssl {
        let _ = writeln!(
            out,
            "| physical limit: `openssl speed -seconds 1 rsa2048` | {} signatures/s and {} verifications/s on one core; \
             {} and {} with `-multi {}` |",
            grouped(o.sign_per_s),
            grouped(o.verify_per_s),
            grouped(o.sign_per_s_all_cores),
            grouped(o.verify_per_s_all_cores),
            m.cores
        );
    }
    let _ = writeln!(
        out,
        "\nThe load generator, the servers and (in comparisons 3 to 5) every replica share these {} cores \
         (see pinning below), so absolute figures are lower than on a machine where the load generator runs \
         elsewhere; the ratios are what carry over. A load average well above the core count means other work was \
         running during the run: the spreads show how much that moved the figures.\n",
        m.cores
    );
}

fn method(out: &mut String, r: &Results) {
    let p = &r.plan;
    let _ = writeln!(out, "## Method\n");
    let _ = writeln!(
        out,
        "- Load: wrk, closed loop, {} thread{} and {} connections, {} s per measured run{}. Latencies are wrk's \
         percentiles under that concurrency (service time plus queueing), not open-loop response times.",
        p.load.threads,
        if p.load.threads == 1 { "" } else { "s" },
        p.load.connections,
        p.load.duration.as_secs(),
        if p.warmup.is_zero() {
            String::new()
        } else {
            format!(", after a {} s warm-up per variant", p.warmup.as_secs())
        }
    );
    match &r.pinning {
        Some(pin) => {
            let _ = writeln!(
                out,
                "- CPU pinning: wrk runs on CPU {} (`taskset -c {}`), the runner and every server it starts on CPU(s) {} \
                 ({} core{}). Unpinned, wrk's own cost per request would be shared with the servers and dilute every \
                 difference between them. The server CPU columns (user + system time of the server process per \
                 successful response, from `/proc`) do not depend on which side was the bottleneck.",
                pin.load,
                pin.load,
                pin.servers,
                pin.server_cores,
                if pin.server_cores == 1 { "" } else { "s" }
            );
        }
        None => {
            let _ =
                writeln!(out, "- CPU pinning: none (one core, or `taskset` missing): wrk shares the servers' cores.");
        }
    }
    let _ = writeln!(
        out,
        "- Rounds: {} per variant. Within a comparison every round runs every variant, in an order rotated each \
         round, so all variants see the same machine. Tables give the median over rounds and the smallest and \
         largest round; ratios are computed per round (paired) and summarised the same way.",
        p.rounds
    );
    let _ = writeln!(
        out,
        "- Identical requests: every variant of a comparison runs the same Lua script, which sends an \
         `Authorization: Bearer` header on every request (routes without authentication ignore it), so the \
         load generator does the same work whatever the server does.",
    );
    let _ = writeln!(
        out,
        "- Each server under test is a process of its own; only successful responses count as throughput, and \
         the error column counts non-2xx answers and socket errors (none are expected outside the outage runs).\n"
    );
}

fn comparison_1_2(
    out: &mut String,
    r: &Results,
    v: &crate::comparisons::verifier::VerifierResults,
    chart: &dyn Fn(&mut String, &str, &str),
) {
    let _ = writeln!(out, "## 1. Verifier overhead and 2. the peer (jwt-authorizer)\n");
    let _ = writeln!(
        out,
        "One trivial handler (`GET`, answers `ok`), bare axum on both sides (no request-id, tracing or metrics \
         layers), served without authentication, behind `shared::auth::Authenticated`, and behind \
         [jwt-authorizer](https://crates.io/crates/jwt-authorizer) 0.15's layer with a claims type that decodes \
         the same claims. Both servers fetch the same JWKS from the runner's in-process test issuer and \
         check the same things: RS256 only, `iss`, `aud`, `exp` and `nbf` with 30 s leeway.\n"
    );
    let _ = writeln!(
        out,
        "- **hot**: the same token on every request ({} bytes). `shared` answers from its verified-token cache \
         (SHA-256 of the token → the verified caller, until `exp`).\n\
         - **cold**: a different token on every request, rotating through {} pre-minted tokens against a cache of \
         {} entries, so every verification is a full one: parse, key lookup, RSA-2048 signature check, claims. \
         The measured cache-hit column shows it.\n",
        v.token_bytes,
        grouped(v.cold_tokens as f64),
        grouped(v.cache_capacity as f64)
    );
    let rows: Vec<&Measured> = v.variants.iter().collect();
    table(out, &rows, true);
    let _ = writeln!(
        out,
        "- Hot token vs no authentication: **{}** (target ≥ 0.90×: {}).",
        ratio(&v.hot_vs_plain),
        verdict(v.hot_vs_plain.median, HOT_TARGET)
    );
    let _ = writeln!(out, "- Cold tokens vs no authentication: **{}**.", ratio(&v.cold_vs_plain));
    if let (Some(plain), Some(hot), Some(cold)) = (
        v.variant("ours-plain").and_then(|m| m.cpu_us_per_request),
        v.variant("ours-hot").and_then(|m| m.cpu_us_per_request),
        v.variant("ours-cold").and_then(|m| m.cpu_us_per_request),
    ) {
        let _ = writeln!(
            out,
            "- Server CPU per request: {:.1} µs without authentication, {:.1} µs with a hot token (+{:.1} µs), \
             {:.1} µs with cold tokens (+{:.1} µs). As ratios, where the server is the bottleneck: hot **{}**, \
             cold **{}**.",
            plain.median,
            hot.median,
            hot.median - plain.median,
            cold.median,
            cold.median - plain.median,
            v.cpu_hot_vs_plain.as_ref().map_or_else(|| "–".to_owned(), ratio),
            v.cpu_cold_vs_plain.as_ref().map_or_else(|| "–".to_owned(), ratio)
        );
    }
    if let (Some(hot), Some(cold), Some(base)) = (&v.hot_vs_peer, &v.cold_vs_peer, &v.peer_plain_vs_plain) {
        let _ = writeln!(
            out,
            "- vs jwt-authorizer, hot: **{}** (target ≥ 1.5×: {}); cold: **{}** (target ≥ 1.0×: {}).",
            ratio(hot),
            verdict(hot.median, PEER_HOT_TARGET),
            ratio(cold),
            verdict(cold.median, PEER_COLD_TARGET)
        );
        if let (Some(hot_cpu), Some(cold_cpu)) = (&v.cpu_hot_vs_peer, &v.cpu_cold_vs_peer) {
            let _ = writeln!(
                out,
                "- vs jwt-authorizer by server CPU per request: hot **{}**, cold **{}**.",
                ratio(hot_cpu),
                ratio(cold_cpu)
            );
        }
        let _ = writeln!(
            out,
            "- The two frameworks without authentication (axum 0.7 / axum 0.8): {}, so the framework versions \
             alone do not explain the gap. jwt-authorizer has no verified-token cache (every request is a full \
             verification, hot or cold) and takes an async mutex around its key store on every request.",
            ratio(base)
        );
    }
    let ip = &v.in_process;
    let _ = writeln!(
        out,
        "- `Verifier::verify` called in-process (no HTTP, one core): {:.2} µs for a hot token (of which SHA-256 of \
         the token for the cache key: {:.2} µs), {:.1} µs for a full verification of a cold one.",
        ip.verify_hot_ns / 1000.0,
        ip.sha256_ns / 1000.0,
        ip.verify_cold_ns / 1000.0
    );
    if let Some(o) = &r.openssl
        && let Some(cold) = v.variant("ours-cold")
        && o.verify_per_s > 0.0
    {
        let extra = match (cold.cpu_us_per_request, v.variant("ours-plain").and_then(|m| m.cpu_us_per_request)) {
            (Some(c), Some(p)) => {
                format!("; a cold request here costs {:.1} µs of server CPU more than a bare one", c.median - p.median)
            }
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "- Against the physical limit: OpenSSL verifies {} RSA-2048 signatures/s on one core, {:.1} µs each{extra}. \
             The rest of that difference is ring's RSA being slower than OpenSSL's, base64 and strict JSON \
             decoding, the claim checks and the cache insert.",
            grouped(o.verify_per_s),
            1e6 / o.verify_per_s.max(1.0)
        );
    }
    let _ = writeln!(
        out,
        "\nWhy the peer is a separate cargo project (`bench-peer/`): jwt-authorizer 0.15 depends on axum 0.7 and \
         jsonwebtoken 9.3. The workspace keeps one axum major in its lockfile and refuses jsonwebtoken 9, which \
         silently accepts wrongly typed `exp`/`nbf` (issue 2); `bench-peer` has its own `[workspace]` and \
         Cargo.lock, is excluded from the root workspace, and the runner builds it with \
         `cargo build --release --manifest-path bench-peer/Cargo.toml` and starts it as a process.\n"
    );
    chart(out, "verifier-throughput.svg", "throughput of comparisons 1 and 2");
    chart(out, "verifier-latency.svg", "p99 latency of comparisons 1 and 2");
}

fn comparison_3(
    out: &mut String,
    s: &crate::comparisons::sessions::SessionsResults,
    chart: &dyn Fn(&mut String, &str, &str),
) {
    let _ = writeln!(out, "## 3. Stateless vs stateful: local verification vs RFC 7662 introspection\n");
    let _ = writeln!(
        out,
        "orders-service's real router (`orders_service::http::router`, with the workspace's middleware) over one \
         SQLite database, served twice by one process: once as orders-service serves it, verifying every token \
         locally, and once behind a layer that asks the real auth-service's `POST /oauth/introspect` about every \
         bearer token first (client authentication, token verification and a session lookup in auth-service's \
         database), the session-lookup model. The router's own check still runs behind that layer and hits \
         its token cache, a few microseconds (comparison 1). Introspection answers are deliberately not cached. \
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
    chart(out, "sessions-throughput.svg", "throughput of local verification and introspection");
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
    chart(out, "sessions-outage.svg", "share of requests served per second, auth-service killed part-way");
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

fn comparison_4(
    out: &mut String,
    g: &crate::comparisons::gateway::GatewayResults,
    server_cores: usize,
    chart: &dyn Fn(&mut String, &str, &str),
) {
    let _ = writeln!(out, "## 4. Through the gateway\n");
    let _ = writeln!(
        out,
        "The whole local system as the e2e harness starts it (the `stack` binary's code): the real service \
         binaries as separate processes ({}), SQLite, behind {} (started in {:.1} s). {} users with a session \
         each; `GET /v1/orders?limit=10` rotating over their tokens, each request verified locally by whichever \
         orders replica nginx picks. For reference, nginx answering `/healthz` itself (the hop alone) and the \
         same request sent straight to one orders replica.\n",
        g.topology, g.gateway, g.startup_s, g.users
    );
    let rows: Vec<&Measured> = g.variants.iter().collect();
    table(out, &rows, false);
    let _ = writeln!(
        out,
        "Through nginx / straight to one replica: {}. Here every replica and nginx share the servers' {} core(s), \
         so replicas add no capacity, only the proxy hop and more processes to schedule; on a real deployment each \
         replica brings its own CPU.\n",
        ratio(&g.gateway_vs_direct),
        server_cores
    );
    chart(out, "gateway-throughput.svg", "throughput through the gateway");
}

fn comparison_5(
    out: &mut String,
    r: &Results,
    m: &crate::comparisons::minting::MintingResults,
    chart: &dyn Fn(&mut String, &str, &str),
) {
    let _ = writeln!(out, "## 5. Minting\n");
    let _ = writeln!(
        out,
        "Tokens per second at the real auth-service's `POST /oauth/token` (one process, SQLite, its own signing key, \
         RSA-2048): `client_credentials` (HTTP Basic client authentication, then one signature) and \
         `refresh_token` (the refresh token is rotated in the database with reuse detection, then one \
         signature; each wrk connection chains the refresh token from its previous answer). Next to it, raw \
         `ring` RS256 signing of a real access token's signing input ({} bytes) with an RSA-2048 key, in the \
         runner, on one core and on the cores the servers have.\n",
        m.message_bytes
    );
    let rows: Vec<&Measured> = m.grants.iter().collect();
    table(out, &rows, false);
    let _ = writeln!(out, "| raw signing | signatures/s, median (min–max) |\n|---|---:|");
    let _ = writeln!(
        out,
        "| ring, one core | {} ({:.0} µs of CPU each) |",
        rps(&m.ring_one_core),
        m.ring_cpu_us_per_signature.median
    );
    let _ = writeln!(out, "| ring, the servers' {} core(s) | {} |", m.server_cores, rps(&m.ring_server_cores));
    if let Some(o) = &r.openssl {
        let _ = writeln!(out, "| OpenSSL, one core | {} |", grouped(o.sign_per_s));
        let _ = writeln!(out, "| OpenSSL, all cores | {} |", grouped(o.sign_per_s_all_cores));
    }
    out.push('\n');
    for g in &m.grants {
        let _ = writeln!(out, "- {}: {}.", g.key, minting_figure(g, m));
    }
    let _ = writeln!(
        out,
        "- Rates on a shared core depend on how the scheduler splits it (a process with more runnable threads \
         gets more of it); CPU time per token and per signature do not, which is why the comparison with raw \
         signing is made on CPU time."
    );
    if m.refresh_starved > 0 {
        let _ = writeln!(
            out,
            "- {} refresh requests went out without an unused refresh token (a chain broke after a failed refresh).",
            m.refresh_starved
        );
    }
    out.push('\n');
    chart(out, "minting.svg", "tokens per second against raw signing");
}

fn closing(out: &mut String, r: &Results) {
    let _ = writeln!(out, "## Targets and closing notes\n");
    let mut missed = false;
    if let Some(v) = &r.verifier {
        let cpu = |key: &str| v.variant(key).and_then(|m| m.cpu_us_per_request).map(|s| s.median);
        let handler_cpu = r
            .sessions
            .as_ref()
            .and_then(|s| s.throughput.iter().find(|m| m.key == "local"))
            .and_then(|m| m.cpu_us_per_request)
            .map(|s| s.median);
        let hot_cpu_missed = v.cpu_hot_vs_plain.as_ref().is_some_and(|c| c.median < HOT_TARGET);
        if v.hot_vs_plain.median < HOT_TARGET || hot_cpu_missed {
            missed = true;
            let delta = match (cpu("ours-hot"), cpu("ours-plain")) {
                (Some(hot), Some(plain)) => format!(
                    "The hot path adds {:.1} µs of server CPU per request to a bare request of {plain:.1} µs",
                    hot - plain
                ),
                _ => "The hot path's fixed cost is set against a handler that does nothing".to_owned(),
            };
            let real = match (cpu("ours-hot"), cpu("ours-plain"), handler_cpu) {
                (Some(hot), Some(plain), Some(handler)) => format!(
                    " Behind a real endpoint the same cost is small: orders-service's `GET /v1/orders` costs {handler:.0} µs \
                     of CPU per request (comparison 3), so the hot check is {:.0} % of it.",
                    (hot - plain) * 100.0 / handler
                ),
                _ => String::new(),
            };
            let ip = &v.in_process;
            let _ = writeln!(
                out,
                "- **Hot-token overhead: target ≥ 0.90× missed** (throughput {}, CPU per request {}). {delta}. \
                 In-process, `Verifier::verify` on a hot token takes {:.2} µs, {:.2} µs of it SHA-256 over the whole \
                 {}-byte token for the cache key; the rest of the difference is spent around it in the server: the \
                 `Authorization` header checked character by character, a clone of the cached `Caller` (about ten \
                 heap strings) handed to the handler, two `metrics` counters whose labels are built on every call, \
                 and colder CPU caches between requests than in a tight loop. Against a handler that does nothing, \
                 that is a visible share.{real} What would close it, all in `shared::auth` (not this crate's to \
                 change): key the cache on the signature part only (half the bytes to hash; the signature binds \
                 the rest), hand out `Arc<Caller>` instead of a deep clone, and register metric handles once instead \
                 of building labels per request.",
                ratio(&v.hot_vs_plain),
                v.cpu_hot_vs_plain.as_ref().map_or_else(|| "not measured".to_owned(), ratio),
                ip.verify_hot_ns / 1000.0,
                ip.sha256_ns / 1000.0,
                v.token_bytes
            );
        }
        if let Some(hot) = &v.hot_vs_peer
            && (hot.median < PEER_HOT_TARGET || v.cpu_hot_vs_peer.as_ref().is_some_and(|c| c.median < PEER_HOT_TARGET))
        {
            missed = true;
            let _ = writeln!(
                out,
                "- **vs jwt-authorizer, hot: target ≥ 1.5× missed** (throughput {}, CPU per request {}). Where the \
                 load generator shares the machine, its own cost per request caps both servers alike and \
                 squeezes the difference; the CPU figure is the server-side ratio. What would close it: the \
                 hot-path savings above.",
                ratio(hot),
                v.cpu_hot_vs_peer.as_ref().map_or_else(|| "not measured".to_owned(), ratio)
            );
        }
        if let Some(cold) = &v.cold_vs_peer
            && (cold.median < PEER_COLD_TARGET
                || v.cpu_cold_vs_peer.as_ref().is_some_and(|c| c.median < PEER_COLD_TARGET))
        {
            missed = true;
            let _ = writeln!(
                out,
                "- **vs jwt-authorizer, cold: target ≥ 1.0× missed** (throughput {}, CPU per request {}). Both \
                 spend most of a cold request in the same RSA-2048 verification (ring on both sides); ours also \
                 hashes the token for its cache, inserts the result, and parses JSON strictly (duplicate members \
                 refused). What would close it: admit tokens to the cache on their second sight only, and hash \
                 the signature part only.",
                ratio(cold),
                v.cpu_cold_vs_peer.as_ref().map_or_else(|| "not measured".to_owned(), ratio)
            );
        }
    }
    if !missed {
        let _ = writeln!(
            out,
            "Every target of issue 7 measured in this run is met, by throughput and by server CPU per request."
        );
    }
    if r.plan.mode == "smoke" {
        let _ = writeln!(
            out,
            "\nThis is a smoke run (one short round per variant): its figures show that every comparison works, \
             not what they measure."
        );
    }
    out.push('\n');
}

fn commands(out: &mut String, r: &Results) {
    let _ = writeln!(out, "## Exact commands\n");
    let _ = writeln!(out, "```text");
    let _ = writeln!(out, "{}", r.command);
    let _ = writeln!(out, "cargo build --release --manifest-path bench-peer/Cargo.toml    # by the runner");
    let _ = writeln!(out, "openssl speed -seconds 1 rsa2048");
    let _ = writeln!(out, "openssl speed -seconds 1 -multi {} rsa2048", r.machine.cores);
    for line in &r.wrk_commands {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "```\n");
    let _ = writeln!(
        out,
        "`$RUN_DIR` is the run's temporary directory (token files, databases, logs; `--keep` keeps it); the Lua \
         scripts are in `bench/lua/`."
    );
}

/// A few lines for the console at the end of a run.
#[must_use]
pub fn summary(r: &Results) -> String {
    let mut out = String::from("bench: summary\n");
    if let Some(v) = &r.verifier {
        let _ = writeln!(out, "  1. hot/plain {}  cold/plain {}", ratio(&v.hot_vs_plain), ratio(&v.cold_vs_plain));
        if let (Some(h), Some(c)) = (&v.hot_vs_peer, &v.cold_vs_peer) {
            let _ = writeln!(out, "  2. vs jwt-authorizer: hot {}  cold {}", ratio(h), ratio(c));
        }
    }
    if let Some(s) = &r.sessions {
        let _ = writeln!(out, "  3. local/introspect {}", ratio(&s.local_vs_introspect));
    }
    if let Some(g) = &r.gateway
        && let Some(m) = g.variants.iter().find(|m| m.key == "gateway-orders")
    {
        let _ = writeln!(out, "  4. via gateway {} req/s", grouped(m.rps.median));
    }
    if let Some(m) = &r.minting {
        for g in &m.grants {
            let _ = writeln!(out, "  5. {} {} tokens/s", g.key, grouped(g.rps.median));
        }
    }
    out
}
