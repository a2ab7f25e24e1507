//! OAuth 2.0 endpoints: `POST /oauth/token` (RFC 6749: `refresh_token` and
//! `client_credentials` grants), `POST /oauth/revoke` (RFC 7009), `POST /oauth/introspect`
//! (RFC 7662).
//!
//! Requests are `application/x-www-form-urlencoded`; a repeated parameter is an
//! `invalid_request` (RFC 6749 §3.2). Confidential clients authenticate with HTTP Basic
//! (`client_secret_basic`, id and secret form-encoded first as §2.3.1 says); their secrets
//! are compared in constant time. Errors use the §5.2 codes; `invalid_client` is 401 with a
//! `Basic` challenge.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde::Serialize;
use service_kit::{
    db::now_millis,
    http::{
        form,
        json::JsonRejection,
        openapi::{InternalError, PayloadTooLarge, Unavailable},
    },
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    Confirmation, REFRESH_COOKIE, cookie, dpop,
    error::{ApiError, OAuthCode, Result},
    no_store,
    openapi::{IntrospectBadRequest, InvalidClient, OAUTH_TAG, RevokeBadRequest, TokenBadRequest},
    sessions::{TokenBody, TokenDelivery, token_response},
};
use crate::{
    clients::ServiceClient,
    db,
    events::{self, SessionEnd},
    issuer, revocation,
    state::AppState,
    tokens,
};

/// The token endpoint's path: DPoP proofs name it in `htu`.
const TOKEN_PATH: &str = "/oauth/token";
/// The revocation endpoint's path, likewise.
const REVOKE_PATH: &str = "/oauth/revoke";

/// Routes of this module, each with its OpenAPI operation.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(issue_token)).routes(routes!(revoke_token)).routes(routes!(introspect_token))
}

/// The form of `POST /oauth/token`, as the document describes it: [`OAuthForm`] reads it
/// (each parameter at most once, empty values as absent, unknown ones ignored).
#[derive(ToSchema)]
#[allow(dead_code, reason = "documents the form OAuthForm parses")]
struct TokenForm {
    grant_type: GrantType,
    /// `refresh_token` grant: the refresh token, unless it comes in the `__Secure-refresh_token`
    /// cookie.
    #[schema(required = false)]
    refresh_token: String,
    /// `refresh_token` grant: the public client's id, if sent must be the session's.
    #[schema(required = false)]
    client_id: String,
    /// `client_credentials` grant: space-separated scopes, a subset of the client's.
    #[schema(required = false)]
    scope: String,
    /// `client_credentials` grant: the audience (RFC 8707), one the client may address.
    #[schema(required = false)]
    audience: String,
}

/// The grants this server supports.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code, reason = "documents the form OAuthForm parses")]
enum GrantType {
    RefreshToken,
    ClientCredentials,
}

/// The form of `POST /oauth/revoke` and `POST /oauth/introspect`.
#[derive(ToSchema)]
#[allow(dead_code, reason = "documents the form OAuthForm parses")]
struct TokenParameter {
    /// The token (an access token, or at `/oauth/revoke` also a refresh token).
    #[schema(min_length = 1)]
    token: String,
    /// Ignored: the kind of token is recognised from the token itself.
    #[schema(required = false)]
    token_type_hint: String,
}

/// A form body with each parameter at most once.
#[derive(Debug, Default)]
pub struct OAuthForm(Vec<(String, String)>);

impl OAuthForm {
    /// Parses a form body.
    ///
    /// # Errors
    /// `invalid_request` for a repeated parameter or more than
    /// [`form::DEFAULT_MAX_PARAMETERS`].
    pub fn parse(body: &[u8]) -> Result<Self> {
        form::parse_unique(body, form::DEFAULT_MAX_PARAMETERS)
            .map(Self)
            .map_err(|problem| ApiError::invalid_request(problem.to_string()))
    }

    /// A parameter; empty values count as absent (RFC 6749 §3.1).
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    /// A required parameter.
    ///
    /// # Errors
    /// `invalid_request` naming it.
    pub fn require(&self, name: &str) -> Result<&str> {
        self.get(name).ok_or_else(|| ApiError::invalid_request(format!("`{name}` is required")))
    }
}

