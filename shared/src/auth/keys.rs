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

use std::{fmt, sync::Arc};

use ring::signature::{self, RsaParameters, RsaPublicKeyComponents};
use serde_json::{Map, Value};

use super::{
    error::AuthError,
    jose::decode_b64url,
    json::{self, JsonProblem},
};

/// The JWS algorithms a key can be pinned to.
///
/// Only RSA algorithms exist here: the issuer signs with RSA, and an RSA key must never be
/// used as anything else. The access-token verifier accepts `RS256` only; `PS256` keys can be
/// ingested and used through [`verify_jws`](super::jose::verify_jws).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwsAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PSS with SHA-256 and MGF1-SHA-256.
    Ps256,
}

impl JwsAlgorithm {
    /// The JOSE name (`RS256`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Ps256 => "PS256",
        }
    }

    /// Parses a JOSE name; case-sensitive, as RFC 7518 names are.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Self::Rs256),
            "PS256" => Some(Self::Ps256),
            _ => None,
        }
    }

    /// ring's verification parameters for this algorithm (2048–8192-bit moduli).
    #[must_use]
    pub fn ring_parameters(self) -> &'static RsaParameters {
        match self {
            Self::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            Self::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
        }
    }
}

impl fmt::Display for JwsAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

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

/// An RSA public key pinned to one algorithm, ready to verify signatures.
#[derive(Clone)]
pub struct VerifyingKey {
    kid: Arc<str>,
    algorithm: JwsAlgorithm,
    // Decoded once at ingest; ring takes the components by reference on every verification.
    components: RsaPublicKeyComponents<Vec<u8>>,
    modulus_bits: usize,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("modulus_bits", &self.modulus_bits)
            .finish_non_exhaustive()
    }
}

impl VerifyingKey {
    /// A key from big-endian modulus and exponent bytes, after the checks listed in the module
    /// docs (size, exponent, ROCA).
    ///
    /// # Errors
    /// The [`KeyProblem`] that makes the key unusable.
    pub fn from_rsa_components(
        kid: &str,
        algorithm: JwsAlgorithm,
        modulus: &[u8],
        exponent: &[u8],
    ) -> Result<Self, KeyProblem> {
        if !is_sane_kid(kid) {
            return Err(KeyProblem::BadKid);
        }
        // RFC 7518 §6.3.1.1 forbids leading zero octets, but some issuers emit them (a
        // two's-complement habit); they change nothing, so strip them rather than refuse.
        let first = modulus.iter().position(|b| *b != 0).ok_or(KeyProblem::Malformed)?;
        let modulus = &modulus[first..];
        let modulus_bits = modulus.len() * 8 - modulus[0].leading_zeros() as usize;
        if modulus_bits < MIN_RSA_BITS {
            return Err(KeyProblem::WeakModulus { bits: modulus_bits });
        }
        if modulus_bits > MAX_RSA_BITS {
            return Err(KeyProblem::ModulusTooLarge { bits: modulus_bits });
        }
        if modulus[modulus.len() - 1] & 1 == 0 {
            return Err(KeyProblem::Malformed);
        }
        let first = exponent.iter().position(|b| *b != 0).ok_or(KeyProblem::BadExponent)?;
        let exponent = &exponent[first..];
        // ring accepts 3 ≤ e < 2^33, odd; e = 1 would make every "signature" its own message.
        let value = if exponent.len() > 5 {
            return Err(KeyProblem::BadExponent);
        } else {
            exponent.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
        };
        if value < 3 || value % 2 == 0 || value >= 1 << 33 {
            return Err(KeyProblem::BadExponent);
        }
        if is_roca_vulnerable(modulus) {
            return Err(KeyProblem::RocaVulnerable);
        }
        Ok(Self {
            kid: Arc::from(kid),
            algorithm,
            components: RsaPublicKeyComponents { n: modulus.to_vec(), e: exponent.to_vec() },
            modulus_bits,
        })
    }

