//! The HTTP API: one router per module, merged here and wrapped in the workspace's standard
//! middleware (request ids, spans, `X-Served-By`, metrics, 64 KiB body limit, timeouts).
//!
//! - [`users`]: `POST /v1/users`.
//! - [`sessions`]: `POST /v1/login`, `GET /v1/sessions`, `DELETE /v1/sessions`,
//!   `DELETE /v1/sessions/{id}`, `POST /v1/logout`.
//! - [`oauth`]: `POST /oauth/token`, `/oauth/revoke`, `/oauth/introspect`.
//! - [`jwks`]: `GET /.well-known/jwks.json` and the discovery documents.
//! - [`admin`]: `GET /v1/admin/keys`, `POST /v1/admin/keys/rotate`,
//!   `DELETE /v1/admin/users/{user_id}/sessions`.
//! - [`security_events`]: `GET /v1/security-events`, the revocation feed.
//! - `/healthz`, `/readyz`, `/metrics`: the kit's (`service_kit::http::health`), with the
//!   checks of [`AppState`]'s `Readiness`.
//! - `/openapi.json`: the OpenAPI 3.1 document of all of the above, built from the same
//!   registration as the router ([`openapi`] and `service_kit::http::openapi`).
//! - [`error`]: the one error type, `ApiError`.

pub mod admin;
pub mod dpop;
pub mod error;
pub mod jwks;
pub mod oauth;
pub mod openapi;
pub mod security_events;
pub mod sessions;
pub mod users;

use std::net::{IpAddr, SocketAddr};

use axum::{
    Router,
    extract::{ConnectInfo, FromRequestParts},
};
use http::{HeaderMap, HeaderValue, header, request::Parts};
use service_kit::http::{health, layers::ServiceIdentity, openapi::finish, service_router};
use utoipa::Modify as _;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// The complete application router, state applied.
pub fn router(state: AppState, identity: &ServiceIdentity) -> Router {
    let (routes, _) = documented();
    service_router(routes, identity).with_state(state)
}

/// The OpenAPI 3.1 document served at `GET /openapi.json`.
#[must_use]
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    documented().1
}

/// Every route with its OpenAPI operation, each registered once (`routes!`), so the router
/// and the document come from one registration.
fn documented() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let mut routes = OpenApiRouter::new()
        .merge(users::router())
        .merge(sessions::router())
        .merge(oauth::router())
        .merge(jwks::router())
        .merge(admin::router())
        .merge(security_events::router())
        .merge(health::openapi_router());
    openapi::OAuthSurface.modify(routes.get_openapi_mut());
    let about = service_kit::this_crate!();
    finish(routes, about.name, about.version, about.description)
}

/// The client's address for login throttling.
///
/// The TCP peer, or with `AUTH_TRUST_FORWARDED_FOR=true` the last `X-Forwarded-For` entry:
/// the one our own proxy appended; entries to its left are whatever the client chose to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
        if state.settings.login.trust_forwarded_for
            && let Some(forwarded) = last_forwarded_for(&parts.headers)
        {
            return Ok(Self(Some(forwarded)));
        }
        Ok(Self(peer))
    }
}

fn last_forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let last_header = headers.get_all("x-forwarded-for").iter().next_back()?;
    let last_entry = last_header.to_str().ok()?.rsplit(',').next()?.trim();
    last_entry.parse().ok()
}

/// Name of the refresh-token cookie.
///
/// It is the long-lived credential, so it is scoped to the
/// one path that reads it ([`REFRESH_COOKIE_PATH`]) and never travels with requests to the
/// other services (or into their logs). `__Host-` would demand `Path=/`, so it takes
/// `__Secure-` (browsers accept it only with `Secure` from a secure origin) and no `Domain`
/// (host-only). The access-token cookie, needed everywhere, stays `__Host-`.
pub const REFRESH_COOKIE: &str = "__Secure-refresh_token";

/// The only path the browser sends the refresh cookie to: the token endpoint.
pub const REFRESH_COOKIE_PATH: &str = "/oauth/token";

/// `Set-Cookie` for a browser session: the refresh token (and the access token, which
/// `jwt_verifier` accepts from `__Host-access_token` with its CSRF guard).
pub fn session_cookies(
    headers: &mut HeaderMap,
    refresh_token: &str,
    refresh_max_age: u64,
    access_token: &str,
    access_max_age: u64,
) {
    for (name, value, path, max_age) in [
        (REFRESH_COOKIE, refresh_token, REFRESH_COOKIE_PATH, refresh_max_age),
        (jwt_verifier::ACCESS_TOKEN_COOKIE, access_token, "/", access_max_age),
    ] {
        let cookie = format!("{name}={value}; HttpOnly; Secure; SameSite=Strict; Path={path}; Max-Age={max_age}");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
}

/// `Set-Cookie` headers that delete both session cookies (logout).
pub fn clear_session_cookies(headers: &mut HeaderMap) {
    for (name, path) in [(REFRESH_COOKIE, REFRESH_COOKIE_PATH), (jwt_verifier::ACCESS_TOKEN_COOKIE, "/")] {
        let cookie = format!("{name}=; HttpOnly; Secure; SameSite=Strict; Path={path}; Max-Age=0");
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
}

/// The value of cookie `name`, if the request has a non-empty one.
#[must_use]
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    jwt_verifier::extract::cookie_value(headers, name).filter(|value| !value.is_empty())
}

/// `Cache-Control: no-store` and `Pragma: no-cache`: required on responses carrying tokens
/// (RFC 6749 §5.1).
pub fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// The `cnf` claim of a DPoP-bound token (RFC 7800, RFC 9449 §6): the key's thumbprint.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Confirmation {
    /// The RFC 7638 SHA-256 thumbprint of the key, base64url.
    pub jkt: String,
}

impl Confirmation {
    /// The confirmation of `caller`'s token, `None` when it is not bound.
    #[must_use]
    pub fn of(caller: &jwt_verifier::Caller) -> Option<Self> {
        caller.dpop_jkt.clone().map(|jkt| Self { jkt })
    }
}

/// Unix milliseconds as RFC 3339 (`2025-01-31T12:00:00.123Z`).
#[must_use]
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_uses_the_entry_our_proxy_added() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("1.1.1.1, 10.0.0.7"));
        assert_eq!(last_forwarded_for(&headers), Some("10.0.0.7".parse().unwrap()));
        headers.insert("x-forwarded-for", HeaderValue::from_static("garbage"));
        assert_eq!(last_forwarded_for(&headers), None);
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; __Secure-refresh_token=abc; b=2"));
        assert_eq!(cookie(&headers, REFRESH_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "refresh_token"), None);
    }

    #[test]
    fn timestamps_format_as_rfc_3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
