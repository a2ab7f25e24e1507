//! Sender-constrained tokens (DPoP, RFC 9449): a user token bound to the client's key works
//! on every replica of both services with a proof by that key, and is refused on every
//! replica without one, with a proof by another key, or with a proof used before.

use e2e::{api::Api, service::Service};
use http::{Method, StatusCode};
use jwt_verifier::{DpopKey, ProofAlgorithm};

use crate::support::{self, PASSWORD, on_every_replica, unique_email};

const NAME: &str = "dpop-bound-tokens";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bound_token_works_only_with_proofs_by_its_key_on_every_replica() {
    support::scenario(
        NAME,
        |options| options,
        async |stack| {
            let api = Api::new(stack.gateway_url().clone());
            let (holder, thief) =
                (DpopKey::generate(ProofAlgorithm::Es256)?, DpopKey::generate(ProofAlgorithm::Es256)?);
            let email = unique_email();
            api.register(&email, PASSWORD).await?.expect(StatusCode::CREATED, "POST /v1/users")?;
            let login = api.login_dpop(&email, PASSWORD, &holder).await?.expect(StatusCode::OK, "DPoP login")?;
            anyhow::ensure!(login.str("token_type") == Some("DPoP"), "login answered {}", login.text);
            let token = login.str("access_token").unwrap_or_default().to_owned();

            let mut checked = 0;
            for (service, path) in [(Service::Orders, "/v1/orders"), (Service::Notifications, "/v1/notifications")] {
                let replies = on_every_replica(stack, service, |replica| {
                    let (token, holder, thief) = (token.clone(), &holder, &thief);
                    async move {
                        let proof = replica.proof(holder, Method::GET, path, Some(&token));
                        let first = replica.get_dpop(path, &token, &proof).await?;
                        anyhow::ensure!(
                            first.status == StatusCode::OK,
                            "with its key: {} {}",
                            first.status,
                            first.text
                        );
                        let replayed = replica.get_dpop(path, &token, &proof).await?;
                        refused(&replayed, "invalid_dpop_proof", "a replayed proof")?;
                        let stolen = replica.proof(thief, Method::GET, path, Some(&token));
                        refused(&replica.get_dpop(path, &token, &stolen).await?, "invalid_dpop_proof", "another key")?;
                        refused(&replica.get(path, Some(&token)).await?, "invalid_token", "as a bearer token")?;
                        Ok(first)
                    }
                })
                .await?;
                for (replica, reply) in &replies {
                    anyhow::ensure!(reply.status == StatusCode::OK, "{replica} at {path}: {}", reply.status);
                }
                checked += replies.len();
            }
            // Through the gateway: the proof names the gateway's URL, which the services rebuild
            // from the forwarded headers.
            for path in ["/v1/orders", "/v1/notifications"] {
                let proof = api.proof(&holder, Method::GET, path, Some(&token));
                api.get_dpop(path, &token, &proof).await?.expect(StatusCode::OK, &format!("{path} via the gateway"))?;
                let stolen = api.proof(&thief, Method::GET, path, Some(&token));
                refused(
                    &api.get_dpop(path, &token, &stolen).await?,
                    "invalid_dpop_proof",
                    "another key, via the gateway",
                )?;
            }
            eprintln!("e2e[{NAME}]: bound token accepted with its key and refused otherwise on {checked} replicas");
            Ok(())
        },
    )
    .await;
}

/// A 401 whose challenge is `DPoP … error="<error>"`.
fn refused(reply: &e2e::api::Reply, error: &str, what: &str) -> anyhow::Result<()> {
    let challenge = reply.header("www-authenticate").unwrap_or_default();
    anyhow::ensure!(
        reply.status == StatusCode::UNAUTHORIZED
            && challenge.starts_with("DPoP ")
            && challenge.contains(&format!(r#"error="{error}""#)),
        "{what}: expected 401 DPoP {error}, got {} `{challenge}` {}",
        reply.status,
        reply.text
    );
    Ok(())
}
