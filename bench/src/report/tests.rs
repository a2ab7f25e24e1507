//! The whole report rendered from a fixed run with every comparison and every optional figure.

use super::*;
use crate::{
    comparisons::{
        gateway::GatewayResults,
        minting::MintingResults,
        sessions::{
            OutageRun, SessionsResults, Share,
            revocation::{LagDistribution, Poll, Revocation},
        },
        verifier::{InProcess, VerifierResults},
    },
    lab::{Pinning, Plan},
    machine::{Machine, OpenSslSpeed},
};

fn spread(median: f64) -> Spread {
    Spread { median, min: median * 0.9, max: median * 1.1 }
}

fn measured(key: &'static str, label: &str, rps: f64, cpu: Option<f64>) -> Measured {
    Measured {
        key,
        label: label.to_owned(),
        rounds: Vec::new(),
        rps: spread(rps),
        p50_ms: spread(1.25),
        p99_ms: spread(4.5),
        status_errors: 1,
        socket_errors: 2,
        cache_hit_rate: key.contains("hot").then_some(0.999),
        cpu_us_per_request: cpu.map(spread),
        cpu_cores: cpu.map(|_| spread(0.8)),
        cpu_us_by_round: Vec::new(),
    }
}

/// A run with every comparison, every optional figure present, and targets missed.
fn fixture(plan: Plan) -> Results {
    let verifier = VerifierResults {
        variants: vec![
            measured("ours-plain", "no authentication", 90_000.0, Some(10.7)),
            measured("ours-hot", "jwt-verifier, hot token", 70_000.0, Some(14.6)),
            measured("ours-cold", "jwt-verifier, cold tokens", 20_000.0, Some(60.0)),
            measured("peer-plain", "axum 0.7, no authentication", 88_000.0, Some(11.0)),
            measured("peer-hot", "jwt-authorizer, hot token", 60_000.0, Some(40.0)),
            measured("peer-cold", "jwt-authorizer, cold tokens", 21_000.0, Some(58.0)),
        ],
        hot_vs_plain: spread(0.74),
        cold_vs_plain: spread(0.22),
        hot_vs_peer: Some(spread(1.2)),
        cold_vs_peer: Some(spread(0.95)),
        peer_plain_vs_plain: Some(spread(0.98)),
        cold_tokens: 25_000,
        cache_capacity: 1_000,
        token_bytes: 818,
        in_process: InProcess {
            verify_hot_ns: 950.0,
            verify_cold_ns: 45_000.0,
            sha256_ns: 570.0,
            ring_verify_ns: 40_000.0,
            aws_lc_verify_ns: 30_000.0,
            dpop_hot_ns: 30_000.0,
            dpop_cold_ns: 75_000.0,
            es256_verify_ns: 28_000.0,
        },
        cpu_hot_vs_plain: Some(spread(0.74)),
        cpu_cold_vs_plain: Some(spread(0.18)),
        cpu_hot_vs_peer: Some(spread(1.4)),
        cpu_cold_vs_peer: Some(spread(0.97)),
    };
    let outage = |mode, ok| OutageRun {
        mode,
        killed_at_s: 4.1,
        before: Share { ok: 1000, total: 1000 },
        after: Share { ok, total: 2000 },
        timeline: vec![(0, 100, 0), (1, 90, 10), (2, 0, 0), (3, 0, 100)],
        socket_errors: 3,
    };
    let poll = |lag: Option<f64>, refusal: &str| Poll {
        lag_s: lag,
        served_after_logout: u32::from(lag.is_none_or(|t| t > 0.05)),
        refusal: lag.map(|_| refusal.to_owned()),
    };
    // Feed: 29 quick refusals and one slow one (p99 over the target); introspection: all at once.
    let feed: Vec<Poll> = (0..30)
        .map(|i| poll(Some(if i == 7 { 1.4 } else { 0.004 + f64::from(i) * 0.001 }), "the token has been revoked"))
        .collect();
    let introspect: Vec<Poll> = (0..30).map(|_| poll(Some(0.002), "the token is not active (RFC 7662)")).collect();
    let sessions = SessionsResults {
        throughput: vec![
            measured("local", "local verification, revocation feed on", 6_900.0, Some(138.0)),
            measured("local-no-feed", "local verification, revocation feed off", 7_000.0, Some(137.0)),
            measured("introspect", "RFC 7662 introspection", 2_000.0, Some(150.0)),
        ],
        local_vs_introspect: spread(3.45),
        local_no_feed_vs_introspect: spread(3.5),
        feed_on_vs_off: spread(0.97),
        cpu_feed_on_vs_off: Some(spread(0.99)),
        outage: vec![outage("local", 2000), outage("introspect", 0)],
        revocation: Revocation {
            lags: vec![LagDistribution::of("local", feed), LagDistribution::of("introspect", introspect)],
            without_feed: Poll {
                lag_s: Some(55.2),
                served_after_logout: 200,
                refusal: Some("the token has expired".into()),
            },
            without_feed_remaining_s: 29.5,
            first_after_restart_s: Some(0.8),
            requested: 30,
            poll_ms: 10.0,
            deadline_s: 10.0,
        },
        revocation_ttl_s: 30,
        leeway_s: 30,
        orders_per_user: 3,
        restart_s: vec![0.4, 0.5],
    };
    let gateway = GatewayResults {
        variants: vec![
            measured("gateway-healthz", "nginx alone (/healthz)", 30_000.0, None),
            measured("gateway-orders", "GET /v1/orders via nginx", 5_000.0, None),
            measured("direct-orders", "GET /v1/orders, one replica", 6_000.0, None),
        ],
        topology: "auth=1, orders=2, notifications=1".into(),
        gateway: "nginx/1.22".into(),
        gateway_vs_direct: spread(0.83),
        users: 8,
        startup_s: 3.2,
    };
    let minting = MintingResults {
        grants: vec![
            measured("client_credentials", "client_credentials grant", 700.0, Some(1_400.0)),
            measured("refresh_token", "refresh_token grant", 500.0, None),
        ],
        refresh_starved: 4,
        ring_one_core: spread(1_200.0),
        ring_server_cores: spread(1_150.0),
        ring_cpu_us_per_signature: spread(820.0),
        server_cores: 1,
        message_bytes: 600,
    };
    Results {
        date: "2025-01-01T00:00:00Z".into(),
        command: "cargo run --release -p bench -- all".into(),
        plan,
        machine: Machine {
            cpu: "Test CPU".into(),
            cores: 2,
            memory_gib: 7.5,
            kernel: "Linux 6".into(),
            rustc: "rustc 1.90".into(),
            wrk: "wrk 4.2".into(),
            nginx: "nginx/1.22".into(),
            openssl: "OpenSSL 3".into(),
            load_start: "0.1 0.2 0.3".into(),
            load_end: "1.0 1.1 1.2".into(),
        },
        openssl: Some(OpenSslSpeed {
            sign_per_s: 1568.4,
            verify_per_s: 54_232.7,
            sign_per_s_all_cores: 3100.0,
            verify_per_s_all_cores: 108_000.0,
        }),
        verifier: Some(verifier),
        sessions: Some(sessions),
        gateway: Some(gateway),
        minting: Some(minting),
        pinning: Some(Pinning { load: "0".into(), load_cores: 1, servers: "1".into(), server_cores: 1 }),
        elapsed_s: 600.0,
        wrk_commands: vec!["wrk -t1 -c32 -d8s --timeout 5s -s bench/lua/tokens.lua http://127.0.0.1:PORT".into()],
    }
}

