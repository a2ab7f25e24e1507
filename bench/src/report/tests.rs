//! The whole report rendered from a fixed run with every comparison and every optional figure.

use super::*;
use crate::{
    comparisons::{
        gateway::GatewayResults,
        minting::MintingResults,
        sessions::{OutageRun, RevocationLag, SessionsResults, Share},
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
        in_process: InProcess { verify_hot_ns: 950.0, verify_cold_ns: 45_000.0, sha256_ns: 570.0 },
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
    let sessions = SessionsResults {
        throughput: vec![
            measured("local", "local verification", 7_000.0, Some(137.0)),
            measured("introspect", "RFC 7662 introspection", 2_000.0, Some(150.0)),
        ],
        local_vs_introspect: spread(3.5),
        outage: vec![outage("local", 2000), outage("introspect", 0)],
        revocation: vec![
            RevocationLag { mode: "local", lag_s: Some(55.2), served_after_logout: 200 },
            RevocationLag { mode: "introspect", lag_s: None, served_after_logout: 0 },
        ],
        revocation_ttl_s: 30,
        revoked_token_remaining_s: 29.5,
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
