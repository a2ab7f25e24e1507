//! The client's side of DPoP: a key pair that lives in memory only, and the proofs it signs.
//!
//! orders-service binds its own service token with one (generated at start, never written
//! anywhere); the tests and the bench runner use it to act as a DPoP client.

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair},
};
use serde_json::{Value, json};

use super::{access_token_hash, jwk::ProofAlgorithm};
use crate::jose::encode_b64url;

/// A DPoP key pair. The private half cannot leave it: there is no export.
pub struct DpopKey {
    pair: Pair,
    rng: SystemRandom,
    jwk: Value,
    thumbprint: String,
}

enum Pair {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey").field("thumbprint", &self.thumbprint).finish_non_exhaustive()
    }
}

/// The key could not be generated (the system's random source failed).
#[derive(Debug, thiserror::Error)]
#[error("could not generate a DPoP key")]
pub struct KeyGenerationError;

impl DpopKey {
    /// A fresh key for `algorithm`.
    ///
    /// # Errors
    /// [`KeyGenerationError`] when the random source fails.
    pub fn generate(algorithm: ProofAlgorithm) -> Result<Self, KeyGenerationError> {
        let rng = SystemRandom::new();
        let pair = match algorithm {
            ProofAlgorithm::Es256 => {
                let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| KeyGenerationError)?;
                Pair::Es256(
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                        .map_err(|_| KeyGenerationError)?,
                )
            }
            ProofAlgorithm::EdDsa => {
                let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| KeyGenerationError)?;
                Pair::EdDsa(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| KeyGenerationError)?)
            }
        };
        let jwk = match &pair {
            Pair::Es256(pair) => {
                let point = pair.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "x": encode_b64url(&point[1..33]), "y": encode_b64url(&point[33..65])})
            }
            Pair::EdDsa(pair) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": encode_b64url(pair.public_key().as_ref())})
            }
        };
        let thumbprint = super::jwk::ProofKey::from_jwk(jwk.as_object().ok_or(KeyGenerationError)?, algorithm)
            .map_err(|_| KeyGenerationError)?
            .thumbprint();
        Ok(Self { pair, rng, jwk, thumbprint })
    }

    /// The algorithm this key signs with.
    #[must_use]
    pub fn algorithm(&self) -> ProofAlgorithm {
        match self.pair {
            Pair::Es256(_) => ProofAlgorithm::Es256,
            Pair::EdDsa(_) => ProofAlgorithm::EdDsa,
        }
    }

    /// The public key as a JWK (the proof header's `jwk`).
    #[must_use]
    pub fn public_jwk(&self) -> &Value {
        &self.jwk
    }

    /// The RFC 7638 thumbprint: what a token bound to this key carries as `cnf.jkt`.
    #[must_use]
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// A proof for one request: `method` and `uri` as the server will see them, the access
    /// token it goes with (none at the token endpoint), the server's nonce if it gave one,
    /// `now` in Unix seconds.
    #[must_use]
    pub fn proof(&self, method: &str, uri: &str, access_token: Option<&str>, nonce: Option<&str>, now: i64) -> String {
        let mut claims = json!({"jti": uuid::Uuid::new_v4().to_string(), "htm": method, "htu": uri, "iat": now});
        if let Some(token) = access_token {
            claims["ath"] = Value::from(access_token_hash(token));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = Value::from(nonce);
        }
        self.sign_jws(&self.header(), &claims)
    }

    /// The proof header: `typ`, `alg` and this key's `jwk`.
    #[must_use]
    pub fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": self.algorithm().name(), "jwk": self.jwk})
    }

    /// A compact JWS of any `header` and `claims`, signed with this key (tests build the
    /// proofs that must fail with it).
    #[must_use]
    pub fn sign_jws(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            encode_b64url(header.to_string().as_bytes()),
            encode_b64url(claims.to_string().as_bytes())
        );
        format!("{input}.{}", encode_b64url(&self.sign(input.as_bytes())))
    }

    /// The JWS signature of `message` (`r || s` for ES256).
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.pair {
            // Signing fails only if the random source does; an empty signature then fails
            // verification, which is the honest outcome.
            Pair::Es256(pair) => pair.sign(&self.rng, message).map(|s| s.as_ref().to_vec()).unwrap_or_default(),
            Pair::EdDsa(pair) => pair.sign(message).as_ref().to_vec(),
        }
    }
}