    /// A key from one JWK object (public members only).
    ///
    /// # Errors
    /// The [`KeyProblem`] that makes the key unusable; [`KeyProblem::is_fatal`] says whether
    /// it should also sink the set it came in.
    pub fn from_jwk(jwk: &Map<String, Value>) -> Result<Self, KeyProblem> {
        for member in PRIVATE_MEMBERS {
            if jwk.contains_key(*member) {
                return Err(KeyProblem::PrivateMember(member));
            }
        }
        let kty = jwk.get("kty").and_then(Value::as_str).ok_or(KeyProblem::Malformed)?;
        match kty {
            "RSA" => {}
            "oct" => return Err(KeyProblem::Symmetric),
            other => return Err(KeyProblem::UnsupportedKeyType(short(other))),
        }
        match jwk.get("use") {
            None => {}
            Some(Value::String(usage)) if usage == "sig" => {}
            Some(_) => return Err(KeyProblem::WrongUse),
        }
        match jwk.get("key_ops") {
            None => {}
            Some(Value::Array(ops)) if ops.iter().any(|op| op.as_str() == Some("verify")) => {}
            Some(_) => return Err(KeyProblem::WrongKeyOps),
        }
        // An RSA key without `alg` can only be meant for RS256 here; pinning it keeps a token
        // from choosing PS256 (or anything else) for the same key.
        let algorithm = match jwk.get("alg") {
            None => JwsAlgorithm::Rs256,
            Some(Value::String(name)) => {
                JwsAlgorithm::from_name(name).ok_or_else(|| KeyProblem::UnsupportedAlgorithm(short(name)))?
            }
            Some(_) => return Err(KeyProblem::Malformed),
        };
        let kid = match jwk.get("kid") {
            None => return Err(KeyProblem::MissingKid),
            Some(Value::String(kid)) => kid.as_str(),
            Some(_) => return Err(KeyProblem::BadKid),
        };
        let component = |name: &str| -> Result<Vec<u8>, KeyProblem> {
            let text = jwk.get(name).and_then(Value::as_str).ok_or(KeyProblem::Malformed)?;
            decode_b64url(text).map_err(|_| KeyProblem::Malformed)
        };
        let modulus = component("n")?;
        let exponent = component("e")?;
        Self::from_rsa_components(kid, algorithm, &modulus, &exponent)
    }

    /// The key id (`kid`).
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The shared key id, for cache entries that outlive a borrow of the key.
    #[must_use]
    pub fn kid_arc(&self) -> &Arc<str> {
        &self.kid
    }

    /// The algorithm this key is pinned to.
    #[must_use]
    pub fn algorithm(&self) -> JwsAlgorithm {
        self.algorithm
    }

    /// Modulus size in bits.
    #[must_use]
    pub fn modulus_bits(&self) -> usize {
        self.modulus_bits
    }

    /// The decoded public components, as ring takes them.
    #[must_use]
    pub fn ring_components(&self) -> &RsaPublicKeyComponents<Vec<u8>> {
        &self.components
    }

    /// Verifies `signature` over `message` with `algorithm`, which must be the key's own.
    ///
    /// # Errors
    /// [`AuthError::AlgorithmMismatch`] or [`AuthError::InvalidSignature`].
    pub fn verify(&self, algorithm: JwsAlgorithm, message: &[u8], signature: &[u8]) -> Result<(), AuthError> {
        if algorithm != self.algorithm {
            return Err(AuthError::AlgorithmMismatch);
        }
        self.components.verify(algorithm.ring_parameters(), message, signature).map_err(|_| AuthError::InvalidSignature)
    }
}

const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth"];

fn short(text: &str) -> String {
    text.chars().filter(char::is_ascii_graphic).take(32).collect()
}

