//! Login and order (scenario 1): register and log in through the gateway, place orders that spread over every
//! orders replica, and find each order's notification at notifications-service.

use std::{collections::BTreeMap, time::Duration};

use e2e::api::Api;
use http::StatusCode;
use serde_json::Value;

use crate::support::{self, new_user, poll, served_by};

const NAME: &str = "1-login-order-notify";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn orders_spread_over_the_replicas_and_each_notifies_its_owner_once() {
    support::scenario(
        NAME,
        |options| options,
        async |stack| {
            let api = Api::new(stack.gateway_url().clone());
            let user = new_user(&api).await?;

            // Orders through the gateway land on several replicas.
            let replicas = stack.topology().orders;
            let count = replicas * 3;
            let mut orders = Vec::new();
            let mut served: BTreeMap<String, usize> = BTreeMap::new();
            for i in 0..count {
                let sku = format!("SKU-{i}");
                let reply = api
                    .create_order(user.token(), &[(sku.as_str(), 1 + i as u32)], None)
                    .await?
                    .expect(StatusCode::CREATED, "POST /v1/orders")?;
                anyhow::ensure!(
                    reply.str("owner") == Some(user.subject.as_str()),
                    "order owner is not the caller: {}",
                    reply.text
                );
                *served.entry(served_by(&reply)).or_default() += 1;
                orders.push(reply.str("id").unwrap_or_default().to_owned());
            }
            eprintln!("e2e[{NAME}]: {count} orders placed, answered by {served:?}");
            let distinct = served.keys().filter(|k| k.starts_with("orders-service/")).count();
            anyhow::ensure!(
                distinct >= replicas.min(2),
                "orders through the gateway were served by {distinct} replica(s) ({served:?}); expected at least {}",
                replicas.min(2)
            );

            // A request id sent by the client comes back, so one id follows a request everywhere.
            let request_id = format!("e2e-{}", uuid::Uuid::new_v4().simple());
            let reply = api
                .send(
                    api.request(reqwest::Method::GET, "/v1/orders")
                        .bearer_auth(user.token())
                        .header("x-request-id", &request_id),
                )
                .await?;
            anyhow::ensure!(reply.status == StatusCode::OK, "GET /v1/orders: {}", reply.status);
            anyhow::ensure!(
                reply.header("x-request-id") == Some(request_id.as_str()),
                "request id not echoed: {:?}",
                reply.header("x-request-id")
            );

            // Every order is listed for its owner, whichever replica answers.
            let listed = api.list_all("/v1/orders", user.token()).await?;
            let listed_ids: Vec<&str> = listed.iter().filter_map(|o| o.get("id").and_then(Value::as_str)).collect();
            for id in &orders {
                anyhow::ensure!(listed_ids.contains(&id.as_str()), "order {id} missing from GET /v1/orders");
            }

            // Each order's notification arrives, exactly once.
            let notifications =
                poll("a notification for every order", Duration::from_secs(60), Duration::from_millis(250), || async {
                    let items = api.list_all("/v1/notifications", user.token()).await?;
                    let all_there = orders.iter().all(|id| items.iter().any(|n| order_id_of(n) == Some(id.as_str())));
                    Ok(all_there.then_some(items))
                })
                .await?;
            for id in &orders {
                let copies = notifications.iter().filter(|n| order_id_of(n) == Some(id.as_str())).count();
                anyhow::ensure!(copies == 1, "order {id} has {copies} notifications");
            }
            anyhow::ensure!(
                notifications.iter().all(|n| n.get("recipient").and_then(Value::as_str) == Some(user.subject.as_str())),
                "a notification for someone else was listed"
            );
            Ok(())
        },
    )
    .await;
}

/// `data.order_id` of a notification.
pub fn order_id_of(notification: &Value) -> Option<&str> {
    notification.get("data").and_then(|d| d.get("order_id")).and_then(Value::as_str)
}
