//! DPoP proofs (RFC 9449): the checks a resource server or a token endpoint makes of the
//! `DPoP` header before it trusts that the sender holds the key a token is bound to.
//!
//! [`ProofVerifier::verify`] takes the proof JWT and the request as the client sent it and
//! returns the key's RFC 7638 thumbprint (what `cnf.jkt` must equal) once every rule holds:
//! - the proof is a compact JWS under [`MAX_PROOF_BYTES`], `typ: dpop+jwt`, an `alg` from
//!   [`ProofAlgorithm`] (ES256, EdDSA with Ed25519; never `none` or a MAC), and a `jwk` that
//!   is a public key of that algorithm with no private member; no `crit`, no other key
//!   reference (`kid`, `jku`, `x5c`, `x5u`);
//! - the signature verifies with that embedded key;
//! - `htm` equals the request method and `htu` the request URI, scheme, host, port and path
//!   compared after normalisation, query and fragment ignored (§4.3);
//! - `iat` is within [`ProofSettings::max_age`] in the past and
//!   [`ProofSettings::max_clock_skew`] in the future;
//! - `ath` is the base64url SHA-256 of the access token when one is presented, and absent
//!   otherwise;
//! - `jti` was not seen before by this verifier within the proof's lifetime ([`replay`]: a
//!   bounded cache per process);
//! - `nonce`, when the verifier requires one, is a nonce it issued and has not expired
//!   ([`nonce`]: sealed and time-stamped, so every replica sharing the key checks it without
//!   shared state).
//!
//! What remains across replicas: each replica keeps its own `jti` cache, so a captured proof
//! could be replayed once at each other replica within its lifetime. Requiring server nonces
//! bounds that window to the nonce's lifetime and ties it to a nonce the attacker must also
//! have captured with the proof.

pub mod client;
pub mod jwk;
pub mod nonce;
pub mod replay;

use std::time::Duration;

use aws_lc_rs::digest;

use self::{
    jwk::{ProofAlgorithm, ProofKey},
    nonce::{NonceKey, NonceProblem},
    replay::ReplayCache,
};
use crate::{
    error::TokenPart,
    jose::{self, decode_part},
    json::{self, JsonProblem},
};

/// Longest proof accepted, checked before anything is decoded: a proof holds one public key
/// and a handful of claims, well under 2 KiB.
pub const MAX_PROOF_BYTES: usize = 4 * 1024;

/// The response header that hands a client a server nonce.
pub const DPOP_NONCE_HEADER: &str = "dpop-nonce";

/// Longest `jti` accepted (RFC 9449 suggests 96 random bits; UUIDs are 36 characters).
pub const MAX_JTI_CHARS: usize = 256;

/// Why a proof was refused.
///
/// Every one is `invalid_dpop_proof` on the wire, except the nonce problems, which are
/// `use_dpop_nonce` with a fresh `DPoP-Nonce` (RFC 9449 §7.1, §8), and
/// [`ProofError::ReplayCacheFull`], a 503 to retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The token is bound to a key and the request carries no `DPoP` header.
    #[error("a DPoP proof is required")]
    Missing,
    /// More than one `DPoP` header (RFC 9449 §4.3: exactly one).
    #[error("exactly one DPoP proof is allowed")]
    Multiple,
    /// The proof is valid but signed by a key the access token is not bound to.
    #[error("the DPoP proof is signed by a key the token is not bound to")]
    KeyMismatch,
    /// Not a compact JWS of valid base64url and strict JSON, or over the size limit.
    #[error("the DPoP proof is not a well-formed JWT")]
    Malformed,
    /// `typ` is not `dpop+jwt`.
    #[error("the DPoP proof's typ must be dpop+jwt")]
    WrongType,
    /// `alg` is missing, `none`, symmetric or not offered.
    #[error("the DPoP proof's alg is not supported (ES256, EdDSA)")]
    UnsupportedAlgorithm,
    /// `crit`, or a key reference other than the embedded `jwk`.
    #[error("the DPoP proof's header has a member that is not allowed: {0}")]
    ForbiddenHeader(&'static str),
    /// The `jwk` is missing or is not a public key of `alg`.
    #[error("the DPoP proof's jwk is not a public key for its alg: {0}")]
    InvalidKey(&'static str),
    /// The `jwk` carries private key material.
    #[error("the DPoP proof's jwk contains a private key")]
    PrivateKey,
    /// The signature does not verify with the embedded key.
    #[error("the DPoP proof's signature is invalid")]
    BadSignature,
    /// A required claim is missing or has the wrong type.
    #[error("the DPoP proof has no valid {0} claim")]
    MissingClaim(&'static str),
    /// `htm` is not the request's method.
    #[error("the DPoP proof is for another HTTP method")]
    MethodMismatch,
    /// `htu` is not the request's URI.
    #[error("the DPoP proof is for another URI")]
    UriMismatch,
    /// `ath` does not hash the presented access token, or is present without one.
    #[error("the DPoP proof's ath does not match the access token")]
    AccessTokenHashMismatch,
    /// `iat` is older than the window.
    #[error("the DPoP proof is too old")]
    Stale,
    /// `iat` is ahead of the clock by more than the skew allowed.
    #[error("the DPoP proof is issued in the future")]
    FromTheFuture,
    /// This `jti` was already used with this key.
    #[error("the DPoP proof has been used before")]
    Replayed,
    /// So many unexpired proofs are remembered that a new one cannot be (fails closed).
    #[error("too many DPoP proofs in flight; retry")]
    ReplayCacheFull,
    /// A nonce is required and the proof has none.
    #[error("a DPoP nonce is required")]
    NonceRequired,
    /// The nonce is ours but too old: the client retries with the fresh one.
    #[error("the DPoP nonce has expired")]
    NonceExpired,
    /// The nonce is not one we issued, or is dated in the future.
    #[error("the DPoP nonce is not valid")]
    NonceInvalid,
}

impl ProofError {
    /// Whether the answer is `use_dpop_nonce` (with a fresh nonce), not `invalid_dpop_proof`:
    /// a nonce that is missing, expired or not ours (§8: after the nonce key changed, a
    /// client's stored nonce is simply replaced).
    #[must_use]
    pub fn wants_nonce(&self) -> bool {
        matches!(self, Self::NonceRequired | Self::NonceExpired | Self::NonceInvalid)
    }
}

/// Time limits of a [`ProofVerifier`].
#[derive(Debug, Clone)]
pub struct ProofSettings {
    /// How old a proof's `iat` may be. Default 60 s: a proof is made for one request.
    pub max_age: Duration,
    /// How far ahead of our clock `iat` may be. Default 5 s.
    pub max_clock_skew: Duration,
    /// How many unexpired `jti`s one process remembers. Default 100 000 (about 6 MiB).
    pub replay_capacity: usize,
    /// How long an issued nonce is accepted. Default 5 min.
    pub nonce_lifetime: Duration,
}

impl Default for ProofSettings {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(60),
            max_clock_skew: Duration::from_secs(5),
            replay_capacity: 100_000,
            nonce_lifetime: Duration::from_secs(300),
        }
    }
}

