//! Login and server-side sessions.
//!
//! `POST /v1/login`, `GET /v1/sessions`, `GET /v1/sessions/current` (the session and token a
//! request carried, and where the token came from), `DELETE /v1/sessions` (log out
//! everywhere), `DELETE /v1/sessions/{id}`, `POST /v1/logout`.
//!
//! Ending a session goes through [`crate::revocation`], which commits the change with its
//! security event, so the 204 is only sent once verifiers can learn of it.
//!
//! Login attempts are reserved per client address and per account in the database before the
//! password is checked, one atomic statement per bucket, so the limits hold under any
//! concurrency and on every replica. Past a limit the answer is 429 with `Retry-After`, even
//! for the right password: an address until its window ends, an account until its next
//! progressive delay is over (see the README's login throttling section). A successful login
//! ends the account's streak and gives the address its attempt back. Unknown emails and wrong
//! passwords get the same 401 body after the same argon2 work.

use std::net::IpAddr;

use axum::{
    Extension,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jwt_verifier::{Authenticated, Caller, CallerSlot, TokenSource};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use service_kit::{
    db::now_millis,
    http::{
        error::FieldError,
        json::AppJson,
        openapi::{
            BadRequest, Forbidden, InternalError, NotFound, PayloadTooLarge, Unauthorized, Unavailable,
            UnsupportedMediaType,
        },
    },
};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    ClientAddr, Confirmation, clear_session_cookies, dpop,
    error::{ApiError, OAuthCode, Result},
    no_store,
    openapi::{InvalidCredentials, LoginBadRequest, LoginRejected, TooManyLogins},
    rfc3339, session_cookies,
};
use crate::{
    clients::DpopPolicy,
    db::{self, DelayPolicy, Reservation, SessionRow},
    domain::SessionId,
    events::{self, SessionEnd},
    issuer::{self, TokenResponse},
    passwords::{HashError, LoginSettings},
    revocation,
    state::AppState,
};

/// Tag of the login and session operations.
const TAG: &str = "sessions";

/// Routes of this module, each with its OpenAPI operation.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(list_sessions, delete_all_sessions))
        .routes(routes!(current))
        .routes(routes!(delete_session))
        .routes(routes!(logout))
}

/// The login path: DPoP proofs name it in `htu`.
const LOGIN_PATH: &str = "/v1/login";

/// Body of `POST /v1/login`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "ann@example.com", "password": "correct horse battery", "token_delivery": "body"}))]
struct LoginRequest {
    /// The account's email; any other text simply matches no account.
    #[schema(min_length = 1, pattern = r"\S")]
    email: String,
    #[schema(min_length = 1)]
    password: String,
    /// Where the tokens go; absent: both the body and the cookies.
    #[serde(default)]
    token_delivery: TokenDelivery,
}

/// Where a token response puts the tokens.
///
/// A browser page that keeps its tokens in `HttpOnly` cookies asks for `cookie`, so that no
/// script on the page ever sees them, not even in the login answer; a client that sends
/// `Authorization` asks for `body`, so that no cookie rides along with its requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(super) enum TokenDelivery {
    /// In the body and in `Set-Cookie` (the default, for clients that use either).
    #[default]
    Both,
    /// Only in `Set-Cookie`; the body says how long the access token lives, nothing more.
    Cookie,
    /// Only in the body.
    Body,
}

/// Longest `User-Agent` kept with a session.
const MAX_USER_AGENT_CHARS: usize = 256;

/// Throttle bucket of an account: a hash, so the table holds no email addresses.
fn account_bucket(normalised_email: &str) -> String {
    format!("account:{}", URL_SAFE_NO_PAD.encode(Sha256::digest(normalised_email.as_bytes())))
}

/// The part of a client address throttle buckets are keyed by. IPv6 clients are grouped by
/// /64, the block one subscriber usually gets, so rotating through addresses in one's own
/// block does not reset the count.
pub(super) fn client_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Login throttle bucket of a client address.
fn address_bucket(ip: IpAddr) -> String {
    format!("address:{}", client_key(ip))
}

/// The milliseconds of the throttle window, as the database stores times.
pub(super) fn window_ms(login: &LoginSettings) -> i64 {
    i64::try_from(login.failure_window.as_millis()).unwrap_or(i64::MAX / 4)
}

/// The 429 of a refused login, counted and logged with its `scope`.
fn throttled(scope: &'static str, what: &'static str, retry_after_secs: u64) -> ApiError {
    metrics::counter!("auth_login_throttled_total", "scope" => scope).increment(1);
    tracing::info!(throttle.scope = scope, retry_after_secs, "login refused: too many failures");
    ApiError::Throttled { what, retry_after_secs }
}

