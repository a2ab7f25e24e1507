//! auth-service integration tests: the real service on port 0 with a fresh database per test.

mod admin;
mod health;
mod helpers;
mod jwks;
mod login;
mod oauth_revoke_introspect;
mod oauth_token;
mod rotation;
mod sessions;
mod users;
