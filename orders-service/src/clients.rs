//! Outgoing HTTP calls of orders-service.
//!
//! - [`token`]: this service's own client-credentials access token, cached and refreshed.
//! - `token_endpoint`: where the issuer's token endpoint is, and one request to it (private;
//!   [`token`] is its only user).
//! - [`notifications`]: delivery of one notification to notifications-service.
//!
//! Both share one `reqwest::Client` (one connection pool) built by [`http_client`].

pub mod notifications;
pub mod token;
mod token_endpoint;

use std::time::Duration;

use anyhow::Context;

/// The HTTP client for outgoing calls: `timeout` per request, 2 s to connect, and no
/// redirects, because these requests carry a client secret or a bearer token that must not
/// be sent anywhere else.
///
/// # Errors
/// The TLS backend cannot be initialised.
pub fn http_client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(2).min(timeout))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("orders-service/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("failed to build the HTTP client")
}

/// The first `limit` characters of a remote error body, for logs and the outbox's
/// `last_error`; remote services decide what they send, so it is bounded.
pub(crate) fn excerpt(body: &str, limit: usize) -> String {
    let mut text: String = body.chars().take(limit).collect();
    if body.chars().nth(limit).is_some() {
        text.push('…');
    }
    text
}
