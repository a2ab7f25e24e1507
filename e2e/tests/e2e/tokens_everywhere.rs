//! Tokens everywhere (scenario 2): a token minted by each auth replica verifies on every orders and notifications
//! replica, and every auth replica serves the same JWKS.

use std::collections::BTreeSet;

use e2e::{api::Api, service::Service};
use http::StatusCode;
use serde_json::Value;

use crate::support::{self, PASSWORD, new_user, on_every_replica};

const NAME: &str = "2-tokens-everywhere";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_from_any_auth_replica_verifies_on_every_replica_of_every_service() {
    support::scenario(
        NAME,
        |options| options,
        async |stack| {
            let api = Api::new(stack.gateway_url().clone());
            let user = new_user(&api).await?;

            // One token per auth replica: log in at each of them.
            let logins = on_every_replica(stack, Service::Auth, |replica| {
                let email = user.email.clone();
                async move { Ok(replica.login(&email, PASSWORD).await?) }
            })
            .await?;
            let mut tokens = Vec::new();
            let mut issuers = BTreeSet::new();
            for (replica, reply) in logins {
                let reply = reply.expect(StatusCode::OK, &format!("login at {replica}"))?;
                if issuers.insert(replica.clone()) {
                    tokens.push((replica, reply.str("access_token").unwrap_or_default().to_owned()));
                }
            }
            anyhow::ensure!(
                issuers.len() == stack.topology().auth,
                "tokens came from {issuers:?}, expected {} auth replicas",
                stack.topology().auth
            );

            // Each token works on every orders and notifications replica.
            for (issuer, token) in &tokens {
                for (service, path) in [(Service::Orders, "/v1/orders"), (Service::Notifications, "/v1/notifications")]
                {
                    let replies = on_every_replica(stack, service, |replica| {
                        let token = token.clone();
                        async move { Ok(replica.get(path, Some(&token)).await?) }
                    })
                    .await?;
                    let mut verified_on = BTreeSet::new();
                    for (replica, reply) in replies {
                        anyhow::ensure!(
                            reply.status == StatusCode::OK,
                            "token from {issuer} refused by {replica} at {path}: {} {}",
                            reply.status,
                            reply.text
                        );
                        verified_on.insert(replica);
                    }
                    anyhow::ensure!(
                        verified_on.len() == stack.topology().replicas(service),
                        "{path}: token from {issuer} checked on {verified_on:?} only"
                    );
                }
            }
            eprintln!("e2e[{NAME}]: tokens from {issuers:?} verified on every orders and notifications replica");

            // Every auth replica publishes the same key set.
            let jwks =
                on_every_replica(stack, Service::Auth, |replica| async move { Ok(replica.jwks().await?) }).await?;
            let mut key_sets = Vec::new();
            for (replica, reply) in &jwks {
                anyhow::ensure!(reply.status == StatusCode::OK, "JWKS at {replica}: {}", reply.status);
                let mut keys: Vec<Value> =
                    reply.body.get("keys").and_then(Value::as_array).cloned().unwrap_or_default();
                anyhow::ensure!(!keys.is_empty(), "JWKS at {replica} has no keys");
                keys.sort_by_key(|k| k.get("kid").and_then(Value::as_str).unwrap_or_default().to_owned());
                key_sets.push((replica.clone(), keys));
            }
            let (first_replica, first_keys) = &key_sets[0];
            for (replica, keys) in &key_sets[1..] {
                anyhow::ensure!(keys == first_keys, "JWKS differs between {first_replica} and {replica}");
            }
            Ok(())
        },
    )
    .await;
}
