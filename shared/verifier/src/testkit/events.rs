//! Security Event Tokens (RFC 8417) as an issuer writes them for the revocation feed.
//!
//! The claims of the two events the verifier understands, and their header, so tests can
//! sign good SETs, forged ones (another key, another `typ`, another issuer) and replays.

use serde_json::{Value, json};

use super::TestKey;
use crate::revocation::{SESSION_REVOKED_EVENT, SET_TYPE, TOKEN_REVOKED_EVENT};

/// `{"alg":"RS256","kid":<key's kid>,"typ":"secevent+jwt"}`.
#[must_use]
pub fn set_header(key: &TestKey) -> Value {
    json!({"alg": "RS256", "kid": key.kid(), "typ": SET_TYPE})
}

/// The claims of a CAEP session-revoked SET for session `sid` of `user`, issued at `iat`.
#[must_use]
pub fn session_revoked_claims(issuer: &str, user: &str, sid: &str, iat: i64, relevant_until: i64) -> Value {
    json!({
        "iss": issuer,
        "jti": uuid::Uuid::new_v4().to_string(),
        "iat": iat,
        "txn": uuid::Uuid::new_v4().to_string(),
        "sub_id": {
            "format": "complex",
            "user": {"format": "opaque", "id": user},
            "session": {"format": "opaque", "id": sid},
        },
        "events": {
            SESSION_REVOKED_EVENT: {
                "event_timestamp": iat,
                "initiating_entity": "user",
                "reason_admin": {"en": "logout"},
            },
        },
        "relevant_until": relevant_until,
    })
}

/// The claims of a token-revoked SET for the access token `jti`, issued at `iat`.
#[must_use]
pub fn token_revoked_claims(issuer: &str, jti: &str, iat: i64, relevant_until: i64) -> Value {
    json!({
        "iss": issuer,
        "jti": uuid::Uuid::new_v4().to_string(),
        "iat": iat,
        "txn": uuid::Uuid::new_v4().to_string(),
        "sub_id": {"format": "opaque", "id": jti},
        "events": {
            TOKEN_REVOKED_EVENT: {"event_timestamp": iat, "initiating_entity": "user"},
        },
        "relevant_until": relevant_until,
    })
}

impl TestKey {
    /// Signs `claims` as a SET (header [`set_header`]).
    #[must_use]
    pub fn sign_set(&self, claims: &Value) -> String {
        self.sign(&set_header(self), claims)
    }
}
