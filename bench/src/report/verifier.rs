//! The section of verifier overhead and vs jwt-authorizer (one interleaved run), and its
//! charts.

use std::fmt::Write as _;

use plotters::style::RGBColor;

use super::{
    Charts, grouped, ratio, table,
    targets::{DPOP_COLD_TARGET, HOT_TARGET, PEER_COLD_TARGET, PEER_HOT_TARGET},
    verdict,
};
use crate::{
    Results,
    charts::{BASELINE, Bar, OTHER, OURS},
    comparisons::verifier::VerifierResults,
    lab::Measured,
    stats::Spread,
};

/// The variants in chart order, with their chart labels and colours.
const BARS: [(&str, &str, RGBColor); 6] = [
    ("ours-plain", "no auth (axum 0.8)", BASELINE),
    ("ours-hot", "jwt-verifier, hot", OURS),
    ("ours-cold", "jwt-verifier, cold", OURS),
    ("peer-plain", "no auth (axum 0.7)", BASELINE),
    ("peer-hot", "jwt-authorizer, hot", OTHER),
    ("peer-cold", "jwt-authorizer, cold", OTHER),
];

pub(super) fn charts(charts: &mut Charts, v: &VerifierResults) -> anyhow::Result<()> {
    let bars = |figure: fn(&Measured) -> Spread| -> Vec<Bar> {
        BARS.iter()
            .filter_map(|(key, label, color)| {
                v.variant(key).map(|m| Bar { label: (*label).to_owned(), value: figure(m), color: *color })
            })
            .collect()
    };
    let title = "Verifier overhead and vs jwt-authorizer";
    charts.bars("verifier-throughput.svg", &format!("{title}: throughput"), "requests/s", &bars(|m| m.rps))?;
    charts.bars("verifier-latency.svg", &format!("{title}: p99 latency"), "ms", &bars(|m| m.p99_ms))?;
    Ok(())
}

pub(super) fn section(out: &mut String, r: &Results, v: &VerifierResults, charts: &Charts) {
    let _ = writeln!(out, "## Verifier overhead, and vs jwt-authorizer (the peer)\n");
    let _ = writeln!(
        out,
        "One trivial handler (`GET`, answers `ok`), bare axum on both sides (no request-id, tracing or metrics \
         layers), served without authentication, behind `jwt_verifier::Authenticated`, and behind \
         [jwt-authorizer](https://crates.io/crates/jwt-authorizer) 0.15's layer with a claims type that decodes \
         the same claims. Both servers fetch the same JWKS from the runner's in-process test issuer and \
         check the same things: RS256 only, `iss`, `aud`, `exp` and `nbf` with 30 s leeway.\n"
    );
    let _ = writeln!(
        out,
        "- **hot**: the same token on every request ({} bytes). `jwt-verifier` answers from its verified-token cache \
         (keyed by the end of the signature, the whole token compared exactly → the verified caller, until `exp`).\n\
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
        "- Hot token vs no authentication: **{}** (target ≥ {HOT_TARGET:.2}×: {}).",
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
            "- vs jwt-authorizer, hot: **{}** (target ≥ {PEER_HOT_TARGET:.1}×: {}); cold: **{}** (target ≥ \
             {PEER_COLD_TARGET:.1}×: {}).",
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
        "- `Verifier::verify` called in-process (no HTTP, one core): {:.2} µs for a hot token (a SHA-256 of the \
         token, which the cache key no longer needs, would cost {:.2} µs), {:.1} µs for a full verification of a \
         cold one: {:.2}× raw ring RS256 verification of the same tokens ({:.1} µs, what a verifier built on \
         ring cannot go under: ring sets up the modulus on every call) and {:.2}× the aws-lc-rs check with the \
         key parsed once ({:.1} µs), which is what the verifier verifies with.",
        ip.verify_hot_ns / 1000.0,
        ip.sha256_ns / 1000.0,
        ip.verify_cold_ns / 1000.0,
        per(ip.verify_cold_ns, ip.ring_verify_ns),
        ip.ring_verify_ns / 1000.0,
        per(ip.verify_cold_ns, ip.aws_lc_verify_ns),
        ip.aws_lc_verify_ns / 1000.0
    );
    let _ = writeln!(
        out,
        "- DPoP-bound tokens (RFC 9449), in-process, with the check of a fresh proof each (ES256 signature by \
         the embedded key, `htm`/`htu`/`iat`/`ath`, the replay cache): {:.1} µs for a hot token ({:.1}× the \
         bearer hot figure), {:.1} µs for a cold one: **{:.2}× a cold bearer verification** (target ≤ \
         {DPOP_COLD_TARGET:.1}×). What the proof adds, {:.1} µs, is {:.2}× one raw ES256 verification \
         ({:.1} µs, aws-lc-rs): on this machine one ES256 verification alone costs {:.2}× a whole cold \
         RS256 token check, because an RSA check with e = 65537 is cheap and an ECDSA one is not.",
        ip.dpop_hot_ns / 1000.0,
        per(ip.dpop_hot_ns, ip.verify_hot_ns),
        ip.dpop_cold_ns / 1000.0,
        per(ip.dpop_cold_ns, ip.verify_cold_ns),
        (ip.dpop_cold_ns - ip.verify_cold_ns) / 1000.0,
        per(ip.dpop_cold_ns - ip.verify_cold_ns, ip.es256_verify_ns),
        ip.es256_verify_ns / 1000.0,
        per(ip.es256_verify_ns, ip.verify_cold_ns),
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
         silently accepts wrongly typed `exp`/`nbf` ; `bench-peer` has its own `[workspace]` and \
         Cargo.lock, is excluded from the root workspace, and the runner builds it with \
         `cargo build --release --manifest-path bench-peer/Cargo.toml` and starts it as a process.\n"
    );
    charts.embed(out, "verifier-throughput.svg", "throughput, verifier overhead and vs jwt-authorizer");
    charts.embed(out, "verifier-latency.svg", "p99 latency, verifier overhead and vs jwt-authorizer");
}

fn per(part: f64, whole: f64) -> f64 {
    if whole > 0.0 { part / whole } else { f64::NAN }
}
