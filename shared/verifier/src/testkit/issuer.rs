//! [`TestIssuer`]: an in-process OAuth issuer that publishes test keys, for tests of the
//! verifier and of services that use it.
//!
//! It serves its metadata (at RFC 8414's and OpenID's well-known paths),
//! `/.well-known/jwks.json` and the revocation feed `/v1/security-events` (`feed`) on
//! `127.0.0.1:<random port>`, and the same router without sockets through
//! [`TestIssuer::transport`] for tests on paused tokio time. Tests control the keys, the
//! caching headers, the content type, failures (503, any status, connection refused), a
//! response delay and the security events published, and read how often each endpoint was
//! fetched.

mod feed;

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    body::Body,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use tower::ServiceExt;
use url::Url;

use self::feed::{Events, security_events};
use super::{TestKey, jwks_document};
use crate::{
    config::{RevocationFeed, VerifierConfig},
    jwks::transport::{FetchRequest, FetchResponse, JwksTransport, TransportError},
};

/// What the JWKS endpoint serves; tests change it at will.
#[derive(Debug, Clone)]
struct Behaviour {
    document: Vec<u8>,
    cache_control: Option<String>,
    etag: Option<String>,
    content_type: String,
    extra_headers: Vec<(String, String)>,
    status: Option<u16>,
    delay: Duration,
}

#[derive(Debug)]
struct Shared {
    issuer: Mutex<String>,
    advertised_issuer: Mutex<Option<String>>,
    behaviour: Mutex<Behaviour>,
    jwks_fetches: AtomicUsize,
    discovery_fetches: AtomicUsize,
    not_modified: AtomicUsize,
    down: AtomicBool,
    stopped: AtomicBool,
    events: Events,
}

/// An in-process issuer (see the module docs).
#[derive(Debug)]
pub struct TestIssuer {
    shared: Arc<Shared>,
    router: Router,
    address: SocketAddr,
    server: Mutex<Option<(oneshot::Sender<()>, JoinHandle<()>)>>,
}

impl TestIssuer {
    /// Starts an issuer publishing `keys`, with no caching headers; its security events are
    /// signed with the first of them.
    ///
    /// # Panics
    /// If no loopback port can be bound.
    pub async fn start(keys: Vec<TestKey>) -> Self {
        let shared = Arc::new(Shared {
            issuer: Mutex::new(String::new()),
            advertised_issuer: Mutex::new(None),
            behaviour: Mutex::new(Behaviour {
                document: serde_json::to_vec(&jwks_document(&keys)).expect("JSON values serialise"),
                cache_control: None,
                etag: None,
                content_type: "application/json".to_owned(),
                extra_headers: Vec::new(),
                status: None,
                delay: Duration::ZERO,
            }),
            jwks_fetches: AtomicUsize::new(0),
            discovery_fetches: AtomicUsize::new(0),
            not_modified: AtomicUsize::new(0),
            down: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            events: Events::new(keys.first()),
        });
        let router = Router::new()
            .route("/.well-known/oauth-authorization-server", get(discovery))
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/.well-known/jwks.json", get(jwks))
            .route("/v1/security-events", get(security_events))
            .with_state(Arc::clone(&shared));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let address = listener.local_addr().expect("bound socket has an address");
        *shared.issuer.lock() = format!("http://{address}");
        let server = spawn_server(listener, router.clone());
        Self { shared, router, address, server: Mutex::new(Some(server)) }
    }

    /// The issuer identifier (`http://127.0.0.1:<port>`), used as `iss`.
    #[must_use]
    pub fn issuer(&self) -> String {
        self.shared.issuer.lock().clone()
    }

    /// Makes the discovery document (and nothing else) name another issuer.
    pub fn set_advertised_issuer(&self, issuer: &str) {
        *self.shared.advertised_issuer.lock() = Some(issuer.to_owned());
    }

    /// The JWKS URL.
    #[must_use]
    pub fn jwks_url(&self) -> Url {
        Url::parse(&format!("http://{}/.well-known/jwks.json", self.address)).expect("valid URL")
    }

