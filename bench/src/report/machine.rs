//! What the figures were measured on and how: the machine, and the method.

use std::fmt::Write as _;

use super::grouped;
use crate::Results;

pub(super) fn machine(out: &mut String, r: &Results) {
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
        "\nThe load generator, the servers and (in stateless vs stateful, through the gateway and minting) \
         every replica share these {} cores \
         (see pinning below), so absolute figures are lower than on a machine where the load generator runs \
         elsewhere; the ratios are what carry over. A load average well above the core count means other work was \
         running during the run: the spreads show how much that moved the figures.\n",
        m.cores
    );
}

pub(super) fn method(out: &mut String, r: &Results) {
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
