//! [`ApiError`]: every way a request can fail, mapped to a status and the shared envelope.
//!
//! What every service answers alike (404, 409, 422 naming the fields, refused bodies, a
//! database outage as 503 with `Retry-After`, an opaque 500 that logs its cause) is the kit's
//! [`CommonError`]; the variants here are auth-service's own. 4xx bodies say precisely what
//! was wrong. OAuth endpoints answer with RFC 6749 §5.2 codes in the same envelope (the
//! envelope *is* the §5.2 shape). Domain errors ([`IssueError`], [`RotationError`]) become
//! an [`ApiError`] here, so the domain modules know nothing of HTTP.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use jwt_verifier::{AuthError, AuthRejection};
use service_kit::http::{
    error::{CommonError, ErrorBody, FieldError, error_response, unavailable_response},
    json::JsonRejection,
};

use crate::{config::SERVICE_NAME, events::FeedError, issuer::IssueError, keys::RotationError, passwords::HashError};

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
    /// The DPoP proof is missing, invalid, or by the wrong key (RFC 9449 §5).
    InvalidDpopProof,
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
            Self::InvalidDpopProof => "invalid_dpop_proof",
        }
    }
}

/// Every failure a handler can return.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Email or password wrong, or no such account: one answer for all (401).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many attempts in a throttle bucket (429): failed logins for the account or the
    /// client address, or registrations from the address.
    #[error("too many {what}")]
    Throttled {
        /// What there were too many of, for the description ("failed logins").
        what: &'static str,
        /// Seconds until a retry can succeed.
        retry_after_secs: u64,
    },
    /// Every password hashing slot of the memory budget is taken and the queue is full (503
    /// with `Retry-After`): the request was not evaluated.
    #[error("password hashing is at capacity")]
    HasherBusy,
    /// A valid token whose session has ended (401, like any invalid token).
    #[error("the session of this token has ended")]
    SessionEnded,
    /// A valid token revoked by its `jti` (RFC 7009): 401, like any invalid token.
    #[error("the token has been revoked")]
    TokenRevoked,
    /// Authenticated but not allowed (403).
    #[error("{0}")]
    Forbidden(&'static str),
    /// Token verification failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Token verification failed in an extractor (carries the challenge realm).
    #[error(transparent)]
    AuthRejected(#[from] AuthRejection),
    /// An OAuth endpoint error (RFC 6749 §5.2).
    #[error("{}: {description}", code.as_str())]
    OAuth {
        /// The code.
        code: OAuthCode,
        /// What was wrong, for the `error_description`.
        description: String,
    },
    /// The DPoP proof needs a server nonce (RFC 9449 §8): 400 `use_dpop_nonce` with this
    /// nonce in `DPoP-Nonce`.
    #[error("a DPoP nonce is required")]
    UseDpopNonce {
        /// The nonce the client retries with.
        nonce: String,
    },
    /// No active signing key yet (503).
    #[error("no active signing key")]
    NoSigningKey,
    /// A failure every service answers alike: not found, conflict, validation, refused
    /// bodies, database and internal errors.
    #[error(transparent)]
    Common(#[from] CommonError),
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        Self::Common(rejection.into())
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        Self::Common(error.into())
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(error: anyhow::Error) -> Self {
        Self::Common(error.into())
    }
}

impl From<IssueError> for ApiError {
    fn from(error: IssueError) -> Self {
        let code = match error {
            IssueError::NoSigningKey => return Self::NoSigningKey,
            IssueError::Database(error) => return error.into(),
            IssueError::Internal(error) => return error.into(),
            IssueError::UnknownRefreshToken
            | IssueError::RefreshTokenReused
            | IssueError::RefreshTokenJustUsed
            | IssueError::RefreshTokenExpired
            | IssueError::SessionEnded
            | IssueError::ForeignRefreshToken => OAuthCode::InvalidGrant,
            IssueError::WrongDpopKey | IssueError::DpopRequired(_) => OAuthCode::InvalidDpopProof,
            IssueError::ScopeNotAllowed { .. } => OAuthCode::InvalidScope,
            IssueError::AudienceNotAllowed { .. } => OAuthCode::InvalidTarget,
        };
        Self::oauth(code, error.to_string())
    }
}

impl From<FeedError> for ApiError {
    fn from(error: FeedError) -> Self {
        match error {
            FeedError::NoSigningKey => Self::NoSigningKey,
            FeedError::Database(error) => error.into(),
            FeedError::Internal(error) => error.into(),
        }
    }
}

impl From<HashError> for ApiError {
    fn from(error: HashError) -> Self {
        match error {
            HashError::Busy => Self::HasherBusy,
            HashError::Failed(error) => error.into(),
        }
    }
}

impl From<RotationError> for ApiError {
    fn from(error: RotationError) -> Self {
        match error {
            RotationError::Conflict => CommonError::conflict("conflict", error.to_string()).into(),
            RotationError::Failed(error) => error.into(),
        }
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

    /// No such resource, or not the caller's (404).
    #[must_use]
    pub fn not_found(description: &'static str) -> Self {
        Self::Common(CommonError::NotFound(description))
    }

    /// A unique constraint (409 `conflict`).
    pub fn conflict(description: impl Into<String>) -> Self {
        Self::Common(CommonError::conflict("conflict", description))
    }

    /// Well-formed JSON with invalid values (422), every bad field named.
    #[must_use]
    pub fn validation(details: Vec<FieldError>) -> Self {
        Self::Common(CommonError::Validation(details))
    }

    /// One invalid field (422).
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, message)])
    }
}

