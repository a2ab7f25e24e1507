//! The HTTP API: one router per resource, merged here and wrapped in the workspace's standard
//! middleware (request ids, `traceparent`, `X-Served-By`, spans, metrics, body limit, timeout).
//!
//! - [`notifications`]: `POST /v1/notifications`, `GET /v1/notifications`,
//!   `POST /v1/notifications/{id}/read`.
//! - [`ops`]: `/healthz`, `/readyz`, `/metrics`.
//! - [`error`]: the service's one error type.

pub mod error;
pub mod notifications;
pub mod ops;

use axum::Router;
use shared::http::{
    error::{method_not_allowed_fallback, not_found_fallback},
    layers::{ServiceIdentity, apply},
};

use crate::state::AppState;

/// The complete router, ready to serve.
pub fn router(state: AppState, identity: &ServiceIdentity) -> Router {
    let routes = Router::new()
        .merge(notifications::router())
        .merge(ops::router())
        .fallback(not_found_fallback)
        .method_not_allowed_fallback(method_not_allowed_fallback);
    apply(routes, identity).with_state(state)
}

/// RFC 3339 UTC time with exactly three fractional digits (fixed width, so timestamps sort as
/// strings too) for a stored Unix-milliseconds timestamp.
pub(crate) fn timestamp(millis: i64) -> String {
    const FORMAT: &[time::format_description::FormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    let nanos = i128::from(millis) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok().and_then(|t| t.format(FORMAT).ok()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(super::timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::timestamp(1_700_000_000_120), "2023-11-14T22:13:20.120Z");
    }
}
