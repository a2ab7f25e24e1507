//! Public verification keys and JWKS ingest.
//!
//! A [`VerifyingKey`] is an RSA public key pinned to one JWS algorithm, decoded and checked
//! once when the key set is ingested, so verifying a token does no key parsing of its own.
//! [`KeySet::from_jwks_json`] turns an issuer's JWKS document into a key set under the rules
//! of the verifier (RFC 7517, RFC 8725 §3.1–3.2):
//!
//! - the whole set is **refused** when any key carries private members (`d`, `p`, `q`, `dp`,
//!   `dq`, `qi`, `oth`), is symmetric (`kty: oct`), or two keys share a `kid`: each of these
//!   means the issuer is misconfigured or leaking secrets, and guessing which key was meant
//!   is how key-confusion attacks start;
//! - other keys we cannot use (EC, `use: enc`, RS384, under 2048 bits, `e = 1`, ROCA-weak
//!   moduli, no `kid`…) are **skipped one by one** and reported, so one odd key cannot take
//!   the issuer's other keys down with it;
//! - size limits (64 KiB, 32 keys) apply before any key is looked at.
//!
//! Layering: this module knows nothing about tokens and never imports [`jose`](crate::jose);
//! `jose` builds on the keys and algorithms defined here.
//!
//! - `algorithm`: [`JwsAlgorithm`];
//! - `verifying_key`: [`VerifyingKey`] itself;
//! - `jwk`: one JWK object to a key ([`VerifyingKey::from_jwk`]);
//! - `weak`: the size, exponent and ROCA checks every key passes;
//! - `problem`: [`KeyProblem`], why a key was not used;
//! - `set`: [`KeySet`] and the document-level ingest rules;
//! - `base64url`: the strict codec, re-exported by `jose`.

mod algorithm;
pub(crate) mod base64url;
mod jwk;
mod problem;
mod set;
mod verifying_key;
mod weak;

pub use self::{
    algorithm::JwsAlgorithm,
    problem::KeyProblem,
    set::{IngestReport, JwksError, JwksLimits, KeySet},
    verifying_key::VerifyingKey,
};

/// Smallest RSA modulus accepted (RFC 8725 §3.5 and NIST SP 800-131A).
pub const MIN_RSA_BITS: usize = 2048;
/// Largest RSA modulus accepted (ring's limit; larger keys only cost CPU per verification).
pub const MAX_RSA_BITS: usize = 8192;
/// Longest `kid` accepted, in bytes.
pub const MAX_KID_LEN: usize = 128;

/// `kid` values are compared, logged and used as cache keys: accept only short strings of
/// visible ASCII (no quotes, backslashes or control characters).
#[must_use]
pub fn is_sane_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= MAX_KID_LEN
        && kid.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
}

/// Issuer-supplied text cut down for error messages and logs, so a hostile document cannot
/// flood them or smuggle control characters into them.
fn short(text: &str) -> String {
    text.chars().filter(char::is_ascii_graphic).take(32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kid_sanity() {
        assert!(is_sane_kid("bilbo.baggins@hobbiton.example"));
        assert!(!is_sane_kid(""));
        assert!(!is_sane_kid("has space"));
        assert!(!is_sane_kid("quote\""));
        assert!(!is_sane_kid(&"a".repeat(MAX_KID_LEN + 1)));
    }
}
