//! The cross-service end-to-end harness: the real service binaries as separate processes,
//! several replicas each, behind a gateway, with faults injected from the outside.
//!
//! The `e2e` integration test target (`tests/e2e/`) runs the scenarios against it; the `stack`
//! binary starts the same system and keeps it running for manual use.
//!
//! # Layout
//!
//! - [`service`]: the three services and the replica topology.
//! - [`binaries`]: finding the service binaries and building them with cargo first.
//! - [`ports`]: free ports for processes that bind them later.
//! - [`process`]: one replica as a child process (spawn, readiness, SIGKILL, SIGTERM).
//! - [`database`]: one SQLite file or fresh PostgreSQL database per service; the switchable
//!   proxy used for database outages.
//! - [`gateway`]: nginx from `deploy/gateway/nginx.conf.template`, or the built-in gateway
//!   where nginx is not installed.
//! - [`control`]: the [`control::Control`] trait through which scenarios kill and restart
//!   replicas, and its black-box implementation driven by a hook program.
//! - [`stack`]: [`stack::Stack`], the system under test, and [`stack::LocalStack`], the
//!   local processes.
//! - [`api`]: a typed client for the system's public API.
//! - [`tokens`]: decoding and forging JWTs for hostile-token scenarios.

pub mod api;
pub mod binaries;
pub mod control;
pub mod database;
pub mod gateway;
pub mod ports;
pub mod process;
pub mod service;
pub mod stack;
pub mod tokens;
