//! Every way a request can fail authentication or authorisation, and how each looks on the
//! wire.
//!
//! Each rejection reason is its own [`AuthError`] variant so tests (and metrics) can tell them
//! apart; on the wire they collapse into the few shapes RFC 6750 §3 defines:
//!
//! | case | status | `WWW-Authenticate` |
//! |---|---|---|
//! | no token | 401 | `Bearer realm="<audience>"` (no error code, §3.1) |
//! | malformed `Authorization` | 400 | `Bearer realm=…, error="invalid_request"` |
//! | bad token (any JOSE or claim failure, revoked) | 401 | `Bearer realm=…, error="invalid_token", error_description=…` |
//! | missing scope / service token required | 403 | `Bearer realm=…, error="insufficient_scope", scope=…` |
//! | cookie token on a cross-site unsafe request | 403 | none |
//! | issuer keys unavailable | 503 + `Retry-After` | none |
//! | bound token without DPoP, DPoP with an unbound token | 401 | `DPoP algs=…, error="invalid_token", …` |
//! | DPoP proof missing or refused | 401 | `DPoP algs=…, error="invalid_dpop_proof", …` |
//! | DPoP nonce required or expired | 401 + `DPoP-Nonce` | `DPoP algs=…, error="use_dpop_nonce", …` |
//!
//! A 401 for a missing token carries a second challenge, `DPoP algs="ES256 EdDSA"`, so a
//! client learns that both schemes are accepted (RFC 9449 §7.1).
//!
//! The body is the RFC 6749 §5.2 error object (`{"error": …, "error_description": …}`), the
//! same shape OAuth endpoints use, so a client needs one error parser. Descriptions are short,
//! fixed strings: they never echo the token or anything else the client sent.

mod rejection;

#[cfg(feature = "axum")]
use axum::response::{IntoResponse, Response};
use http::StatusCode;
#[cfg(feature = "axum")]
use http::{HeaderValue, header};

pub use self::rejection::AuthRejection;
#[cfg(feature = "axum")]
use crate::dpop::DPOP_NONCE_HEADER;
use crate::dpop::{ProofError, jwk::ProofAlgorithm};

/// Which part of a compact JWS a problem was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenPart {
    /// The protected header (first segment).
    Header,
    /// The claims (second segment).
    Payload,
    /// The signature (third segment).
    Signature,
}

impl TokenPart {
    fn name(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Payload => "payload",
            Self::Signature => "signature",
        }
    }
}