/// Why a JWK was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    /// Carries a private member (named): fatal to the set.
    PrivateMember(&'static str),
    /// A symmetric (`oct`) key: fatal to the set.
    Symmetric,
    /// Shares its `kid` with another key: fatal to the set.
    DuplicateKid,
    /// A key type other than RSA (named).
    UnsupportedKeyType(String),
    /// An algorithm other than RS256/PS256 (named).
    UnsupportedAlgorithm(String),
    /// `use` is present and not `sig`.
    WrongUse,
    /// `key_ops` is present and lacks `verify`.
    WrongKeyOps,
    /// No `kid`.
    MissingKid,
    /// `kid` is not a short printable string.
    BadKid,
    /// Required members missing, of the wrong type, or not base64url.
    Malformed,
    /// Modulus under 2048 bits.
    WeakModulus {
        /// Its size.
        bits: usize,
    },
    /// Modulus over 8192 bits.
    ModulusTooLarge {
        /// Its size.
        bits: usize,
    },
    /// Public exponent even, below 3 or above 2^33.
    BadExponent,
    /// The modulus has the ROCA fingerprint (CVE-2017-15361): its factors are recoverable.
    RocaVulnerable,
}

impl KeyProblem {
    /// Whether this problem makes the whole key set untrustworthy.
    #[must_use]
    pub fn is_fatal(&self) -> bool {
        matches!(self, Self::PrivateMember(_) | Self::Symmetric | Self::DuplicateKid)
    }

    /// A short label for metrics (`weak_modulus`…).
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Self::PrivateMember(_) => "private_member",
            Self::Symmetric => "symmetric",
            Self::DuplicateKid => "duplicate_kid",
            Self::UnsupportedKeyType(_) => "unsupported_kty",
            Self::UnsupportedAlgorithm(_) => "unsupported_alg",
            Self::WrongUse => "wrong_use",
            Self::WrongKeyOps => "wrong_key_ops",
            Self::MissingKid => "missing_kid",
            Self::BadKid => "bad_kid",
            Self::Malformed => "malformed",
            Self::WeakModulus { .. } => "weak_modulus",
            Self::ModulusTooLarge { .. } => "modulus_too_large",
            Self::BadExponent => "bad_exponent",
            Self::RocaVulnerable => "roca",
        }
    }
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PrivateMember(member) => write!(f, "carries the private member `{member}`"),
            Self::Symmetric => f.write_str("is a symmetric key"),
            Self::DuplicateKid => f.write_str("shares its kid with another key"),
            Self::UnsupportedKeyType(kty) => write!(f, "has unsupported kty `{kty}`"),
            Self::UnsupportedAlgorithm(alg) => write!(f, "has unsupported alg `{alg}`"),
            Self::WrongUse => f.write_str("is not a signature key (use)"),
            Self::WrongKeyOps => f.write_str("is not a verification key (key_ops)"),
            Self::MissingKid => f.write_str("has no kid"),
            Self::BadKid => f.write_str("has a malformed kid"),
            Self::Malformed => f.write_str("is malformed"),
            Self::WeakModulus { bits } => write!(f, "has a {bits}-bit modulus (minimum {MIN_RSA_BITS})"),
            Self::ModulusTooLarge { bits } => write!(f, "has a {bits}-bit modulus (maximum {MAX_RSA_BITS})"),
            Self::BadExponent => f.write_str("has an unacceptable public exponent"),
            Self::RocaVulnerable => f.write_str("has a ROCA-vulnerable modulus"),
        }
    }
}

/// Limits applied to a JWKS document before and while ingesting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksLimits {
    /// Largest document accepted, in bytes (default 64 KiB).
    pub max_bytes: usize,
    /// Most keys accepted in one document (default 32).
    pub max_keys: usize,
}

impl Default for JwksLimits {
    fn default() -> Self {
        Self { max_bytes: 64 * 1024, max_keys: 32 }
    }
}

