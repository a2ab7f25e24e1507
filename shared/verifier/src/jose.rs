//! The JOSE layer: compact JWS parsing, the protected header, and signature verification.
//!
//! This layer knows nothing about access tokens: [`verify_jws`] checks any RS256/PS256 compact
//! JWS against one key (the conformance runner drives the Wycheproof and RFC 7520 vectors
//! through it), and the access-token verifier builds on [`split`] and [`parse_header`].
//!
//! Everything here is strict on purpose (RFC 7515, RFC 8725):
//! - the length limit is checked before a single byte is decoded;
//! - base64url must be unpadded, use only the URL-safe alphabet and have zero trailing bits,
//!   so each token has exactly one encoding (no malleable copies that hash differently);
//! - header JSON with duplicate members is refused;
//! - `alg: none` and unknown algorithms are refused, and `alg` must equal the key's pinned
//!   algorithm;
//! - `crit` is refused (no extension is understood), and so are `jku`, `x5u`, `x5c` and
//!   `jwk`: a token never chooses its own key.
//!
//! Layering: `jose` depends on [`keys`](crate::keys) (the algorithms, the keys and the strict
//! base64url codec, re-exported here), never the other way round.

pub use super::keys::base64url::{Base64Error, decode_b64url, decode_b64url_into, encode_b64url};
use super::{
    error::{AuthError, TokenPart},
    json::{self, JsonProblem, Member, Members},
    keys::{JwsAlgorithm, VerifyingKey},
};

/// Default limit on a token's length: 8 KiB. Our access tokens are under 1 KiB; anything
/// much larger is an attack on the parser or a misrouted credential.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The three segments of a compact JWS, still encoded.
#[derive(Debug, Clone, Copy)]
pub struct CompactJws<'a> {
    /// `header.payload`: the bytes the signature covers.
    pub signing_input: &'a str,
    /// First segment.
    pub header: &'a str,
    /// Second segment.
    pub payload: &'a str,
    /// Third segment.
    pub signature: &'a str,
}

/// Splits a compact JWS after checking its length.
///
/// # Errors
/// [`AuthError::TokenTooLarge`] or [`AuthError::MalformedToken`].
pub fn split(token: &str, max_bytes: usize) -> Result<CompactJws<'_>, AuthError> {
    if token.len() > max_bytes {
        return Err(AuthError::TokenTooLarge);
    }
    let mut parts = token.splitn(4, '.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::MalformedToken);
    };
    if header.is_empty() {
        return Err(AuthError::MalformedToken);
    }
    let signing_input = &token[..header.len() + 1 + payload.len()];
    Ok(CompactJws { signing_input, header, payload, signature })
}

/// Decodes one segment strictly.
///
/// # Errors
/// [`AuthError::InvalidEncoding`] naming `part`.
pub fn decode_part(text: &str, part: TokenPart) -> Result<Vec<u8>, AuthError> {
    decode_b64url(text).map_err(|Base64Error| AuthError::InvalidEncoding(part))
}

/// A checked JOSE protected header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoseHeader {
    /// `alg`, one this library implements.
    pub algorithm: JwsAlgorithm,
    /// `kid`, when present (a string; sanity is checked by the caller's profile).
    pub kid: Option<String>,
    /// `typ`, when present.
    pub typ: Option<String>,
}

/// Members that would let a token pick its own verification key.
const KEY_CARRYING_MEMBERS: &[&str] = &["jku", "x5u", "x5c", "jwk"];

/// Parses and checks a decoded protected header (see the module docs for the rules).
///
/// # Errors
/// The [`AuthError`] for the first rule broken.
pub fn parse_header(bytes: &[u8]) -> Result<JoseHeader, AuthError> {
    let (mut alg, mut kid, mut typ) = (None, None, None);
    let (mut crit, mut carries_key) = (false, false);
    for (name, value) in parse_members(bytes, TokenPart::Header)? {
        match &*name {
            "alg" => alg = Some(value),
            "kid" => kid = Some(value),
            "typ" => typ = Some(value),
            "crit" => crit = true,
            other => carries_key |= KEY_CARRYING_MEMBERS.contains(&other),
        }
    }
    let algorithm = alg
        .as_ref()
        .and_then(Member::as_str)
        .and_then(JwsAlgorithm::from_name)
        .ok_or(AuthError::UnsupportedAlgorithm)?;
    if crit {
        return Err(AuthError::UnsupportedCritical);
    }
    if carries_key {
        return Err(AuthError::EmbeddedKey);
    }
    let kid = match kid {
        None => None,
        Some(Member::Str(kid)) => Some(kid.into_owned()),
        Some(_) => return Err(AuthError::InvalidKeyId),
    };
    let typ = match typ {
        None => None,
        Some(Member::Str(typ)) => Some(typ.into_owned()),
        Some(_) => return Err(AuthError::InvalidType),
    };
    Ok(JoseHeader { algorithm, kid, typ })
}