/// Why a request was not authenticated or not authorised.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization: Bearer` header and no access-token cookie.
    #[error("no bearer token")]
    MissingToken,
    /// `Authorization` is present but not exactly one well-formed `Bearer` credential.
    #[error("malformed Authorization header")]
    MalformedAuthorization,
    /// The token came from the cookie on an unsafe method without same-origin evidence
    /// (`Sec-Fetch-Site` / `Origin`): a possible cross-site request forgery.
    #[error("cross-site request with a cookie token")]
    CrossSiteRequest,

    /// The token is longer than the configured limit; nothing of it was decoded.
    #[error("token too large")]
    TokenTooLarge,
    /// Not three dot-separated segments.
    #[error("not a compact JWS")]
    MalformedToken,
    /// A segment is not canonical unpadded base64url.
    #[error("{} is not canonical base64url", .0.name())]
    InvalidEncoding(TokenPart),
    /// The header or claims are not a single JSON object.
    #[error("{} is not a JSON object", .0.name())]
    InvalidJson(TokenPart),
    /// The header or claims contain the same member twice.
    #[error("{} has a duplicate member", .0.name())]
    DuplicateMember(TokenPart),
    /// `alg` is missing, `none`, or not an algorithm this verifier accepts.
    #[error("algorithm not allowed")]
    UnsupportedAlgorithm,
    /// `alg` differs from the algorithm the key is pinned to.
    #[error("algorithm does not match the key")]
    AlgorithmMismatch,
    /// No `kid` in the header.
    #[error("no kid")]
    MissingKeyId,
    /// `kid` is not a short printable string.
    #[error("malformed kid")]
    InvalidKeyId,
    /// `typ` is missing or not `at+jwt` (RFC 9068 §2.1).
    #[error("typ is not at+jwt")]
    InvalidType,
    /// `crit` lists extensions (this verifier understands none).
    #[error("unsupported crit")]
    UnsupportedCritical,
    /// The header carries `jku`, `x5u`, `x5c` or `jwk`: keys are only ever taken from the
    /// issuer's configured key set.
    #[error("header carries a key or key URL")]
    EmbeddedKey,
    /// No key with this `kid`, even after asking the issuer (or the store cannot ask).
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify with the key named by `kid`.
    #[error("bad signature")]
    InvalidSignature,

    /// `iss` is not exactly the configured issuer.
    #[error("untrusted issuer")]
    InvalidIssuer,
    /// `aud` does not contain this service's audience.
    #[error("wrong audience")]
    InvalidAudience,
    /// `exp` (plus leeway) has passed.
    #[error("expired")]
    Expired,
    /// `nbf` (minus leeway) is still in the future.
    #[error("not yet valid")]
    NotYetValid,
    /// `iat` (minus leeway) is in the future.
    #[error("issued in the future")]
    IssuedInFuture,
    /// `exp - iat` exceeds the configured maximum lifetime.
    #[error("lifetime too long")]
    LifetimeTooLong,
    /// A date claim (named) is not a JSON number in the accepted range, or `exp` is not
    /// after `iat`.
    #[error("claim {0} is not a valid NumericDate")]
    InvalidDate(&'static str),
    /// A required claim (named) is absent.
    #[error("claim {0} is missing")]
    MissingClaim(&'static str),
    /// A claim (named) has the wrong JSON type or is empty.
    #[error("claim {0} has the wrong type")]
    InvalidClaim(&'static str),
    /// The token's session (`sid`) or the token itself (`jti`) was revoked, as the issuer's
    /// revocation feed said.
    #[error("revoked")]
    Revoked,
    /// More revocations arrived than the verifier holds (`revocation_max_entries`): tokens
    /// issued up to the newest revocation it could not hold are refused until those
    /// revocations can no longer matter. The client renews its token and carries on.
    #[error("issued before revocations that could not be held")]
    RevocationOverflow,

    /// The caller is authenticated but lacks the named scope.
    #[error("insufficient scope: {0}")]
    InsufficientScope(&'static str),
    /// The endpoint accepts client-credentials (service) tokens only.
    #[error("service token required")]
    ServiceTokenRequired,

    /// A token bound to a key (`cnf.jkt`) was presented as `Bearer` or in the cookie: only
    /// the `DPoP` scheme with a proof by that key may use it (RFC 9449 §7.1).
    #[error("DPoP-bound token presented without DPoP")]
    DpopRequired,
    /// The `DPoP` scheme with a token that is not bound to any key.
    #[error("token presented with DPoP is not DPoP-bound")]
    DpopNotBound,
    /// The `DPoP` proof is missing, more than one, or failed a check.
    #[error("invalid DPoP proof: {0}")]
    InvalidDpopProof(ProofError),
    /// The proof needs a server nonce (none, or an expired one): the client retries with
    /// this one, sent as `DPoP-Nonce`.
    #[error("DPoP nonce required")]
    UseDpopNonce {
        /// The nonce to put in the next proof.
        nonce: String,
    },

    /// The DPoP replay cache is full of unexpired proofs (a flood): refused, not forgotten,
    /// and the client retries shortly (503 with `Retry-After`).
    #[error("DPoP replay cache full")]
    DpopReplayCacheFull,

    /// The issuer's keys cannot be used right now (never loaded, or older than `max_stale`,
    /// or the issuer is being asked and did not answer within the wait budget).
    #[error("signing keys unavailable")]
    KeysUnavailable {
        /// Seconds the client should wait before retrying.
        retry_after_secs: u64,
    },
}

impl AuthError {
    /// The HTTP status this error maps to.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken => StatusCode::UNAUTHORIZED,
            Self::MalformedAuthorization => StatusCode::BAD_REQUEST,
            Self::CrossSiteRequest | Self::InsufficientScope(_) | Self::ServiceTokenRequired => StatusCode::FORBIDDEN,
            Self::KeysUnavailable { .. } | Self::DpopReplayCacheFull => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    /// The `error` code of the body (and of the challenge, where RFC 6750 defines one).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingToken => "unauthorized",
            Self::MalformedAuthorization => "invalid_request",
            Self::CrossSiteRequest => "cross_site_request",
            Self::InsufficientScope(_) | Self::ServiceTokenRequired => "insufficient_scope",
            Self::KeysUnavailable { .. } | Self::DpopReplayCacheFull => "temporarily_unavailable",
            Self::InvalidDpopProof(_) => "invalid_dpop_proof",
            Self::UseDpopNonce { .. } => "use_dpop_nonce",
            _ => "invalid_token",
        }
    }

    /// A short, fixed label for metrics and logs (`expired`, `bad_signature`…).
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::MalformedAuthorization => "malformed_authorization",
            Self::CrossSiteRequest => "cross_site_request",
            Self::TokenTooLarge => "too_large",
            Self::MalformedToken => "malformed",
            Self::InvalidEncoding(_) => "bad_base64",
            Self::InvalidJson(_) => "bad_json",
            Self::DuplicateMember(_) => "duplicate_member",
            Self::UnsupportedAlgorithm => "unsupported_alg",
            Self::AlgorithmMismatch => "alg_mismatch",
            Self::MissingKeyId => "missing_kid",
            Self::InvalidKeyId => "bad_kid",
            Self::InvalidType => "bad_typ",
            Self::UnsupportedCritical => "unsupported_crit",
            Self::EmbeddedKey => "embedded_key",
            Self::UnknownKey => "unknown_kid",
            Self::InvalidSignature => "bad_signature",
            Self::InvalidIssuer => "bad_issuer",
            Self::InvalidAudience => "bad_audience",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::IssuedInFuture => "issued_in_future",
            Self::LifetimeTooLong => "lifetime_too_long",
            Self::InvalidDate(_) => "bad_date",
            Self::MissingClaim(_) => "missing_claim",
            Self::InvalidClaim(_) => "bad_claim",
            Self::Revoked => "revoked",
            Self::RevocationOverflow => "revocation_overflow",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::ServiceTokenRequired => "service_token_required",
            Self::DpopRequired => "dpop_required",
            Self::DpopNotBound => "dpop_not_bound",
            Self::InvalidDpopProof(_) => "bad_dpop_proof",
            Self::UseDpopNonce { .. } => "dpop_nonce_required",
            Self::DpopReplayCacheFull => "dpop_replay_cache_full",
            Self::KeysUnavailable { .. } => "keys_unavailable",
        }
    }

    /// The `error_description`: one short sentence, safe to put in a quoted header value
    /// (no `"` or `\`), never containing client input.
    #[must_use]
    pub fn description(&self) -> String {
        match self {
            Self::MissingToken => "a bearer token is required".to_owned(),
            Self::MalformedAuthorization => {
                "the Authorization header is not a single Bearer or DPoP credential".to_owned()
            }
            Self::CrossSiteRequest => "cookie-authenticated requests must come from the same origin".to_owned(),
            Self::TokenTooLarge => "the token is too large".to_owned(),
            Self::MalformedToken => "the token is not a compact JWS".to_owned(),
            Self::InvalidEncoding(part) => format!("the token {} is not canonical base64url", part.name()),
            Self::InvalidJson(part) => format!("the token {} is not a JSON object", part.name()),
            Self::DuplicateMember(part) => format!("the token {} has a duplicate member", part.name()),
            Self::UnsupportedAlgorithm => "the token algorithm is not allowed".to_owned(),
            Self::AlgorithmMismatch => "the token algorithm does not match its key".to_owned(),
            Self::MissingKeyId => "the token header has no kid".to_owned(),
            Self::InvalidKeyId => "the token kid is malformed".to_owned(),
            Self::InvalidType => "the token typ is not at+jwt".to_owned(),
            Self::UnsupportedCritical => "the token has unsupported critical header parameters".to_owned(),
            Self::EmbeddedKey => "the token header carries a key or key URL".to_owned(),
            Self::UnknownKey => "the token signing key is not known".to_owned(),
            Self::InvalidSignature => "the token signature is invalid".to_owned(),
            Self::InvalidIssuer => "the token issuer is not trusted".to_owned(),
            Self::InvalidAudience => "the token audience does not include this service".to_owned(),
            Self::Expired => "the token has expired".to_owned(),
            Self::NotYetValid => "the token is not yet valid".to_owned(),
            Self::IssuedInFuture => "the token was issued in the future".to_owned(),
            Self::LifetimeTooLong => "the token lifetime exceeds the allowed maximum".to_owned(),
            Self::InvalidDate(claim) => format!("the token claim {claim} is not a valid date"),
            Self::MissingClaim(claim) => format!("the token claim {claim} is missing"),
            Self::InvalidClaim(claim) => format!("the token claim {claim} has the wrong type"),
            Self::Revoked => "the token has been revoked".to_owned(),
            Self::RevocationOverflow => {
                "the token must be renewed: it predates revocations this service could not hold".to_owned()
            }
            Self::InsufficientScope(scope) => format!("the token lacks the scope {scope}"),
            Self::ServiceTokenRequired => "this endpoint accepts service tokens only".to_owned(),
            Self::DpopRequired => "the token is DPoP-bound: send it with the DPoP scheme and a proof".to_owned(),
            Self::DpopNotBound => "the token is not DPoP-bound: send it with the Bearer scheme".to_owned(),
            // Fixed texts of our own: ProofError never carries client input.
            Self::InvalidDpopProof(problem) => problem.to_string(),
            Self::UseDpopNonce { .. } => "a DPoP nonce is required: retry with the one in DPoP-Nonce".to_owned(),
            Self::DpopReplayCacheFull => "too many DPoP proofs in flight; retry shortly".to_owned(),
            Self::KeysUnavailable { .. } => "the token issuer keys are temporarily unavailable".to_owned(),
        }
    }

    /// Whether the fault lies with the token or request (4xx) rather than with us (5xx).
    #[must_use]
    pub fn is_client_error(&self) -> bool {
        self.status().is_client_error()
    }

    /// The `WWW-Authenticate` value for this error, with `realm` when given; `None` where
    /// RFC 6750 sends no challenge (a CSRF refusal, an issuer outage).
    #[must_use]
    pub fn challenge(&self, realm: Option<&str>) -> Option<String> {
        self.challenge_for(realm, None, false)
    }

    /// [`AuthError::challenge`] naming the resource's RFC 9728 metadata URL when given
    /// (`resource_metadata`, §5.1, so a client can find the issuer and scopes from a 401),
    /// for a request that used the `DPoP` scheme when `dpop_scheme`: a token error is then
    /// answered in that scheme too (RFC 9449 §7.1).
    #[must_use]
    pub fn challenge_for(
        &self,
        realm: Option<&str>,
        resource_metadata: Option<&str>,
        dpop_scheme: bool,
    ) -> Option<String> {
        let description = self.description();
        let space = Space { realm, resource_metadata };
        let bearer = |params: &[(&str, &str)]| scheme_challenge("Bearer", space, params);
        let dpop = |code: &str| {
            scheme_challenge(
                "DPoP",
                space,
                &[("algs", &dpop_algs()), ("error", code), ("error_description", &description)],
            )
        };
        match self {
            Self::MissingToken => Some(bearer(&[])),
            Self::MalformedAuthorization => {
                Some(bearer(&[("error", "invalid_request"), ("error_description", &description)]))
            }
            Self::InsufficientScope(scope) => {
                Some(bearer(&[("error", "insufficient_scope"), ("error_description", &description), ("scope", scope)]))
            }
            Self::ServiceTokenRequired => {
                Some(bearer(&[("error", "insufficient_scope"), ("error_description", &description)]))
            }
            Self::CrossSiteRequest | Self::KeysUnavailable { .. } | Self::DpopReplayCacheFull => None,
            Self::DpopRequired | Self::DpopNotBound | Self::InvalidDpopProof(_) | Self::UseDpopNonce { .. } => {
                Some(dpop(self.code()))
            }
            _ if dpop_scheme => Some(dpop("invalid_token")),
            _ => Some(bearer(&[("error", "invalid_token"), ("error_description", &description)])),
        }
    }

    /// The response, with `realm` in the challenge when given: the status, the JSON error
    /// object, `Cache-Control: no-store`, the challenge and, for an issuer outage, `Retry-After`.
    #[cfg(feature = "axum")]
    #[must_use]
    pub fn to_response(&self, realm: Option<&str>) -> Response {
        self.to_response_for(realm, None, false)
    }

    /// [`AuthError::to_response`] whose challenges name the resource's RFC 9728 metadata URL
    /// when given, in the `DPoP` scheme for a request that used it ([`AuthError::challenge_for`]).
    #[cfg(feature = "axum")]
    #[must_use]
    pub fn to_response_for(&self, realm: Option<&str>, resource_metadata: Option<&str>, dpop_scheme: bool) -> Response {
        let body = serde_json::json!({ "error": self.code(), "error_description": self.description() });
        let mut response = (self.status(), axum::Json(body)).into_response();
        // Error bodies say things about the caller's credentials: never cache them.
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(value) =
            self.challenge_for(realm, resource_metadata, dpop_scheme).and_then(|c| HeaderValue::from_str(&c).ok())
        {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
        }
        if matches!(self, Self::MissingToken) {
            let offer = scheme_challenge("DPoP", Space { realm, resource_metadata }, &[("algs", &dpop_algs())]);
            if let Ok(value) = HeaderValue::from_str(&offer) {
                response.headers_mut().append(header::WWW_AUTHENTICATE, value);
            }
        }
        if let Self::UseDpopNonce { nonce } = self
            && let Ok(value) = HeaderValue::from_str(nonce)
        {
            response.headers_mut().insert(DPOP_NONCE_HEADER, value);
        }
        if matches!(self, Self::DpopReplayCacheFull) {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1));
        }
        if let Self::KeysUnavailable { retry_after_secs } = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from((*retry_after_secs).max(1)));
        }
        response
    }
}

