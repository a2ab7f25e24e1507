//! Login and server-side sessions: `POST /v1/login`, `GET /v1/sessions`,
//! `DELETE /v1/sessions` (log out everywhere), `DELETE /v1/sessions/{id}`, `POST /v1/logout`.
//!
//! Ending a session goes through [`crate::revocation`], which commits the change with its
//! security event, so the 204 is only sent once verifiers can learn of it.
//!
//! Login failures are counted per account and per client address in the database, so every
//! replica enforces the same limits; past a limit the answer is 429 with `Retry-After`, even
//! for the right password, until the window ends. Unknown emails and wrong passwords get the
//! same 401 body after the same argon2 work.

use std::net::IpAddr;

use axum::{
    Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jwt_verifier::{Authenticated, Caller};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use service_kit::{
    db::now_millis,
    http::{error::FieldError, json::AppJson},
};
use sha2::{Digest, Sha256};

use super::{
    ClientAddr, clear_session_cookies,
    error::{ApiError, Result},
    no_store, rfc3339, session_cookies,
};
use crate::{
    db::{self, SessionRow},
    domain::SessionId,
    events::{self, SessionEnd},
    issuer::{self, TokenResponse},
    revocation,
    state::AppState,
};

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/login", post(login))
        .route("/v1/sessions", get(list_sessions).delete(delete_all_sessions))
        .route("/v1/sessions/{id}", delete(delete_session))
        .route("/v1/logout", post(logout))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    email: String,
    password: String,
}

/// Longest `User-Agent` kept with a session.
const MAX_USER_AGENT_CHARS: usize = 256;

/// Throttle bucket of an account: a hash, so the table holds no email addresses.
fn account_bucket(normalised_email: &str) -> String {
    format!("account:{}", URL_SAFE_NO_PAD.encode(Sha256::digest(normalised_email.as_bytes())))
}

