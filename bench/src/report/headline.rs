//! The headline table: one row a figure, each with its comparison, target and verdict.

use std::fmt::Write as _;

use super::{
    grouped, minting, ratio,
    sessions::{lags, mode_name, p99_verdict},
    targets::{
        FEED_THROUGHPUT_TARGET, HOT_TARGET, MINTING_TARGET, PEER_COLD_TARGET, PEER_HOT_TARGET, REVOCATION_P99_TARGET_S,
    },
    verdict,
};
use crate::{
    Results,
    comparisons::{
        Comparison,
        sessions::{mode_key, revocation::lag_text},
    },
};

pub(super) fn section(out: &mut String, r: &Results) {
    let _ = writeln!(out, "## Headline\n");
    let _ = writeln!(out, "| comparison | figure | target | verdict |");
    let _ = writeln!(out, "|---|---|---|---|");
    if let Some(v) = &r.verifier {
        let (overhead, peer) = (Comparison::VerifierOverhead.title(), Comparison::JwtAuthorizer.title());
        let target_rows = [
            (
                overhead,
                "hot token vs no authentication",
                Some(&v.hot_vs_plain),
                v.cpu_hot_vs_plain.as_ref(),
                Some(HOT_TARGET),
            ),
            (
                overhead,
                "cold tokens (full RSA check) vs no authentication",
                Some(&v.cold_vs_plain),
                v.cpu_cold_vs_plain.as_ref(),
                None,
            ),
            (peer, "hot token", v.hot_vs_peer.as_ref(), v.cpu_hot_vs_peer.as_ref(), Some(PEER_HOT_TARGET)),
            (peer, "cold tokens", v.cold_vs_peer.as_ref(), v.cpu_cold_vs_peer.as_ref(), Some(PEER_COLD_TARGET)),
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
        let name = Comparison::StatelessVsStateful.title();
        let _ = writeln!(
            out,
            "| {name} | {}: {} the throughput of introspection | report | – |",
            mode_name(mode_key::LOCAL),
            ratio(&s.local_vs_introspect)
        );
        let feed_target = format!("≥ {FEED_THROUGHPUT_TARGET:.2}×");
        let _ = writeln!(
            out,
            "| {name}: revocation feed | local verification, feed on vs off: throughput {} | {feed_target} | {} |",
            ratio(&s.feed_on_vs_off),
            verdict(s.feed_on_vs_off.median, FEED_THROUGHPUT_TARGET)
        );
        if let Some(cpu) = &s.cpu_feed_on_vs_off {
            let _ = writeln!(
                out,
                "| {name}: revocation feed | local verification, feed on vs off: by server CPU per request {} | \
                 {feed_target} | {} |",
                ratio(cpu),
                verdict(cpu.median, FEED_THROUGHPUT_TARGET)
            );
        }
        for run in &s.outage {
            let _ = writeln!(
                out,
                "| {name}: issuer outage | {}: {:.1} % of requests served while auth-service was down | report | – |",
                mode_name(run.mode),
                run.after.fraction() * 100.0
            );
        }
        let r = &s.revocation;
        for l in &r.lags {
            let (target, judged) = if l.mode == mode_key::LOCAL {
                (format!("p99 ≤ {}", lag_text(REVOCATION_P99_TARGET_S)), p99_verdict(l))
            } else {
                ("report".to_owned(), "–")
            };
            let _ = writeln!(
                out,
                "| {name}: revocation lag | {}: {} | {target} | {judged} |",
                mode_name(l.mode),
                lags(l, r.deadline_s)
            );
        }
        let _ = writeln!(
            out,
            "| {name}: revocation lag | {}: {} after logout (access tokens living {} s, leeway {} s) | report | – |",
            mode_name(mode_key::LOCAL_NO_FEED),
            r.without_feed.lag_s.map_or_else(|| "not revoked within the deadline".to_owned(), |t| format!("{t:.2} s")),
            s.revocation_ttl_s,
            s.leeway_s
        );
    }
    if let Some(g) = &r.gateway
        && let Some(m) = g.variants.iter().find(|m| m.key == "gateway-orders")
    {
        let _ = writeln!(
            out,
            "| {} | {} authenticated req/s, p50 {:.2} ms, p99 {:.2} ms ({}) | report | – |",
            Comparison::Gateway.title(),
            grouped(m.rps.median),
            m.p50_ms.median,
            m.p99_ms.median,
            g.topology
        );
    }
    if let Some(m) = &r.minting {
        for g in &m.grants {
            // The grant that is a signature and little else is held to signing speed; the
            // refresh grant also commits a database transaction, and is reported.
            let (target, judged) = match minting::speed_vs_raw(g, m) {
                Some(speed) if g.key == "client_credentials" => {
                    (format!("≥ {MINTING_TARGET:.2}× raw signing"), verdict(speed, MINTING_TARGET))
                }
                _ => ("report".to_owned(), "–"),
            };
            let _ = writeln!(
                out,
                "| {} | {}: {} | {target} | {judged} |",
                Comparison::Minting.title(),
                g.key,
                minting::figure(g, m)
            );
        }
    }
    out.push('\n');
}