/// `ES256 EdDSA`: the proof algorithms the verifier accepts.
fn dpop_algs() -> String {
    ProofAlgorithm::ALL.map(ProofAlgorithm::name).join(" ")
}

/// What every challenge names besides its error: the realm and the RFC 9728 metadata URL.
#[derive(Clone, Copy)]
struct Space<'a> {
    realm: Option<&'a str>,
    resource_metadata: Option<&'a str>,
}

/// `<scheme> realm="…", k="v", …` with every value quoted; values are our own fixed strings,
/// and the realm is sanitised so a configured audience cannot break the header.
fn scheme_challenge(scheme: &str, space: Space<'_>, params: &[(&str, &str)]) -> String {
    let mut out = String::from(scheme);
    let mut first = true;
    let mut push = |out: &mut String, key: &str, value: &str| {
        out.push_str(if first { " " } else { ", " });
        first = false;
        out.push_str(key);
        out.push_str("=\"");
        out.extend(value.chars().filter(|c| (' '..='~').contains(c) && *c != '"' && *c != '\\'));
        out.push('"');
    };
    if let Some(realm) = space.realm {
        push(&mut out, "realm", realm);
    }
    if let Some(url) = space.resource_metadata {
        push(&mut out, "resource_metadata", url);
    }
    for (key, value) in params {
        push(&mut out, key, value);
    }
    out
}

