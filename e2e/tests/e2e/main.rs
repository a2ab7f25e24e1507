//! The cross-service end-to-end suite: real service binaries, several replicas each, behind a
//! gateway. One file per claim; `support` holds the shared helpers. See `e2e/README.md`.

mod api_fuzz;
mod database_outage;
mod dpop;
mod hostile_tokens;
mod issuer_outage;
mod jwks_fetches;
mod key_rotation;
mod login_and_order;
mod notifications_outage;
mod refresh_and_logout;
mod replica_loss;
mod revocation;
mod revocation_failover;
mod revocation_issuer_outage;
mod revocation_late_replica;
mod support;
mod tokens_everywhere;
mod traces;
