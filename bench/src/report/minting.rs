//! The section of minting (tokens per second at the token endpoint against raw signing),
//! and its chart.

use std::fmt::Write as _;

use super::{Charts, bar, grouped, rps, table};
use crate::{
    Results,
    charts::{BASELINE, Bar, LIMIT, OURS},
    comparisons::minting::MintingResults,
    lab::Measured,
    machine::OpenSslSpeed,
    stats::Spread,
};

pub(super) fn charts(charts: &mut Charts, m: &MintingResults, openssl: Option<&OpenSslSpeed>) -> anyhow::Result<()> {
    let mut bars: Vec<Bar> = m.grants.iter().map(|g| bar(g, &g.key.replace('_', " "), OURS)).collect();
    bars.push(Bar { label: "ring, 1 core".into(), value: m.ring_one_core, color: BASELINE });
    bars.push(Bar {
        label: format!("ring, {} server core{}", m.server_cores, if m.server_cores == 1 { "" } else { "s" }),
        value: m.ring_server_cores,
        color: BASELINE,
    });
    if let Some(o) = openssl {
        // One figure each, no rounds: a bar without a whisker.
        let exactly = |value| Spread { median: value, min: value, max: value };
        bars.push(Bar { label: "openssl, 1 core".into(), value: exactly(o.sign_per_s), color: LIMIT });
        if o.sign_per_s_all_cores > 0.0 {
            bars.push(Bar { label: "openssl, all cores".into(), value: exactly(o.sign_per_s_all_cores), color: LIMIT });
        }
    }
    charts.bars("minting.svg", "Minting: RS256 tokens per second", "tokens/s", &bars)
}

pub(super) fn section(out: &mut String, r: &Results, m: &MintingResults, charts: &Charts) {
    let _ = writeln!(out, "## Minting\n");
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
        let _ = writeln!(out, "- {}: {}.", g.key, figure(g, m));
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
    charts.embed(out, "minting.svg", "tokens per second against raw signing");
}

/// Raw signing speed / minting speed, by CPU: one raw signature's CPU over auth-service's CPU
/// per token (1.0 would be a token endpoint that costs exactly its signature).
pub(super) fn speed_vs_raw(g: &Measured, m: &MintingResults) -> Option<f64> {
    let raw = m.ring_cpu_us_per_signature.median;
    g.cpu_us_per_request.filter(|cpu| raw > 0.0 && cpu.median > 0.0).map(|cpu| raw / cpu.median)
}

/// Tokens/s, and auth-service's CPU per token against one raw signature's CPU (or, without
/// CPU figures, the rate against raw signing on the same cores).
pub(super) fn figure(g: &Measured, m: &MintingResults) -> String {
    let raw = m.ring_cpu_us_per_signature.median;
    match (g.cpu_us_per_request, speed_vs_raw(g, m)) {
        (Some(cpu), Some(speed)) => format!(
            "{} tokens/s; {:.0} µs of auth-service CPU per token against {:.0} µs for one raw ring signature: \
             {speed:.2}× the speed of raw signing",
            grouped(g.rps.median),
            cpu.median,
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
