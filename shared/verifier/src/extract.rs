//! axum extractors: a handler's signature states its access level.
//!
//! ```text
//! async fn me(Authenticated(caller): Authenticated)                          // any valid token
//! async fn feed(MaybeAuthenticated(caller): MaybeAuthenticated)              // anonymous allowed
//! async fn create(RequireScope(caller, ..): RequireScope<OrdersWrite>)       // 403 without the scope
//! async fn notify(ServiceWithScope(caller, ..): ServiceWithScope<NotifySend>) // service tokens only
//! ```
//!
//! The token comes from `Authorization: Bearer …` or, for browser clients, from the
//! `__Host-access_token` cookie (`HttpOnly`, `Secure`, host-only by the `__Host-` prefix rules).
//! A cookie is sent by the browser on cross-site requests too, so when the token came from
//! the cookie and the method is unsafe, the request must prove it is same-origin:
//! `Sec-Fetch-Site: same-origin`, or an `Origin` whose scheme, host and port equal a
//! configured origin (`AUTH_ALLOWED_ORIGINS`, which so also admits sibling subdomains that
//! browsers label `same-site`) or `https://` plus the request's own host. The header always
//! wins over the cookie.
//!
//! A token bound to a key (`cnf.jkt`, RFC 9449) is accepted only as `Authorization: DPoP …`
//! with one `DPoP` proof by that key ([`binding`]); `DPoP` with an unbound token is refused.
//!
//! The verifier comes from the state: `Verifier: FromRef<S>`.

pub mod binding;

use std::{
    marker::PhantomData,
    sync::{Arc, OnceLock},
};

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use http::{HeaderMap, Method, header, request::Parts};

use super::{
    claims::Caller,
    error::{AuthError, AuthRejection},
    origin::Origin,
    verifier::Verifier,
};

/// Name of the access-token cookie. The `__Host-` prefix makes browsers accept it only when
/// set with `Secure`, `Path=/` and no `Domain`, so a sibling subdomain cannot plant one.
pub const ACCESS_TOKEN_COOKIE: &str = "__Host-access_token";

/// A scope a route requires. Declare one with [`scope!`](crate::scope).
pub trait Scope: Send + Sync + 'static {
    /// The scope string (`orders:write`).
    const NAME: &'static str;
}