/// `pub type Result<T> = Result<T, ApiError>` for handlers.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Seconds a client is told to wait while no signing key is available.
const NO_SIGNING_KEY_RETRY_AFTER_SECS: u32 = 5;
/// Seconds a client is told to wait while password hashing is at capacity: a burst drains
/// within a few hash times.
const HASHER_BUSY_RETRY_AFTER_SECS: u32 = 1;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::InvalidCredentials => {
                let mut response =
                    error_response(StatusCode::UNAUTHORIZED, "invalid_credentials", "the email or password is wrong");
                challenge(&mut response, &login_challenge());
                response
            }
            Self::Throttled { what, retry_after_secs } => {
                let mut response = error_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    format!("too many {what}; retry in {retry_after_secs} s"),
                );
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                response
            }
            Self::HasherBusy => {
                // A warning, not an error: the service protects its memory as designed.
                tracing::warn!("password hashing at capacity, answering 503");
                unavailable_response(
                    "too many passwords are being checked at once; retry shortly",
                    HASHER_BUSY_RETRY_AFTER_SECS,
                )
            }
            Self::SessionEnded => invalid_token("the session of this token has ended", "session ended"),
            Self::TokenRevoked => invalid_token("the token has been revoked", "token revoked"),
            Self::Forbidden(message) => {
                // RFC 6750 §3.1: a valid token without the privileges the endpoint needs.
                let mut response = error_response(StatusCode::FORBIDDEN, "insufficient_scope", message);
                challenge(&mut response, &format!(r#"Bearer realm="{SERVICE_NAME}", error="insufficient_scope""#));
                response
            }
            Self::Auth(error) => {
                log_if_server_error(&error, error.status());
                error.to_response(Some(SERVICE_NAME))
            }
            Self::AuthRejected(rejection) => {
                log_if_server_error(&rejection.error, rejection.error.status());
                rejection.into_response()
            }
            Self::OAuth { code, description } => {
                let status =
                    if code == OAuthCode::InvalidClient { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST };
                let mut response = ErrorBody::new(code.as_str(), description).into_response_with(status);
                if code == OAuthCode::InvalidClient {
                    challenge(&mut response, &basic_challenge());
                }
                response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
                response
            }
            Self::UseDpopNonce { nonce } => {
                let mut response =
                    ErrorBody::new("use_dpop_nonce", "a DPoP nonce is required: retry with the one in DPoP-Nonce")
                        .into_response_with(StatusCode::BAD_REQUEST);
                if let Ok(value) = HeaderValue::from_str(&nonce) {
                    response.headers_mut().insert(jwt_verifier::dpop::DPOP_NONCE_HEADER, value);
                }
                response
            }
            Self::NoSigningKey => {
                tracing::error!("no active signing key: cannot issue tokens");
                unavailable_response("no signing key is available yet; retry shortly", NO_SIGNING_KEY_RETRY_AFTER_SECS)
            }
            Self::Common(error) => error.into_response(),
        }
    }
}