impl<S: Send + Sync> FromRequest<S> for OAuthForm {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self> {
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(ApiError::invalid_request(
                "expected a body with Content-Type: application/x-www-form-urlencoded",
            ));
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::from(JsonRejection::TooLarge)
            } else {
                ApiError::invalid_request("the request body could not be read")
            }
        })?;
        Self::parse(&bytes)
    }
}

/// What a client sent, made safe to echo in an error or a log line.
fn truncate(text: &str) -> String {
    service_kit::text::clip(text, 64)
}

fn invalid_client(description: &str) -> ApiError {
    ApiError::oauth(OAuthCode::InvalidClient, description)
}

/// The authenticated confidential client, `None` for a request without client
/// authentication (the public `web` client).
fn authenticate_client<'a>(
    state: &'a AppState,
    headers: &HeaderMap,
    form: &OAuthForm,
) -> Result<Option<&'a ServiceClient>> {
    if form.get("client_secret").is_some() {
        return Err(invalid_client("send client credentials with HTTP Basic authentication (client_secret_basic)"));
    }
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(invalid_client("more than one Authorization header"));
    }
    let (id, secret) =
        parse_basic(value.to_str().unwrap_or("")).ok_or_else(|| invalid_client("malformed Basic credentials"))?;
    let Some(client) = state.settings.clients.authenticate(&id, &secret) else {
        tracing::info!(client.id = %truncate(&id), "client authentication failed");
        return Err(invalid_client("client authentication failed"));
    };
    if form.get("client_id").is_some_and(|form_id| form_id != client.id) {
        return Err(ApiError::invalid_request("`client_id` does not match the authenticated client"));
    }
    Ok(Some(client))
}

/// `Basic base64(urlencode(id):urlencode(secret))` → `(id, secret)`.
fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let id = form_decode(id)?;
    let secret = form_decode(secret)?;
    (!id.is_empty()).then_some((id, secret))
}

/// `application/x-www-form-urlencoded` decoding of one component.
fn form_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut input = text.bytes();
    while let Some(byte) = input.next() {
        match byte {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = [input.next()?, input.next()?];
                bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
            }
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes).ok()
}

/// `POST /oauth/token`.
#[utoipa::path(
    post,
    path = "/oauth/token",
    tag = OAUTH_TAG,
    security((), ("clientBasic" = [])),
    params(("DPoP" = Option<String>, Header, description = "A DPoP proof (RFC 9449) for `POST` of this URL: binds the tokens to its key.")),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The tokens (RFC 6749 §5.1); a refresh through the cookie answers with cookies.",
            body = TokenBody, headers(("Cache-Control" = String, description = "`no-store`."),
                ("Set-Cookie" = String, description = "The rotated session cookies, for a refresh that came with the refresh cookie."))),
        TokenBadRequest, InvalidClient, PayloadTooLarge, InternalError, Unavailable,
    )
)]
async fn issue_token(State(state): State<AppState>, headers: HeaderMap, form: OAuthForm) -> Result<Response> {
    let client = authenticate_client(&state, &headers, &form)?;
    let grant_type = form.require("grant_type")?;
    match grant_type {
        "refresh_token" => {
            if let Some(client) = client {
                return Err(ApiError::oauth(
                    OAuthCode::UnauthorizedClient,
                    format!("client `{}` may not use the refresh_token grant", client.id),
                ));
            }
            if form.get("scope").is_some() {
                // Narrowing a user's scope on refresh is not offered; refusing beats silently
                // ignoring what the client asked for.
                return Err(ApiError::oauth(OAuthCode::InvalidScope, "scope cannot be changed on refresh"));
            }
            // The new tokens go back the way the old one came: a browser that keeps them in
            // cookies gets cookies and a body without tokens, a client that holds them gets
            // them in the body and no cookie. A client that sends the form and also holds
            // the cookie (a login without `token_delivery`) gets both, or its cookie would
            // keep the spent token and its next cookie refresh would look like reuse.
            let (presented, delivery) = match (form.get("refresh_token"), cookie(&headers, REFRESH_COOKIE)) {
                (Some(token), Some(_)) => (token, TokenDelivery::Both),
                (Some(token), None) => (token, TokenDelivery::Body),
                (None, Some(token)) => (token, TokenDelivery::Cookie),
                (None, None) => {
                    return Err(ApiError::invalid_request("`refresh_token` is required (form parameter or cookie)"));
                }
            };
            let dpop_jkt = dpop::proven_key(&state, &headers, TOKEN_PATH)?;
            let tokens = issuer::refresh(&state, presented, form.get("client_id"), dpop_jkt.as_deref()).await?;
            Ok(token_response(&state, &tokens, delivery))
        }
        "client_credentials" => {
            let client = client
                .ok_or_else(|| invalid_client("client_credentials requires client authentication (HTTP Basic)"))?;
            let dpop_jkt = dpop::proven_key(&state, &headers, TOKEN_PATH)?;
            let tokens = issuer::client_credentials(
                &state,
                client,
                form.get("scope"),
                form.get("audience"),
                dpop_jkt.as_deref(),
            )?;
            tracing::info!(client.id = %client.id, scope = %tokens.scope, token_type = tokens.token_type, "service token issued");
            Ok(token_response(&state, &tokens, TokenDelivery::Body))
        }
        other => Err(ApiError::oauth(
            OAuthCode::UnsupportedGrantType,
            format!("grant type `{}` is not supported (use refresh_token or client_credentials)", truncate(other)),
        )),
    }
}

