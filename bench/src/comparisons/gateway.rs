//! Through the gateway: the whole local system (the e2e harness's stack: the real service
//! binaries as replicas behind nginx, SQLite) and authenticated requests through the gateway.
//!
//! Three variants, interleaved: the gateway answering `/healthz` itself (the cost of the
//! hop alone), authenticated `GET /v1/orders` through the gateway (spread over the orders
//! replicas, each verifying locally), and the same request straight to one orders replica.

use std::time::Duration;

use anyhow::{Context, bail};
use e2e::{
    api::{Api, Tokens},
    binaries::Binaries,
    service::Service,
    stack::{Stack, StackOptions},
};
use http::StatusCode;
use serde::Serialize;

use super::{Comparison, auth_service::PASSWORD, sessions::ORDERS_PATH};
use crate::{
    lab::{self, Lab, Measured, Variant},
    stats::{Spread, paired_ratio},
    wrk::Run,
};

/// What through the gateway measured.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayResults {
    /// `gateway-healthz`, `gateway-orders`, `direct-orders`.
    pub variants: Vec<Measured>,
    /// Replica counts.
    pub topology: String,
    /// Which gateway ran.
    pub gateway: String,
    /// Authenticated through the gateway / straight to one replica, per round.
    pub gateway_vs_direct: Spread,
    /// Users whose tokens were rotated.
    pub users: usize,
    /// Seconds the stack took to start.
    pub startup_s: f64,
}

/// Runs through the gateway.
///
/// # Errors
/// The stack does not start, set-up requests fail, or wrk fails.
pub async fn run(lab: &Lab, binaries: Binaries) -> anyhow::Result<GatewayResults> {
    let plan = &lab.plan;
    let mut options = StackOptions::from_env("bench", binaries)?;
    options.topology = plan.topology;
    options.ready_timeout = Duration::from_secs(180);
    let started = std::time::Instant::now();
    let stack = Stack::start(options).await?;
    let startup_s = started.elapsed().as_secs_f64();
    let result = measure(lab, &stack, startup_s).await;
    stack.shutdown().await;
    result
}

async fn measure(lab: &Lab, stack: &Stack, startup_s: f64) -> anyhow::Result<GatewayResults> {
    let plan = &lab.plan;
    let gateway = stack.gateway_url().as_str().trim_end_matches('/').to_owned();
    let api = Api::new(stack.gateway_url().clone());
    let mut tokens = Vec::new();
    for index in 0..plan.users {
        let email = format!("gateway-user-{index}@example.com");
        let reply = api.register(&email, PASSWORD).await?;
        if reply.status != StatusCode::CREATED {
            bail!("registering through the gateway answered {}: {}", reply.status, reply.text);
        }
        let reply = api.login(&email, PASSWORD).await?;
        if reply.status != StatusCode::OK {
            bail!("login through the gateway answered {}: {}", reply.status, reply.text);
        }
        let token = Tokens::from_reply(&reply)?.access_token;
        for n in 1..=2 {
            let reply = api.create_order(&token, &[("BENCH-SKU", n)], None).await?;
            if reply.status != StatusCode::CREATED {
                bail!("an order through the gateway answered {}: {}", reply.status, reply.text);
            }
        }
        tokens.push(token);
    }
    let file = lab::write_tokens(&lab.dir, "gateway.tokens", &tokens)?;
    let replicas = stack.control().replica_urls(Service::Orders).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let direct = replicas.first().context("no orders replica")?.as_str().trim_end_matches('/').to_owned();
    let reply = Api::new(url::Url::parse(&direct)?).get(ORDERS_PATH, Some(&tokens[0])).await?;
    if reply.status != StatusCode::OK {
        bail!("orders replica answered {}: {}", reply.status, reply.text);
    }
    let run = |base: &str, path: &str| Run::tokens("tokens.lua", base, path, &file, plan.load.threads);
    let variants = [
        Variant {
            key: "gateway-healthz",
            label: "nginx alone (/healthz)".into(),
            run: run(&gateway, "/healthz"),
            stats_url: None,
            pid: None,
        },
        Variant {
            key: "gateway-orders",
            label: "GET /v1/orders via nginx".into(),
            run: run(&gateway, ORDERS_PATH),
            stats_url: None,
            pid: None,
        },
        Variant {
            key: "direct-orders",
            label: "GET /v1/orders, one replica".into(),
            run: run(&direct, ORDERS_PATH),
            stats_url: None,
            pid: None,
        },
    ];
    eprintln!("bench: {}: {} variants x {} rounds", Comparison::Gateway.title(), variants.len(), plan.rounds);
    let measured = lab::measure(lab, &variants).await?;
    let description = stack.local().map_or_else(|| "unknown".to_owned(), |_| String::new());
    let gateway_kind = match stack.local() {
        Some(local) => local.gateway_description().await,
        None => description,
    };
    Ok(GatewayResults {
        gateway_vs_direct: paired_ratio(&measured[1].rps_by_round(), &measured[2].rps_by_round()),
        variants: measured,
        topology: plan.topology_text.clone(),
        gateway: gateway_kind,
        users: plan.users,
        startup_s,
    })
}