/// Declares a marker type implementing [`Scope`]:
///
/// ```
/// jwt_verifier::scope!(OrdersWrite, "orders:write");
/// jwt_verifier::scope!(pub(crate) OrdersRead, "orders:read");
/// use jwt_verifier::Scope;
/// assert_eq!(OrdersWrite::NAME, "orders:write");
/// ```
///
/// Without a visibility the type is `pub`.
#[macro_export]
macro_rules! scope {
    ($(#[$meta:meta])* $name:ident, $value:expr) => {
        $crate::scope!($(#[$meta])* pub $name, $value);
    };
    ($(#[$meta:meta])* $vis:vis $name:ident, $value:expr) => {
        $(#[$meta])*
        #[doc = concat!("The `", $value, "` scope.")]
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        $vis struct $name;

        impl $crate::Scope for $name {
            const NAME: &'static str = $value;
        }
    };
}

/// A caller with a valid token; 401 otherwise.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Arc<Caller>);

/// A caller with a valid token, or `None` when the request carries no token at all; a token
/// that is present but bad is still 401.
#[derive(Debug, Clone)]
pub struct MaybeAuthenticated(pub Option<Arc<Caller>>);

/// A caller whose token grants `S`; 403 `insufficient_scope` otherwise.
#[derive(Debug, Clone)]
pub struct RequireScope<S: Scope>(pub Arc<Caller>, pub PhantomData<S>);

/// A client-credentials (service) token granting `S`; user tokens get 403 even with the
/// scope, so an endpoint meant for services cannot be driven from a browser session.
#[derive(Debug, Clone)]
pub struct ServiceWithScope<S: Scope>(pub Arc<Caller>, pub PhantomData<S>);

/// Where the token was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `Authorization: Bearer`.
    Header,
    /// The access-token cookie.
    Cookie,
    /// `Authorization: DPoP`, with its proof in the `DPoP` header.
    Dpop,
}

/// The caller a request's token proved, for the layers around the handler.
///
/// A layer puts a fresh slot into the request's extensions; the extractors fill it when a
/// token verifies; after the handler the layer reads it, so it can say on every answer which
/// key verified the token (service-kit's `X-Verified-Kid`) without each handler doing so.
/// Without a slot in the request the extractors skip this.
#[derive(Debug, Clone, Default)]
pub struct CallerSlot(Arc<OnceLock<(Arc<Caller>, TokenSource)>>);

impl CallerSlot {
    /// The verified caller, once an extractor has run and the token's signature and claims
    /// verified (the handler may still refuse the request, for a scope or a session).
    #[must_use]
    pub fn get(&self) -> Option<&Arc<Caller>> {
        self.0.get().map(|(caller, _)| caller)
    }

    /// Where that caller's token was found.
    #[must_use]
    pub fn source(&self) -> Option<TokenSource> {
        self.0.get().map(|(_, source)| *source)
    }

    /// The first verified caller wins: a handler that extracts twice sees the same token.
    fn fill(&self, caller: &Arc<Caller>, source: TokenSource) {
        let _ = self.0.set((Arc::clone(caller), source));
    }
}

/// The bearer token of a request, if any.
///
/// # Errors
/// [`AuthError::MalformedAuthorization`] for more than one `Authorization` header, a
/// `Bearer` or `DPoP` credential with no token or characters outside RFC 6750's `b64token`, or
/// [`AuthError::CrossSiteRequest`] when the cookie is used by an unsafe cross-site request.
pub fn token_from_request<'a>(
    method: &Method,
    headers: &'a HeaderMap,
    accept_cookie: bool,
    allowed_origins: &[Origin],
) -> Result<Option<(&'a str, TokenSource)>, AuthError> {
    credential_from_request(method, headers, accept_cookie, allowed_origins)?
        .map(|(raw, source)| Ok((as_b64token(raw)?, source)))
        .transpose()
}

/// [`token_from_request`] without the check of the token's characters: where the credential
/// is, that there is one, and the CSRF guard. The extractors check the characters only when
/// the token cache cannot answer (see [`authenticate`]).
fn credential_from_request<'a>(
    method: &Method,
    headers: &'a HeaderMap,
    accept_cookie: bool,
    allowed_origins: &[Origin],
) -> Result<Option<(&'a [u8], TokenSource)>, AuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    if let Some(value) = values.next() {
        if values.next().is_some() {
            return Err(AuthError::MalformedAuthorization);
        }
        let bytes = value.as_bytes();
        let (scheme, rest) = match bytes.iter().position(|&b| b == b' ') {
            Some(space) => (&bytes[..space], &bytes[space + 1..]),
            None => (bytes, &[][..]),
        };
        if scheme.eq_ignore_ascii_case(b"bearer") {
            return Ok(Some((&rest[count_leading(rest, b' ')..], TokenSource::Header)));
        }
        if scheme.eq_ignore_ascii_case(b"dpop") {
            return Ok(Some((&rest[count_leading(rest, b' ')..], TokenSource::Dpop)));
        }
        // Another scheme (Basic…): no bearer token was offered; the challenge says which
        // scheme to use. Its value must still be a valid header text.
        value.to_str().map_err(|_| AuthError::MalformedAuthorization)?;
    }
    if !accept_cookie {
        return Ok(None);
    }
    let Some(token) = cookie_value(headers, ACCESS_TOKEN_COOKIE) else {
        return Ok(None);
    };
    if !is_safe(method) && !is_same_origin(headers, allowed_origins) {
        return Err(AuthError::CrossSiteRequest);
    }
    Ok(Some((token.as_bytes(), TokenSource::Cookie)))
}

/// The credential as a token, if it has RFC 6750's `b64token` syntax. `is_b64token` admits
/// only ASCII, so the UTF-8 check after it is the fast all-ASCII case.
fn as_b64token(raw: &[u8]) -> Result<&str, AuthError> {
    if !is_b64token(raw) {
        return Err(AuthError::MalformedAuthorization);
    }
    std::str::from_utf8(raw).map_err(|_| AuthError::MalformedAuthorization)
}

/// RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &[u8]) -> bool {
    let body = token.iter().rposition(|&b| b != b'=').map_or(&[][..], |last| &token[..=last]);
    // Branch-free per byte and without an early exit inside a chunk, so the compiler can
    // check many bytes at once: every token the cache cannot answer is checked.
    !body.is_empty() && body.chunks(64).all(|chunk| chunk.iter().fold(true, |ok, &b| ok & is_b64token_byte(b)))
}

