//! The section of through the gateway, and its chart.

use std::fmt::Write as _;

use super::{Charts, bar, ratio, table};
use crate::{
    charts::{BASELINE, OURS},
    comparisons::gateway::GatewayResults,
    lab::Measured,
};

pub(super) fn charts(charts: &mut Charts, g: &GatewayResults) -> anyhow::Result<()> {
    let bars: Vec<_> = g
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
    charts.bars("gateway-throughput.svg", "Through the gateway: the stack behind nginx", "requests/s", &bars)
}

pub(super) fn section(out: &mut String, g: &GatewayResults, server_cores: usize, charts: &Charts) {
    let _ = writeln!(out, "## Through the gateway\n");
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
    let per_request =
        |key: &str| g.variants.iter().find(|m| m.key == key).filter(|m| m.rps.median > 0.0).map(|m| 1e6 / m.rps.median);
    if let (Some(hop), Some(via), Some(direct)) =
        (per_request("gateway-healthz"), per_request("gateway-orders"), per_request("direct-orders"))
    {
        let _ = writeln!(
            out,
            "- What the hop costs, in the servers' core time per request (the inverse of the throughput, since that \
             core is saturated): nginx answering by itself {hop:.1} µs; `GET /v1/orders` {direct:.1} µs straight to a \
             replica and {via:.1} µs through nginx, so proxying adds {:.1} µs: parsing and forwarding the request, \
             the upstream round trip on a kept-alive connection and the answer relayed back, plus the scheduling \
             of more processes on one core.\n\
             - The gateway's configuration is what a production operator would run: keep-alive connections to \
             every upstream (`keepalive 16`, HTTP/1.1, `Connection: \"\"`), the access log buffered (`buffer=64k \
             flush=1s`: one write per 64 KiB of log lines instead of one per request), one worker per core the \
             gateway has (`worker_processes 1` here, `auto` in compose). The compose gateway resolves replicas \
             through Docker's DNS per request and so cannot keep upstream connections alive (see \
             `deploy/gateway/compose.conf`); this local stack has a fixed upstream list and does.\n",
            via - direct
        );
    }
    charts.embed(out, "gateway-throughput.svg", "throughput through the gateway");
}
