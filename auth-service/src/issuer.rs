//! Issuing tokens: opening sessions at login, rotating refresh tokens, client credentials.
//!
//! The HTTP handlers parse and authenticate; this module decides what a token contains and
//! keeps the session and refresh-token tables consistent with what was issued.

use std::time::Duration;

use serde::Serialize;
use service_kit::db::now_millis;

use crate::{
    clients::{DpopPolicy, ServiceClient},
    db::{self, RefreshRotation, SessionRow, UserRow},
    domain::SessionId,
    events::SessionEnd,
    revocation,
    state::AppState,
    tokens::{self, AccessTokenSpec},
};

/// Why no token was issued. The messages are fit for an OAuth `error_description`.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// This replica has no active signing key yet.
    #[error("no active signing key")]
    NoSigningKey,
    /// The refresh token is malformed or was never issued.
    #[error("the refresh token is invalid")]
    UnknownRefreshToken,
    /// The refresh token was already spent; its session has been ended.
    #[error("the refresh token was already used; the session has been ended")]
    RefreshTokenReused,
    /// The refresh token was spent moments ago by a concurrent request of the same client.
    #[error("the refresh token was just used by a concurrent request; use its successor")]
    RefreshTokenJustUsed,
    /// The refresh token is past its own expiry.
    #[error("the refresh token has expired")]
    RefreshTokenExpired,
    /// The refresh token's session (or its user) is gone.
    #[error("the session has ended")]
    SessionEnded,
    /// The refresh token was issued to another client.
    #[error("the refresh token was not issued to this client")]
    ForeignRefreshToken,
    /// The refresh token's session is bound to a DPoP key and the request proved another
    /// key, or none.
    #[error("the refresh token is bound to a DPoP key: send a DPoP proof signed with that key")]
    WrongDpopKey,
    /// The client must bind its tokens (DPoP required) and sent no proof.
    #[error("client `{0}` must send a DPoP proof")]
    DpopRequired(String),
    /// A requested scope is outside the client's registration.
    #[error("scope `{scope}` is not allowed for client `{client}`")]
    ScopeNotAllowed {
        /// The first scope not allowed (at most 64 characters).
        scope: String,
        /// The client id.
        client: String,
    },
    /// A requested audience is outside the client's registration.
    #[error("audience `{audience}` is not allowed for client `{client}`")]
    AudienceNotAllowed {
        /// The first audience not allowed (at most 64 characters).
        audience: String,
        /// The client id.
        client: String,
    },
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Minting failed unexpectedly.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The token response of RFC 6749 §5.1 (also the body of `POST /v1/login`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
// Without effect on serialising; the document reads it as `additionalProperties: false`, which
// keeps the login answer's two shapes apart (`http::sessions::TokenBody`).
#[serde(deny_unknown_fields)]
pub struct TokenResponse {
    /// The RFC 9068 JWT.
    pub access_token: String,
    /// `DPoP` for a token bound to the client's key (RFC 9449 §5), else `Bearer`.
    #[schema(value_type = String, example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The new refresh token (user sessions only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The granted scope.
    pub scope: String,
}

/// The `token_type` of a token (RFC 9449 §5): `DPoP` when it is bound to a key.
#[must_use]
pub fn token_type(bound: bool) -> &'static str {
    if bound { "DPoP" } else { "Bearer" }
}

/// Labels of `auth_tokens_issued_total`.
#[derive(Debug, Clone, Copy)]
pub enum Grant {
    /// `POST /v1/login`.
    Login,
    /// `grant_type=refresh_token`.
    RefreshToken,
    /// `grant_type=client_credentials`.
    ClientCredentials,
}

impl Grant {
    fn label(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }
}

/// Role and scope of a user's tokens: provisioned administrators get the admin scopes too.
fn role_and_scope(state: &AppState, user: &UserRow) -> (&'static str, String) {
    let tokens = &state.settings.tokens;
    if user.role == db::ROLE_ADMIN {
        let scopes: Vec<&str> =
            tokens.user_scopes.iter().chain(tokens.admin_scopes.iter()).map(String::as_str).collect();
        (db::ROLE_ADMIN, scopes.join(" "))
    } else {
        (db::ROLE_USER, tokens.user_scopes.join(" "))
    }
}

