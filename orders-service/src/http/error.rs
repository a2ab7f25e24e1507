//! The one error type of orders-service's handlers and its mapping to HTTP.
//!
//! What every service answers alike (404, 400/422 naming the field, 413/415, a database
//! outage as 503 with `Retry-After`, an opaque 500 that logs its cause) is the kit's
//! [`CommonError`]; only what is this service's own is a variant here. Authentication failures
//! never get here: `jwt_verifier`'s extractors answer those.

use std::collections::BTreeMap;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use service_kit::http::{
    error::{CommonError, ErrorBody, FieldError},
    openapi::{error_response, single, validation_example},
};
use utoipa::openapi::{RefOr, response::Response as ResponseDoc};

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The `Idempotency-Key` was used before with a different request body: 422.
    #[error("idempotency key reused with a different request")]
    IdempotencyKeyReused,
    /// A failure every service answers alike.
    #[error(transparent)]
    Common(#[from] CommonError),
}

/// Handler result.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// 404 for an order that does not exist or is not the caller's.
pub(crate) const ORDER_NOT_FOUND: CommonError = CommonError::NotFound("no such order");

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

impl ApiError {
    /// The body of [`ApiError::IdempotencyKeyReused`].
    fn idempotency_key_reused_body() -> ErrorBody {
        let mut body = ErrorBody::new(
            "idempotency_key_reused",
            "this Idempotency-Key was already used for a different request; use a new key for a new order",
        );
        body.details
            .push(FieldError::new(crate::domain::idempotency::HEADER, "already used for a different request body"));
        body
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::IdempotencyKeyReused => {
                Self::idempotency_key_reused_body().into_response_with(StatusCode::UNPROCESSABLE_ENTITY)
            }
            Self::Common(error) => error.into_response(),
        }
    }
}

/// OpenAPI: the 422 of `POST /v1/orders`, the kit's validation error or
/// [`ApiError::IdempotencyKeyReused`].
pub(crate) struct OrderRejected;

impl utoipa::IntoResponses for OrderRejected {
    fn responses() -> BTreeMap<String, RefOr<ResponseDoc>> {
        single(
            422,
            error_response(
                "The body is JSON of the wrong shape or breaks a rule (`details` names each field), or the \
                 `Idempotency-Key` was already used with a different body (`idempotency_key_reused`).",
                &[],
                &[validation_example(), ("idempotency_key_reused", ApiError::idempotency_key_reused_body())],
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use http::header;

    use super::*;

    #[test]
    fn statuses_follow_the_variant() {
        assert_eq!(ApiError::from(ORDER_NOT_FOUND).into_response().status(), StatusCode::NOT_FOUND);
        assert_eq!(
            ApiError::from(CommonError::Validation(vec![])).into_response().status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(ApiError::IdempotencyKeyReused.into_response().status(), StatusCode::UNPROCESSABLE_ENTITY);
        let internal = ApiError::from(anyhow::anyhow!("secret detail")).into_response();
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
        let wrapped = anyhow::Error::new(sqlx::Error::PoolTimedOut).context("cannot place the order");
        assert_eq!(ApiError::from(wrapped).into_response().status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