const fn is_b64token_byte(b: u8) -> bool {
    let letter = (b | 0x20).wrapping_sub(b'a') < 26;
    let digit = b.wrapping_sub(b'0') < 10;
    letter | digit | (b == b'-') | (b == b'.') | (b == b'_') | (b == b'~') | (b == b'+') | (b == b'/')
}

fn count_leading(bytes: &[u8], byte: u8) -> usize {
    bytes.iter().take_while(|&&b| b == byte).count()
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE)
}

/// Whether an unsafe request carrying the cookie provably comes from one of our own pages.
///
/// `Sec-Fetch-Site: same-origin` proves it. Any other value (`same-site` from a sibling
/// subdomain, `cross-site`), or no Fetch Metadata at all, leaves the `Origin` header, which
/// browsers send on every such request and script cannot forge: its scheme, host and port
/// must equal a configured origin or `https://` plus the request's own `Host` (the cookie is
/// `Secure`, so a page served over plain `http` never holds it).
fn is_same_origin(headers: &HeaderMap, allowed_origins: &[Origin]) -> bool {
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if site.is_some_and(|site| site.eq_ignore_ascii_case("same-origin")) {
        return true;
    }
    // `null`, opaque and plain-http origins parse to nothing, and match nothing.
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).and_then(|o| Origin::parse(o).ok())
    else {
        // Without Origin we cannot tell, and refusing is the safe side.
        return false;
    };
    if allowed_origins.contains(&origin) {
        return true;
    }
    headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(Origin::https_of_host)
        .is_some_and(|own| own == origin)
}

/// The value of cookie `name` in the request's `Cookie` headers (quotes around it removed),
/// or `None` when there is no such cookie. The one cookie parser of the workspace.
#[must_use]
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().trim_matches('"'))
}

/// Extracts and verifies, recording `user.id` on the request span.
async fn authenticate(parts: &Parts, verifier: &Verifier) -> Result<Option<Arc<Caller>>, AuthRejection> {
    let rejection = |error, dpop_scheme| verifier.rejection(error, dpop_scheme);
    let config = verifier.config();
    let Some((raw, source)) =
        credential_from_request(&parts.method, &parts.headers, config.accept_cookie, &config.allowed_origins)
            .map_err(|error| rejection(error, false))?
    else {
        return Ok(None);
    };
    let reject = |error| rejection(error, source == TokenSource::Dpop);
    // A credential equal to a cached token is a token that verified, so well-formed: the
    // syntax check, a pass over every byte, runs only when the cache cannot answer.
    let caller = match verifier.verify_cached(raw) {
        Some(result) => result,
        None => verifier.verify_uncached(as_b64token(raw).map_err(reject)?).await,
    }
    .map_err(reject)?;
    binding::check(parts, verifier, &caller, raw, source).map_err(reject)?;
    tracing::Span::current().record("user.id", caller.subject.as_str());
    if let Some(slot) = parts.extensions.get::<CallerSlot>() {
        slot.fill(&caller, source);
    }
    Ok(Some(caller))
}

impl<S> FromRequestParts<S> for Authenticated
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Verifier::from_ref(state);
        match authenticate(parts, &verifier).await? {
            Some(caller) => Ok(Self(caller)),
            None => Err(verifier.rejection(AuthError::MissingToken, false)),
        }
    }
}