/// Mints the access token of `spec` and wraps it in the token response.
fn issue(
    state: &AppState,
    spec: &AccessTokenSpec<'_>,
    grant: Grant,
    refresh_token: Option<String>,
) -> Result<TokenResponse, IssueError> {
    let key = state.keys.signer().ok_or(IssueError::NoSigningKey)?;
    let access_token = tokens::mint_access_token(&key, spec, tokens::now_secs())?;
    metrics::counter!("auth_tokens_issued_total", "grant_type" => grant.label()).increment(1);
    Ok(TokenResponse {
        access_token,
        token_type: token_type(spec.dpop_jkt.is_some()),
        expires_in: spec.ttl.as_secs(),
        refresh_token,
        scope: spec.scope.to_owned(),
    })
}

fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 4)
}

fn user_tokens(
    state: &AppState,
    user: &UserRow,
    session_id: &str,
    refresh_token: String,
    grant: Grant,
    dpop_jkt: Option<&str>,
) -> Result<TokenResponse, IssueError> {
    let settings = &state.settings;
    let (role, scope) = role_and_scope(state, user);
    let spec = AccessTokenSpec {
        issuer: &settings.issuer,
        subject: &user.id,
        client_id: &settings.tokens.user_client_id,
        audience: &settings.tokens.user_audiences,
        scope: &scope,
        session_id: Some(session_id),
        role: Some(role),
        ttl: settings.tokens.access_token_ttl,
        dpop_jkt,
    };
    issue(state, &spec, grant, Some(refresh_token))
}

/// Opens a session for `user` (after a successful login) and issues its first tokens.
///
/// With `dpop_jkt` (the login carried a valid DPoP proof) the access token and every
/// refresh token of the session are bound to that key.
///
/// # Errors
/// Database failures, or no signing key.
pub async fn open_session(
    state: &AppState,
    user: &UserRow,
    user_agent: Option<String>,
    dpop_jkt: Option<String>,
) -> Result<TokenResponse, IssueError> {
    // Fail before writing anything when this replica cannot sign.
    state.keys.signer().ok_or(IssueError::NoSigningKey)?;
    let tokens_settings = &state.settings.tokens;
    let now = now_millis();
    let session = SessionRow {
        id: SessionId::new().to_string(),
        user_id: user.id.clone(),
        client_id: tokens_settings.user_client_id.clone(),
        created_at: now,
        last_seen_at: now,
        expires_at: now.saturating_add(ms(tokens_settings.session_ttl)),
        user_agent,
        ended_at: None,
        dpop_jkt,
    };
    let (refresh_token, refresh_hash) = tokens::new_refresh_token();
    let refresh_expires = now.saturating_add(ms(tokens_settings.refresh_token_ttl)).min(session.expires_at);
    db::create_session(&state.db, &session, &refresh_hash, refresh_expires).await?;
    tracing::info!(user.id = %user.id, session.id = %session.id, "session opened");
    user_tokens(state, user, &session.id, refresh_token, Grant::Login, session.dpop_jkt.as_deref())
}

/// `grant_type=refresh_token`: spends `presented` and issues a new refresh and access token.
///
/// The checks (client, expiry, session), the spending and the successor are one transaction
/// ([`db::rotate_refresh_token`]); the access token is minted after it committed, so it never
/// exists for a rotation that did not happen. Presenting a token that was already spent
/// ends its whole session (OAuth 2.0 Security BCP §4.14): either the client or an attacker
/// holds a copy, and the server cannot tell which. Within `AUTH_REFRESH_REUSE_GRACE` of the
/// first use it is refused without that alarm: two tabs sharing one cookie refresh together,
/// and the loser finds the winner's successor in the cookie jar.
///
/// A session bound to a DPoP key spends its refresh token only when `dpop_jkt`, the key the
/// request proved, is that key; a proof on an unbound session binds the session to its key
/// from then on, and the access token too. With `AUTH_USER_DPOP=required` a refresh without
/// a proof is refused, so sessions opened before the switch become bound or end.
///
/// # Errors
/// Unknown, expired, reused or foreign refresh tokens, the wrong DPoP key, and ended
/// sessions; database failures.
pub async fn refresh(
    state: &AppState,
    presented: &str,
    client_id: Option<&str>,
    dpop_jkt: Option<&str>,
) -> Result<TokenResponse, IssueError> {
    if !tokens::looks_like_refresh_token(presented) {
        return Err(IssueError::UnknownRefreshToken);
    }
    if dpop_jkt.is_none() && state.settings.tokens.user_dpop == DpopPolicy::Required {
        return Err(IssueError::DpopRequired(state.settings.tokens.user_client_id.clone()));
    }
    // Fail before spending anything when this replica cannot sign.
    state.keys.signer().ok_or(IssueError::NoSigningKey)?;
    let settings = &state.settings.tokens;
    let (refresh_token, refresh_hash) = tokens::new_refresh_token();
    let successor = db::Successor { hash: &refresh_hash, dpop_jkt, ttl_ms: ms(settings.refresh_token_ttl) };
    let presented_hash = tokens::hash_refresh_token(presented);
    let grace_ms = ms(settings.refresh_reuse_grace);
    let session = match db::rotate_refresh_token(
        &state.db,
        &presented_hash,
        client_id,
        successor,
        now_millis(),
        grace_ms,
    )
    .await?
    {
        RefreshRotation::Rotated { session } => session,
        RefreshRotation::Unknown => return Err(IssueError::UnknownRefreshToken),
        RefreshRotation::ForeignClient => return Err(IssueError::ForeignRefreshToken),
        RefreshRotation::WrongDpopKey => return Err(IssueError::WrongDpopKey),
        RefreshRotation::Expired => return Err(IssueError::RefreshTokenExpired),
        RefreshRotation::SessionEnded => return Err(IssueError::SessionEnded),
        RefreshRotation::JustUsed => return Err(IssueError::RefreshTokenJustUsed),
        RefreshRotation::Reused { session_id } => {
            let ended = revocation::end_session(state, &session_id, None, SessionEnd::RefreshTokenReuse).await?;
            metrics::counter!("auth_refresh_token_reuse_total").increment(1);
            tracing::warn!(session.id = %session_id, session_was_active = ended, "refresh token reuse detected; session ended");
            return Err(IssueError::RefreshTokenReused);
        }
    };
    let user = db::find_user(&state.db, &session.user_id).await?.ok_or(IssueError::SessionEnded)?;
    user_tokens(state, &user, &session.id, refresh_token, Grant::RefreshToken, dpop_jkt)
}

