//! The workspace's one JSON error envelope.
//!
//! Every error any service returns, including authentication failures and body rejections,
//! is an [`ErrorBody`]. Its shape is RFC 6749 §5.2's (`error`, `error_description`), so the
//! OAuth endpoints need no second format, plus optional per-field `details` for validation
//! errors:
//!
//! ```json
//! {"error":"invalid_request","error_description":"items[0].quantity: must be between 1 and 1000",
//!  "details":[{"field":"items[0].quantity","message":"must be between 1 and 1000"}]}
//! ```

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code in `snake_case` (`invalid_request`, `invalid_token`,
    /// `not_found`…). OAuth endpoints use the RFC 6749 codes.
    pub error: String,
    /// One sentence for humans saying what was wrong.
    pub error_description: String,
    /// Per-field problems for validation errors.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldError>,
}

/// One invalid field: its path in the request (`items[0].sku`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Path of the field in the request body, or the header/parameter name.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

impl ErrorBody {
    /// An error with a code and a description.
    pub fn new(error: impl Into<String>, description: impl Into<String>) -> Self {
        Self { error: error.into(), error_description: description.into(), details: Vec::new() }
    }

    /// A validation error listing every bad field; the description repeats them so clients
    /// that only show `error_description` still say what was wrong.
    #[must_use]
    pub fn validation(details: Vec<FieldError>) -> Self {
        let description = details.iter().map(|d| format!("{}: {}", d.field, d.message)).collect::<Vec<_>>().join("; ");
        Self { error: "invalid_request".to_owned(), error_description: description, details }
    }

    /// The response with this body and `status`.
    #[must_use]
    pub fn into_response_with(self, status: StatusCode) -> Response {
        let mut response = (status, Json(self)).into_response();
        // Error bodies may say things about the caller's credentials: never cache them.
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

/// Shorthand for an error response.
#[must_use]
pub fn error_response(status: StatusCode, error: &str, description: impl Into<String>) -> Response {
    ErrorBody::new(error, description).into_response_with(status)
}

/// JSON 404 for unknown routes, so even a typo in a path gets the envelope.
pub async fn not_found_fallback() -> Response {
    error_response(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

/// JSON 405 for a known path with the wrong method.
pub async fn method_not_allowed_fallback() -> Response {
    error_response(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this endpoint does not accept that method")
}

/// The failures every service answers the same way: the one place their statuses, headers
/// and logging are decided.
///
/// A service's own error enum wraps this (`#[error(transparent)] Common(#[from] CommonError)`)
/// beside its domain variants, so a database outage is a 503 with `Retry-After` in every
/// service, and a 5xx logs its cause once and sends an opaque body.
#[derive(Debug, thiserror::Error)]
pub enum CommonError {
    /// No such resource for this caller (also used for other users' resources, so their
    /// existence does not leak): 404 with the given description.
    #[error("{0}")]
    NotFound(&'static str),
    /// The request clashes with the current state of a resource: 409.
    #[error("{description}")]
    Conflict {
        /// The machine-readable code (`conflict`, `event_conflict`…).
        code: &'static str,
        /// What clashed and what to do instead.
        description: String,
    },
    /// The body parsed but broke a domain rule: 422 naming each field.
    #[error("request body failed validation")]
    Validation(Vec<FieldError>),
    /// A query parameter, path segment or header is malformed: 400 naming it.
    #[error("invalid request parameter")]
    InvalidParameter(FieldError),
    /// The body was refused before it reached the handler (400/413/415/422).
    #[error("request body refused: {0:?}")]
    Body(super::json::JsonRejection),
    /// A database failure: 503 with `Retry-After` while the database is unreachable (see
    /// [`crate::db::is_unavailable`]), 500 otherwise.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Anything else unexpected: 500, or 503 when a database outage is among its causes
    /// (failures wrapped with context on their way up are still outages).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Seconds a client is told to wait before retrying while the database is unreachable.
const DATABASE_RETRY_AFTER_SECS: u32 = 5;

impl CommonError {
    /// A 400 for the malformed query parameter, path segment or header `field`.
    pub fn invalid_parameter(field: &str, message: impl Into<String>) -> Self {
        Self::InvalidParameter(FieldError::new(field, message))
    }

    /// A 409 with `code` and `description`.
    pub fn conflict(code: &'static str, description: impl Into<String>) -> Self {
        Self::Conflict { code, description: description.into() }
    }

    /// Whether this is a database outage (answered 503, logged as a warning).
    #[must_use]
    pub fn is_database_outage(&self) -> bool {
        match self {
            Self::Database(error) => crate::db::is_unavailable(error),
            Self::Internal(error) => {
                error.chain().any(|cause| cause.downcast_ref::<sqlx::Error>().is_some_and(crate::db::is_unavailable))
            }
            _ => false,
        }
    }
}

impl From<super::json::JsonRejection> for CommonError {
    fn from(rejection: super::json::JsonRejection) -> Self {
        Self::Body(rejection)
    }
}

impl IntoResponse for CommonError {
    fn into_response(self) -> Response {
        if self.is_database_outage() {
            tracing::warn!(error = format!("{self:#}"), "database unreachable, answering 503");
            return unavailable_response("the database is unreachable; retry shortly", DATABASE_RETRY_AFTER_SECS);
        }
        match self {
            Self::NotFound(description) => error_response(StatusCode::NOT_FOUND, "not_found", description),
            Self::Conflict { code, description } => error_response(StatusCode::CONFLICT, code, description),
            Self::Validation(details) => {
                ErrorBody::validation(details).into_response_with(StatusCode::UNPROCESSABLE_ENTITY)
            }
            Self::InvalidParameter(detail) => {
                ErrorBody::validation(vec![detail]).into_response_with(StatusCode::BAD_REQUEST)
            }
            Self::Body(rejection) => rejection.into_response(),
            Self::Database(error) => {
                tracing::error!(error = %error, "database error");
                internal_error_response()
            }
            Self::Internal(error) => {
                tracing::error!(error = format!("{error:#}"), "internal error");
                internal_error_response()
            }
        }
    }
}

/// 503 `temporarily_unavailable` with `Retry-After`: the request may succeed later, so the
/// client is told when to retry rather than handed an internal error.
#[must_use]
pub fn unavailable_response(description: &str, retry_after_secs: u32) -> Response {
    let mut response = error_response(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", description);
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

/// The opaque 500: the cause is logged by the caller, never sent.
fn internal_error_response() -> Response {
    error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "internal error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_is_503_with_retry_after_not_500() {
        for error in [
            CommonError::Database(sqlx::Error::PoolTimedOut),
            CommonError::Database(sqlx::Error::PoolClosed),
            CommonError::Internal(anyhow::Error::new(sqlx::Error::PoolTimedOut).context("cannot open the session")),
        ] {
            let response = error.into_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        }
        let query_failure = CommonError::Database(sqlx::Error::RowNotFound).into_response();
        assert_eq!(query_failure.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!query_failure.headers().contains_key(header::RETRY_AFTER));
    }

    #[test]
    fn client_errors_keep_their_status() {
        assert_eq!(CommonError::NotFound("no such order").into_response().status(), StatusCode::NOT_FOUND);
        assert_eq!(CommonError::conflict("conflict", "taken").into_response().status(), StatusCode::CONFLICT);
        assert_eq!(CommonError::Validation(vec![]).into_response().status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            CommonError::InvalidParameter(FieldError::new("limit", "too big")).into_response().status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            CommonError::Body(super::super::json::JsonRejection::TooLarge).into_response().status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
