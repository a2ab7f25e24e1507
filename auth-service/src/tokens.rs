//! Token formats: RFC 9068 access tokens (signed JWTs) and opaque refresh tokens.
//!
//! Access tokens carry no personal data: `sub` is a random user id, never an email. Refresh
//! tokens are 256 random bits; only their SHA-256 is stored (a slow hash buys nothing for a
//! secret with that much entropy, and lookups stay an index probe).

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::keys::signing::SigningKey;

/// Lifetimes and contents of the tokens this service issues.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// `AUTH_ACCESS_TOKEN_TTL` (default 10m).
    pub access_token_ttl: Duration,
    /// `AUTH_REFRESH_TOKEN_TTL` (default 14d): how long an unused refresh token stays valid; each
    /// refresh issues a new one, so this is the session's idle timeout.
    pub refresh_token_ttl: Duration,
    /// `AUTH_SESSION_TTL` (default 30d): absolute session lifetime, whatever the activity.
    pub session_ttl: Duration,
    /// `AUTH_USER_CLIENT_ID` (default `web`): `client_id` of tokens issued through login.
    pub user_client_id: String,
    /// `AUTH_USER_AUDIENCES` (default `auth-service orders-service notifications-service`).
    pub user_audiences: Vec<String>,
    /// `AUTH_USER_SCOPES` (default `orders:read orders:write notifications:read`).
    pub user_scopes: Vec<String>,
    /// `AUTH_ADMIN_SCOPES` (default `auth:admin`): added for administrators (accounts
    /// provisioned with `auth-service create-admin`, never self-registered ones).
    pub admin_scopes: Vec<String>,
    /// `AUTH_REFRESH_REUSE_GRACE` (default 2s, `0s` turns it off): a second use of a refresh
    /// token this soon after the first is a concurrent refresh (two tabs sharing one cookie),
    /// refused without ending the session; later, it is a replay and ends the session.
    pub refresh_reuse_grace: Duration,
    /// `AUTH_USER_DPOP` (`optional`, the default, or `required`): whether a login must carry
    /// a DPoP proof, so that every user token is sender-constrained.
    pub user_dpop: crate::clients::DpopPolicy,
}

/// What an access token says, apart from the dates and ids minting fills in.
#[derive(Debug, Clone, Copy)]
pub struct AccessTokenSpec<'a> {
    /// `iss`.
    pub issuer: &'a str,
    /// `sub`: a user id, or the client id for service tokens.
    pub subject: &'a str,
    /// `client_id`.
    pub client_id: &'a str,
    /// `aud`: the services the token is meant for.
    pub audience: &'a [String],
    /// `scope`, space separated.
    pub scope: &'a str,
    /// `sid`, for user sessions.
    pub session_id: Option<&'a str>,
    /// `role`, for users (`user` or `admin`).
    pub role: Option<&'a str>,
    /// Lifetime (`exp - iat`).
    pub ttl: Duration,
    /// `cnf.jkt`: the thumbprint of the client's DPoP key, for a sender-constrained token.
    pub dpop_jkt: Option<&'a str>,
}

#[derive(Serialize)]
struct Confirmation<'a> {
    jkt: &'a str,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a [String],
    exp: i64,
    iat: i64,
    jti: String,
    client_id: &'a str,
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'a str>,
}

/// Mints an access token signed by `key`, issued at `now` (Unix seconds).
///
/// # Errors
/// Serialisation or signing failures (neither happens with valid inputs).
pub fn mint_access_token(key: &SigningKey, spec: &AccessTokenSpec<'_>, now: i64) -> anyhow::Result<String> {
    let ttl = i64::try_from(spec.ttl.as_secs()).unwrap_or(i64::MAX / 2);
    let claims = Claims {
        iss: spec.issuer,
        sub: spec.subject,
        aud: spec.audience,
        exp: now.saturating_add(ttl),
        iat: now,
        jti: uuid::Uuid::new_v4().to_string(),
        client_id: spec.client_id,
        scope: spec.scope,
        sid: spec.session_id,
        role: spec.role,
        cnf: spec.dpop_jkt.map(|jkt| Confirmation { jkt }),
    };
    key.sign_claims(&serde_json::to_vec(&claims)?)
}

/// Current time in Unix seconds.
#[must_use]
pub fn now_secs() -> i64 {
    service_kit::db::now_millis() / 1000
}

/// A new refresh token (256 random bits, base64url) and the hash to store.
#[must_use]
pub fn new_refresh_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_refresh_token(&token);
    (token, hash)
}

/// The stored form of a refresh token.
#[must_use]
pub fn hash_refresh_token(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

/// `true` when `token` has the shape of our refresh tokens (43 base64url characters), so
/// revocation and introspection can tell them from JWTs without a database lookup.
#[must_use]
pub fn looks_like_refresh_token(token: &str) -> bool {
    token.len() == 43 && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_long_random_and_stored_hashed() {
        let (token, hash) = new_refresh_token();
        let (other, _) = new_refresh_token();
        assert_ne!(token, other);
        assert!(looks_like_refresh_token(&token));
        assert_eq!(URL_SAFE_NO_PAD.decode(&token).unwrap().len(), 32);
        assert_eq!(hash, hash_refresh_token(&token));
        assert_ne!(hash, token);
        assert!(!looks_like_refresh_token("a.b.c"));
    }

    #[test]
    fn access_tokens_carry_rfc_9068_claims_and_no_email() {
        let key = SigningKey::from_pkcs8(&crate::keys::signing::generate_pkcs8(2048).unwrap()).unwrap();
        let audience = ["orders-service".to_owned()];
        let spec = AccessTokenSpec {
            issuer: "http://issuer",
            subject: "user-1",
            client_id: "web",
            audience: &audience,
            scope: "orders:read",
            session_id: Some("s-1"),
            role: Some("user"),
            ttl: Duration::from_secs(600),
            dpop_jkt: None,
        };
        let token = mint_access_token(&key, &spec, 1_000).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(claims["iss"], "http://issuer");
        assert_eq!(claims["aud"], serde_json::json!(["orders-service"]));
        assert_eq!(claims["exp"], 1_600);
        assert_eq!(claims["iat"], 1_000);
        assert_eq!(claims["sid"], "s-1");
        assert!(claims["jti"].as_str().is_some_and(|j| j.len() == 36));
        let service = AccessTokenSpec { session_id: None, role: None, ..spec };
        let token = mint_access_token(&key, &service, 1_000).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert!(claims.get("sid").is_none() && claims.get("role").is_none());
        assert!(claims.get("cnf").is_none(), "unbound without a DPoP key");
        let bound = AccessTokenSpec { dpop_jkt: Some("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"), ..service };
        let token = mint_access_token(&key, &bound, 1_000).unwrap();
        let payload = token.split('.').nth(1).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert_eq!(claims["cnf"], serde_json::json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}));
    }
}