/// The request a proof must describe, as the client sent it (behind a gateway: rebuilt
/// from the forwarded headers the operator trusts).
#[derive(Debug, Clone, Copy)]
pub struct ProofRequest<'a> {
    /// The HTTP method (`GET`).
    pub method: &'a str,
    /// The absolute URI the client addressed (`https://api.example.com/v1/orders`); query
    /// and fragment are ignored.
    pub uri: &'a str,
    /// The access token presented with the proof (resource requests); `None` at the token
    /// endpoint.
    pub access_token: Option<&'a str>,
    /// The thumbprint the access token is bound to (`cnf.jkt`): a proof by another key is
    /// refused before its `jti` is remembered, so throwaway keys cannot fill the cache.
    pub bound_to: Option<&'a str>,
}

/// A proof that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// RFC 7638 SHA-256 thumbprint of the proof's key, base64url: what `cnf.jkt` binds.
    pub thumbprint: String,
    /// The key's algorithm.
    pub algorithm: ProofAlgorithm,
    /// `jti`.
    pub jti: String,
    /// `iat`, Unix seconds.
    pub issued_at: i64,
}

/// Verifies DPoP proofs, remembers their `jti`s and, with a [`NonceKey`], issues and checks
/// server nonces.
#[derive(Debug)]
pub struct ProofVerifier {
    settings: ProofSettings,
    replay: ReplayCache,
    nonces: Option<NonceKey>,
}

impl ProofVerifier {
    /// A verifier that requires no nonce.
    #[must_use]
    pub fn new(settings: ProofSettings) -> Self {
        Self::configured(settings, None)
    }

    /// A verifier that requires a nonce sealed with `key` (share the key across replicas).
    #[must_use]
    pub fn with_nonces(settings: ProofSettings, key: NonceKey) -> Self {
        Self::configured(settings, Some(key))
    }

    /// A verifier that requires nonces exactly when given a key.
    #[must_use]
    pub fn configured(settings: ProofSettings, nonces: Option<NonceKey>) -> Self {
        let replay = ReplayCache::new(settings.replay_capacity);
        Self { settings, replay, nonces }
    }

    /// Whether proofs must carry a server nonce.
    #[must_use]
    pub fn requires_nonce(&self) -> bool {
        self.nonces.is_some()
    }

    /// A fresh nonce for `DPoP-Nonce`, when nonces are required.
    #[must_use]
    pub fn issue_nonce(&self, now: i64) -> Option<String> {
        self.nonces.as_ref().map(|key| key.issue(now))
    }

