//! The ids that tie one user action together across services.
//!
//! Each incoming request keeps its `x-request-id` (or gets a new one at the edge) and its W3C
//! `traceparent` (or a new trace). [`RequestContext`] extracts both so a handler can pass them
//! to outgoing calls, or store them with work that runs later (the orders outbox does), and the
//! same request id then shows up in every service's logs.

use axum::extract::FromRequestParts;
use http::{HeaderMap, HeaderName, HeaderValue, request::Parts};
use rand::RngCore;
use serde::{Deserialize, Serialize};

/// `x-request-id`.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// W3C Trace Context `traceparent`.
pub static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Request id and trace of the current request.
///
/// Inside the kit's request layers `traceparent` names the request's own server span (the
/// layers point it there), so work stored for later can link back to that span.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestContext {
    /// The `x-request-id` of the request being served.
    pub request_id: String,
    /// A valid `traceparent`: the request's server span when OpenTelemetry is on, else the
    /// caller's (a new trace when the caller sent none or a bad one).
    pub traceparent: String,
}

impl RequestContext {
    /// A context for work not started by a request (background jobs).
    #[must_use]
    pub fn new_root() -> Self {
        Self { request_id: uuid::Uuid::new_v4().to_string(), traceparent: new_traceparent() }
    }

    /// Reads the ids from request headers, creating whatever is missing or malformed.
    #[must_use]
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let request_id = headers
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| is_sane_request_id(v))
            .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
        let traceparent = headers
            .get(&TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .filter(|v| parse_traceparent(v).is_some())
            .map_or_else(new_traceparent, str::to_owned);
        Self { request_id, traceparent }
    }

    /// The trace id (32 hex digits) of this context.
    #[must_use]
    pub fn trace_id(&self) -> &str {
        parse_traceparent(&self.traceparent).map_or("", |(trace_id, _)| trace_id)
    }

    /// Headers for an outgoing call: the same request id, and a `traceparent` naming the
    /// current span (a client span the caller entered, or the request span), so the callee's
    /// span is its child. Without OpenTelemetry spans (tests that install no layer) the
    /// `traceparent` continues this context's trace with a new parent span id.
    #[must_use]
    pub fn outgoing_headers(&self) -> HeaderMap {
        let mut headers = self.outgoing_headers_without_span();
        crate::telemetry::propagation::inject(&tracing::Span::current(), &mut headers);
        headers
    }

    /// [`Self::outgoing_headers`] ignoring the current span.
    fn outgoing_headers_without_span(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(&self.request_id) {
            headers.insert(REQUEST_ID.clone(), value);
        }
        let child = match parse_traceparent(&self.traceparent) {
            Some((trace_id, flags)) => format!("00-{trace_id}-{}-{flags}", random_hex(8)),
            None => new_traceparent(),
        };
        if let Ok(value) = HeaderValue::from_str(&child) {
            headers.insert(TRACEPARENT.clone(), value);
        }
        headers
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Self>().cloned().unwrap_or_else(|| Self::from_headers(&parts.headers)))
    }
}

/// Request ids are echoed into logs and headers: accept only short printable tokens.
#[must_use]
pub fn is_sane_request_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/' | b'+' | b'='))
}

/// `(trace_id, flags)` of a valid version-00 `traceparent`.
#[must_use]
pub fn parse_traceparent(value: &str) -> Option<(&str, &str)> {
    let mut parts = value.trim().split('-');
    let (version, trace_id, parent_id, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let valid = version == "00"
        && parts.next().is_none()
        && hex(trace_id, 32)
        && hex(parent_id, 16)
        && hex(flags, 2)
        && trace_id.bytes().any(|b| b != b'0')
        && parent_id.bytes().any(|b| b != b'0');
    valid.then_some((trace_id, flags))
}

/// A `traceparent` starting a new sampled trace.
#[must_use]
pub fn new_traceparent() -> String {
    format!("00-{}-{}-01", random_hex(16), random_hex(8))
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    if buffer.iter().all(|b| *b == 0) {
        buffer[0] = 1;
    }
    buffer.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incoming_ids_are_kept_and_children_share_the_trace() {
        let mut headers = HeaderMap::new();
        headers.insert(&REQUEST_ID, HeaderValue::from_static("req-123"));
        headers
            .insert(&TRACEPARENT, HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
        let context = RequestContext::from_headers(&headers);
        assert_eq!(context.request_id, "req-123");
        assert_eq!(context.trace_id(), "0af7651916cd43dd8448eb211c80319c");
        let outgoing = context.outgoing_headers();
        assert_eq!(outgoing[&REQUEST_ID], "req-123");
        let child = outgoing[&TRACEPARENT].to_str().unwrap();
        assert!(child.starts_with("00-0af7651916cd43dd8448eb211c80319c-"));
        assert_ne!(child, context.traceparent);
    }

    #[test]
    fn malformed_ids_are_replaced() {
        let mut headers = HeaderMap::new();
        headers.insert(&REQUEST_ID, HeaderValue::from_static("has spaces in it"));
        headers
            .insert(&TRACEPARENT, HeaderValue::from_static("00-00000000000000000000000000000000-b7ad6b7169203331-01"));
        let context = RequestContext::from_headers(&headers);
        assert_ne!(context.request_id, "has spaces in it");
        assert!(parse_traceparent(&context.traceparent).is_some());
        assert_ne!(context.trace_id(), "00000000000000000000000000000000");
    }
}
