//! W3C trace context between `tracing` spans and HTTP headers.
//!
//! Incoming: [`extract`] reads `traceparent`/`tracestate` into the parent of a server span.
//! Outgoing: [`inject`] writes a client span's own context, so the callee's server span is its
//! child. Stored: [`traceparent_of`] renders a span's context for work that runs later (the
//! orders outbox), and [`add_link`] links a later span back to it.
//!
//! No global propagator is installed: the W3C one is used directly, so nothing here depends on
//! process-wide OpenTelemetry state. Without the OpenTelemetry layer (tests that install none)
//! spans carry no context and every function here is a no-op.

use http::{HeaderMap, HeaderValue};
use opentelemetry::{
    Context,
    propagation::TextMapPropagator as _,
    trace::{SpanContext, TraceContextExt as _},
};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The remote parent the headers name (`traceparent`, `tracestate`); an empty context when
/// they name none or a malformed one.
#[must_use]
pub fn extract(headers: &HeaderMap) -> Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// Makes the context `headers` carry the parent of `span`, which must not have been entered
/// yet. Nothing happens when they carry none.
pub fn set_remote_parent(span: &Span, headers: &HeaderMap) {
    let parent = extract(headers);
    if parent.span().span_context().is_valid() {
        // Fails only when there is no OpenTelemetry layer or the span already started; the
        // span then keeps its local parent, which is what it would have had anyway.
        let _ = span.set_parent(parent);
    }
}

/// The OpenTelemetry span context of `span`, when it has a valid one.
#[must_use]
pub fn span_context(span: &Span) -> Option<SpanContext> {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then_some(span_context)
}

/// Writes `span`'s context into `headers` as `traceparent` (and `tracestate`), replacing
/// what was there. Returns `false`, leaving `headers` alone, when `span` has no context.
pub fn inject(span: &Span, headers: &mut HeaderMap) -> bool {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return false;
    }
    TraceContextPropagator::new().inject_context(&context, &mut HeaderInjector(headers));
    true
}

/// `span`'s context as a `traceparent` value, when it has one.
#[must_use]
pub fn traceparent_of(span: &Span) -> Option<String> {
    let mut headers = HeaderMap::new();
    if !inject(span, &mut headers) {
        return None;
    }
    headers.get("traceparent")?.to_str().ok().map(str::to_owned)
}

/// The span context a stored `traceparent` names.
#[must_use]
pub fn parse_traceparent(traceparent: &str) -> Option<SpanContext> {
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", HeaderValue::from_str(traceparent).ok()?);
    let context = extract(&headers);
    let span_context = context.span().span_context().clone();
    span_context.is_valid().then_some(span_context)
}

/// Adds to `span` a link to the span a stored `traceparent` names (work that runs later, in
/// its own trace, pointing back at the request that caused it). Returns whether a link was
/// added.
pub fn add_link(span: &Span, traceparent: &str) -> bool {
    match parse_traceparent(traceparent) {
        Some(linked) => {
            span.add_link(linked);
            true
        }
        None => false,
    }
}
