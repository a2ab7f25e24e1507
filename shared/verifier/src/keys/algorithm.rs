//! [`JwsAlgorithm`]: the closed list of algorithms a key can be pinned to.

use std::fmt;

use ring::signature::{self, RsaParameters};

/// The JWS algorithms a key can be pinned to.
///
/// Only RSA algorithms exist here: the issuer signs with RSA, and an RSA key must never be
/// used as anything else. The access-token verifier accepts `RS256` only; `PS256` keys can be
/// ingested and used through [`verify_jws`](crate::jose::verify_jws).
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

    /// The verification parameters this library verifies with (aws-lc-rs, 2048–8192-bit
    /// moduli).
    #[must_use]
    pub fn parameters(self) -> &'static aws_lc_rs::signature::RsaParameters {
        use aws_lc_rs::signature as lc;
        match self {
            Self::Rs256 => &lc::RSA_PKCS1_2048_8192_SHA256,
            Self::Ps256 => &lc::RSA_PSS_2048_8192_SHA256,
        }
    }

    /// ring's parameters for the same algorithm: what the benchmarks' raw-ring baseline
    /// verifies with (ring is also what most Rust JWT libraries verify with).
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
