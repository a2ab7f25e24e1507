//! auth-service integration tests: the real service on port 0 with a fresh database per test.

mod admin;
mod delivery;
mod dpop;
mod health;
mod helpers;
mod jwks;
mod login;
mod oauth_revoke_introspect;
mod oauth_token;
mod openapi;
mod rotation;
mod security_cursor;
mod security_events;
mod security_feed;
mod sessions;
mod throttling;
mod users;