/// Throttle bucket of an address. IPv6 clients are grouped by /64, the block one subscriber
/// usually gets, so rotating through addresses in one's own block does not reset the count.
fn address_bucket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("address:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("address:{v4}"),
            None => {
                let s = v6.segments();
                format!("address:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Checks the password and opens a session: 200 with tokens (and the `__Host-` cookies),
/// 401 for any wrong credential, 429 past the failure limits.
async fn login(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    AppJson(body): AppJson<LoginRequest>,
) -> Result<Response> {
    let mut missing = Vec::new();
    if body.email.trim().is_empty() {
        missing.push(FieldError::new("email", "must not be empty"));
    }
    if body.password.is_empty() {
        missing.push(FieldError::new("password", "must not be empty"));
    }
    if !missing.is_empty() {
        return Err(ApiError::validation(missing));
    }
    // Normalised like registration, but not validated: a malformed address simply matches no
    // account and gets the same 401 as any other.
    let email = body.email.trim().to_ascii_lowercase();
    let login = &state.settings.login;
    let window_ms = i64::try_from(login.failure_window.as_millis()).unwrap_or(i64::MAX / 4);
    let account = account_bucket(&email);
    let address = address.map(address_bucket);
    let mut buckets = vec![(account.as_str(), login.max_failures_per_account)];
    if let Some(address) = &address {
        buckets.push((address.as_str(), login.max_failures_per_address));
    }

    let now = now_millis();
    if let Some((index, retry_after_secs)) = db::throttled_for(&state.db, &buckets, now, window_ms).await? {
        let scope = if index == 0 { "account" } else { "address" };
        metrics::counter!("auth_login_throttled_total", "scope" => scope).increment(1);
        tracing::info!(throttle.scope = scope, retry_after_secs, "login refused: too many failures");
        return Err(ApiError::Throttled { retry_after_secs });
    }

    let user = db::find_user_by_email(&state.db, &email).await?;
    let stored_hash = user.as_ref().map(|u| u.password_hash.clone());
    let verified = state.passwords.verify(SecretString::from(body.password), stored_hash).await?;
    let Some(user) = user.filter(|_| verified) else {
        for (bucket, _) in &buckets {
            db::record_login_failure(&state.db, bucket, now, window_ms).await?;
        }
        let reason = if verified { "unknown_account" } else { "invalid_credentials" };
        metrics::counter!("auth_login_failures_total", "reason" => reason).increment(1);
        tracing::info!("login failed");
        return Err(ApiError::InvalidCredentials);
    };
    db::clear_login_failures(&state.db, &account).await?;

    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect::<String>());
    let tokens = issuer::open_session(&state, &user, user_agent).await?;
    Ok(token_response(&state, &tokens))
}

/// The token response (`Cache-Control: no-store`), with the `__Host-` session cookies when
/// it carries a refresh token.
pub(super) fn token_response(state: &AppState, tokens: &TokenResponse) -> Response {
    let mut response = AppJson(tokens).into_response();
    if let Some(refresh_token) = &tokens.refresh_token {
        session_cookies(
            response.headers_mut(),
            refresh_token,
            state.settings.tokens.refresh_token_ttl.as_secs(),
            &tokens.access_token,
            tokens.expires_in,
        );
    }
    no_store(response.headers_mut());
    response
}

/// The session the caller's token belongs to, which must still be active, and the token not
/// revoked: verifiers elsewhere learn of both from the feed, this service reads its database.
pub(super) async fn current_session(state: &AppState, caller: &Caller) -> Result<SessionRow> {
    let Some(session_id) = caller.session_id.as_deref() else {
        return Err(ApiError::Forbidden("this endpoint needs a user session token, not a service token"));
    };
    if events::store::is_token_revoked(&state.db, &caller.token_id).await? {
        return Err(ApiError::TokenRevoked);
    }
    match db::find_session(&state.db, session_id).await? {
        Some(session) if session.user_id == caller.subject && session.is_active(now_millis()) => Ok(session),
        _ => Err(ApiError::SessionEnded),
    }
}

#[derive(Serialize)]
struct SessionView {
    id: String,
    client_id: String,
    created_at: String,
    last_seen_at: String,
    expires_at: String,
    user_agent: Option<String>,
    current: bool,
}

#[derive(Serialize)]
struct SessionList {
    sessions: Vec<SessionView>,
}

/// The caller's active sessions, most recently used first; `current` marks the one the
/// token belongs to.
async fn list_sessions(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<AppJson<SessionList>> {
    let current = current_session(&state, &caller).await?;
    let rows = db::active_sessions(&state.db, &caller.subject, now_millis()).await?;
    let sessions = rows
        .into_iter()
        .map(|s| SessionView {
            current: s.id == current.id,
            created_at: rfc3339(s.created_at),
            last_seen_at: rfc3339(s.last_seen_at),
            expires_at: rfc3339(s.expires_at),
            id: s.id,
            client_id: s.client_id,
            user_agent: s.user_agent,
        })
        .collect();
    Ok(AppJson(SessionList { sessions }))
}

/// Ends one of the caller's sessions: 204, or 404 when it is not theirs or already over.
async fn delete_session(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Response> {
    let current = current_session(&state, &caller).await?;
    let not_found = || ApiError::not_found("no such session");
    let id = SessionId::parse(&id).map_err(|_| not_found())?.to_string();
    if !revocation::end_session(&state, &id, Some(&caller.subject), SessionEnd::Deleted).await? {
        return Err(not_found());
    }
    tracing::info!(user.id = %caller.subject, session.id = %id, "session ended by its user");
    let mut response = StatusCode::NO_CONTENT.into_response();
    if id == current.id {
        clear_session_cookies(response.headers_mut());
    }
    Ok(response)
}

/// Ends the session of the caller's token and clears the cookies: 204.
async fn logout(State(state): State<AppState>, Authenticated(caller): Authenticated) -> Result<Response> {
    let current = current_session(&state, &caller).await?;
    // A concurrent end (another logout, a revocation) has written its own event; either way
    // the session is over.
    revocation::end_session(&state, &current.id, Some(&caller.subject), SessionEnd::Logout).await?;
    tracing::info!(user.id = %caller.subject, session.id = %current.id, "logged out");
    let mut response = StatusCode::NO_CONTENT.into_response();
    clear_session_cookies(response.headers_mut());
    Ok(response)
}

/// Log out everywhere: ends every session of the caller, the current one included, with one
/// security event per session; 204 and the cookies cleared.
async fn delete_all_sessions(State(state): State<AppState>, Authenticated(caller): Authenticated) -> Result<Response> {
    current_session(&state, &caller).await?;
    let ended = revocation::end_user_sessions(&state, &caller.subject, SessionEnd::LogOutEverywhere).await?;
    tracing::info!(user.id = %caller.subject, sessions = ended.len(), "logged out everywhere");
    let mut response = StatusCode::NO_CONTENT.into_response();
    clear_session_cookies(response.headers_mut());
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_share_their_slash_64() {
        let a = address_bucket("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = address_bucket("2001:db8:1:2:bbbb::2".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, address_bucket("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(address_bucket("::ffff:10.0.0.1".parse().unwrap()), "address:10.0.0.1");
    }

    #[test]
    fn account_buckets_hold_no_email() {
        let bucket = account_bucket("ann@example.com");
        assert!(bucket.starts_with("account:") && !bucket.contains("ann"));
    }
}
