//! [`AuthRejection`]: what the axum extractors reject with, an [`AuthError`] and the realm
//! its challenge names.

use std::{fmt, sync::Arc};

#[cfg(feature = "axum")]
use axum::response::{IntoResponse, Response};

use super::AuthError;

/// The rejection of the axum extractors: an [`AuthError`] plus the realm (the verifier's
/// audience) for the `WWW-Authenticate` challenge.
#[derive(Debug, Clone)]
pub struct AuthRejection {
    /// What went wrong.
    pub error: AuthError,
    /// The protection space named in the challenge.
    pub realm: Arc<str>,
    /// The RFC 9728 metadata URL the challenge points at, when the resource has one.
    pub resource_metadata: Option<Arc<str>>,
    /// The request used the `DPoP` scheme: the challenge answers in it.
    pub dpop_scheme: bool,
}

impl AuthRejection {
    /// A rejection whose challenge uses the `Bearer` scheme.
    #[must_use]
    pub fn new(error: AuthError, realm: &Arc<str>) -> Self {
        Self { error, realm: Arc::clone(realm), resource_metadata: None, dpop_scheme: false }
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for AuthRejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<AuthRejection> for AuthError {
    fn from(rejection: AuthRejection) -> Self {
        rejection.error
    }
}

#[cfg(feature = "axum")]
impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        if let AuthError::KeysUnavailable { .. } = self.error {
            // The key cache already warned once about the issuer; one line per request here
            // would flood the log for the length of the outage.
            tracing::debug!(auth.reason = self.error.reason(), "rejecting request: issuer keys unavailable");
        }
        self.error.to_response_for(Some(&self.realm), self.resource_metadata.as_deref(), self.dpop_scheme)
    }
}
