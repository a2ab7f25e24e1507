//! Issuer outage (scenario 4): every auth-service replica is killed (SIGKILL). orders and notifications keep
//! serving valid tokens from their key caches, logins fail with a clear error, and once auth
//! is back logins work again; an order placed meanwhile still gets its notification.

use std::time::Duration;

use e2e::{
    api::Api,
    control::{ControlError, Which},
    service::Service,
};
use http::StatusCode;

use crate::{
    login_and_order::order_id_of,
    support::{self, PASSWORD, new_user, on_every_replica, poll, skipped},
};

const NAME: &str = "4-issuer-outage";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_every_auth_replica_dead_valid_tokens_keep_working_and_logins_fail_clearly() {
    support::scenario(
        NAME,
        |options| options,
        async |stack| {
            let api = Api::new(stack.gateway_url().clone());
            let user = new_user(&api).await?;

            match stack.control().kill(Service::Auth, Which::All).await {
                Ok(()) => {}
                Err(ControlError::Unsupported(reason)) => {
                    skipped(NAME, "the whole scenario", &reason);
                    return Ok(());
                }
                Err(ControlError::Failed(error)) => return Err(error),
            }
            eprintln!("e2e[{NAME}]: every auth-service replica killed");

            // Valid tokens still verify on every replica of both services (keys come from cache).
            for (service, path) in [(Service::Orders, "/v1/orders"), (Service::Notifications, "/v1/notifications")] {
                for (replica, reply) in on_every_replica(stack, service, |r| {
                    let token = user.token().to_owned();
                    async move { Ok(r.get(path, Some(&token)).await?) }
                })
                .await?
                {
                    anyhow::ensure!(
                        reply.status == StatusCode::OK,
                        "{replica} refused a valid token with auth down: {} {}",
                        reply.status,
                        reply.text
                    );
                }
            }
            // Orders can still be placed: the order is stored, its notification waits in the outbox.
            let order = api
                .create_order(user.token(), &[("OUTAGE-1", 2)], None)
                .await?
                .expect(StatusCode::CREATED, "POST /v1/orders with auth down")?;
            let order_id = order.str("id").unwrap_or_default().to_owned();

            // Logins fail with a clear answer, not a hang or an HTML page.
            let login = api.login(&user.email, PASSWORD).await?;
            anyhow::ensure!(
                login.status == StatusCode::SERVICE_UNAVAILABLE && login.is_error_envelope(),
                "login with auth down: expected 503 with the JSON error envelope, got {} {}",
                login.status,
                login.text
            );
            eprintln!("e2e[{NAME}]: login with auth down: {} {}", login.status, login.text);

            stack.control().restart(Service::Auth, Which::All).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!("e2e[{NAME}]: auth-service restarted");
            let tokens =
                poll("a login after the restart", Duration::from_secs(30), Duration::from_millis(200), || async {
                    let reply = api.login(&user.email, PASSWORD).await?;
                    Ok((reply.status == StatusCode::OK).then_some(reply))
                })
                .await?;
            let fresh = tokens.str("access_token").unwrap_or_default().to_owned();
            api.get("/v1/orders", Some(&fresh))
                .await?
                .expect(StatusCode::OK, "GET /v1/orders with a token from after the restart")?;

            // The order placed during the outage is notified once auth can issue the service token.
            poll(
                "the notification of the order placed during the outage",
                Duration::from_secs(60),
                Duration::from_millis(250),
                || async {
                    let Some(items) = api.list_all_if_available("/v1/notifications", user.token()).await? else {
                        return Ok(None);
                    };
                    let copies = items.iter().filter(|n| order_id_of(n) == Some(order_id.as_str())).count();
                    anyhow::ensure!(copies <= 1, "{copies} notifications for order {order_id}");
                    Ok((copies == 1).then_some(()))
                },
            )
            .await?;
            Ok(())
        },
    )
    .await;
}