/// Parses the top-level members of the header or claims strictly (one object, no duplicate
/// members at any depth).
///
/// # Errors
/// [`AuthError::InvalidJson`] or [`AuthError::DuplicateMember`] naming `part`.
pub fn parse_members(bytes: &[u8], part: TokenPart) -> Result<Members<'_>, AuthError> {
    json::parse_members(bytes).map_err(|problem| match problem {
        JsonProblem::DuplicateMember => AuthError::DuplicateMember(part),
        JsonProblem::Invalid | JsonProblem::TooDeep | JsonProblem::TooMany => AuthError::InvalidJson(part),
    })
}

/// A JWS whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedJws {
    /// Its protected header.
    pub header: JoseHeader,
    /// The decoded payload (not interpreted).
    pub payload: Vec<u8>,
}

/// Verifies a compact JWS with `key`: length, encoding, header rules, algorithm pinning and
/// the signature. The payload is returned undecoded; no claim is looked at.
///
/// # Errors
/// The [`AuthError`] for the first check that failed.
pub fn verify_jws(token: &str, key: &VerifyingKey, max_token_bytes: usize) -> Result<VerifiedJws, AuthError> {
    let compact = split(token, max_token_bytes)?;
    let header = parse_header(&decode_part(compact.header, TokenPart::Header)?)?;
    let payload = decode_part(compact.payload, TokenPart::Payload)?;
    let signature = decode_part(compact.signature, TokenPart::Signature)?;
    key.verify(header.algorithm, compact.signing_input.as_bytes(), &signature)?;
    Ok(VerifiedJws { header, payload })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_checks_length_first_and_counts_segments() {
        assert_eq!(split(&"a".repeat(10), 5).unwrap_err(), AuthError::TokenTooLarge);
        assert_eq!(split("a.b", 100).unwrap_err(), AuthError::MalformedToken);
        assert_eq!(split("a.b.c.d", 100).unwrap_err(), AuthError::MalformedToken);
        assert_eq!(split(".b.c", 100).unwrap_err(), AuthError::MalformedToken);
        let parts = split("h.p.s", 100).unwrap();
        assert_eq!((parts.signing_input, parts.header, parts.payload, parts.signature), ("h.p", "h", "p", "s"));
    }

    #[test]
    fn header_rules() {
        let check = |json: &str| parse_header(json.as_bytes());
        assert!(check(r#"{"alg":"RS256","kid":"k"}"#).is_ok());
        assert_eq!(check(r#"{"alg":"none"}"#).unwrap_err(), AuthError::UnsupportedAlgorithm);
        assert_eq!(check(r#"{"alg":"HS256"}"#).unwrap_err(), AuthError::UnsupportedAlgorithm);
        assert_eq!(check(r#"{"alg":"rs256"}"#).unwrap_err(), AuthError::UnsupportedAlgorithm);
        assert_eq!(check(r#"{"kid":"k"}"#).unwrap_err(), AuthError::UnsupportedAlgorithm);
        assert_eq!(check(r#"{"alg":"RS256","crit":["exp"]}"#).unwrap_err(), AuthError::UnsupportedCritical);
        for member in ["jku", "x5u", "x5c", "jwk"] {
            let json = format!(r#"{{"alg":"RS256","{member}":"x"}}"#);
            assert_eq!(check(&json).unwrap_err(), AuthError::EmbeddedKey, "{member}");
        }
        assert_eq!(check(r#"{"alg":"RS256","kid":7}"#).unwrap_err(), AuthError::InvalidKeyId);
        assert_eq!(check(r#"{"alg":"RS256","typ":7}"#).unwrap_err(), AuthError::InvalidType);
        assert_eq!(
            check(r#"{"alg":"RS256","alg":"RS256"}"#).unwrap_err(),
            AuthError::DuplicateMember(TokenPart::Header)
        );
        assert_eq!(check("[]").unwrap_err(), AuthError::InvalidJson(TokenPart::Header));
    }
}
