//! The chassis every service of the workspace stands on.
//!
//! What two services would otherwise each write lives here once: reading typed settings,
//! logging, shutdown, the database pool, the JSON error envelope, request layers, health and
//! metrics. Token verification is not here: it is the `jwt-verifier` crate, which depends on
//! nothing of this one. Nothing in either crate can sign a token: signing keys and minting live
//! in `auth-service` only.
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
//! - [`id`]: UUID v7 id newtypes ([`uuid_id!`]).
//! - [`metrics`]: the Prometheus recorder behind the `metrics` facade.
//! - [`serve`]: the one binary shape (`serve`, `healthcheck`) over an [`serve::Application`].
//! - [`pagination`]: keyset cursors, page sizes and the `Page<T>` every list answers with.
//! - [`text`]: untrusted text clipped before it is echoed or stored.
//! - [`time`]: how times are written on the wire.
//! - `testing` (feature `test-support`): throw-away databases, a running-server handle, JSON
//!   error assertions, `eventually`.

pub mod config;
pub mod db;
pub mod http;
pub mod id;
pub mod metrics;
pub mod pagination;
pub mod serve;
pub mod shutdown;
pub mod telemetry;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod text;
pub mod time;