/// 401 `invalid_token` for a token that verifies but may no longer be used, with the RFC 6750
/// challenge carrying the `short` description.
fn invalid_token(description: &str, short: &str) -> Response {
    let mut response = error_response(StatusCode::UNAUTHORIZED, "invalid_token", description);
    challenge(
        &mut response,
        &format!(r#"Bearer realm="{SERVICE_NAME}", error="invalid_token", error_description="{short}""#),
    );
    response
}

/// The challenge of a refused login.
///
/// A login is not HTTP authentication, so no registered scheme applies; RFC 9110 §11.6.1 still
/// asks every 401 for one, and this names where to authenticate instead (not `Basic`, which
/// would make browsers prompt for a password).
pub(super) fn login_challenge() -> String {
    format!(r#"Login realm="{SERVICE_NAME}", login_uri="/v1/login""#)
}

/// The challenge of `invalid_client` (RFC 6749 §5.2: the scheme the client tried, here the
/// only one offered).
pub(super) fn basic_challenge() -> String {
    format!(r#"Basic realm="{SERVICE_NAME}", charset="UTF-8""#)
}

/// Sets the `WWW-Authenticate` challenge of a 401.
fn challenge(response: &mut Response, challenge: &str) {
    match HeaderValue::from_str(challenge) {
        Ok(value) => {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        Err(error) => tracing::error!(%error, challenge, "invalid WWW-Authenticate challenge"),
    }
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
            ApiError::from(sqlx::Error::PoolTimedOut),
            ApiError::from(anyhow::Error::new(sqlx::Error::PoolTimedOut).context("cannot open the session")),
        ] {
            let response = error.into_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert!(response.headers().contains_key(header::RETRY_AFTER));
        }
        let query_failure = ApiError::from(sqlx::Error::RowNotFound).into_response();
        assert_eq!(query_failure.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn challenges_name_this_service_as_realm() {
        let session_ended = ApiError::SessionEnded.into_response();
        assert_eq!(
            session_ended.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer realm="auth-service", error="invalid_token", error_description="session ended""#
        );
        let invalid_client = ApiError::oauth(OAuthCode::InvalidClient, "no").into_response();
        assert_eq!(invalid_client.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            invalid_client.headers()[header::WWW_AUTHENTICATE],
            r#"Basic realm="auth-service", charset="UTF-8""#
        );
    }

    #[test]
    fn domain_errors_map_to_oauth_codes_and_statuses() {
        let reused = ApiError::from(IssueError::RefreshTokenReused);
        assert!(matches!(&reused, ApiError::OAuth { code: OAuthCode::InvalidGrant, description }
            if description == "the refresh token was already used; the session has been ended"));
        let scope = ApiError::from(IssueError::ScopeNotAllowed { scope: "admin".into(), client: "c".into() });
        assert!(matches!(&scope, ApiError::OAuth { code: OAuthCode::InvalidScope, description }
            if description == "scope `admin` is not allowed for client `c`"));
        let busy = ApiError::from(HashError::Busy).into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "1");
        let no_key = ApiError::from(IssueError::NoSigningKey).into_response();
        assert_eq!(no_key.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(no_key.headers()[header::RETRY_AFTER], "5");
        assert_eq!(ApiError::from(RotationError::Conflict).into_response().status(), StatusCode::CONFLICT);
        assert_eq!(
            ApiError::from(IssueError::Database(sqlx::Error::PoolTimedOut)).into_response().status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
