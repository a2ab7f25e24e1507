//! Replica loss (scenario 6): an orders replica is killed with SIGKILL in the middle of steady load. No GET
//! through the gateway fails (it moves on to another replica), and POSTs that a client retries
//! with the same `Idempotency-Key` after an error create exactly one order each.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use e2e::{
    api::Api,
    control::{ControlError, Which},
    service::Service,
};
use http::StatusCode;
use serde_json::Value;
use tokio::time::Instant;

use crate::support::{self, User, new_user, poll, served_by, skipped, start_load};

const NAME: &str = "6-replica-loss";
/// The replica that dies.
const VICTIM: usize = 2;

/// What one load step saw.
#[derive(Debug)]
enum Outcome {
    /// A GET answered 200 by this replica, at this moment.
    Read { replica: String, at: Instant },
    /// A GET failed.
    ReadFailed(String),
    /// A POST with this key created (or replayed) this order after `attempts` tries.
    Placed { user: usize, key: String, order_ids: BTreeSet<String>, attempts: usize },
    /// A POST never succeeded.
    PlaceFailed(String),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_an_orders_replica_under_load_fails_no_get_and_duplicates_no_post() {
    support::scenario(NAME, |options| options, async |stack| {
        let api = Api::new(stack.gateway_url().clone());
        let mut users = Vec::new();
        for _ in 0..3 {
            users.push(new_user(&api).await?);
        }
        let mut existing: Vec<(usize, String)> = Vec::new();
        for (index, user) in users.iter().enumerate() {
            for n in 0..2 {
                let reply = api.create_order(user.token(), &[("BEFORE", n + 1)], None).await?.expect(StatusCode::CREATED, "POST /v1/orders")?;
                existing.push((index, reply.str("id").unwrap_or_default().to_owned()));
            }
        }
        let users = Arc::new(users);
        let existing = Arc::new(existing);

        const READERS: usize = 4;
        let load = start_load(READERS + 2, Duration::from_millis(10), {
            let api = api.clone();
            let users = Arc::clone(&users);
            let existing = Arc::clone(&existing);
            move |worker, iteration| {
                let api = api.clone();
                let users = Arc::clone(&users);
                let existing = Arc::clone(&existing);
                async move {
                    if worker < READERS {
                        read(&api, &users, &existing, iteration).await
                    } else {
                        place(&api, &users, worker).await
                    }
                }
            }
        });

        tokio::time::sleep(Duration::from_secs(2)).await;
        // Ask the victim its name: under compose `X-Served-By` carries the container id, not
        // the harness's `orders-N`; the control lists replicas in the order it numbers them.
        let victim = match stack.control().replica_urls(Service::Orders).await {
            Ok(urls) if urls.len() >= VICTIM => served_by(&api.at(&urls[VICTIM - 1]).get("/healthz", None).await?),
            _ => format!("orders-service/orders-{VICTIM}"),
        };
        match stack.control().kill(Service::Orders, Which::Replica(VICTIM)).await {
            Ok(()) => {}
            Err(ControlError::Unsupported(reason)) => {
                load.stop().await?;
                skipped(NAME, "the whole scenario", &reason);
                return Ok(());
            }
            Err(ControlError::Failed(error)) => return Err(error),
        }
        let killed_at = Instant::now();
        eprintln!("e2e[{NAME}]: {victim} killed with SIGKILL under load");
        tokio::time::sleep(Duration::from_secs(4)).await;

        // Back again: the gateway's passive health check lets it rejoin by itself.
        let restarting_at = Instant::now();
        stack.control().restart(Service::Orders, Which::Replica(VICTIM)).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let probe = users[0].token().to_owned();
        poll("the restarted replica serving through the gateway again", Duration::from_secs(20), Duration::from_millis(50), || async {
            let reply = api.get("/v1/orders", Some(&probe)).await?;
            Ok((reply.status == StatusCode::OK && served_by(&reply) == victim).then_some(()))
        })
        .await?;
        let outcomes = load.stop().await?;

        let mut reads = 0;
        let mut read_failures = Vec::new();
        let mut victim_reads_before = 0;
        let mut victim_reads_while_dead = 0;
        let mut placed: Vec<(usize, String, BTreeSet<String>, usize)> = Vec::new();
        let mut place_failures = Vec::new();
        for outcome in outcomes {
            match outcome {
                Outcome::Read { replica, at } => {
                    reads += 1;
                    if replica == victim && at < killed_at {
                        victim_reads_before += 1;
                    }
                    // An answer read a moment after the kill may still have been sent before it.
                    if replica == victim && at > killed_at + Duration::from_secs(1) && at < restarting_at {
                        victim_reads_while_dead += 1;
                    }
                }
                Outcome::ReadFailed(why) => read_failures.push(why),
                Outcome::Placed { user, key, order_ids, attempts } => placed.push((user, key, order_ids, attempts)),
                Outcome::PlaceFailed(why) => place_failures.push(why),
            }
        }
        let retried = placed.iter().filter(|(_, _, _, attempts)| *attempts > 1).count();
        eprintln!(
            "e2e[{NAME}]: {reads} GETs ({victim_reads_before} served by {victim} before the kill), {} POSTs ({retried} needed a retry)",
            placed.len()
        );
        anyhow::ensure!(read_failures.is_empty(), "{} GETs failed: {:?}", read_failures.len(), &read_failures[..read_failures.len().min(5)]);
        anyhow::ensure!(place_failures.is_empty(), "POSTs never succeeded: {place_failures:?}");
        anyhow::ensure!(victim_reads_before > 0, "{victim} served nothing before the kill, so the kill proved nothing");
        anyhow::ensure!(victim_reads_while_dead == 0, "{victim} answered {victim_reads_while_dead} GETs while dead");
        anyhow::ensure!(!placed.is_empty(), "no POST completed during the load");

        // Exactly one order per idempotency key: every try of a key saw the same order, and
        // each user's list holds exactly the orders placed.
        for (_, key, order_ids, _) in &placed {
            anyhow::ensure!(order_ids.len() == 1, "key {key} produced several orders: {order_ids:?}");
        }
        let mut expected: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
        for (user, id) in existing.iter() {
            expected.entry(*user).or_default().insert(id.clone());
        }
        for (user, _, order_ids, _) in &placed {
            expected.entry(*user).or_default().extend(order_ids.iter().cloned());
        }
        for (index, user) in users.iter().enumerate() {
            let listed: Vec<String> = api
                .list_all("/v1/orders", user.token())
                .await?
                .iter()
                .filter_map(|o| o.get("id").and_then(Value::as_str).map(str::to_owned))
                .collect();
            let listed_set: BTreeSet<String> = listed.iter().cloned().collect();
            let want = expected.remove(&index).unwrap_or_default();
            anyhow::ensure!(listed.len() == listed_set.len(), "user {index}: an order is listed twice");
            anyhow::ensure!(
                listed_set == want,
                "user {index}: {} orders listed, {} expected (extra: {:?}, missing: {:?})",
                listed_set.len(),
                want.len(),
                listed_set.difference(&want).collect::<Vec<_>>(),
                want.difference(&listed_set).collect::<Vec<_>>()
            );
        }
        Ok(())
    })
    .await;
}

async fn read(api: &Api, users: &[User], existing: &[(usize, String)], iteration: usize) -> Outcome {
    let (user, id) = &existing[iteration % existing.len()];
    let token = users[*user].token();
    let result = if iteration.is_multiple_of(2) {
        api.get("/v1/orders", Some(token)).await
    } else {
        api.get_order(token, id).await
    };
    match result {
        Ok(reply) if reply.status == StatusCode::OK => Outcome::Read { replica: served_by(&reply), at: Instant::now() },
        Ok(reply) => Outcome::ReadFailed(format!("{} {}", reply.status, reply.text)),
        Err(error) => Outcome::ReadFailed(error.to_string()),
    }
}

/// One order, retried with the same key after transport errors and 5xx, as a client would.
async fn place(api: &Api, users: &[User], worker: usize) -> Outcome {
    let user = worker % users.len();
    let key = uuid::Uuid::new_v4().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut order_ids = BTreeSet::new();
    let mut attempts = 0;
    let mut last = String::new();
    while Instant::now() < deadline {
        attempts += 1;
        match api.create_order(users[user].token(), &[("DURING-LOSS", 1)], Some(&key)).await {
            Ok(reply) if reply.status == StatusCode::CREATED => {
                order_ids.insert(reply.str("id").unwrap_or_default().to_owned());
                if attempts > 1 {
                    // Ask once more: a replay must name the same order.
                    if let Ok(again) = api.create_order(users[user].token(), &[("DURING-LOSS", 1)], Some(&key)).await
                        && let Some(id) = again.str("id")
                    {
                        order_ids.insert(id.to_owned());
                    }
                }
                return Outcome::Placed { user, key, order_ids, attempts };
            }
            Ok(reply) if reply.status.is_server_error() => last = format!("{} {}", reply.status, reply.text),
            Ok(reply) => return Outcome::PlaceFailed(format!("{} {}", reply.status, reply.text)),
            Err(error) => last = error.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Outcome::PlaceFailed(format!("key {key}: no success in 30s, last: {last}"))
}