#[cfg(feature = "axum")]
impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        self.to_response(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(realm: Option<&str>, params: &[(&str, &str)]) -> String {
        scheme_challenge("Bearer", Space { realm, resource_metadata: None }, params)
    }

    #[test]
    fn challenge_values_are_quoted_and_sanitised() {
        assert_eq!(bearer(Some("orders"), &[]), r#"Bearer realm="orders""#);
        assert_eq!(
            bearer(Some("a\"b\\c"), &[("error", "invalid_token")]),
            r#"Bearer realm="abc", error="invalid_token""#
        );
        assert_eq!(bearer(None, &[]), "Bearer");
    }

    #[test]
    fn every_challenge_names_the_resource_metadata_when_there_is_one() {
        let url = "https://api.example/.well-known/oauth-protected-resource/v1/orders";
        let errors = [
            (AuthError::MissingToken, false),
            (AuthError::Revoked, false),
            (AuthError::InsufficientScope("orders:write"), false),
            (AuthError::ServiceTokenRequired, false),
            (AuthError::DpopRequired, true),
            (AuthError::Revoked, true),
        ];
        for (error, dpop_scheme) in errors {
            let challenge = error.challenge_for(Some("orders-service"), Some(url), dpop_scheme).unwrap();
            assert!(
                challenge.contains(&format!(r#"realm="orders-service", resource_metadata="{url}""#)),
                "{error:?}: {challenge}"
            );
        }
        assert!(
            !AuthError::Revoked
                .challenge_for(Some("orders-service"), None, false)
                .unwrap()
                .contains("resource_metadata")
        );
    }

    #[test]
    fn descriptions_are_header_safe() {
        let all = [
            AuthError::MissingToken,
            AuthError::InvalidEncoding(TokenPart::Header),
            AuthError::InvalidDate("exp"),
            AuthError::InsufficientScope("orders:write"),
            AuthError::KeysUnavailable { retry_after_secs: 3 },
            AuthError::Revoked,
            AuthError::RevocationOverflow,
            AuthError::DpopRequired,
            AuthError::InvalidDpopProof(ProofError::ForbiddenHeader("x5t#S256")),
            AuthError::InvalidDpopProof(ProofError::InvalidKey("a coordinate is missing")),
            AuthError::UseDpopNonce { nonce: "n".to_owned() },
        ];
        for error in all {
            let text = error.description();
            assert!(!text.contains('"') && !text.contains('\\'), "{text}");
        }
    }
}
