//! Client spans for outgoing HTTP calls, following the OpenTelemetry HTTP conventions.
//!
//! A client span is of kind client, named after the method, with `http.request.method`,
//! `server.address`, `server.port`, `url.full` and, once answered, `http.response.status_code`.
//!
//! [`send`] does all of it for one `reqwest` request: the span, its context as `traceparent`,
//! the call inside it and the outcome recorded on it.

use tracing::{Instrument as _, Span};
use url::Url;

/// Sends `request`, a `method` call to `url`, inside a new client span (a child of the
/// current span) whose context goes out as `traceparent`, and records the outcome on it.
///
/// # Errors
/// The transport's, unchanged.
pub async fn send(
    request: reqwest::RequestBuilder,
    method: &'static str,
    url: &Url,
) -> Result<reqwest::Response, reqwest::Error> {
    let span = client_span(method, url);
    let mut headers = http::HeaderMap::new();
    super::propagation::inject(&span, &mut headers);
    let sent = request.headers(headers).send().instrument(span.clone()).await;
    match &sent {
        Ok(response) => record_response(&span, response.status()),
        Err(error) => record_error(&span, error),
    }
    sent
}

/// A client span for `method url`, a child of the current span.
fn client_span(method: &'static str, url: &Url) -> Span {
    // Integers as i64: `tracing-opentelemetry` exports unsigned fields as strings.
    let port = url.port_or_known_default().map(i64::from);
    // The URL without credentials or fragment: `url.full` must not carry secrets.
    let mut full = url.clone();
    let _ = full.set_username("");
    let _ = full.set_password(None);
    full.set_fragment(None);
    tracing::info_span!(
        "http_client",
        otel.name = method,
        otel.kind = "client",
        otel.status_code = tracing::field::Empty,
        http.request.method = method,
        server.address = url.host_str().unwrap_or_default(),
        server.port = port,
        url.full = full.as_str(),
        http.response.status_code = tracing::field::Empty,
        "error.type" = tracing::field::Empty,
    )
}

/// Records the status of the answer; 4xx and 5xx mark the span as an error.
fn record_response(span: &Span, status: http::StatusCode) {
    span.record("http.response.status_code", i64::from(status.as_u16()));
    if status.is_client_error() || status.is_server_error() {
        span.record("error.type", status.as_str());
        span.record("otel.status_code", "error");
    }
}

/// Records a call that got no answer.
fn record_error(span: &Span, error: &reqwest::Error) {
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else {
        "request"
    };
    span.record("error.type", kind);
    span.record("otel.status_code", "error");
}
