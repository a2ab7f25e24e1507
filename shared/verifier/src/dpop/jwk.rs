//! The public key a DPoP proof carries in its `jwk` header, and its RFC 7638 thumbprint.

use aws_lc_rs::{
    digest,
    signature::{self, UnparsedPublicKey},
};
use serde_json::{Map, Value};

use super::ProofError;
use crate::jose::{decode_b64url, encode_b64url};

/// The proof algorithms accepted: asymmetric only, so a proof proves possession of a
/// private key the server never sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofAlgorithm {
    /// ECDSA P-256 with SHA-256, the signature as `r || s` (RFC 7518 §3.4).
    Es256,
    /// Ed25519 (RFC 8037).
    EdDsa,
}

impl ProofAlgorithm {
    /// From a JOSE `alg` name; `None` for anything not offered (`none`, `HS256`, `RS256`…).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "ES256" => Some(Self::Es256),
            "EdDSA" => Some(Self::EdDsa),
            _ => None,
        }
    }

    /// The JOSE name, as metadata's `dpop_signing_alg_values_supported` lists it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// Every algorithm offered, in order of preference.
    pub const ALL: [Self; 2] = [Self::Es256, Self::EdDsa];
}

/// JWK members that hold private key material, of any key type.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A checked public key from a proof's `jwk`.
#[derive(Debug, Clone)]
pub struct ProofKey {
    algorithm: ProofAlgorithm,
    /// The members of the RFC 7638 thumbprint, already in its canonical JSON.
    canonical: String,
    /// The key as the verification primitive takes it (an uncompressed point for P-256).
    public: Vec<u8>,
}

impl ProofKey {
    /// Reads `jwk` as a public key for `algorithm`.
    ///
    /// # Errors
    /// [`ProofError::PrivateKey`] when it carries a private member,
    /// [`ProofError::InvalidKey`] when it is not a public key of that algorithm.
    pub fn from_jwk(jwk: &Map<String, Value>, algorithm: ProofAlgorithm) -> Result<Self, ProofError> {
        if PRIVATE_MEMBERS.iter().any(|name| jwk.contains_key(*name)) {
            return Err(ProofError::PrivateKey);
        }
        let text = |name: &'static str| jwk.get(name).and_then(Value::as_str);
        let coordinate = |name: &'static str| -> Result<(&str, Vec<u8>), ProofError> {
            let encoded = text(name).ok_or(ProofError::InvalidKey("a coordinate is missing"))?;
            let bytes = decode_b64url(encoded).map_err(|_| ProofError::InvalidKey("a coordinate is not base64url"))?;
            if bytes.len() != 32 {
                return Err(ProofError::InvalidKey("a coordinate is not 32 bytes"));
            }
            Ok((encoded, bytes))
        };
        match algorithm {
            ProofAlgorithm::Es256 => {
                if text("kty") != Some("EC") || text("crv") != Some("P-256") {
                    return Err(ProofError::InvalidKey("ES256 takes an EC key on P-256"));
                }
                let ((x_text, x), (y_text, y)) = (coordinate("x")?, coordinate("y")?);
                let public = [&[0x04][..], &x, &y].concat();
                // Members in lexicographic order, no whitespace (RFC 7638 §3.3).
                let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x_text}","y":"{y_text}"}}"#);
                Ok(Self { algorithm, canonical, public })
            }
            ProofAlgorithm::EdDsa => {
                if text("kty") != Some("OKP") || text("crv") != Some("Ed25519") {
                    return Err(ProofError::InvalidKey("EdDSA takes an OKP key on Ed25519"));
                }
                let (x_text, x) = coordinate("x")?;
                let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x_text}"}}"#);
                Ok(Self { algorithm, canonical, public: x })
            }
        }
    }

    /// Verifies `signature` over `message`. A P-256 point off the curve fails here too.
    ///
    /// # Errors
    /// [`ProofError::BadSignature`].
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), ProofError> {
        let verification: &dyn signature::VerificationAlgorithm = match self.algorithm {
            ProofAlgorithm::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
            ProofAlgorithm::EdDsa => &signature::ED25519,
        };
        UnparsedPublicKey::new(verification, &self.public)
            .verify(message, signature)
            .map_err(|_| ProofError::BadSignature)
    }

    /// The RFC 7638 SHA-256 thumbprint, base64url (the value of `cnf.jkt`).
    #[must_use]
    pub fn thumbprint(&self) -> String {
        encode_b64url(digest::digest(&digest::SHA256, self.canonical.as_bytes()).as_ref())
    }
}
