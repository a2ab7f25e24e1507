//! `bench serve …`: the servers the runner measures, each started by the runner as a child
//! process of this same binary.
//!
//! - [`verifier`]: verifier overhead, one trivial handler with and without `jwt_verifier`'s
//!   extractor.
//! - [`orders`]: stateless vs stateful, orders-service's real router verifying locally (with
//!   the revocation feed and without), and the same router behind RFC 7662 introspection at
//!   auth-service.

pub mod orders;
pub mod verifier;

use std::net::SocketAddr;

use anyhow::Context;

/// Serves `router` on `address` until the process is killed.
///
/// # Errors
/// The address cannot be bound, or the server fails.
pub async fn serve(address: SocketAddr, router: axum::Router) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(address).await.with_context(|| format!("cannot bind {address}"))?;
    axum::serve(listener, router).await.context("server failed")
}
