//! [`KeyProblem`]: why one key was not used, and whether that sinks its whole set.

use std::fmt;

use super::{MAX_RSA_BITS, MIN_RSA_BITS};

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