/// `POST /oauth/revoke` (RFC 7009). A refresh token ends its session; an access token (a
/// user's or a service's) is revoked by its `jti` until it expires, its session untouched.
/// Each writes its security event before the answer. A token is revoked only for the client
/// it was issued to (§2.1): the authenticated client, or the public user client when the
/// request carries no client authentication; a token of another client is left alone.
/// Always 200 for well-formed requests, whether or not the token was known, valid or
/// someone else's, so the endpoint cannot be used to probe tokens (§2.2).
///
/// A DPoP-bound token (a bound session's refresh token, a bound access token) is revoked
/// only with a proof by its key: a copy without the key can neither be used nor be used to
/// log its owner out.
#[utoipa::path(
    post,
    path = "/oauth/revoke",
    tag = OAUTH_TAG,
    security((), ("clientBasic" = [])),
    params(("DPoP" = Option<String>, Header, description = "A proof by the key a bound token is bound to.")),
    request_body(content = TokenParameter, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Done, or nothing to do: the answer never says whether the token was known (RFC 7009 §2.2)."),
        RevokeBadRequest, InvalidClient, PayloadTooLarge, InternalError, Unavailable,
    )
)]
async fn revoke_token(State(state): State<AppState>, headers: HeaderMap, form: OAuthForm) -> Result<Response> {
    let requester = match authenticate_client(&state, &headers, &form)? {
        Some(client) => client.id.as_str(),
        None => state.settings.tokens.user_client_id.as_str(),
    };
    let token = form.require("token")?;
    let proven = dpop::proven_key(&state, &headers, REVOKE_PATH)?;
    let holds_key = |bound: Option<&str>| bound.is_none_or(|bound| proven.as_deref() == Some(bound));
    if tokens::looks_like_refresh_token(token) {
        match db::refresh_token_session(&state.db, &tokens::hash_refresh_token(token)).await? {
            Some((_, client_id, bound)) if client_id == requester && !holds_key(bound.as_deref()) => {
                tracing::info!(client.id = %requester, "revocation of a DPoP-bound refresh token without its key ignored");
            }
            Some((session_id, client_id, _)) if client_id == requester => {
                let ended = revocation::end_session(&state, &session_id, None, SessionEnd::RefreshTokenRevoked).await?;
                tracing::info!(session.id = %session_id, ended, "refresh token revoked");
            }
            Some(_) => tracing::info!(client.id = %requester, "revocation of another client's refresh token ignored"),
            None => {}
        }
    } else if let Some(caller) = revocation::verify_own_access_token(&state, token).await {
        if caller.client_id != requester {
            tracing::info!(client.id = %requester, "revocation of another client's access token ignored");
        } else if !holds_key(caller.dpop_jkt.as_deref()) {
            tracing::info!(client.id = %requester, "revocation of a DPoP-bound access token without its key ignored");
        } else if revocation::revoke_access_token(&state, &caller).await? {
            tracing::info!(token.jti = %caller.token_id, client.id = %caller.client_id, "access token revoked");
        }
    }
    let mut response = StatusCode::OK.into_response();
    no_store(response.headers_mut());
    Ok(response)
}