/// The attempts one login holds in its throttle buckets, reserved before the password is
/// checked: the check runs only for attempts the limits allow, however many race.
struct LoginAttempt {
    /// The account bucket and the anchor its reservation left.
    account: (String, i64),
    /// The address bucket, when the client address is known.
    address: Option<(String, i64)>,
}

impl LoginAttempt {
    /// Reserves the address, then the account. An attempt the account refuses still counts
    /// for the address: polling for an account's next opening uses up the poller's address.
    async fn reserve(state: &AppState, email: &str, client: Option<IpAddr>) -> Result<Self> {
        let login = &state.settings.login;
        let now = now_millis();
        let window = window_ms(login);
        let mut address = None;
        if let Some(ip) = client {
            let bucket = address_bucket(ip);
            match db::reserve_attempt(&state.db, &bucket, login.max_failures_per_address, now, window).await? {
                Reservation::Granted { anchor } => address = Some((bucket, anchor)),
                Reservation::Refused { retry_after_secs } => {
                    return Err(throttled("address", "failed logins", retry_after_secs));
                }
            }
        }
        let bucket = account_bucket(email);
        let policy = DelayPolicy {
            free_attempts: login.max_failures_per_account,
            first_delay_ms: i64::try_from(login.account_delay.as_millis()).unwrap_or(i64::MAX / 4),
            max_delay_ms: i64::try_from(login.account_max_delay.as_millis()).unwrap_or(i64::MAX / 4),
        };
        match db::reserve_account_attempt(&state.db, &bucket, &policy, now, window).await? {
            Reservation::Granted { anchor } => Ok(Self { account: (bucket, anchor), address }),
            Reservation::Refused { retry_after_secs } => Err(throttled("account", "failed logins", retry_after_secs)),
        }
    }

    /// The password was never checked (no hashing slot): neither bucket keeps the attempt.
    async fn give_back(self, state: &AppState) -> Result<()> {
        db::release_attempt(&state.db, &self.account.0, self.account.1).await?;
        if let Some((bucket, anchor)) = &self.address {
            db::release_attempt(&state.db, bucket, *anchor).await?;
        }
        Ok(())
    }

    /// The right password: the account's streak is over, and the address gets its attempt
    /// back, so only failures count there (only this attempt: failures stay counted).
    async fn succeeded(self, state: &AppState) -> Result<()> {
        db::clear_login_failures(&state.db, &self.account.0).await?;
        if let Some((bucket, anchor)) = &self.address {
            db::release_attempt(&state.db, bucket, *anchor).await?;
        }
        Ok(())
    }
}

/// Checks the password and opens a session: 200 with tokens (and the `__Host-` cookies),
/// 401 for any wrong credential, 429 past the throttle limits, 503 when password hashing is
/// at capacity.
///
/// With a valid `DPoP` proof the session is bound to the proof's key (RFC 9449 §5): its
/// tokens come in the body only, since a cookie travels without a proof and a bound token
/// in it would be refused everywhere; asking for cookie delivery is a 422. A refused proof
/// counts as a failed attempt.
#[utoipa::path(
    post,
    path = "/v1/login",
    tag = TAG,
    params(("DPoP" = Option<String>, Header, description = "A DPoP proof (RFC 9449) for `POST` of this URL: binds the session to its key.")),
    request_body(content = LoginRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Signed in. The tokens come in the body, in `Set-Cookie` (`__Host-access_token`, \
            `__Secure-refresh_token`), or both, as `token_delivery` asked.", body = TokenBody,
            headers(("Set-Cookie" = String, description = "The session cookies, unless `token_delivery` is `body`."),
                ("Cache-Control" = String, description = "`no-store`."))),
        LoginBadRequest, InvalidCredentials, PayloadTooLarge, UnsupportedMediaType, LoginRejected, TooManyLogins,
        InternalError, Unavailable,
    )
)]
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
    let attempt = LoginAttempt::reserve(&state, &email, address).await?;
    // The proof is checked inside the throttle (a flood of self-signed proofs is throttled
    // like wrong passwords, so it cannot fill the replay cache) and before the password: a
    // refused proof costs an attempt but no hash.
    let dpop_jkt = dpop::proven_key(&state, &headers, LOGIN_PATH)?;
    let delivery = match (&dpop_jkt, body.token_delivery) {
        (Some(_), TokenDelivery::Cookie) => {
            return Err(ApiError::field("token_delivery", "a DPoP-bound session delivers its tokens in the body"));
        }
        (Some(_), _) => TokenDelivery::Body,
        (None, delivery) => delivery,
    };
    if dpop_jkt.is_none() && state.settings.tokens.user_dpop == DpopPolicy::Required {
        return Err(ApiError::oauth(OAuthCode::InvalidDpopProof, "a DPoP proof is required to sign in"));
    }

    let user = db::find_user_by_email(&state.db, &email).await?;
    let stored_hash = user.as_ref().map(|u| u.password_hash.clone());
    let verified = match state.passwords.verify(SecretString::from(body.password), stored_hash).await {
        Ok(verified) => verified,
        Err(HashError::Busy) => {
            attempt.give_back(&state).await?;
            return Err(ApiError::HasherBusy);
        }
        Err(error) => return Err(error.into()),
    };
    let user = match user {
        Some(user) if verified => user,
        // The attempt stays counted in both buckets.
        unverified => {
            let reason = if unverified.is_none() { "unknown_account" } else { "invalid_credentials" };
            metrics::counter!("auth_login_failures_total", "reason" => reason).increment(1);
            tracing::info!("login failed");
            return Err(ApiError::InvalidCredentials);
        }
    };
    attempt.succeeded(&state).await?;

    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(MAX_USER_AGENT_CHARS).collect::<String>());
    let tokens = issuer::open_session(&state, &user, user_agent, dpop_jkt).await?;
    Ok(token_response(&state, &tokens, delivery))
}