impl<S> OptionalFromRequestParts<S> for Authenticated
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let verifier = Verifier::from_ref(state);
        Ok(authenticate(parts, &verifier).await?.map(Self))
    }
}

impl<S> FromRequestParts<S> for MaybeAuthenticated
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Verifier::from_ref(state);
        Ok(Self(authenticate(parts, &verifier).await?))
    }
}

impl<S, Sc> FromRequestParts<S> for RequireScope<Sc>
where
    Verifier: FromRef<S>,
    S: Send + Sync,
    Sc: Scope,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Authenticated(caller) = <Authenticated as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        if caller.has_scope(Sc::NAME) {
            Ok(Self(caller, PhantomData))
        } else {
            let verifier = Verifier::from_ref(state);
            Err(verifier.rejection(AuthError::InsufficientScope(Sc::NAME), false))
        }
    }
}

impl<S, Sc> FromRequestParts<S> for ServiceWithScope<Sc>
where
    Verifier: FromRef<S>,
    S: Send + Sync,
    Sc: Scope,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Authenticated(caller) = <Authenticated as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        let verifier = Verifier::from_ref(state);
        if !caller.is_service() {
            return Err(verifier.rejection(AuthError::ServiceTokenRequired, false));
        }
        if !caller.has_scope(Sc::NAME) {
            return Err(verifier.rejection(AuthError::InsufficientScope(Sc::NAME), false));
        }
        Ok(Self(caller, PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn token(method: Method, pairs: &[(&str, &str)]) -> Result<Option<(String, TokenSource)>, AuthError> {
        let map = headers(pairs);
        token_from_request(&method, &map, true, &[Origin::parse("https://app.example.com").unwrap()])
            .map(|found| found.map(|(t, s)| (t.to_owned(), s)))
    }

    #[test]
    fn bearer_header_is_parsed_strictly() {
        assert_eq!(token(Method::GET, &[("authorization", "Bearer abc.def.ghi")]).unwrap().unwrap().0, "abc.def.ghi");
        assert_eq!(token(Method::GET, &[("authorization", "bearer abc")]).unwrap().unwrap().0, "abc");
        assert_eq!(token(Method::GET, &[("authorization", "Bearer")]), Err(AuthError::MalformedAuthorization));
        assert_eq!(token(Method::GET, &[("authorization", "Bearer a b")]), Err(AuthError::MalformedAuthorization));
        assert_eq!(
            token(Method::GET, &[("authorization", "Bearer a"), ("authorization", "Bearer b")]),
            Err(AuthError::MalformedAuthorization)
        );
        assert_eq!(token(Method::GET, &[("authorization", "Basic dXNlcjpwYXNz")]), Ok(None));
        assert_eq!(
            token(Method::GET, &[("authorization", "DPoP abc.def.ghi")]).unwrap().unwrap(),
            ("abc.def.ghi".to_owned(), TokenSource::Dpop)
        );
        assert_eq!(token(Method::GET, &[("authorization", "DPoP")]), Err(AuthError::MalformedAuthorization));
        assert_eq!(token(Method::GET, &[]), Ok(None));
    }

    #[test]
    fn b64token_is_rfc_6750s_character_set_with_trailing_padding() {
        for b in 0..=u8::MAX {
            let allowed = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
            assert_eq!(is_b64token_byte(b), allowed, "byte {b:#04x}");
        }
        let long = "a".repeat(200);
        assert!(is_b64token(long.as_bytes()));
        assert!(!is_b64token(format!("{long}\u{e9}{long}").as_bytes()), "a byte past the first chunk");
        assert!(is_b64token(b"abc=="));
        assert!(!is_b64token(b"=="));
        assert!(!is_b64token(b"a=b"));
        assert!(!is_b64token(b""));
        assert_eq!(token(Method::GET, &[("authorization", "Bearer \ttok")]), Err(AuthError::MalformedAuthorization));
        assert_eq!(token(Method::GET, &[("authorization", "Bearer   tok")]).unwrap().unwrap().0, "tok");
    }

    #[test]
    fn header_wins_over_cookie() {
        let found = token(
            Method::POST,
            &[("authorization", "Bearer fromheader"), ("cookie", "__Host-access_token=fromcookie")],
        );
        assert_eq!(found.unwrap().unwrap(), ("fromheader".to_owned(), TokenSource::Header));
    }

    #[test]
    fn cookie_on_unsafe_methods_needs_same_origin_evidence() {
        let cookie = ("cookie", "theme=dark; __Host-access_token=tok");
        assert_eq!(token(Method::GET, &[cookie]).unwrap().unwrap(), ("tok".to_owned(), TokenSource::Cookie));
        assert_eq!(token(Method::POST, &[cookie]), Err(AuthError::CrossSiteRequest));
        assert_eq!(token(Method::POST, &[cookie, ("sec-fetch-site", "cross-site")]), Err(AuthError::CrossSiteRequest));
        assert_eq!(token(Method::POST, &[cookie, ("sec-fetch-site", "same-site")]), Err(AuthError::CrossSiteRequest));
        assert!(token(Method::POST, &[cookie, ("sec-fetch-site", "same-origin")]).unwrap().is_some());
        assert!(
            token(Method::DELETE, &[cookie, ("origin", "https://api.example.com"), ("host", "api.example.com")])
                .unwrap()
                .is_some()
        );
        assert_eq!(
            token(Method::DELETE, &[cookie, ("origin", "https://evil.example"), ("host", "api.example.com")]),
            Err(AuthError::CrossSiteRequest)
        );
        assert!(
            token(Method::PUT, &[cookie, ("origin", "https://app.example.com"), ("host", "api.example.com")])
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn configured_origins_admit_same_site_pages_by_scheme_host_and_port() {
        let cookie = ("cookie", "__Host-access_token=tok");
        let allowed = [Origin::parse("https://app.example.com").unwrap()];
        let check = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = vec![cookie];
            pairs.extend_from_slice(extra);
            token_from_request(&Method::POST, &headers(&pairs), true, &allowed).map(|found| found.is_some())
        };
        // A sibling subdomain: browsers say same-site, the allow-list decides.
        assert_eq!(check(&[("sec-fetch-site", "same-site"), ("origin", "https://app.example.com")]), Ok(true));
        assert_eq!(check(&[("sec-fetch-site", "same-site"), ("origin", "https://app.example.com:443")]), Ok(true));
        assert_eq!(
            check(&[("sec-fetch-site", "same-site"), ("origin", "https://evil.example.com")]),
            Err(AuthError::CrossSiteRequest)
        );
        // Scheme and port count.
        assert_eq!(check(&[("origin", "http://app.example.com")]), Err(AuthError::CrossSiteRequest));
        assert_eq!(check(&[("origin", "https://app.example.com:8443")]), Err(AuthError::CrossSiteRequest));
        assert_eq!(check(&[("origin", "null")]), Err(AuthError::CrossSiteRequest));
    }

    #[test]
    fn only_the_https_origin_of_the_host_is_ours_unless_configured() {
        let cookie = ("cookie", "__Host-access_token=tok");
        let check = |origin: &'static str| {
            token_from_request(
                &Method::POST,
                &headers(&[cookie, ("origin", origin), ("host", "api.example.com")]),
                true,
                &[],
            )
            .map(|found| found.is_some())
        };
        assert_eq!(check("https://api.example.com"), Ok(true));
        assert_eq!(check("http://api.example.com"), Err(AuthError::CrossSiteRequest), "plain http on the same host");
        assert_eq!(check("https://api.example.com:444"), Err(AuthError::CrossSiteRequest));
    }

    #[test]
    fn cookies_are_ignored_when_disabled() {
        let map = headers(&[("cookie", "__Host-access_token=tok")]);
        assert_eq!(token_from_request(&Method::GET, &map, false, &[]), Ok(None));
    }
}
