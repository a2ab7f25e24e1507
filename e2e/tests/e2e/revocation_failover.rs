//! Revocation failover (scenario 14): an auth-service replica dies (SIGKILL) while verifiers
//! hold long polls on it; they ask another replica from their last cursor and miss nothing.
//! For each auth replica in turn: killed, then a session revoked through the gateway; and a
//! session revoked at that replica, which is killed the moment it acknowledges (its waiting
//! long polls may never have answered). Each time every orders and notifications replica
//! refuses the token within `FAILOVER_BOUND` of the acknowledgement: the one-second claim
//! (`REVOCATION_BOUND`) plus `FAILOVER_RETRY`, because here a verifier may first have to
//! see its held poll die with the replica (the kill itself runs inside the measured window,
//! through `docker kill` on a loaded machine) and retry at a survivor.

use std::time::Duration;

use e2e::{
    api::Api,
    control::{ControlError, Which},
    service::Service,
    stack::Stack,
};
use http::StatusCode;
use tokio::time::Instant;

use crate::support::{
    self, Propagation, REVOCATION_BOUND, accepted_everywhere, ensure_within, login, new_user, poll, refused_everywhere,
    served_by, skipped, until_served,
};

const NAME: &str = "14-revocation-failover";
/// What a failover may add to [`REVOCATION_BOUND`]: the kill and one retry at a survivor.
const FAILOVER_RETRY: Duration = Duration::from_millis(500);
const FAILOVER_BOUND: Duration = REVOCATION_BOUND.saturating_add(FAILOVER_RETRY);
/// Quiet time before a kill, so every subscriber is inside a long poll (none is between two).
const SETTLE: Duration = Duration::from_millis(1500);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_auth_replica_killed_mid_long_poll_loses_no_revocation() {
    support::scenario(
        NAME,
        |options| options,
        async |stack| {
            let api = Api::new(stack.gateway_url().clone());
            let user = new_user(&api).await?;
            let bystander = new_user(&api).await?;
            let replicas = stack.topology().auth;
            if replicas < 2 {
                skipped(NAME, "the whole scenario", "it needs at least two auth-service replicas (E2E_TOPOLOGY)");
                return Ok(());
            }
            let mut figures: Vec<Propagation> = Vec::new();
            for victim in 1..=replicas {
                // Killed first, then the revocation goes through the gateway to a survivor.
                let session = login(&api, &user.email).await?;
                accepted_everywhere(stack, &[&session.access_token], "before the kill").await?;
                tokio::time::sleep(SETTLE).await;
                if !kill(stack, victim).await? {
                    return Ok(());
                }
                let reply = until_served("POST /v1/logout", || api.logout(&session.access_token)).await?;
                reply.expect(StatusCode::NO_CONTENT, "POST /v1/logout with an auth replica dead")?;
                let acked = Instant::now();
                let case = format!("auth-{victim} killed, then logout");
                figures.push(refused_everywhere(stack, NAME, &case, &[&session.access_token], acked).await?);
                restart(stack, &api, victim).await?;

                // Revoked at the replica itself, which dies as soon as it has acknowledged.
                let Ok(urls) = stack.control().replica_urls(Service::Auth).await else {
                    skipped(NAME, "revoking at one replica", "auth-service replicas cannot be reached directly");
                    continue;
                };
                let Some(url) = urls.get(victim - 1) else { anyhow::bail!("no URL for auth replica {victim}") };
                let session = login(&api, &user.email).await?;
                accepted_everywhere(stack, &[&session.access_token], "before the revocation").await?;
                tokio::time::sleep(SETTLE).await;
                api.at(url)
                    .logout(&session.access_token)
                    .await?
                    .expect(StatusCode::NO_CONTENT, "POST /v1/logout at one auth replica")?;
                let acked = Instant::now();
                kill(stack, victim).await?;
                let case = format!("logout at auth-{victim}, killed at once");
                figures.push(refused_everywhere(stack, NAME, &case, &[&session.access_token], acked).await?);
                restart(stack, &api, victim).await?;
            }
            accepted_everywhere(stack, &[user.token(), bystander.token()], "after every failover").await?;
            ensure_within(NAME, &figures, FAILOVER_BOUND)
        },
    )
    .await;
}

/// Starts auth replica `victim` again and waits until the gateway sends it requests: until
/// then its passive health check still counts it as failed, and killing the other replica
/// would leave the gateway with none it considers alive.
async fn restart(stack: &Stack, api: &Api, victim: usize) -> anyhow::Result<()> {
    stack.control().restart(Service::Auth, Which::Replica(victim)).await.map_err(anyhow::Error::from)?;
    let urls = stack.control().replica_urls(Service::Auth).await.map_err(anyhow::Error::from)?;
    let url = urls.get(victim - 1).ok_or_else(|| anyhow::anyhow!("no URL for auth replica {victim}"))?;
    let name = served_by(&api.at(url).get("/healthz", None).await?);
    poll(
        "the restarted auth replica serving through the gateway",
        Duration::from_secs(20),
        Duration::from_millis(50),
        || async {
            let reply = api.jwks().await?;
            Ok((reply.status == StatusCode::OK && served_by(&reply) == name).then_some(()))
        },
    )
    .await
}

/// SIGKILLs auth replica `victim`; `false` (with the reason printed) when this system cannot.
async fn kill(stack: &Stack, victim: usize) -> anyhow::Result<bool> {
    match stack.control().kill(Service::Auth, Which::Replica(victim)).await {
        Ok(()) => {
            eprintln!("e2e[{NAME}]: auth-service replica {victim} killed");
            Ok(true)
        }
        Err(ControlError::Unsupported(reason)) => {
            skipped(NAME, "the whole scenario", &reason);
            Ok(false)
        }
        Err(ControlError::Failed(error)) => Err(error),
    }
}
