//! Shared harness for the fuzz targets in `fuzz_targets/`.
//!
//! The verifier's SET and feed-answer parsers are private: the only way in is the public one,
//! a [`Verifier`] subscribed to a revocation feed. [`run_feed_answer`] builds such a verifier
//! over an in-process transport that serves a fixed key set and hands the subscriber one
//! answer body, then waits until the subscriber asks for the next one (so the answer has been
//! parsed, its SETs checked and applied, or refused).

use std::{
    sync::{Arc, LazyLock},
    time::Duration,
};

use futures::future::BoxFuture;
use http::{HeaderMap, HeaderValue, header::CONTENT_TYPE};
use jwt_verifier::{
    JwksCache, RevocationFeed, StartupMode, Verifier, VerifierConfig,
    jwks::transport::{FetchRequest, FetchResponse, JwksTransport, TransportError},
    testkit::{TestKey, jwks_document, test_key},
};
use tokio::sync::{Mutex, oneshot};
use url::Url;

/// The issuer every fuzzed token and SET is checked against.
pub const ISSUER: &str = "https://issuer.fuzz";
/// The audience of the fuzzed verifiers.
pub const AUDIENCE: &str = "fuzz-service";

const JWKS_PATH: &str = "/jwks";
const FEED_PATH: &str = "/events";

/// Test key 0: published in the key set, signs the SETs of the `security_event` target.
pub static SIGNER: LazyLock<TestKey> = LazyLock::new(|| test_key(0));

static JWKS_BODY: LazyLock<Vec<u8>> = LazyLock::new(|| jwks_document(&[SIGNER.clone()]).to_string().into_bytes());

/// Serves the key set, the one feed answer, then holds the next poll and says it arrived.
struct FeedTransport {
    answer: Mutex<Option<Vec<u8>>>,
    next_poll: Mutex<Option<oneshot::Sender<()>>>,
}

impl JwksTransport for FeedTransport {
    fn get(&self, request: FetchRequest) -> BoxFuture<'_, Result<FetchResponse, TransportError>> {
        Box::pin(async move {
            let body = match request.url.path() {
                JWKS_PATH => JWKS_BODY.clone(),
                FEED_PATH => match self.answer.lock().await.take() {
                    Some(body) => body,
                    None => {
                        if let Some(arrived) = self.next_poll.lock().await.take() {
                            let _ = arrived.send(());
                        }
                        return std::future::pending().await;
                    }
                },
                _ => return Ok(FetchResponse { status: 404, headers: HeaderMap::new(), body: Vec::new() }),
            };
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            Ok(FetchResponse { status: 200, headers, body })
        })
    }
}

/// Feeds `body` to a fresh verifier's revocation subscriber as the feed's answer and waits
/// until the subscriber has dealt with it.
///
/// # Panics
/// When the verifier cannot be built, or the subscriber never asks again: both are harness
/// bugs or findings.
pub fn run_feed_answer(body: Vec<u8>) {
    // A fresh runtime per input: the subscriber's and the key cache's tasks die with it, so
    // no state leaks from one input to the next. Paused time skips the retry backoff.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime builds");
    runtime.block_on(async move {
        let (arrived, next_poll) = oneshot::channel();
        let transport =
            Arc::new(FeedTransport { answer: Mutex::new(Some(body)), next_poll: Mutex::new(Some(arrived)) });
        let base = Url::parse(ISSUER).expect("static URL");
        let mut config = VerifierConfig::new(ISSUER, AUDIENCE);
        config.jwks_url = Some(base.join(JWKS_PATH).expect("static URL"));
        config.revocation_feed = RevocationFeed::Url(base.join(FEED_PATH).expect("static URL"));
        config.startup = StartupMode::WarmWithDeadline(Duration::from_secs(5));
        let cache = JwksCache::with_transport(&config, transport).expect("valid cache settings");
        let verifier = Verifier::start_with_cache(config, cache).await.expect("the key set loads");
        tokio::time::timeout(Duration::from_secs(600), next_poll)
            .await
            .expect("the subscriber polls again after any answer")
            .expect("the transport signals the next poll");
        drop(verifier);
    });
}
