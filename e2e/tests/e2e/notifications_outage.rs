//! Notifications outage (scenario 9): notifications-service accepts deliveries only from services (a user's token is
//! refused with 403 even when it carries `notifications:write`), and when every
//! notifications-service replica is dead while orders are placed, each order's notification
//! is delivered exactly once after they come back.

use std::time::Duration;

use e2e::{
    api::{Api, metric_sum},
    control::{ControlError, Which},
    service::Service,
    stack::StackOptions,
    tokens,
};
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    login_and_order::order_id_of,
    support::{self, new_user, on_every_replica, poll, replica_metrics, skipped},
};

const NAME: &str = "9-notifications-outage";
const ORDERS: usize = 6;

/// Users get `notifications:write` here, so the 403 below is about the kind of token, not a
/// missing scope.
fn configure(options: StackOptions) -> StackOptions {
    options.with_env(
        Some(Service::Auth),
        "AUTH_USER_SCOPES",
        "orders:read orders:write notifications:read notifications:write",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn user_tokens_cannot_deliver_and_orders_placed_while_notifications_is_down_notify_once() {
    support::scenario(NAME, configure, async |stack| {
        let api = Api::new(stack.gateway_url().clone());
        let user = new_user(&api).await?;

        // A user token, even one carrying notifications:write, cannot post notifications.
        let scope = tokens::decode(user.token())?.claims.get("scope").and_then(Value::as_str).unwrap_or_default().to_owned();
        if !scope.split(' ').any(|s| s == "notifications:write") {
            skipped(NAME, "user token with notifications:write", &format!("users here get only `{scope}`; checking a plain user token"));
        }
        let body = json!({
            "event_id": uuid::Uuid::new_v4().to_string(),
            "recipient": user.subject,
            "kind": "forged",
            "message": "a user posting a notification",
        });
        for (replica, reply) in on_every_replica(stack, Service::Notifications, |r| {
            let body = body.clone();
            let token = user.token().to_owned();
            async move { Ok(r.send(r.request(Method::POST, "/v1/notifications").bearer_auth(token).json(&body)).await?) }
        })
        .await?
        {
            anyhow::ensure!(
                reply.status == StatusCode::FORBIDDEN && reply.is_error_envelope(),
                "user token at POST /v1/notifications on {replica}: expected 403, got {} {}",
                reply.status,
                reply.text
            );
        }

        match stack.control().kill(Service::Notifications, Which::All).await {
            Ok(()) => {}
            Err(ControlError::Unsupported(reason)) => {
                skipped(NAME, "the outage part", &reason);
                return Ok(());
            }
            Err(ControlError::Failed(error)) => return Err(error),
        }
        eprintln!("e2e[{NAME}]: every notifications-service replica killed");
        let mut orders = Vec::new();
        for i in 0..ORDERS {
            let reply = api
                .create_order(user.token(), &[("WHILE-DOWN", i as u32 + 1)], None)
                .await?
                .expect(StatusCode::CREATED, "POST /v1/orders with notifications down")?;
            orders.push(reply.str("id").unwrap_or_default().to_owned());
        }

        // The dispatchers really tried and failed while notifications was down.
        match replica_metrics(stack, Service::Orders).await {
            Ok(_) => {
                poll("failed deliveries while notifications is down", Duration::from_secs(30), Duration::from_millis(200), || async {
                    let mut failures = 0.0;
                    for (_, text) in replica_metrics(stack, Service::Orders).await? {
                        failures += metric_sum(&text, "outbox_delivery_failures_total", &[]);
                    }
                    Ok((failures > 0.0).then_some(()))
                })
                .await?;
            }
            Err(error) => skipped(NAME, "checking that deliveries failed during the outage", &format!("{error:#}")),
        }

        stack.control().restart(Service::Notifications, Which::All).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        eprintln!("e2e[{NAME}]: notifications-service restarted");
        let started = std::time::Instant::now();
        let items = poll("every notification after the restart", Duration::from_secs(60), Duration::from_millis(250), || async {
            // Right after the restart the gateway may still skip the replicas for a moment.
            let Some(items) = api.list_all_if_available("/v1/notifications", user.token()).await? else {
                return Ok(None);
            };
            let all = orders.iter().all(|id| items.iter().any(|n| order_id_of(n) == Some(id.as_str())));
            Ok(all.then_some(items))
        })
        .await?;
        for id in &orders {
            let copies = items.iter().filter(|n| order_id_of(n) == Some(id.as_str())).count();
            anyhow::ensure!(copies == 1, "order {id} was notified {copies} times");
        }
        anyhow::ensure!(items.len() == ORDERS, "{} notifications for {ORDERS} orders", items.len());
        eprintln!("e2e[{NAME}]: all {ORDERS} notifications delivered once, {:.1}s after the restart", started.elapsed().as_secs_f64());
        Ok(())
    })
    .await;
}