/// `grant_type=client_credentials` for an authenticated `client`.
///
/// Scope and audience are the requested subsets of its registration (all of it when not
/// requested); the token is bound to `dpop_jkt` when the request proved a DPoP key.
///
/// # Errors
/// [`IssueError::ScopeNotAllowed`] / [`IssueError::AudienceNotAllowed`] for anything outside
/// the registration, [`IssueError::DpopRequired`] for a client that must bind its tokens and
/// sent no proof; no signing key.
pub fn client_credentials(
    state: &AppState,
    client: &ServiceClient,
    requested_scope: Option<&str>,
    requested_audience: Option<&str>,
    dpop_jkt: Option<&str>,
) -> Result<TokenResponse, IssueError> {
    if dpop_jkt.is_none() && client.dpop == DpopPolicy::Required {
        return Err(IssueError::DpopRequired(client.id.clone()));
    }
    let scopes = subset(requested_scope, &client.scopes)
        .map_err(|scope| IssueError::ScopeNotAllowed { scope, client: client.id.clone() })?;
    let audience = subset(requested_audience, &client.audiences)
        .map_err(|audience| IssueError::AudienceNotAllowed { audience, client: client.id.clone() })?;
    let scope = scopes.join(" ");
    let settings = &state.settings;
    let spec = AccessTokenSpec {
        issuer: &settings.issuer,
        subject: &client.id,
        client_id: &client.id,
        audience: &audience,
        scope: &scope,
        session_id: None,
        role: None,
        ttl: settings.tokens.access_token_ttl,
        dpop_jkt,
    };
    issue(state, &spec, Grant::ClientCredentials, None)
}

/// The space-separated `requested` items, each of which must be in `allowed`; all of
/// `allowed` when nothing was requested. The error is the first item not allowed.
fn subset(requested: Option<&str>, allowed: &[String]) -> Result<Vec<String>, String> {
    let Some(requested) = requested.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(allowed.to_vec());
    };
    let mut granted: Vec<String> = Vec::new();
    for item in requested.split(' ').filter(|s| !s.is_empty()) {
        if !allowed.iter().any(|a| a == item) {
            return Err(item.chars().take(64).collect());
        }
        if !granted.iter().any(|g| g == item) {
            granted.push(item.to_owned());
        }
    }
    Ok(granted)
}

#[cfg(test)]
mod tests {
    use super::subset;

    #[test]
    fn requested_items_must_be_allowed() {
        let allowed = vec!["a:read".to_owned(), "a:write".to_owned()];
        assert_eq!(subset(None, &allowed).unwrap(), allowed);
        assert_eq!(subset(Some("  "), &allowed).unwrap(), allowed);
        assert_eq!(subset(Some("a:write a:write"), &allowed).unwrap(), ["a:write"]);
        assert_eq!(subset(Some("a:read admin"), &allowed).unwrap_err(), "admin");
    }
}