/// `POST /oauth/introspect` (RFC 7662) for authenticated clients. An access token is active
/// only if it verifies with the introspecting client as audience (a resource server learns
/// about tokens meant for it, nothing else), it was not revoked and, for user tokens, its
/// session is still open. Refresh tokens are only meaningful to this server and always come back inactive.
#[utoipa::path(
    post,
    path = "/oauth/introspect",
    tag = OAUTH_TAG,
    security(("clientBasic" = [])),
    request_body(content = TokenParameter, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "RFC 7662 §2.2: `{\"active\": false}`, or the token's claims with `active: true`.",
            body = Introspection),
        IntrospectBadRequest, InvalidClient, PayloadTooLarge, InternalError, Unavailable,
    )
)]
async fn introspect_token(State(state): State<AppState>, headers: HeaderMap, form: OAuthForm) -> Result<Response> {
    let client = authenticate_client(&state, &headers, &form)?
        .ok_or_else(|| invalid_client("introspection requires client authentication (HTTP Basic)"))?;
    let token = form.require("token")?;
    let mut answer = Introspection::default();
    if let Some(verifier) = state.introspection.get(&client.id)
        && let Ok(caller) = verifier.verify(token).await
    {
        let session_open = match &caller.session_id {
            Some(sid) => db::find_session(&state.db, sid).await?.is_some_and(|s| s.is_active(now_millis())),
            None => true,
        };
        if session_open && !events::store::is_token_revoked(&state.db, &caller.token_id).await? {
            answer = Introspection {
                active: true,
                scope: Some(caller.scopes.iter().collect::<Vec<_>>().join(" ")),
                client_id: Some(caller.client_id.clone()),
                sub: Some(caller.subject.clone()),
                aud: Some(caller.audience.clone()),
                iss: Some(state.settings.issuer.clone()),
                exp: Some(caller.expires_at),
                iat: Some(caller.issued_at),
                jti: Some(caller.token_id.clone()),
                token_type: Some(issuer::token_type(caller.dpop_jkt.is_some())),
                cnf: Confirmation::of(&caller),
                sid: caller.session_id.clone(),
                role: caller.role.clone(),
            };
        }
    }
    let mut response = axum::Json(answer).into_response();
    no_store(response.headers_mut());
    Ok(response)
}

/// An introspection answer (RFC 7662 §2.2): `{"active": false}`, or an active token's claims.
#[derive(Debug, Default, Serialize, ToSchema)]
struct Introspection {
    active: bool,
    /// Space-separated.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    aud: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    jti: Option<String>,
    /// `Bearer`, or `DPoP` for a bound token.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, value_type = Option<String>)]
    token_type: Option<&'static str>,
    /// For a DPoP-bound token.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    cnf: Option<Confirmation>,
    /// The session, for a user's token.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    role: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20client:p%3Ass+word"));
        assert_eq!(parse_basic(&header), Some(("my client".to_owned(), "p:ss word".to_owned())));
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
        assert_eq!(parse_basic(&format!("Basic {}", STANDARD.encode("no-colon"))), None);
        assert_eq!(parse_basic(&format!("Basic {}", STANDARD.encode("a:%zz"))), None);
    }

    #[test]
    fn repeated_parameters_are_refused() {
        assert!(OAuthForm::parse(b"grant_type=a&grant_type=b").is_err());
        let form = OAuthForm::parse(b"grant_type=client_credentials&scope=").unwrap();
        assert_eq!(form.get("grant_type"), Some("client_credentials"));
        assert_eq!(form.get("scope"), None);
    }
}
