//! orders-service: places orders and lists them, and tells each order's owner about it through
//! notifications-service without ever losing the notification.
//!
//! Every request's access token is verified locally by `jwt_verifier` against the trusted
//! issuer's cached keys; auth-service is never called per request. Notifications go through a
//! transactional outbox delivered by a background dispatcher in every replica, which calls
//! notifications-service with this service's own client-credentials token.
//!
//! # Layout
//!
//! - [`config`]: settings from environment variables.
//! - [`startup`]: `Application { build, port, run_until_stopped }`, run by the kit's `serve`.
//! - [`state`]: what handlers can reach.
//! - [`domain`]: orders, items, idempotency keys, the order notification.
//! - [`db`]: orders and idempotency-key SQL (the outbox's own SQL is in `outbox::store`).
//! - [`http`]: routers, handlers and the error type.
//! - [`clients`]: the service token and the notifications-service client.
//! - [`outbox`]: the dispatcher that delivers outbox records.

pub mod clients;
pub mod config;
pub mod db;
pub mod domain;
pub mod http;
pub mod outbox;
pub mod startup;
pub mod state;