/// Why a JWKS document was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// Larger than the byte limit.
    #[error("key set document is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Not a JSON object (or contains duplicate members).
    #[error("key set document is not valid JSON: {0:?}")]
    InvalidJson(JsonProblem),
    /// No `keys` array.
    #[error("key set document has no `keys` array")]
    NotAKeySet,
    /// More keys than allowed.
    #[error("key set has {count} keys (limit {limit})")]
    TooManyKeys {
        /// Keys in the document.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A key (by position, with its kid if any) made the whole set untrustworthy.
    #[error("key #{index} ({kid}) {problem}; the whole key set is refused")]
    Refused {
        /// Position in `keys`.
        index: usize,
        /// Its `kid`, or `-`.
        kid: String,
        /// What was wrong.
        problem: KeyProblem,
    },
    /// Every key was skipped.
    #[error("key set has no usable keys ({skipped} skipped)")]
    NoUsableKeys {
        /// Keys skipped.
        skipped: usize,
    },
}

impl JwksError {
    /// A short label for metrics.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::InvalidJson(_) => "invalid_json",
            Self::NotAKeySet => "not_a_key_set",
            Self::TooManyKeys { .. } => "too_many_keys",
            Self::Refused { problem, .. } => problem.label(),
            Self::NoUsableKeys { .. } => "no_usable_keys",
        }
    }
}

/// What ingest did with each key of a document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Keys now in the set.
    pub accepted: usize,
    /// Keys skipped: their `kid` (if any) and why.
    pub skipped: Vec<(Option<String>, KeyProblem)>,
}

/// An immutable set of verification keys, looked up by `kid`.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    // A handful of keys (≤ 32): a linear scan beats hashing for lookups.
    keys: Vec<Arc<VerifyingKey>>,
}

impl KeySet {
    /// A set with no keys.
    #[must_use]
    pub fn empty() -> Self {
        Self::default()
    }

    /// A set from keys built elsewhere (auth-service builds its own from its key table).
    ///
    /// # Errors
    /// [`JwksError::Refused`] with [`KeyProblem::DuplicateKid`] when two keys share a `kid`.
    pub fn from_keys(keys: impl IntoIterator<Item = VerifyingKey>) -> Result<Self, JwksError> {
        let mut set = Self::empty();
        for (index, key) in keys.into_iter().enumerate() {
            if set.contains(key.kid()) {
                return Err(JwksError::Refused { index, kid: key.kid().to_owned(), problem: KeyProblem::DuplicateKid });
            }
            set.keys.push(Arc::new(key));
        }
        Ok(set)
    }

    /// Ingests a JWKS document with the default [`JwksLimits`].
    ///
    /// # Errors
    /// [`JwksError`] when the document as a whole is refused (see the module docs).
    pub fn from_jwks_json(bytes: &[u8]) -> Result<(Self, IngestReport), JwksError> {
        Self::from_jwks_json_with_limits(bytes, JwksLimits::default())
    }

    /// Ingests a JWKS document under `limits`.
    ///
    /// # Errors
    /// [`JwksError`] when the document as a whole is refused (see the module docs).
    pub fn from_jwks_json_with_limits(bytes: &[u8], limits: JwksLimits) -> Result<(Self, IngestReport), JwksError> {
        if bytes.len() > limits.max_bytes {
            return Err(JwksError::TooLarge { limit: limits.max_bytes });
        }
        let document = json::parse_object(bytes).map_err(JwksError::InvalidJson)?;
        let Some(Value::Array(entries)) = document.get("keys") else {
            return Err(JwksError::NotAKeySet);
        };
        if entries.len() > limits.max_keys {
            return Err(JwksError::TooManyKeys { count: entries.len(), limit: limits.max_keys });
        }
        let mut set = Self::empty();
        let mut report = IngestReport::default();
        for (index, entry) in entries.iter().enumerate() {
            let kid = entry.get("kid").and_then(Value::as_str).map(short);
            let Value::Object(jwk) = entry else {
                report.skipped.push((None, KeyProblem::Malformed));
                continue;
            };
            // Duplicate kids are checked across all entries, usable or not: two published
            // keys with one kid are ambiguous even if we could use only one of them.
            if let Some(kid) = jwk.get("kid").and_then(Value::as_str)
                && entries[..index].iter().any(|earlier| earlier.get("kid").and_then(Value::as_str) == Some(kid))
            {
                return Err(JwksError::Refused { index, kid: short(kid), problem: KeyProblem::DuplicateKid });
            }
            match VerifyingKey::from_jwk(jwk) {
                Ok(key) => set.keys.push(Arc::new(key)),
                Err(problem) if problem.is_fatal() => {
                    return Err(JwksError::Refused { index, kid: kid.unwrap_or_else(|| "-".to_owned()), problem });
                }
                Err(problem) => report.skipped.push((kid, problem)),
            }
        }
        if set.keys.is_empty() {
            return Err(JwksError::NoUsableKeys { skipped: report.skipped.len() });
        }
        report.accepted = set.keys.len();
        Ok((set, report))
    }

