//! Revocation reaches late replicas (scenario 12): a verifier replica that was down when a
//! session ended, and starts afterwards with nothing in memory, refuses that session's token
//! from its first request after it reports ready, and still accepts the user's other session.

use e2e::{
    api::Api,
    control::{ControlError, Which},
    service::Service,
};
use http::StatusCode;
use tokio::time::Instant;

use crate::support::{
    self, VERIFIER_PATHS, accepted_everywhere, login, new_user, refused_everywhere, served_by, skipped,
};

const NAME: &str = "12-revocation-late-replica";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_verifier_started_after_a_revocation_refuses_the_revoked_token() {
    support::scenario(
        NAME,
        |options| options,
        async |stack| {
            let api = Api::new(stack.gateway_url().clone());
            let user = new_user(&api).await?;
            let other = login(&api, &user.email).await?;
            accepted_everywhere(stack, &[user.token(), &other.access_token], "before the revocation").await?;

            // The last replica of each verifying service goes down before the logout.
            let mut victims = Vec::new();
            for (service, _) in VERIFIER_PATHS {
                let victim = stack.topology().replicas(service);
                match stack.control().kill(service, Which::Replica(victim)).await {
                    Ok(()) => victims.push((service, victim)),
                    Err(ControlError::Unsupported(reason)) => {
                        skipped(NAME, "the whole scenario", &reason);
                        for (service, victim) in victims {
                            stack
                                .control()
                                .restart(service, Which::Replica(victim))
                                .await
                                .map_err(anyhow::Error::from)?;
                        }
                        return Ok(());
                    }
                    Err(ControlError::Failed(error)) => return Err(error),
                }
            }
            eprintln!("e2e[{NAME}]: killed {victims:?} (service, replica number)");

            api.logout(user.token()).await?.expect(StatusCode::NO_CONTENT, "POST /v1/logout")?;
            let logged_out = Instant::now();

            // Started again: the first answer after /readyz already refuses.
            for (service, victim) in &victims {
                let path = VERIFIER_PATHS.iter().find(|(s, _)| s == service).map_or("/", |(_, p)| *p);
                stack.control().restart(*service, Which::Replica(*victim)).await.map_err(anyhow::Error::from)?;
                let ready = Instant::now();
                let url = replica_url(stack, *service, *victim).await?;
                let replica = api.at(&url);
                let first = replica.get(path, Some(user.token())).await?;
                anyhow::ensure!(
                    first.is_revoked_refusal(),
                    "{} started {:.1} s after the logout and, once ready, answered the revoked token with {} {}",
                    served_by(&first),
                    ready.duration_since(logged_out).as_secs_f64(),
                    first.status,
                    first.text
                );
                replica
                    .get(path, Some(&other.access_token))
                    .await?
                    .expect(StatusCode::OK, "the user's other session at the restarted replica")?;
                eprintln!(
                    "e2e[{NAME}]: {} started {:.1} s after the logout; its first answer after ready (in {:.3} s) \
                     refuses the revoked token",
                    served_by(&first),
                    ready.duration_since(logged_out).as_secs_f64(),
                    ready.elapsed().as_secs_f64()
                );
            }

            // And every replica, old or new, agrees. The figure counts from the logout, the
            // restarts included, so it is printed, not held to the bound.
            refused_everywhere(stack, NAME, "logout, then replicas restarted", &[user.token()], logged_out).await?;
            accepted_everywhere(stack, &[&other.access_token], "after the restarts").await?;
            Ok(())
        },
    )
    .await;
}

/// The base URL of replica `number` of `service` (the control lists replicas by number).
async fn replica_url(stack: &e2e::stack::Stack, service: Service, number: usize) -> anyhow::Result<url::Url> {
    let urls = stack.control().replica_urls(service).await.map_err(anyhow::Error::from)?;
    urls.get(number - 1)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("{service} lists {} replicas, not replica {number}", urls.len()))
}
