//! Database outage (PostgreSQL) (scenario 10): the database goes away. Every service answers 503 with the JSON
//! error envelope meanwhile (valid tokens still verify, so this is about the database, not
//! auth), recovers by itself when the database is back, and loses no acknowledged order.
//!
//! The outage is made by a proxy between the services and the PostgreSQL server that cuts
//! every connection and refuses new ones, which is what a crashed server looks like to a
//! client, without stopping a server other tests may be using. On SQLite there is no server
//! to lose, and the scenario says so and skips.

use std::{collections::BTreeSet, time::Duration};

use e2e::{api::Api, control::ControlError, service::Service};
use futures::future::join_all;
use http::StatusCode;
use serde_json::Value;

use crate::{
    login_and_order::order_id_of,
    support::{self, PASSWORD, new_user, poll, skipped},
};

const NAME: &str = "10-database-outage";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn during_a_database_outage_services_answer_503_and_recover_without_losing_orders() {
    support::scenario(
        NAME,
        |mut options| {
            options.database_proxy = true;
            options
        },
        async |stack| {
            if stack.database_is_postgres() == Some(false) {
                skipped(
                    NAME,
                    "the whole scenario",
                    "the stack runs on SQLite, an embedded file with no server to lose; run with E2E_DATABASE_URL \
                     (or TEST_DATABASE_URL) pointing at PostgreSQL",
                );
                return Ok(());
            }
            let api = Api::new(stack.gateway_url().clone());
            let user = new_user(&api).await?;
            let mut acknowledged = BTreeSet::new();
            for i in 0..3 {
                let reply = api.create_order(user.token(), &[("BEFORE-OUTAGE", i + 1)], None).await?.expect(StatusCode::CREATED, "POST /v1/orders")?;
                acknowledged.insert(reply.str("id").unwrap_or_default().to_owned());
            }

            match stack.control().set_database_available(false).await {
                Ok(()) => {}
                Err(ControlError::Unsupported(reason)) => {
                    skipped(NAME, "the whole scenario", &reason);
                    return Ok(());
                }
                Err(ControlError::Failed(error)) => return Err(error),
            }
            eprintln!("e2e[{NAME}]: database down");
            let outage_started = std::time::Instant::now();
            let key = uuid::Uuid::new_v4().to_string();

            // Every service, directly and through the gateway, answers 503 with a clear error.
            let mut probes: Vec<(String, Api)> = vec![("gateway".to_owned(), api.clone())];
            for service in Service::ALL {
                if let Ok(urls) = stack.control().replica_urls(service).await {
                    probes.extend(urls.iter().map(|url| (format!("{service} at {url}"), api.at(url))));
                }
            }
            let token = user.token().to_owned();
            let email = user.email.clone();
            // Which requests each target gets; all of them run at once, since each may take the
            // services' pool-acquire timeout to fail.
            let mut requests: Vec<(String, &Api, &'static str)> = Vec::new();
            for (label, target) in &probes {
                let is_gateway = label == "gateway";
                let mut add = |what: &'static str| requests.push((format!("{what} via {label}"), target, what));
                if is_gateway || label.starts_with("orders") {
                    add("POST /v1/orders");
                    add("GET /v1/orders");
                }
                if is_gateway || label.starts_with("notifications") {
                    add("GET /v1/notifications");
                }
                if is_gateway || label.starts_with("auth") {
                    add("POST /v1/login");
                }
                if !is_gateway {
                    add("GET /readyz");
                }
            }
            let checks = requests.into_iter().map(|(label, target, what)| {
                let token = token.clone();
                let email = email.clone();
                let key = key.clone();
                async move {
                    let reply = match what {
                        "POST /v1/orders" => target.create_order(&token, &[("DURING-OUTAGE", 1)], Some(&key)).await?,
                        "GET /v1/orders" => target.get("/v1/orders", Some(&token)).await?,
                        "GET /v1/notifications" => target.get("/v1/notifications", Some(&token)).await?,
                        "POST /v1/login" => target.login(&email, PASSWORD).await?,
                        _ => target.get("/readyz", None).await?,
                    };
                    anyhow::Ok((label, reply))
                }
            });
            let mut wrong = Vec::new();
            let mut checked = 0;
            for answer in join_all(checks).await {
                let (what, reply) = answer?;
                checked += 1;
                let ok =
                    reply.status == StatusCode::SERVICE_UNAVAILABLE && (what.contains("/readyz") || reply.is_error_envelope());
                if !ok {
                    wrong.push(format!("{what}: {} {}", reply.status, reply.text));
                }
            }
            // Wrong answers fail the scenario at the end, after recovery has been checked too, so
            // one run reports everything that is off.
            if wrong.is_empty() {
                eprintln!("e2e[{NAME}]: {checked} requests during the outage, each 503 with a clear error");
            } else {
                eprintln!("e2e[{NAME}]: {} of {checked} requests during the outage were not 503 with a clear error", wrong.len());
            }

            stack.control().set_database_available(true).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!("e2e[{NAME}]: database back after {:.1}s", outage_started.elapsed().as_secs_f64());

            // Recovery needs no restart: the order refused during the outage goes through on retry.
            let retried = poll("an order accepted after the database is back", Duration::from_secs(60), Duration::from_millis(250), || async {
                let reply = api.create_order(user.token(), &[("DURING-OUTAGE", 1)], Some(&key)).await?;
                match reply.status {
                    StatusCode::CREATED => Ok(Some(reply)),
                    status if status.is_server_error() => Ok(None),
                    status => anyhow::bail!("retry after the outage: {status} {}", reply.text),
                }
            })
            .await?;
            acknowledged.insert(retried.str("id").unwrap_or_default().to_owned());
            for service in Service::ALL {
                if let Ok(urls) = stack.control().replica_urls(service).await {
                    for url in urls {
                        poll(&format!("{service} at {url} ready again"), Duration::from_secs(30), Duration::from_millis(200), || async {
                            Ok((api.at(&url).get("/readyz", None).await?.status == StatusCode::OK).then_some(()))
                        })
                        .await?;
                    }
                }
            }
            api.login(&user.email, PASSWORD).await?.expect(StatusCode::OK, "login after the outage")?;
            for i in 0..2 {
                let reply = api.create_order(user.token(), &[("AFTER-OUTAGE", i + 1)], None).await?.expect(StatusCode::CREATED, "POST /v1/orders after the outage")?;
                acknowledged.insert(reply.str("id").unwrap_or_default().to_owned());
            }

            // Nothing acknowledged is lost, nothing is doubled, and every order is notified.
            let listed: Vec<String> = api
                .list_all("/v1/orders", user.token())
                .await?
                .iter()
                .filter_map(|o| o.get("id").and_then(Value::as_str).map(str::to_owned))
                .collect();
            let listed_set: BTreeSet<String> = listed.iter().cloned().collect();
            anyhow::ensure!(listed.len() == listed_set.len(), "an order is listed twice");
            anyhow::ensure!(listed_set == acknowledged, "orders listed {listed_set:?}, acknowledged {acknowledged:?}");
            poll("a notification for every acknowledged order", Duration::from_secs(60), Duration::from_millis(250), || async {
                let Some(items) = api.list_all_if_available("/v1/notifications", user.token()).await? else {
                    return Ok(None);
                };
                let all = acknowledged.iter().all(|id| items.iter().filter(|n| order_id_of(n) == Some(id.as_str())).count() == 1);
                Ok(all.then_some(()))
            })
            .await?;
            eprintln!("e2e[{NAME}]: all {} acknowledged orders kept and notified", acknowledged.len());
            anyhow::ensure!(
                wrong.is_empty(),
                "recovery was fine, but with the database down these answers were not 503 with the error envelope:\n  {}",
                wrong.join("\n  ")
            );
            Ok(())
        },
    )
    .await;
}