    /// The key with this `kid`.
    #[must_use]
    pub fn get(&self, kid: &str) -> Option<&Arc<VerifyingKey>> {
        self.keys.iter().find(|key| &*key.kid == kid)
    }

    /// Whether a key with this `kid` is present.
    #[must_use]
    pub fn contains(&self, kid: &str) -> bool {
        self.get(kid).is_some()
    }

    /// The `kid`s in the set, in document order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|key| key.kid())
    }

    /// The keys, in document order.
    pub fn keys(&self) -> impl Iterator<Item = &Arc<VerifyingKey>> {
        self.keys.iter()
    }

    /// Number of keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no keys.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The ROCA fingerprint test (Nemec et al., CCS 2017): moduli made by the flawed Infineon
/// library are, modulo each of these small primes, powers of 65537. A random modulus passes
/// for all 38 primes with probability far below 2^-100.
fn is_roca_vulnerable(modulus: &[u8]) -> bool {
    const PRIMES: [u32; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107,
        109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&prime| {
        let residue = modulus.iter().fold(0u32, |acc, byte| (acc * 256 + u32::from(*byte)) % prime);
        let generator = 65_537 % prime;
        let mut power = 1;
        // The subgroup generated by 65537 has at most prime - 1 elements.
        for _ in 0..prime {
            if power == residue {
                return true;
            }
            power = power * generator % prime;
        }
        false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roca_fingerprint_matches_the_published_masks() {
        // The detector's published bitmask for p = 3 is 6 (residues 1 and 2), for p = 7 it is
        // 126 (all residues), for p = 11 it is 1026 (residues 1 and 10).
        let subgroup = |prime: u32| -> Vec<u32> {
            (0..prime)
                .filter(|r| {
                    let mut power = 1;
                    (0..prime).any(|_| {
                        let hit = power == *r;
                        power = power * (65_537 % prime) % prime;
                        hit
                    })
                })
                .collect()
        };
        assert_eq!(subgroup(3), vec![1, 2]);
        assert_eq!(subgroup(7), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(subgroup(11), vec![1, 10]);
    }

    #[test]
    fn roca_fingerprinted_moduli_are_refused() {
        // 1 + M·t with M the product of the 38 primes: n ≡ 1 = 65537^0 modulo each of them,
        // the fingerprint of the flawed generator (a synthetic, odd, 2048-bit modulus).
        let prefix = "db7317a05e6cf70c67d3f8327eded4e9235c706745301d164c309a9";
        let hex = format!("{prefix}{}1", "0".repeat(512 - prefix.len() - 1));
        let modulus: Vec<u8> =
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        assert!(is_roca_vulnerable(&modulus));
        let error = VerifyingKey::from_rsa_components("roca", JwsAlgorithm::Rs256, &modulus, &[1, 0, 1]).unwrap_err();
        assert_eq!(error, KeyProblem::RocaVulnerable);
        // Changing the residue modulo 3 breaks the fingerprint.
        let mut other = modulus.clone();
        other[255] = 0x03;
        assert!(!is_roca_vulnerable(&other));
    }

    #[test]
    fn kid_sanity() {
        assert!(is_sane_kid("bilbo.baggins@hobbiton.example"));
        assert!(!is_sane_kid(""));
        assert!(!is_sane_kid("has space"));
        assert!(!is_sane_kid("quote\""));
        assert!(!is_sane_kid(&"a".repeat(MAX_KID_LEN + 1)));
    }
}
