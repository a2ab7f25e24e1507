//! Code every service in the workspace shares, and the verifying half of its JWT auth.
//!
//! Nothing in this crate can sign a token (except the test kit behind the `test-helpers`
//! feature): signing keys and minting live in `auth-service` only, so no other crate can even
//! compile code that issues tokens.
//!
//! # Layout
//!
//! - [`config`]: reading typed settings from environment variables, with one clear message
//!   per bad value, and the settings every service has in common.
//! - [`telemetry`]: `tracing` set-up (human or JSON logs).
//! - [`shutdown`]: the Ctrl-C / SIGTERM future that servers drain on.
//! - [`db`]: one connection pool type for `SQLite` (embedded default) and `PostgreSQL`.
//! - [`http`]: the one JSON error envelope, request ids, `traceparent` propagation,
//!   `X-Served-By`, request spans, health and metrics endpoints.
//! - [`metrics`]: the Prometheus recorder behind the `metrics` facade.
//! - [`auth`]: JWKS cache, access-token validation and axum extractors.

pub mod auth;
pub mod config;
pub mod db;
pub mod http;
pub mod metrics;
pub mod shutdown;
pub mod telemetry;
