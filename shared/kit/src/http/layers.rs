//! The middleware stack every service wraps its router in.
//!
//! Outermost first: panic → JSON 500; request id (kept from `x-request-id`, else a new UUID)
//! and trace context into the request; a `tracing` span per request, which is also the
//! OpenTelemetry server span (HTTP semantic conventions), a child of the incoming
//! `traceparent`; request metrics; `x-request-id` echoed and `X-Served-By:
//! <service>/<instance>` set on every response, and `X-Verified-Kid: <kid>` on every answer
//! to a request whose token verified, so load balancing and local verification can be seen
//! from outside; a body limit (413 past 64 KiB) and a request
//! timeout (408) so graceful shutdown always ends.

use std::{any::Any, time::Duration};

use axum::{
    Router,
    extract::{DefaultBodyLimit, MatchedPath, Request},
    middleware::{self, Next},
    response::Response,
};
use http::{HeaderName, HeaderValue, Method, StatusCode};
use jwt_verifier::CallerSlot;
use tower_http::{
    catch_panic::CatchPanicLayer,
    timeout::TimeoutLayer,
    trace::{DefaultOnRequest, TraceLayer},
};
use tracing::Span;

use crate::telemetry::propagation;

use super::{
    MAX_BODY_BYTES,
    context::{REQUEST_ID, RequestContext},
    error::error_response,
};

/// `X-Served-By`.
pub static SERVED_BY: HeaderName = HeaderName::from_static("x-served-by");

/// `X-Verified-Kid`: the `kid` of the key that verified the request's token (public: it is
/// in the JWKS and in the token's own header).
pub static VERIFIED_KID: HeaderName = HeaderName::from_static("x-verified-kid");

/// Who is answering: the service name and this replica's instance id.
#[derive(Debug, Clone)]
pub struct ServiceIdentity {
    /// `auth-service`, `orders-service`…
    pub service: &'static str,
    /// Distinguishes replicas: `INSTANCE_ID`, else `HOSTNAME` (the container id under Docker,
    /// the pod name under Kubernetes), else a random short id.
    pub instance_id: String,
}

impl ServiceIdentity {
    /// The identity of this process for `service`.
    #[must_use]
    pub fn detect(service: &'static str) -> Self {
        let instance_id = ["INSTANCE_ID", "HOSTNAME"]
            .iter()
            .filter_map(|name| std::env::var(name).ok())
            .find(|v| super::context::is_sane_request_id(v))
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..8].to_owned());
        Self { service, instance_id }
    }

    /// `service/instance`, the value of `X-Served-By`.
    #[must_use]
    pub fn served_by(&self) -> String {
        format!("{}/{}", self.service, self.instance_id)
    }
}

/// Requests that take longer than this get 408, so draining on shutdown always ends.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Wraps `router` in the workspace's standard stack (see the module docs).
pub fn apply<S>(router: Router<S>, identity: &ServiceIdentity) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let service = identity.service;
    let served_by =
        HeaderValue::from_str(&identity.served_by()).unwrap_or_else(|_| HeaderValue::from_static("unknown"));
    router
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            let served_by = served_by.clone();
            async move { finish_response(request, next, service, served_by).await }
        }))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(move |request: &Request| make_span(service, request))
                .on_request(DefaultOnRequest::new().level(tracing::Level::DEBUG))
                .on_response(|response: &Response, latency: Duration, span: &Span| {
                    // As i64: `tracing-opentelemetry` exports unsigned fields as strings.
                    span.record("http.response.status_code", i64::from(response.status().as_u16()));
                    // Server spans are errors for 5xx only: a 4xx is the client's mistake.
                    if response.status().is_server_error() {
                        span.record("error.type", response.status().as_str());
                        span.record("otel.status_code", "error");
                    }
                    tracing::debug!(
                        latency_ms = latency.as_millis() as u64,
                        status = response.status().as_u16(),
                        "response"
                    );
                })
                // Handlers log their own 5xx causes once; do not log them again here.
                .on_failure(()),
        )
        .layer(middleware::from_fn(attach_context))
        .layer(CatchPanicLayer::custom(panic_response))
}

