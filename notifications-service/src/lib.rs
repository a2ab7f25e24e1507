//! notifications-service: stores notifications that other services send for a user, and lets
//! each user list and read their own.
//!
//! Every request's access token is verified locally by `jwt_verifier` against the trusted
//! issuer's cached keys; auth-service is never called per request. Services deliver with their
//! own client-credentials tokens (`notifications:write`, audience `notifications-service`);
//! users read with `notifications:read`.
//!
//! # Layout
//!
//! - [`config`]: settings from environment variables.
//! - [`startup`]: `Application { build, port, run_until_stopped }`, run by the kit's `serve`.
//! - [`state`]: what handlers can reach.
//! - [`domain`]: notification fields and their rules.
//! - [`db`]: every SQL statement.
//! - [`http`]: routers, handlers and the error type.

pub mod config;
pub mod db;
pub mod domain;
pub mod http;
pub mod startup;
pub mod state;
