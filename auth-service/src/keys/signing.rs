//! RSA signing keys: generation, the RFC 7638 `kid`, the public JWK, and RS256 signing.
//!
//! `aws-lc-rs` (AWS-LC, a maintained `BoringSSL` fork with the same API shape as `ring`)
//! generates and signs: its RSA-2048 signatures cost under half of ring's CPU (the bench
//! `cargo bench -p auth-service` prints both), and ring cannot generate RSA keys at all. The
//! pure-Rust `rsa` crate is deliberately absent: it carries an unfixed timing side-channel
//! advisory (RUSTSEC-2023-0071, "Marvin") that `cargo deny` rejects.
//!
//! A [`SigningKey`] is parsed once (when a replica first loads it) and shared behind an
//! `Arc`; minting a token only serialises claims and signs, it never re-parses the key.

use anyhow::Context;
use aws_lc_rs::{
    encoding::AsDer,
    rand::SystemRandom,
    rsa::PublicKeyComponents,
    signature::{KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The public members of a signing key, as stored and published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// Modulus, base64url without padding.
    pub n: String,
    /// Public exponent, base64url without padding.
    pub e: String,
    /// Modulus size in bits.
    pub bits: u32,
}

/// One JWK of the published JWKS: public members only.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Jwk<'a> {
    /// Always `RSA`.
    pub kty: &'static str,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: &'static str,
    /// Always `RS256`.
    pub alg: &'static str,
    /// RFC 7638 thumbprint.
    pub kid: &'a str,
    /// Modulus.
    pub n: &'a str,
    /// Exponent.
    pub e: &'a str,
}

impl<'a> Jwk<'a> {
    /// The JWK of an RS256 signing key with these public members.
    #[must_use]
    pub fn rs256(kid: &'a str, n: &'a str, e: &'a str) -> Self {
        Self { kty: "RSA", use_: "sig", alg: "RS256", kid, n, e }
    }
}

impl PublicKey {
    /// The JWK published for this key.
    #[must_use]
    pub fn jwk(&self) -> Jwk<'_> {
        Jwk::rs256(&self.kid, &self.n, &self.e)
    }
}