/// Puts a [`RequestContext`] into the request (ids kept or created) so spans, handlers and
/// outgoing calls all see the same ids.
async fn attach_context(mut request: Request, next: Next) -> Response {
    let context = RequestContext::from_headers(request.headers());
    if let Ok(value) = HeaderValue::from_str(&context.request_id) {
        request.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    request.extensions_mut().insert(context);
    next.run(request).await
}

/// The request span, following the OpenTelemetry HTTP server conventions: kind server, named
/// `{method} {route}`, with `http.request.method`, `http.route` (the matched template, such as
/// `/v1/orders/{id}`; absent when nothing matched, never the raw path), `url.path`,
/// `url.scheme`, `server.address`/`server.port` (from `Host`), `user_agent.original` and, once
/// answered, `http.response.status_code`. Its parent is the caller's `traceparent` when it sent
/// a valid one, else it starts a trace. `service`, `request_id` and `trace_id` are for the logs.
/// Longest `server.address` recorded (a DNS name is at most 253 characters).
const MAX_HOST_BYTES: usize = 255;
/// Longest `url.path` recorded.
const MAX_PATH_BYTES: usize = 1024;

fn make_span(service: &'static str, request: &Request) -> Span {
    let method = method_label(request.method());
    let route = request.extensions().get::<MatchedPath>().map(MatchedPath::as_str);
    let name = match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_owned(),
    };
    let request_id = request.extensions().get::<RequestContext>().map(|c| c.request_id.clone()).unwrap_or_default();
    let headers = request.headers();
    let host = headers.get(http::header::HOST).and_then(|v| v.to_str().ok()).or_else(|| request.uri().host());
    // Both come from the client, unclipped by the protocol (hyper allows ~400 KB of headers):
    // bounded here, as every span attribute and log field must be.
    let (address, port) = host.map(split_host_port).unwrap_or_default();
    let address = crate::text::prefix(address, MAX_HOST_BYTES);
    let path = crate::text::prefix(request.uri().path(), MAX_PATH_BYTES);
    let user_agent =
        headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).map(|v| crate::text::clip(v, 256));
    let span = tracing::info_span!(
        "http_request",
        otel.name = name.as_str(),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        service,
        http.request.method = method,
        http.route = route,
        url.path = path,
        url.scheme = request.uri().scheme_str().unwrap_or("http"),
        server.address = address,
        server.port = port.map(i64::from),
        user_agent.original = user_agent.as_deref(),
        request_id = %request_id,
        trace_id = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        "error.type" = tracing::field::Empty,
        user.id = tracing::field::Empty,
    );
    propagation::set_remote_parent(&span, headers);
    // The trace id logged is the span's own when OpenTelemetry is on (it is then the caller's
    // trace, or a new one), else the one the request context carries.
    match propagation::span_context(&span) {
        Some(context) => span.record("trace_id", tracing::field::display(context.trace_id())),
        None => {
            let trace_id = request.extensions().get::<RequestContext>().map(|c| c.trace_id().to_owned());
            span.record("trace_id", trace_id.as_deref().unwrap_or_default())
        }
    };
    span
}

/// `host[:port]` (or `[v6]:port`) as address and port, the port `None` when absent.
fn split_host_port(host: &str) -> (&str, Option<u16>) {
    match host.rsplit_once(':') {
        Some((address, port)) if !address.is_empty() && (!address.contains(':') || address.ends_with(']')) => {
            (address.trim_start_matches('[').trim_end_matches(']'), port.parse().ok())
        }
        _ => (host, None),
    }
}

/// Records request metrics and sets the response headers every service sends.
///
/// Runs inside the request span: a [`RequestContext`] it finds is pointed at that span, so
/// what the handler stores or sends on continues from this request's span, not its caller's.
async fn finish_response(mut request: Request, next: Next, service: &'static str, served_by: HeaderValue) -> Response {
    let started = std::time::Instant::now();
    if let Some(traceparent) = propagation::traceparent_of(&Span::current())
        && let Some(context) = request.extensions_mut().get_mut::<RequestContext>()
    {
        context.traceparent = traceparent;
    }
    let verified = CallerSlot::default();
    request.extensions_mut().insert(verified.clone());
    let method = method_label(request.method());
    let route =
        request.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let request_id = request.headers().get(&REQUEST_ID).cloned();
    let mut response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [("service", service.to_owned()), ("method", method.to_owned()), ("route", route), ("status", status)];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels[..3]).record(started.elapsed().as_secs_f64());
    let headers = response.headers_mut();
    headers.insert(SERVED_BY.clone(), served_by);
    if let Some(kid) = verified.get().and_then(|caller| HeaderValue::from_str(&caller.key_id).ok()) {
        headers.insert(VERIFIED_KID.clone(), kid);
    }
    if let Some(request_id) = request_id {
        headers.insert(REQUEST_ID.clone(), request_id);
    }
    response
}

/// The method as a metric label, from a closed set: a client may send any token as a method,
/// and every distinct label value is a new series the recorder keeps forever. Routes are
/// likewise the matched route or `unmatched`, never the raw path.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "internal error")
}
