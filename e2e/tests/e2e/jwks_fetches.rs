//! JWKS fetches (scenario 3): after warm-up, 1,000 authenticated requests cause no JWKS fetch at all: every
//! replica verifies from its cache, counted by the verifiers' own metrics and by the issuer's
//! request counter.

use std::{collections::BTreeMap, sync::Arc};

use e2e::{
    api::{Api, metric_sum},
    control::ControlError,
    service::Service,
};
use futures::{StreamExt, stream};
use http::StatusCode;

use crate::support::{self, new_user, on_every_replica, replica_metrics, skipped};

const NAME: &str = "3-no-jwks-fetches";
const REQUESTS: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_requests_after_warm_up_cause_no_jwks_fetch() {
    support::scenario(
        NAME,
        |options| options,
        async |stack| {
            let api = Api::new(stack.gateway_url().clone());
            let mut users = Vec::new();
            for _ in 0..4 {
                users.push(new_user(&api).await?);
            }

            // Warm-up: every verifying replica has seen a token.
            for (service, path) in [(Service::Orders, "/v1/orders"), (Service::Notifications, "/v1/notifications")] {
                for (replica, reply) in on_every_replica(stack, service, |r| {
                    let token = users[0].token().to_owned();
                    async move { Ok(r.get(path, Some(&token)).await?) }
                })
                .await?
                {
                    anyhow::ensure!(reply.status == StatusCode::OK, "warm-up at {replica}: {}", reply.status);
                }
            }

            let metrics_reachable = match stack.control().replica_urls(Service::Orders).await {
                Ok(_) => true,
                Err(ControlError::Unsupported(reason)) => {
                    skipped(NAME, "counting fetches (the replicas' /metrics are not reachable)", &reason);
                    false
                }
                Err(ControlError::Failed(error)) => return Err(error),
            };
            let before = if metrics_reachable { Some(fetch_counts(stack).await?) } else { None };

            // 1,000 requests through the gateway, spread over both verifying services.
            let tokens: Arc<Vec<String>> = Arc::new(users.iter().map(|u| u.token().to_owned()).collect());
            let started = std::time::Instant::now();
            let results: Vec<anyhow::Result<StatusCode>> = stream::iter(0..REQUESTS)
                .map(|i| {
                    let api = api.clone();
                    let tokens = Arc::clone(&tokens);
                    async move {
                        let path = if i % 2 == 0 { "/v1/orders" } else { "/v1/notifications" };
                        Ok(api.get(path, Some(&tokens[i % tokens.len()])).await?.status)
                    }
                })
                .buffer_unordered(16)
                .collect()
                .await;
            let elapsed = started.elapsed();
            let failures: Vec<String> = results
                .iter()
                .filter_map(|r| match r {
                    Ok(status) if *status == StatusCode::OK => None,
                    Ok(status) => Some(status.to_string()),
                    Err(error) => Some(format!("{error:#}")),
                })
                .collect();
            anyhow::ensure!(
                failures.is_empty(),
                "{} of {REQUESTS} requests failed: {:?}",
                failures.len(),
                &failures[..failures.len().min(5)]
            );
            eprintln!("e2e[{NAME}]: {REQUESTS} authenticated requests in {:.1}s", elapsed.as_secs_f64());

            if let Some(before) = before {
                let after = fetch_counts(stack).await?;
                anyhow::ensure!(
                    after == before,
                    "JWKS fetches during the {REQUESTS} requests: before {before:?}, after {after:?}"
                );
                eprintln!("e2e[{NAME}]: fetch counters unchanged: {after:?}");
            }
            Ok(())
        },
    )
    .await;
}

/// JWKS fetches per verifying replica (`auth_jwks_fetches_total`, every result) and JWKS
/// requests the auth replicas served (`http_requests_total` on the JWKS route).
pub async fn fetch_counts(stack: &e2e::stack::Stack) -> anyhow::Result<BTreeMap<String, u64>> {
    let mut counts = BTreeMap::new();
    for service in [Service::Orders, Service::Notifications, Service::Auth] {
        for (replica, text) in replica_metrics(stack, service).await? {
            let count = match service {
                Service::Auth => metric_sum(&text, "http_requests_total", &[("route", "/.well-known/jwks.json")]),
                _ => metric_sum(&text, "auth_jwks_fetches_total", &[]),
            };
            counts.insert(replica, count as u64);
        }
    }
    Ok(counts)
}
