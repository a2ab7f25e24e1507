//! [`ApiError`]: every way a request can fail, mapped to a status and the shared envelope.
//!
//! 4xx bodies say precisely what was wrong; 5xx bodies are opaque and the cause is logged
//! once, here, inside the request span. OAuth endpoints answer with RFC 6749 §5.2 codes in
//! the same envelope (the envelope *is* the §5.2 shape).

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use shared::{
    auth::{AuthError, AuthRejection},
    http::{
        error::{ErrorBody, FieldError, error_response},
        json::JsonRejection,
    },
};

/// RFC 6749 §5.2 (and RFC 7009 / RFC 8707) error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthCode {
    /// Missing, repeated or malformed parameter.
    InvalidRequest,
    /// Client authentication failed (401 with a `Basic` challenge).
    InvalidClient,
    /// The grant (refresh token) is invalid, expired, revoked or reused.
    InvalidGrant,
    /// The client may not use this grant type.
    UnauthorizedClient,
    /// The grant type is not supported.
    UnsupportedGrantType,
    /// A requested scope is not allowed for the client.
    InvalidScope,
    /// A requested audience is not allowed for the client (RFC 8707).
    InvalidTarget,
}

impl OAuthCode {
    /// The wire code.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::InvalidTarget => "invalid_target",
        }
    }
}

/// Every failure a handler can return.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Well-formed JSON with invalid values (422).
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// Email or password wrong, or no such account: one answer for all (401).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many failed logins for the account or the client address (429).
    #[error("too many failed logins")]
    Throttled {
        /// Seconds until a retry can succeed.
        retry_after_secs: u64,
    },
    /// A unique constraint (409).
    #[error("{0}")]
    Conflict(&'static str),
    /// No such resource, or not the caller's (404).
    #[error("{0}")]
    NotFound(&'static str),
    /// A valid token whose session has ended (401, like any invalid token).
    #[error("the session of this token has ended")]
    SessionEnded,
    /// Authenticated but not allowed (403).
    #[error("{0}")]
    Forbidden(&'static str),
    /// Token verification failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Token verification failed in an extractor (carries the challenge realm).
    #[error(transparent)]
    AuthRejected(#[from] AuthRejection),
    /// The JSON body was refused.
    #[error("{0:?}")]
    Json(JsonRejection),
    /// Body over the limit (413).
    #[error("request body too large")]
    PayloadTooLarge,
    /// An OAuth endpoint error (RFC 6749 §5.2).
    #[error("{}: {description}", code.as_str())]
    OAuth {
        /// The code.
        code: OAuthCode,
        /// What was wrong, for the `error_description`.
        description: String,
    },
    /// A key rotation raced another one (409).
    #[error("another rotation changed the keys at the same time; retry")]
    RotationConflict,
    /// No active signing key yet (503).
    #[error("no active signing key")]
    NoSigningKey,
    /// A database failure (500, logged).
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Anything else unexpected (500, logged).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        Self::Json(rejection)
    }
}

impl ApiError {
    /// An OAuth error with `code`.
    pub fn oauth(code: OAuthCode, description: impl Into<String>) -> Self {
        Self::OAuth { code, description: description.into() }
    }

    /// `invalid_request` at an OAuth endpoint.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::oauth(OAuthCode::InvalidRequest, description)
    }

    /// One invalid field (422).
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }
}

/// `pub type Result<T> = Result<T, ApiError>` for handlers.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Validation(details) => {
                ErrorBody::validation(details).into_response_with(StatusCode::UNPROCESSABLE_ENTITY)
            }
            Self::InvalidCredentials => {
                error_response(StatusCode::UNAUTHORIZED, "invalid_credentials", "the email or password is wrong")
            }
            Self::Throttled { retry_after_secs } => {
                let mut response = error_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    format!("too many failed logins; retry in {retry_after_secs} s"),
                );
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                response
            }
            Self::Conflict(message) => error_response(StatusCode::CONFLICT, "conflict", message),
            Self::NotFound(message) => error_response(StatusCode::NOT_FOUND, "not_found", message),
            Self::SessionEnded => {
                let mut response =
                    error_response(StatusCode::UNAUTHORIZED, "invalid_token", "the session of this token has ended");
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        r#"Bearer realm="auth-service", error="invalid_token", error_description="session ended""#,
                    ),
                );
                response
            }
            Self::Forbidden(message) => error_response(StatusCode::FORBIDDEN, "forbidden", message),
            Self::Auth(error) => {
                log_if_server_error(&error, error.status());
                error.to_response(Some(crate::config::SERVICE_NAME))
            }
            Self::AuthRejected(rejection) => {
                log_if_server_error(&rejection.error, rejection.error.status());
                rejection.error.to_response(Some(&rejection.realm))
            }
            Self::Json(rejection) => rejection.into_response(),
            Self::PayloadTooLarge => JsonRejection::TooLarge.into_response(),
            Self::OAuth { code, description } => {
                let status =
                    if code == OAuthCode::InvalidClient { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST };
                let mut response = ErrorBody::new(code.as_str(), description).into_response_with(status);
                if code == OAuthCode::InvalidClient {
                    response.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static(r#"Basic realm="auth-service", charset="UTF-8""#),
                    );
                }
                response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
                response
            }
            Self::RotationConflict => error_response(StatusCode::CONFLICT, "conflict", self.to_string()),
            Self::NoSigningKey => {
                tracing::error!("no active signing key: cannot issue tokens");
                let mut response = error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "no signing key is available yet; retry shortly",
                );
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                response
            }
            Self::Database(ref error) if shared::db::is_unavailable(error) => {
                tracing::warn!(error = %error, "database unreachable, answering 503");
                database_unavailable_response()
            }
            Self::Database(ref error) => {
                tracing::error!(error = %error, "database error");
                error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "internal error")
            }
            // Database failures wrapped with context on their way up are still outages.
            Self::Internal(ref error)
                if error
                    .chain()
                    .any(|cause| cause.downcast_ref::<sqlx::Error>().is_some_and(shared::db::is_unavailable)) =>
            {
                tracing::warn!(error = format!("{error:#}"), "database unreachable, answering 503");
                database_unavailable_response()
            }
            Self::Internal(ref error) => {
                tracing::error!(error = format!("{error:#}"), "internal error");
                error_response(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "internal error")
            }
        }
    }
}

/// 503 with `Retry-After` while the database cannot be reached: the request may succeed once
/// it is back, so clients are told to retry rather than handed an internal error.
fn database_unavailable_response() -> Response {
    let mut response = error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the database is unreachable; retry shortly",
    );
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

fn log_if_server_error(error: &AuthError, status: StatusCode) {
    if status.is_server_error() {
        tracing::error!(error = %error, "token verification could not run");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_database_is_503_with_retry_after_not_500() {
        for error in [
            ApiError::Database(sqlx::Error::PoolTimedOut),
            ApiError::Internal(anyhow::Error::new(sqlx::Error::PoolTimedOut).context("cannot open the session")),
        ] {
            let response = error.into_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(response.headers().contains_key(header::RETRY_AFTER));
        }
        let query_failure = ApiError::Database(sqlx::Error::RowNotFound).into_response();
        assert_eq!(query_failure.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
