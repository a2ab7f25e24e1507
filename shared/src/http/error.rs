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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
