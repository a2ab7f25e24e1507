//! auth-service: the workspace's issuer. Users and server-side sessions at the web boundary;
//! RS256 access tokens (RFC 9068) between services; signing keys generated, sealed, rotated
//! and published (JWKS, RFC 8414 metadata) by the service itself.
//!
//! # Layout
//!
//! - [`cli`]: subcommands (`serve`, `rotate-keys`, `create-admin`, `healthcheck`).
//! - [`config`]: [`config::Settings`] from environment variables.
//! - [`clients`]: the registered service clients (`AUTH_CLIENTS`) and their secrets.
//! - [`startup`]: [`startup::Application`]: build, bind, serve until shut down.
//! - [`state`]: [`state::AppState`], what handlers can reach.
//! - [`http`]: routers, handlers and [`http::error::ApiError`].
//! - [`issuer`]: what tokens contain; sessions and refresh-token rotation.
//! - [`revocation`]: the state changes that end access, each with its security events.
//! - [`events`]: the security event log and the revocation feed (signed SETs, long poll).
//! - [`keys`]: signing keys, lifecycle, JWKS.
//! - [`tokens`]: token formats (minting, refresh tokens).
//! - [`passwords`]: argon2id hashing.
//! - [`provisioning`]: administrator accounts, created by the operator only.
//! - [`domain`]: parsed types (`Email`, `Password`, ids).
//! - [`db`]: queries for users, sessions, refresh tokens and throttling.

pub mod cli;
pub mod clients;
pub mod config;
pub mod db;
pub mod domain;
pub mod events;
pub mod http;
pub mod issuer;
pub mod keys;
pub mod passwords;
pub mod provisioning;
pub mod revocation;
pub mod startup;
pub mod state;
pub mod tokens;
