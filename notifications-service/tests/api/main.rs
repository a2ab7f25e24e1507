//! API tests of notifications-service: each test starts the real service on port 0 with a
//! fresh database and a `TestIssuer` as its trusted issuer, and sends real RS256 tokens.

mod auth;
mod create;
mod health;
mod helpers;
mod jwks;
mod list;
mod openapi;
mod resource_metadata;