    /// The socket address served.
    #[must_use]
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// A verifier configuration for `audience` trusting this issuer, fetching the JWKS and
    /// the revocation feed from their URLs directly (no discovery).
    #[must_use]
    pub fn verifier_config(&self, audience: &str) -> VerifierConfig {
        let mut config = VerifierConfig::new(self.issuer(), audience);
        config.jwks_url = Some(self.jwks_url());
        config.revocation_feed = RevocationFeed::Url(self.events_url());
        config
    }

    /// Publishes exactly `keys`; the first of them signs security events from now on.
    pub fn set_keys(&self, keys: Vec<TestKey>) {
        if let Some(first) = keys.first() {
            self.shared.events.set_signer(first);
        }
        self.set_jwks_json(&jwks_document(&keys));
    }

    /// Serves `document` as the JWKS (for hostile or malformed key sets).
    pub fn set_jwks_json(&self, document: &Value) {
        self.set_jwks_body(serde_json::to_vec(document).expect("JSON values serialise"));
    }

    /// Serves these exact bytes as the JWKS.
    pub fn set_jwks_body(&self, body: Vec<u8>) {
        self.shared.behaviour.lock().document = body;
    }

    /// Sets (or removes) `Cache-Control`.
    pub fn set_cache_control(&self, value: Option<&str>) {
        self.shared.behaviour.lock().cache_control = value.map(str::to_owned);
    }

    /// Sets (or removes) the `ETag`; while set, a matching `If-None-Match` gets 304.
    pub fn set_etag(&self, value: Option<&str>) {
        self.shared.behaviour.lock().etag = value.map(str::to_owned);
    }

    /// Sets the JWKS `Content-Type` (default `application/json`).
    pub fn set_content_type(&self, value: &str) {
        value.clone_into(&mut self.shared.behaviour.lock().content_type);
    }

    /// Adds a header to JWKS responses (`Expires`, `Date`, `Age`…).
    pub fn add_header(&self, name: &str, value: &str) {
        self.shared.behaviour.lock().extra_headers.push((name.to_owned(), value.to_owned()));
    }

    /// Answers every request with `status` and an empty body (`None` restores normal answers).
    pub fn set_status(&self, status: Option<u16>) {
        self.shared.behaviour.lock().status = status;
    }

    /// `true`: every request gets 503 (the issuer is up but failing), held feed polls too.
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
        self.shared.events.wake();
    }

    /// Delays every answer (tokio time, so paused-time tests see it too).
    pub fn set_delay(&self, delay: Duration) {
        self.shared.behaviour.lock().delay = delay;
    }

    /// JWKS requests received (whatever the answer).
    #[must_use]
    pub fn jwks_fetches(&self) -> usize {
        self.shared.jwks_fetches.load(Ordering::SeqCst)
    }

    /// Discovery requests received.
    #[must_use]
    pub fn discovery_fetches(&self) -> usize {
        self.shared.discovery_fetches.load(Ordering::SeqCst)
    }

    /// JWKS requests answered 304.
    #[must_use]
    pub fn not_modified_responses(&self) -> usize {
        self.shared.not_modified.load(Ordering::SeqCst)
    }

    /// Stops listening: new connections are refused (and the in-process transport fails the
    /// same way) until [`TestIssuer::resume`].
    pub async fn stop(&self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        // Held feed polls answer now, or the graceful shutdown would wait for them.
        self.shared.events.wake();
        let server = self.server.lock().take();
        if let Some((stop, handle)) = server {
            let _ = stop.send(());
            let _ = handle.await;
        }
    }

    /// Listens again on the same port.
    ///
    /// # Panics
    /// If the port was taken by someone else meanwhile.
    pub async fn resume(&self) {
        if self.server.lock().is_some() {
            return;
        }
        let listener = TcpListener::bind(self.address).await.expect("re-bind the issuer's port");
        *self.server.lock() = Some(spawn_server(listener, self.router.clone()));
        self.shared.stopped.store(false, Ordering::SeqCst);
    }

    /// A transport that calls this issuer's router in process, without sockets: use it with
    /// [`JwksCache::with_transport`](crate::JwksCache::with_transport) under paused
    /// tokio time.
    #[must_use]
    pub fn transport(&self) -> Arc<InProcessTransport> {
        Arc::new(InProcessTransport { router: self.router.clone(), shared: Arc::clone(&self.shared) })
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.shared.events.wake();
        if let Some((stop, _handle)) = self.server.lock().take() {
            let _ = stop.send(());
        }
    }
}

