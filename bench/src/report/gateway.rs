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
    charts.embed(out, "gateway-throughput.svg", "throughput through the gateway");
}