    /// Checks `proof` for `request` at `now` (Unix seconds); see the module docs.
    ///
    /// # Errors
    /// The [`ProofError`] of the first rule broken.
    pub fn verify(&self, proof: &str, request: &ProofRequest<'_>, now: i64) -> Result<VerifiedProof, ProofError> {
        let parts = jose::split(proof, MAX_PROOF_BYTES).map_err(|_| ProofError::Malformed)?;
        let header = decode_part(parts.header, TokenPart::Header).map_err(|_| ProofError::Malformed)?;
        let header = json::parse_object(&header).map_err(malformed)?;
        let (algorithm, key) = check_header(&header)?;
        let signature = decode_part(parts.signature, TokenPart::Signature).map_err(|_| ProofError::Malformed)?;
        key.verify(parts.signing_input.as_bytes(), &signature)?;

        let claims = decode_part(parts.payload, TokenPart::Payload).map_err(|_| ProofError::Malformed)?;
        let claims = json::parse_object(&claims).map_err(malformed)?;
        let text = |name: &'static str| claims.get(name).and_then(|v| v.as_str()).ok_or(ProofError::MissingClaim(name));
        let jti = text("jti")?;
        if jti.is_empty() || jti.chars().count() > MAX_JTI_CHARS {
            return Err(ProofError::MissingClaim("jti"));
        }
        if text("htm")? != request.method {
            return Err(ProofError::MethodMismatch);
        }
        if !same_target(text("htu")?, request.uri) {
            return Err(ProofError::UriMismatch);
        }
        let issued_at = claims.get("iat").and_then(serde_json::Value::as_i64).ok_or(ProofError::MissingClaim("iat"))?;
        let max_age = i64::try_from(self.settings.max_age.as_secs()).unwrap_or(i64::MAX);
        let skew = i64::try_from(self.settings.max_clock_skew.as_secs()).unwrap_or(i64::MAX);
        if issued_at > now.saturating_add(skew) {
            return Err(ProofError::FromTheFuture);
        }
        if issued_at < now.saturating_sub(max_age) {
            return Err(ProofError::Stale);
        }
        match (claims.get("ath"), request.access_token) {
            (None, None) => {}
            (Some(ath), Some(token)) if ath.as_str() == Some(access_token_hash(token).as_str()) => {}
            _ => return Err(ProofError::AccessTokenHashMismatch),
        }
        if let Some(nonces) = &self.nonces {
            let nonce = claims.get("nonce").and_then(|v| v.as_str()).ok_or(ProofError::NonceRequired)?;
            let lifetime = i64::try_from(self.settings.nonce_lifetime.as_secs()).unwrap_or(i64::MAX);
            nonces.check(nonce, now, lifetime, skew).map_err(|problem| match problem {
                NonceProblem::Expired => ProofError::NonceExpired,
                NonceProblem::Invalid => ProofError::NonceInvalid,
            })?;
        }
        let thumbprint = key.thumbprint();
        if request.bound_to.is_some_and(|bound| bound != thumbprint) {
            return Err(ProofError::KeyMismatch);
        }
        // Remembered until it could no longer pass the `iat` check anyway.
        self.replay.insert(&thumbprint, jti, issued_at.saturating_add(max_age), now)?;
        Ok(VerifiedProof { thumbprint, algorithm, jti: jti.to_owned(), issued_at })
    }
}

fn malformed(_: JsonProblem) -> ProofError {
    ProofError::Malformed
}

/// Members that would name a key other than the embedded one, or extensions we do not know.
const FORBIDDEN_HEADER_MEMBERS: &[&str] = &["crit", "kid", "jku", "x5u", "x5c", "x5t", "x5t#S256"];

fn check_header(header: &serde_json::Map<String, serde_json::Value>) -> Result<(ProofAlgorithm, ProofKey), ProofError> {
    if !header.get("typ").and_then(|v| v.as_str()).is_some_and(|typ| typ.eq_ignore_ascii_case("dpop+jwt")) {
        return Err(ProofError::WrongType);
    }
    let algorithm = header
        .get("alg")
        .and_then(|v| v.as_str())
        .and_then(ProofAlgorithm::from_name)
        .ok_or(ProofError::UnsupportedAlgorithm)?;
    if let Some(member) = FORBIDDEN_HEADER_MEMBERS.iter().find(|name| header.contains_key(**name)) {
        return Err(ProofError::ForbiddenHeader(member));
    }
    let jwk = header.get("jwk").and_then(|v| v.as_object()).ok_or(ProofError::InvalidKey("no jwk object"))?;
    Ok((algorithm, ProofKey::from_jwk(jwk, algorithm)?))
}

/// `ath`: base64url SHA-256 of the access token's ASCII (RFC 9449 §4.2).
#[must_use]
pub fn access_token_hash(access_token: &str) -> String {
    jose::encode_b64url(digest::digest(&digest::SHA256, access_token.as_bytes()).as_ref())
}

/// Whether `htu` names the same resource as `uri`: scheme, host, port and path after URL
/// normalisation (case of scheme and host, default ports, percent-encoding), query and
/// fragment ignored.
fn same_target(htu: &str, uri: &str) -> bool {
    let parse = |text: &str| {
        url::Url::parse(text).ok().filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some()).map(
            |mut u| {
                u.set_query(None);
                u.set_fragment(None);
                u
            },
        )
    };
    matches!((parse(htu), parse(uri)), (Some(a), Some(b)) if a == b)
}

#[cfg(test)]
mod tests;
