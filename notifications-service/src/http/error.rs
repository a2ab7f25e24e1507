//! The one error type of notifications-service's handlers and its mapping to HTTP.
//!
//! What every service answers alike (404, 400/422 naming the field, 413/415, a database
//! outage as 503 with `Retry-After`, an opaque 500 that logs its cause) is the kit's
//! [`CommonError`]; only what is this service's own is a variant here. Authentication failures
//! never get here: `jwt_verifier`'s extractors answer those.

use std::collections::BTreeMap;

use axum::response::{IntoResponse, Response};
use service_kit::http::{
    error::{CommonError, ErrorBody},
    openapi::{error_response, single},
};
use utoipa::openapi::{RefOr, response::Response as ResponseDoc};

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The sender reused an event id for different content: 409.
    #[error("event id already used for a different notification")]
    EventConflict,
    /// A failure every service answers alike.
    #[error(transparent)]
    Common(#[from] CommonError),
}

/// Handler result.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// 404 for a notification that does not exist or is not the caller's.
pub(crate) const NOTIFICATION_NOT_FOUND: CommonError = CommonError::NotFound("no such notification");

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::Common(error.into())
    }
}

/// Code and description of [`ApiError::EventConflict`].
const EVENT_CONFLICT: (&str, &str) = (
    "event_conflict",
    "this event id was already delivered with different content; use a new event id for a new event",
);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::EventConflict => CommonError::conflict(EVENT_CONFLICT.0, EVENT_CONFLICT.1).into_response(),
            Self::Common(error) => error.into_response(),
        }
    }
}

/// OpenAPI: the 409 of [`ApiError::EventConflict`].
pub(crate) struct EventConflict;

impl utoipa::IntoResponses for EventConflict {
    fn responses() -> BTreeMap<String, RefOr<ResponseDoc>> {
        single(
            409,
            error_response(
                "This event id was already delivered by this sender with different content.",
                &[],
                &[(EVENT_CONFLICT.0, ErrorBody::new(EVENT_CONFLICT.0, EVENT_CONFLICT.1))],
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use http::{StatusCode, header};

    use super::*;

    #[test]
    fn statuses_follow_the_variant() {
        assert_eq!(ApiError::from(NOTIFICATION_NOT_FOUND).into_response().status(), StatusCode::NOT_FOUND);
        assert_eq!(ApiError::EventConflict.into_response().status(), StatusCode::CONFLICT);
        let internal = ApiError::from(sqlx::Error::RowNotFound).into_response();
        assert_eq!(internal.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn an_unreachable_database_is_503_with_retry_after() {
        for error in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        ] {
            let response = ApiError::from(error).into_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(response.headers().contains_key(header::RETRY_AFTER));
        }
    }
}