/// The RFC 7638 thumbprint of an RSA key.
///
/// base64url(SHA-256) of the required members in lexicographic order with no whitespace.
/// Deterministic, so every replica and every verifier
/// computes the same `kid` from the key alone.
#[must_use]
pub fn thumbprint(n: &str, e: &str) -> String {
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// Generates a new RSA key of `bits` bits and returns its PKCS#8 (v1) DER.
///
/// CPU-heavy (tens to hundreds of milliseconds): call it from a blocking task.
///
/// # Errors
/// An unsupported size, or a failure inside AWS-LC.
pub fn generate_pkcs8(bits: u32) -> anyhow::Result<Vec<u8>> {
    let size = match bits {
        2048 => aws_lc_rs::rsa::KeySize::Rsa2048,
        3072 => aws_lc_rs::rsa::KeySize::Rsa3072,
        4096 => aws_lc_rs::rsa::KeySize::Rsa4096,
        other => anyhow::bail!("unsupported RSA key size {other}"),
    };
    let pair = aws_lc_rs::rsa::KeyPair::generate(size).map_err(|_| anyhow::anyhow!("RSA key generation failed"))?;
    let der = pair.as_der().map_err(|_| anyhow::anyhow!("cannot export the new RSA key as PKCS#8"))?;
    Ok(der.as_ref().to_vec())
}

/// A parsed private key ready to sign, with its JWS headers pre-encoded.
pub struct SigningKey {
    public: PublicKey,
    pair: RsaKeyPair,
    rng: SystemRandom,
    /// `base64url({"alg":"RS256","typ":"at+jwt","kid":"…"})` followed by `.`: identical for every
    /// token this key signs, so it is encoded once.
    header_prefix: String,
    /// The same for Security Event Tokens (`typ: secevent+jwt`, RFC 8417 §2.3): a distinct
    /// `typ`, so a SET can never pass as an access token, nor a token as a SET.
    set_header_prefix: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.public.kid)
            .field("bits", &self.public.bits)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Parses PKCS#8 DER and derives the public members and `kid`.
    ///
    /// # Errors
    /// DER that is not an RSA private key AWS-LC accepts.
    pub fn from_pkcs8(der: &[u8]) -> anyhow::Result<Self> {
        let pair = RsaKeyPair::from_pkcs8(der).map_err(|e| anyhow::anyhow!("invalid RSA private key: {e}"))?;
        let components: PublicKeyComponents<Vec<u8>> = PublicKeyComponents::from(pair.public_key());
        let n = URL_SAFE_NO_PAD.encode(&components.n);
        let e = URL_SAFE_NO_PAD.encode(&components.e);
        let bits = u32::try_from(pair.public_modulus_len() * 8).context("modulus too large")?;
        let kid = thumbprint(&n, &e);
        let prefix = |typ: &str| -> anyhow::Result<String> {
            let header = serde_json::json!({"alg": "RS256", "typ": typ, "kid": kid});
            Ok(format!("{}.", URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?)))
        };
        let header_prefix = prefix("at+jwt")?;
        let set_header_prefix = prefix("secevent+jwt")?;
        Ok(Self {
            public: PublicKey { kid, n, e, bits },
            pair,
            rng: SystemRandom::new(),
            header_prefix,
            set_header_prefix,
        })
    }

    /// The key id.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.public.kid
    }

    /// The public half.
    #[must_use]
    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    /// Signs already-serialised JWT claims and returns the compact JWS
    /// `header.payload.signature`.
    ///
    /// # Errors
    /// Only if `ring` fails to sign, which it does not for a valid key.
    pub fn sign_claims(&self, claims_json: &[u8]) -> anyhow::Result<String> {
        self.sign_with(&self.header_prefix, claims_json)
    }

    /// Signs an already-serialised Security Event Token payload (RFC 8417) under the header
    /// `{"alg":"RS256","kid":"…","typ":"secevent+jwt"}`.
    ///
    /// # Errors
    /// Only if `ring` fails to sign, which it does not for a valid key.
    pub fn sign_set(&self, payload_json: &[u8]) -> anyhow::Result<String> {
        self.sign_with(&self.set_header_prefix, payload_json)
    }

    fn sign_with(&self, header_prefix: &str, claims_json: &[u8]) -> anyhow::Result<String> {
        let payload_len = base64::encoded_len(claims_json.len(), false).unwrap_or(0);
        let signature_len = base64::encoded_len(self.pair.public_modulus_len(), false).unwrap_or(0);
        let mut token = String::with_capacity(header_prefix.len() + payload_len + 1 + signature_len);
        token.push_str(header_prefix);
        URL_SAFE_NO_PAD.encode_string(claims_json, &mut token);
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &self.rng, token.as_bytes(), &mut signature)
            .map_err(|_| anyhow::anyhow!("RSA signing failed"))?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // RFC 7638 §3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(thumbprint(n, "AQAB"), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn generated_keys_sign_tokens_that_verify() {
        let der = generate_pkcs8(2048).unwrap();
        let key = SigningKey::from_pkcs8(&der).unwrap();
        assert_eq!(key.public().bits, 2048);
        let token = key.sign_claims(br#"{"sub":"x"}"#).unwrap();
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let components = ring::signature::RsaPublicKeyComponents {
            n: URL_SAFE_NO_PAD.decode(&key.public().n).unwrap(),
            e: URL_SAFE_NO_PAD.decode(&key.public().e).unwrap(),
        };
        components
            .verify(
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                signed.as_bytes(),
                &URL_SAFE_NO_PAD.decode(signature).unwrap(),
            )
            .unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header, serde_json::json!({"alg": "RS256", "typ": "at+jwt", "kid": key.kid()}));
        let set = key.sign_set(br#"{"jti":"x"}"#).unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(set.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header, serde_json::json!({"alg": "RS256", "typ": "secevent+jwt", "kid": key.kid()}));
        let (signed, signature) = set.rsplit_once('.').unwrap();
        components
            .verify(
                &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                signed.as_bytes(),
                &URL_SAFE_NO_PAD.decode(signature).unwrap(),
            )
            .unwrap();
    }

    #[test]
    fn garbage_is_not_a_key() {
        assert!(SigningKey::from_pkcs8(b"not der").is_err());
        assert!(generate_pkcs8(1024).is_err());
    }
}
