//! Sender-constrained tokens at the resource server (RFC 9449 §7).
//!
//! A token bound to a key (`cnf.jkt`) is accepted only with the `DPoP` scheme and exactly
//! one proof, signed by that key, for this request and this token.
//!
//! The URI the proof must name is the one the client addressed. A service reached directly
//! sees it as `http://` plus `Host` plus the path. Behind a gateway that terminates TLS,
//! [`VerifierConfig::dpop_trust_forwarded`](crate::VerifierConfig::dpop_trust_forwarded)
//! takes the scheme from `X-Forwarded-Proto` and the host from `X-Forwarded-Host`; trust
//! them only when the gateway sets them and nothing else can reach the service.

use axum::extract::OriginalUri;
use http::{HeaderMap, request::Parts};

use super::TokenSource;
use crate::{
    claims::Caller,
    dpop::{ProofError, ProofRequest, ProofVerifier, VerifiedProof},
    error::AuthError,
    verifier::Verifier,
};

/// The `DPoP` request header.
pub const DPOP_HEADER: &str = "dpop";

/// Checks that `caller`'s token was presented the way its binding demands.
pub(super) fn check(
    parts: &Parts,
    verifier: &Verifier,
    caller: &Caller,
    token: &[u8],
    source: TokenSource,
) -> Result<(), AuthError> {
    let jkt = match (caller.dpop_jkt.as_deref(), source) {
        (None, TokenSource::Dpop) => return Err(AuthError::DpopNotBound),
        (None, _) => return Ok(()),
        (Some(_), TokenSource::Header | TokenSource::Cookie) => return Err(AuthError::DpopRequired),
        (Some(jkt), TokenSource::Dpop) => jkt,
    };
    let refused = AuthError::InvalidDpopProof;
    let proof = proof_header(&parts.headers)?.ok_or(refused(ProofError::Missing))?;
    // A cached token is byte-equal to one that verified; an uncached one passed the syntax
    // check: either way it is ASCII.
    let token = std::str::from_utf8(token).map_err(|_| AuthError::MalformedAuthorization)?;
    // Nested routers see a shortened path; the client addressed the original one.
    let path = parts.extensions.get::<OriginalUri>().map_or(parts.uri.path(), |original| original.0.path());
    let uri = request_uri(&parts.headers, path, verifier.config().dpop_trust_forwarded)
        .ok_or(refused(ProofError::UriMismatch))?;
    let request =
        ProofRequest { method: parts.method.as_str(), uri: &uri, access_token: Some(token), bound_to: Some(jkt) };
    check_proof(verifier.proofs(), proof, &request, verifier.config().clock.now_unix()).map(drop)
}

/// The request's one `DPoP` header, `None` without one.
///
/// # Errors
/// [`AuthError::InvalidDpopProof`] for two or more, or one that is not text.
pub fn proof_header(headers: &HeaderMap) -> Result<Option<&str>, AuthError> {
    let mut proofs = headers.get_all(DPOP_HEADER).iter();
    let Some(proof) = proofs.next() else { return Ok(None) };
    if proofs.next().is_some() {
        return Err(AuthError::InvalidDpopProof(ProofError::Multiple));
    }
    proof.to_str().map(Some).map_err(|_| AuthError::InvalidDpopProof(ProofError::Malformed))
}

/// Verifies `proof` for `request` at `now`, a refusal as the error the client must see.
///
/// A proof that lacks a (fresh) nonce gets [`AuthError::UseDpopNonce`] with a new one, a
/// full replay cache a 503 to retry.
///
/// # Errors
/// [`AuthError::InvalidDpopProof`], [`AuthError::UseDpopNonce`] or
/// [`AuthError::DpopReplayCacheFull`].
pub fn check_proof(
    proofs: &ProofVerifier,
    proof: &str,
    request: &ProofRequest<'_>,
    now: i64,
) -> Result<VerifiedProof, AuthError> {
    proofs.verify(proof, request, now).map_err(|problem| {
        if problem.wants_nonce() {
            AuthError::UseDpopNonce { nonce: proofs.issue_nonce(now).unwrap_or_default() }
        } else if problem == ProofError::ReplayCacheFull {
            AuthError::DpopReplayCacheFull
        } else {
            AuthError::InvalidDpopProof(problem)
        }
    })
}

/// The absolute URI of a request for `path` as the client addressed it, without the query;
/// `None` without a usable host. The token endpoint checks its proofs against this too.
#[must_use]
pub fn request_uri(headers: &HeaderMap, path: &str, trust_forwarded: bool) -> Option<String> {
    // A trusted header that is there must be usable: two values are not a fallback to Host.
    let forwarded = |name: &str| {
        if trust_forwarded && headers.contains_key(name) { single(headers, name).map(Some) } else { Some(None) }
    };
    let scheme = match forwarded("x-forwarded-proto")? {
        Some(proto) if proto.eq_ignore_ascii_case("https") => "https",
        Some(proto) if proto.eq_ignore_ascii_case("http") => "http",
        Some(_) => return None,
        None => "http",
    };
    let host = match forwarded("x-forwarded-host")? {
        Some(host) => host,
        None => single(headers, http::header::HOST.as_str())?,
    };
    if host.is_empty() || host.contains(['/', '?', '#', '@', ' ']) {
        return None;
    }
    Some(format!("{scheme}://{host}{path}"))
}

/// A header present exactly once, as text.
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok().map(str::trim)
}

#[cfg(test)]
mod tests {
    use http::{Request, header::HOST};

    use super::*;

    fn uri_of(path: &str, headers: &[(&str, &str)], trust_forwarded: bool) -> Option<String> {
        let mut request = Request::get(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let parts = request.body(()).unwrap().into_parts().0;
        request_uri(&parts.headers, parts.uri.path(), trust_forwarded)
    }

    #[test]
    fn the_uri_is_the_host_and_path_unless_forwarded_headers_are_trusted() {
        let forwarded = [
            (HOST.as_str(), "orders-service:8080"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "api.example.com"),
        ];
        let path = "/v1/orders?limit=5";
        assert_eq!(uri_of(path, &forwarded, false).as_deref(), Some("http://orders-service:8080/v1/orders"));
        assert_eq!(uri_of(path, &forwarded, true).as_deref(), Some("https://api.example.com/v1/orders"));
        // Without forwarded headers a trusting service still sees what a direct client sent.
        let direct = [(HOST.as_str(), "notifications-service:8080")];
        assert_eq!(
            uri_of("/v1/notifications", &direct, true).as_deref(),
            Some("http://notifications-service:8080/v1/notifications")
        );
    }

    #[test]
    fn odd_forwarded_values_give_no_uri() {
        for bad in [[("x-forwarded-proto", "ftp")], [("x-forwarded-host", "evil.example/x")], [("host", "a b")]] {
            let mut headers = vec![(HOST.as_str(), "api.example.com")];
            headers.retain(|(name, _)| *name != bad[0].0);
            headers.extend(bad);
            assert_eq!(uri_of("/v1/orders", &headers, true), None, "{bad:?}");
        }
        assert_eq!(uri_of("/v1/orders", &[], false), None, "no host");
        let twice = [(HOST.as_str(), "a"), ("x-forwarded-host", "b"), ("x-forwarded-host", "c")];
        assert_eq!(uri_of("/x", &twice, true), None, "an ambiguous forwarded header");
        assert_eq!(uri_of("/x", &twice, false).as_deref(), Some("http://a/x"), "untrusted: not even read");
    }
}
