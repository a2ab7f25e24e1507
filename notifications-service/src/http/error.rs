//! The one error type of notifications-service's handlers and its mapping to HTTP.
//!
//! Client errors (4xx) render the workspace envelope with a precise message and are not
//! logged as errors; server errors (5xx) log their cause once, here, and send an opaque body.
//! Authentication failures never get here: `shared::auth`'s extractors answer those with the
//! same envelope.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use shared::http::error::{ErrorBody, FieldError};

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No such resource for this caller (also used for other users' resources, so their
    /// existence does not leak).
    #[error("not found")]
    NotFound,
    /// The body parsed but broke a domain rule: 422 naming each field.
    #[error("request body failed validation")]
    Validation(Vec<FieldError>),
    /// A query parameter, path segment or header is malformed: 400 naming it.
    #[error("invalid request parameter")]
    InvalidParameter(FieldError),
    /// The sender reused an event id for different content: 409.
    #[error("event id already used for a different notification")]
    EventConflict,
    /// A database failure.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// Anything else unexpected.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Handler result.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::InvalidParameter(_) => StatusCode::BAD_REQUEST,
            Self::EventConflict => StatusCode::CONFLICT,
            // A pool that cannot hand out a connection in time is overload, not a bug: tell
            // clients to come back instead of reporting an internal error.
            Self::Database(sqlx::Error::PoolTimedOut) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match self {
            Self::NotFound => ErrorBody::new("not_found", "no such notification"),
            Self::Validation(details) => ErrorBody::validation(details),
            Self::InvalidParameter(detail) => ErrorBody::validation(vec![detail]),
            Self::EventConflict => ErrorBody::new(
                "event_conflict",
                "this event id was already delivered with different content; use a new event id for a new event",
            ),
            Self::Database(sqlx::Error::PoolTimedOut) => {
                tracing::warn!("database pool exhausted, answering 503");
                ErrorBody::new("temporarily_unavailable", "the service is overloaded, retry shortly")
            }
            error @ (Self::Database(_) | Self::Internal(_)) => {
                tracing::error!(error = ?error, "request failed");
                ErrorBody::new("internal_error", "internal error")
            }
        };
        let mut response = body.into_response_with(status);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_variant() {
        assert_eq!(ApiError::NotFound.into_response().status(), StatusCode::NOT_FOUND);
        assert_eq!(ApiError::Validation(vec![]).into_response().status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(ApiError::EventConflict.into_response().status(), StatusCode::CONFLICT);
        let busy = ApiError::Database(sqlx::Error::PoolTimedOut).into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(busy.headers().contains_key(header::RETRY_AFTER));
        let internal = ApiError::Internal(anyhow::anyhow!("secret detail")).into_response();
        assert_eq!(internal.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