/// The body of a token response: the tokens, or with cookie delivery only what a page needs
/// to know of them.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub(super) enum TokenBody {
    /// RFC 6749 §5.1.
    Tokens(TokenResponse),
    /// The tokens went into `HttpOnly` cookies.
    Cookies(CookieDelivery),
}

/// The body of a token response delivered only in cookies.
#[derive(Serialize, ToSchema)]
// Without effect on serialising; utoipa reads it as `additionalProperties: false`, which keeps
// the two shapes of `TokenBody` apart (an answer with tokens is not a `CookieDelivery`).
#[serde(deny_unknown_fields)]
pub(super) struct CookieDelivery {
    /// `Bearer`.
    #[schema(value_type = String)]
    token_type: &'static str,
    /// Seconds until the access token expires.
    expires_in: u64,
    /// The granted scope.
    scope: String,
}

/// The token response (`Cache-Control: no-store`), with the session cookies when it carries
/// a refresh token and `delivery` asks for them.
pub(super) fn token_response(state: &AppState, tokens: &TokenResponse, delivery: TokenDelivery) -> Response {
    let mut response = if delivery == TokenDelivery::Cookie && tokens.refresh_token.is_some() {
        let body = CookieDelivery {
            token_type: tokens.token_type,
            expires_in: tokens.expires_in,
            scope: tokens.scope.clone(),
        };
        AppJson(TokenBody::Cookies(body)).into_response()
    } else {
        AppJson(TokenBody::Tokens(tokens.clone())).into_response()
    };
    if let Some(refresh_token) = tokens.refresh_token.as_ref().filter(|_| delivery != TokenDelivery::Body) {
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

/// One server-side session.
#[derive(Serialize, ToSchema)]
struct SessionView {
    /// The session's id (a UUID), the `sid` of its tokens.
    id: String,
    /// The client it was opened for.
    client_id: String,
    #[schema(format = DateTime)]
    created_at: String,
    /// When its refresh token was last spent.
    #[schema(format = DateTime)]
    last_seen_at: String,
    #[schema(format = DateTime)]
    expires_at: String,
    /// The `User-Agent` of the login, at most 256 characters.
    user_agent: Option<String>,
    /// Whether the request's token belongs to it.
    current: bool,
}

/// The caller's active sessions.
#[derive(Serialize, ToSchema)]
struct SessionList {
    sessions: Vec<SessionView>,
}

impl SessionView {
    fn new(row: SessionRow, current: bool) -> Self {
        Self {
            current,
            created_at: rfc3339(row.created_at),
            last_seen_at: rfc3339(row.last_seen_at),
            expires_at: rfc3339(row.expires_at),
            id: row.id,
            client_id: row.client_id,
            user_agent: row.user_agent,
        }
    }
}

/// The verified claims of the caller's token, as the verifier read them.
#[derive(Serialize, ToSchema)]
struct TokenView<'a> {
    jti: &'a str,
    kid: &'a str,
    sub: &'a str,
    client_id: &'a str,
    scope: Vec<&'a str>,
    aud: &'a [String],
    iat: i64,
    exp: i64,
    sid: Option<&'a str>,
    role: Option<&'a str>,
    /// `{"jkt": …}` for a DPoP-bound token.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    cnf: Option<Confirmation>,
}

/// What the request carried.
#[derive(Serialize, ToSchema)]
struct CurrentView<'a> {
    /// `header` (`Authorization: Bearer`), `cookie` (`__Host-access_token`) or `dpop`
    /// (`Authorization: DPoP` with its proof).
    #[schema(value_type = String)]
    credential: &'static str,
    session: SessionView,
    token: TokenView<'a>,
}

