//! The harness's own gateway, used where nginx is not installed.
//!
//! It does what the nginx config does, in a few lines of Rust: routes by path prefix
//! ([`super::route`], with [`super::rewrite`] for the OpenAPI documents), spreads requests round robin over a service's replicas, skips a replica
//! for a while after it failed (passive health check), moves idempotent requests on to the next
//! replica after a connection error or a 502/503/504 (and any request whose connection was
//! refused, since it never reached the replica), keeps or creates `X-Request-Id` and appends
//! the client to `X-Forwarded-For`, and serves the browser page ([`super::page`]).

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use axum::{
    Router,
    body::Body,
    extract::{ConnectInfo, Request, State},
    response::{IntoResponse, Response},
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};
use url::Url;

use super::Upstreams;
use crate::service::Service;

/// How long a replica that failed is skipped.
const FAIL_TIMEOUT: Duration = Duration::from_secs(2);
/// Bodies above this are refused by the gateway itself (the services stop at 64 KiB).
const MAX_BODY: usize = 1024 * 1024;

/// The built-in gateway, serving until [`BuiltInGateway::stop`] or drop.
#[derive(Debug)]
pub struct BuiltInGateway {
    port: u16,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

#[derive(Debug)]
struct Replica {
    base: String,
    down_until: Mutex<Option<Instant>>,
}

impl Replica {
    fn is_down(&self) -> bool {
        self.down_until.lock().ok().and_then(|d| *d).is_some_and(|until| until > Instant::now())
    }

    fn mark_failed(&self) {
        if let Ok(mut down) = self.down_until.lock() {
            *down = Some(Instant::now() + FAIL_TIMEOUT);
        }
    }
}

#[derive(Debug)]
struct Pool {
    service: Service,
    replicas: Vec<Replica>,
    next: AtomicUsize,
}

impl Pool {
    /// Every replica once, starting at the next in turn; those marked down go last, so they are
    /// tried only when every live one failed.
    fn candidates(&self) -> Vec<&Replica> {
        let n = self.replicas.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let rotated = (0..n).map(|i| &self.replicas[(start + i) % n]);
        let (live, down): (Vec<&Replica>, Vec<&Replica>) = rotated.partition(|r| !r.is_down());
        live.into_iter().chain(down).collect()
    }
}

#[derive(Debug)]
struct Shared {
    client: reqwest::Client,
    pools: BTreeMap<Service, Pool>,
}

impl BuiltInGateway {
    /// Binds `port` on 127.0.0.1 and starts serving.
    ///
    /// # Errors
    /// The port cannot be bound.
    pub async fn start(port: u16, upstreams: &Upstreams) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.context("cannot bind the built-in gateway")?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(35))
            .build()
            .context("cannot build the gateway's HTTP client")?;
        let pools = upstreams
            .iter()
            .map(|(service, ports)| {
                let replicas = ports
                    .iter()
                    .map(|port| Replica { base: format!("http://127.0.0.1:{port}"), down_until: Mutex::new(None) })
                    .collect();
                (*service, Pool { service: *service, replicas, next: AtomicUsize::new(0) })
            })
            .collect();
        let shared = Arc::new(Shared { client, pools });
        let router = Router::new().fallback(proxy).with_state(shared);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                });
            if let Err(error) = serve.await {
                eprintln!("e2e: built-in gateway stopped: {error}");
            }
        });
        Ok(Self { port, stop: Some(stop), task })
    }

    /// Its base URL.
    #[must_use]
    pub fn url(&self) -> Url {
        Url::parse(&format!("http://127.0.0.1:{}", self.port)).unwrap_or_else(|_| unreachable!("numeric URL parses"))
    }

    /// Stops serving.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Drop for BuiltInGateway {
    fn drop(&mut self) {
        self.stop();
        self.task.abort();
    }
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
fn is_hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "proxy-connection"
            | "content-length"
    )
}

fn envelope(status: StatusCode, code: &str, description: &str, request_id: &str) -> Response {
    let body = serde_json::json!({"error": code, "error_description": description});
    let mut response = (status, axum::Json(body)).into_response();
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-request-id", value);
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

async fn proxy(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let request_id = parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned);
    if path == "/healthz" {
        return (StatusCode::OK, axum::Json(serde_json::json!({"status": "ok", "service": "gateway"}))).into_response();
    }
    if let Some(page) = super::page::response(&parts.method, &path) {
        return page;
    }
    let Some(pool) = super::route(&path).and_then(|service| shared.pools.get(&service)) else {
        return envelope(StatusCode::NOT_FOUND, "not_found", "no service is routed at this path", &request_id);
    };
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return envelope(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "request body too large", &request_id);
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if !is_hop_by_hop(name) && name != "x-forwarded-for" && name != "x-request-id" {
            headers.append(name.clone(), value.clone());
        }
    }
    let forwarded_for = match parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(earlier) => format!("{earlier}, {}", peer.ip()),
        None => peer.ip().to_string(),
    };
    if let Ok(value) = HeaderValue::from_str(&forwarded_for) {
        headers.insert("x-forwarded-for", value);
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("x-request-id", value);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    // As nginx does: the host the client addressed, which DPoP proofs name in `htu`.
    if let Some(host) = parts.headers.get(header::HOST) {
        headers.insert("x-forwarded-host", host.clone());
    }
    let idempotent =
        matches!(parts.method, Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS);
    let path_and_query = match super::rewrite(&path) {
        Some(rewritten) => rewritten.to_owned(),
        None => parts.uri.path_and_query().map_or("/", |pq| pq.as_str()).to_owned(),
    };

    let candidates = pool.candidates();
    let mut last_response = None;
    for (attempt, replica) in candidates.iter().enumerate() {
        let more = attempt + 1 < candidates.len();
        let sent = shared
            .client
            .request(parts.method.clone(), format!("{}{path_and_query}", replica.base))
            .headers(headers.clone())
            .body(body.clone())
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status();
                let retryable = matches!(status.as_u16(), 502..=504);
                if retryable {
                    replica.mark_failed();
                }
                if retryable && idempotent && more {
                    last_response = Some(response);
                    continue;
                }
                return relay(response, &request_id).await;
            }
            // A refused connection never reached the replica: any method may move on.
            Err(error) if error.is_connect() || idempotent => {
                replica.mark_failed();
                if more {
                    continue;
                }
            }
            Err(_) => {
                replica.mark_failed();
                return envelope(
                    StatusCode::BAD_GATEWAY,
                    "bad_gateway",
                    &format!(
                        "the {} replica failed while handling the request; it may have been applied",
                        pool.service
                    ),
                    &request_id,
                );
            }
        }
    }
    if let Some(response) = last_response {
        return relay(response, &request_id).await;
    }
    envelope(
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
        &format!("{} is unavailable: no replica answered the gateway", pool.service),
        &request_id,
    )
}

/// Copies an upstream response to the client.
async fn relay(response: reqwest::Response, request_id: &str) -> Response {
    let status = response.status();
    let mut headers = HeaderMap::new();
    for (name, value) in response.headers() {
        if !is_hop_by_hop(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    match response.bytes().await {
        Ok(bytes) => {
            let mut relayed = Response::new(Body::from(bytes));
            *relayed.status_mut() = status;
            *relayed.headers_mut() = headers;
            relayed
        }
        Err(_) => envelope(
            StatusCode::BAD_GATEWAY,
            "bad_gateway",
            "the replica closed the connection while sending its response",
            request_id,
        ),
    }
}
