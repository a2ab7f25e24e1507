//! API tests of orders-service: each test starts the real service on port 0 with a fresh
//! database and sends real RS256 tokens, verified against a JWKS fetched over HTTP. The outbox
//! tests also run real notifications-service and auth-service instances.

mod auth;
mod claims;
mod health;
mod helpers;
mod idempotency;
mod jwks;
mod openapi;
mod orders;
mod outbox;
mod resource_metadata;
mod validation;