/// What the request carried: its token's claims, where the token came from and the session
/// it belongs to. A browser that keeps the token in an `HttpOnly` cookie cannot read it, so
/// this is how such a page learns what it is holding.
#[utoipa::path(
    get,
    path = "/v1/sessions/current",
    tag = TAG,
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The token's claims, where it came from, and its session.", body = CurrentView,
            headers(("Cache-Control" = String, description = "`no-store`."))),
        BadRequest, Unauthorized, Forbidden, InternalError, Unavailable,
    )
)]
async fn current(
    State(state): State<AppState>,
    // Before the slot: the extractor fills it.
    Authenticated(caller): Authenticated,
    Extension(verified): Extension<CallerSlot>,
) -> Result<Response> {
    let session = current_session(&state, &caller).await?;
    let credential = match verified.source() {
        Some(TokenSource::Cookie) => "cookie",
        Some(TokenSource::Dpop) => "dpop",
        _ => "header",
    };
    let token = TokenView {
        jti: &caller.token_id,
        kid: &caller.key_id,
        sub: &caller.subject,
        client_id: &caller.client_id,
        scope: caller.scopes.iter().collect(),
        aud: &caller.audience,
        iat: caller.issued_at,
        exp: caller.expires_at,
        sid: caller.session_id.as_deref(),
        role: caller.role.as_deref(),
        cnf: Confirmation::of(&caller),
    };
    let mut response =
        AppJson(CurrentView { credential, session: SessionView::new(session, true), token }).into_response();
    no_store(response.headers_mut());
    Ok(response)
}

/// The caller's active sessions, most recently used first; `current` marks the one the
/// token belongs to.
#[utoipa::path(
    get,
    path = "/v1/sessions",
    tag = TAG,
    security(("bearerAuth" = [])),
    responses(
        (status = 200, description = "The caller's active sessions.", body = SessionList),
        BadRequest, Unauthorized, Forbidden, InternalError, Unavailable,
    )
)]
async fn list_sessions(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<AppJson<SessionList>> {
    let current = current_session(&state, &caller).await?;
    let rows = db::active_sessions(&state.db, &caller.subject, now_millis()).await?;
    let sessions = rows
        .into_iter()
        .map(|row| {
            let is_current = row.id == current.id;
            SessionView::new(row, is_current)
        })
        .collect();
    Ok(AppJson(SessionList { sessions }))
}

/// Ends one of the caller's sessions: 204, or 404 when it is not theirs or already over.
#[utoipa::path(
    delete,
    path = "/v1/sessions/{id}",
    tag = TAG,
    security(("bearerAuth" = [])),
    params(("id" = String, Path, description = "The session's id.")),
    responses(
        (status = 204, description = "The session has ended (and its cookies are cleared if it was the caller's own).",
            headers(("Set-Cookie" = String, description = "Clears both session cookies when it was the caller's own session."))),
        BadRequest, Unauthorized, Forbidden, NotFound, InternalError, Unavailable,
    )
)]
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
#[utoipa::path(
    post,
    path = "/v1/logout",
    tag = TAG,
    security(("bearerAuth" = [])),
    responses(
        (status = 204, description = "The session has ended.",
            headers(("Set-Cookie" = String, description = "Clears both session cookies."))),
        BadRequest, Unauthorized, Forbidden, InternalError, Unavailable,
    )
)]
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
#[utoipa::path(
    delete,
    path = "/v1/sessions",
    tag = TAG,
    security(("bearerAuth" = [])),
    responses(
        (status = 204, description = "Every session of the caller has ended.",
            headers(("Set-Cookie" = String, description = "Clears both session cookies."))),
        BadRequest, Unauthorized, Forbidden, InternalError, Unavailable,
    )
)]
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