fn spawn_server(listener: TcpListener, router: Router) -> (oneshot::Sender<()>, JoinHandle<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    (stop, handle)
}

async fn discovery(State(shared): State<Arc<Shared>>) -> Response {
    shared.discovery_fetches.fetch_add(1, Ordering::SeqCst);
    if shared.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let own = shared.issuer.lock().clone();
    let issuer = shared.advertised_issuer.lock().clone().unwrap_or_else(|| own.clone());
    let jwks_uri = format!("{own}/.well-known/jwks.json");
    let mut document = json!({
        "issuer": issuer,
        "jwks_uri": jwks_uri,
        "token_endpoint": format!("{issuer}/oauth/token"),
        "id_token_signing_alg_values_supported": ["RS256"],
    });
    if shared.events.advertised.load(Ordering::SeqCst) {
        document[crate::revocation::FEED_METADATA_MEMBER] = json!(format!("{own}/v1/security-events"));
    }
    Json(document).into_response()
}

async fn jwks(State(shared): State<Arc<Shared>>, request_headers: HeaderMap) -> Response {
    shared.jwks_fetches.fetch_add(1, Ordering::SeqCst);
    let behaviour = shared.behaviour.lock().clone();
    if !behaviour.delay.is_zero() {
        tokio::time::sleep(behaviour.delay).await;
    }
    if shared.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if let Some(status) = behaviour.status {
        return StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR).into_response();
    }
    let mut headers = HeaderMap::new();
    let mut set = |name: &str, value: &str| {
        if let (Ok(name), Ok(value)) = (header::HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            headers.append(name, value);
        }
    };
    if let Some(cache_control) = &behaviour.cache_control {
        set("cache-control", cache_control);
    }
    if let Some(etag) = &behaviour.etag {
        set("etag", etag);
    }
    for (name, value) in &behaviour.extra_headers {
        set(name, value);
    }
    let matches = behaviour.etag.as_deref().is_some_and(|etag| {
        request_headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|sent| sent == etag)
    });
    if matches {
        shared.not_modified.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    set("content-type", &behaviour.content_type);
    (StatusCode::OK, headers, behaviour.document).into_response()
}

/// Calls a [`TestIssuer`]'s router directly (see [`TestIssuer::transport`]).
#[derive(Debug, Clone)]
pub struct InProcessTransport {
    router: Router,
    shared: Arc<Shared>,
}

impl JwksTransport for InProcessTransport {
    fn get(&self, request: FetchRequest) -> BoxFuture<'_, Result<FetchResponse, TransportError>> {
        Box::pin(async move {
            if self.shared.stopped.load(Ordering::SeqCst) {
                return Err(TransportError::Connect("connection refused (issuer stopped)".to_owned()));
            }
            let path = match request.url.query() {
                Some(query) => format!("{}?{query}", request.url.path()),
                None => request.url.path().to_owned(),
            };
            let mut builder = http::Request::get(path);
            if let Some(etag) = &request.if_none_match {
                builder = builder.header(header::IF_NONE_MATCH, etag);
            }
            let http_request = builder.body(Body::empty()).map_err(|e| TransportError::Other(e.to_string()))?;
            let call = self.router.clone().oneshot(http_request);
            let response = match request.timeout {
                Some(timeout) => tokio::time::timeout(timeout, call).await.map_err(|_| TransportError::Timeout)?,
                None => call.await,
            }
            .map_err(|e| TransportError::Other(e.to_string()))?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await.map_err(|e| TransportError::Other(e.to_string()))?.to_bytes();
            if body.len() > request.max_body_bytes {
                return Err(TransportError::BodyTooLarge { limit: request.max_body_bytes });
            }
            Ok(FetchResponse { status: parts.status.as_u16(), headers: parts.headers, body: body.to_vec() })
        })
    }
}