/// Renders the fixture, full and smoke, through [`write`]. With `BENCH_REPORT_SNAPSHOT=DIR`
/// the files are kept in `DIR/full` and `DIR/smoke`, to diff the report before and after a
/// change.
#[test]
fn every_section_renders() {
    for (name, plan) in [("full", Plan::full()), ("smoke", Plan::smoke())] {
        let results = fixture(plan);
        let dir = tempfile::tempdir().unwrap();
        write(&results, dir.path()).unwrap();
        let report = std::fs::read_to_string(dir.path().join("REPORT.md")).unwrap();
        for heading in ["## Headline", "## Machine", "## Method", "## Targets and closing notes", "## Exact commands"] {
            assert!(report.contains(heading), "{heading} missing");
        }
        // The revocation feed's figures, with their targets and verdicts.
        for row in [
            "| stateless vs stateful: revocation feed | local verification, feed on vs off: throughput 0.97× (0.87–1.07) | ≥ 0.98× | **missed** |",
            "p99 1.40 s over 30 logouts | p99 ≤ 1.00 s | **missed** |",
            "| stateless vs stateful: revocation lag | introspection: p50 2.0 ms, p99 2.0 ms over 30 logouts | report | – |",
            "| stateless vs stateful: revocation lag | local verification without the feed: 55.20 s after logout",
            "| revocation lag after a logout | p50 2.0 ms, p99 2.0 ms over 30 logouts | p50 ",
            "**Revocation lag with the feed: target p99 ≤ 1.00 s missed**",
            "**Revocation feed on vs off: target ≥ 0.98× missed**",
        ] {
            assert!(report.contains(row), "{row:?} missing");
        }
        // Comparisons go by name, not by number.
        let lower = report.to_lowercase();
        for n in 1..=5 {
            for numbered in
                [format!("## {n}."), format!("| {n}. "), format!("comparison {n}"), format!("comparisons {n}")]
            {
                assert!(!lower.contains(&numbered), "{numbered:?} in the report");
            }
        }
        for chart in [
            "verifier-throughput",
            "verifier-latency",
            "sessions-throughput",
            "sessions-outage",
            "gateway-throughput",
            "minting",
        ] {
            assert!(dir.path().join(format!("{chart}.svg")).is_file(), "{chart}.svg missing");
        }
        if let Some(snapshot) = std::env::var_os("BENCH_REPORT_SNAPSHOT") {
            let snapshot = std::path::PathBuf::from(snapshot).join(name);
            std::fs::create_dir_all(&snapshot).unwrap();
            for file in std::fs::read_dir(dir.path()).unwrap() {
                let file = file.unwrap();
                std::fs::copy(file.path(), snapshot.join(file.file_name())).unwrap();
            }
            std::fs::write(snapshot.join("summary.txt"), summary(&results)).unwrap();
        }
    }
}
