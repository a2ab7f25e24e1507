//! How the key cache (and the revocation feed) talk HTTP: a small [`JwksTransport`] trait and
//! its `reqwest` implementation with the ingest hardening (timeouts, same-origin redirects
//! only, body cap).
//!
//! The trait exists so the cache's timing logic can be tested under paused tokio time with an
//! in-process issuer (real sockets and paused time do not mix: tokio would fire the request
//! timeout while the socket is still being served).

use std::time::Duration;

use futures::future::BoxFuture;
use http::HeaderMap;
use url::Url;

/// One GET the cache wants made.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    /// What to fetch.
    pub url: Url,
    /// The `ETag` of the keys held, sent as `If-None-Match`.
    pub if_none_match: Option<String>,
    /// Bodies longer than this must not be read past the limit.
    pub max_body_bytes: usize,
    /// A total timeout for this request instead of the transport's own (the revocation
    /// feed's long polls outlast the key fetch timeout on purpose).
    pub timeout: Option<Duration>,
}

/// The response, body read in full (within the limit).
#[derive(Debug, Clone)]
pub struct FetchResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Response body.
    pub body: Vec<u8>,
}

/// Why a fetch produced no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// Could not connect (refused, DNS, TLS).
    #[error("connection failed: {0}")]
    Connect(String),
    /// Connect or total timeout.
    #[error("timed out")]
    Timeout,
    /// The body exceeded the limit.
    #[error("response body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// Anything else (protocol errors, refused redirects).
    #[error("request failed: {0}")]
    Other(String),
}

/// Makes GET requests for the key cache.
pub trait JwksTransport: Send + Sync + 'static {
    /// Performs `request`.
    fn get(&self, request: FetchRequest) -> BoxFuture<'_, Result<FetchResponse, TransportError>>;
}

/// The production transport: `reqwest` with rustls, a connect and a total timeout, redirects
/// followed only within the same origin (at most 3), and the body read in chunks up to the
/// limit.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

impl ReqwestTransport {
    /// A transport with these timeouts.
    ///
    /// # Errors
    /// When the TLS backend cannot be initialised.
    pub fn new(connect_timeout: Duration, total_timeout: Duration) -> Result<Self, reqwest::Error> {
        let redirects = reqwest::redirect::Policy::custom(|attempt| {
            // A key set is trusted because of where it was fetched from: a redirect to another
            // origin would hand that trust to someone else.
            let same_origin = attempt.previous().first().is_some_and(|first| first.origin() == attempt.url().origin());
            if attempt.previous().len() > 3 || !same_origin { attempt.stop() } else { attempt.follow() }
        });
        let client = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(total_timeout)
            .redirect(redirects)
            .user_agent(concat!("shared-verifier/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client })
    }
}

impl JwksTransport for ReqwestTransport {
    fn get(&self, request: FetchRequest) -> BoxFuture<'_, Result<FetchResponse, TransportError>> {
        Box::pin(async move {
            let mut builder =
                self.client.get(request.url).header(http::header::ACCEPT, "application/jwk-set+json, application/json");
            if let Some(etag) = &request.if_none_match {
                builder = builder.header(http::header::IF_NONE_MATCH, etag);
            }
            if let Some(timeout) = request.timeout {
                builder = builder.timeout(timeout);
            }
            let mut response = builder.send().await.map_err(classify)?;
            let limit = request.max_body_bytes;
            if response.content_length().is_some_and(|length| length > limit as u64) {
                return Err(TransportError::BodyTooLarge { limit });
            }
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(classify)? {
                if body.len() + chunk.len() > limit {
                    return Err(TransportError::BodyTooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(FetchResponse { status, headers, body })
        })
    }
}

fn classify(error: reqwest::Error) -> TransportError {
    if error.is_timeout() {
        TransportError::Timeout
    } else if error.is_connect() {
        TransportError::Connect(error.without_url().to_string())
    } else {
        TransportError::Other(error.without_url().to_string())
    }
}
