//! [`VerifyingKey`]: an RSA public key pinned to one algorithm, checked once when built.

use std::{fmt, sync::Arc};

use aws_lc_rs::signature::ParsedPublicKey;
use ring::signature::RsaPublicKeyComponents;

use super::{JwsAlgorithm, KeyProblem, is_sane_kid, weak};
use crate::error::AuthError;

/// An RSA public key pinned to one algorithm, ready to verify signatures.
#[derive(Clone)]
pub struct VerifyingKey {
    kid: Arc<str>,
    algorithm: JwsAlgorithm,
    /// Parsed once at ingest for the pinned algorithm; AWS-LC builds the modulus' Montgomery
    /// context on the first verification and keeps it in the key. ring has no such form and
    /// redoes that set-up (a third of an RSA-2048 verification) on every call, which is why
    /// verification goes through aws-lc-rs.
    parsed: ParsedPublicKey,
    /// The same key as ring takes it, for comparisons against raw ring.
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
        let checked = weak::check_rsa_components(modulus, exponent)?;
        let parsed = aws_lc_rs::signature::RsaPublicKeyComponents { n: checked.modulus, e: checked.exponent }
            .to_parsed_public_key(algorithm.parameters())
            .map_err(|_| KeyProblem::Malformed)?;
        Ok(Self {
            kid: Arc::from(kid),
            algorithm,
            parsed,
            components: RsaPublicKeyComponents { n: checked.modulus.to_vec(), e: checked.exponent.to_vec() },
            modulus_bits: checked.modulus_bits,
        })
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

    /// The decoded public components, as ring takes them (the benchmarks' raw-ring baseline).
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
        self.parsed.verify_sig(message, signature).map_err(|_| AuthError::InvalidSignature)
    }
}
