//! Taking JWTs apart and forging hostile ones, for the scenarios that check every verifying
//! replica refuses them.
//!
//! Nothing here can produce a token the system trusts: forging starts from a real token and
//! breaks it (payload edited under the old signature, `alg: none`, HS256 keyed with the public
//! key), or signs with an RSA key the issuer never published.

use anyhow::{Context, bail};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::{
    hmac,
    rand::SystemRandom,
    signature::{RSA_PKCS1_SHA256, RsaKeyPair},
};
use serde_json::Value;

/// The three parts of a compact JWS, the first two decoded.
#[derive(Debug, Clone)]
pub struct Parts {
    /// Protected header.
    pub header: Value,
    /// Claims.
    pub claims: Value,
    /// The signature, still base64url.
    pub signature: String,
}

/// Splits and decodes a compact JWS.
///
/// # Errors
/// Not three parts, or a part that is not base64url JSON.
pub fn decode(token: &str) -> anyhow::Result<Parts> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        bail!("a JWS has three parts");
    };
    let json = |part: &str| -> anyhow::Result<Value> {
        let bytes = URL_SAFE_NO_PAD.decode(part).context("not base64url")?;
        serde_json::from_slice(&bytes).context("not JSON")
    };
    Ok(Parts { header: json(header)?, claims: json(claims)?, signature: signature.to_owned() })
}

/// base64url of a JSON value.
#[must_use]
pub fn b64_json(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string().as_bytes())
}

/// `header.claims.signature` from parts.
#[must_use]
pub fn encode(header: &Value, claims: &Value, signature: &str) -> String {
    format!("{}.{}.{signature}", b64_json(header), b64_json(claims))
}

/// The token with its claims edited by `edit` and its original signature kept.
///
/// # Errors
/// `token` is not a JWS.
pub fn tamper_claims(token: &str, edit: impl FnOnce(&mut Value)) -> anyhow::Result<String> {
    let mut parts = decode(token)?;
    edit(&mut parts.claims);
    Ok(encode(&parts.header, &parts.claims, &parts.signature))
}

/// The token's claims under `{"alg":"none"}` with an empty signature.
///
/// # Errors
/// `token` is not a JWS.
pub fn alg_none(token: &str) -> anyhow::Result<String> {
    let mut parts = decode(token)?;
    parts.header["alg"] = Value::from("none");
    Ok(encode(&parts.header, &parts.claims, ""))
}

/// The classic key-confusion forgeries: the token's claims re-signed with HS256.
///
/// The HMAC key is the issuer's RSA public key in each form a confused verifier might use
/// (PEM, DER, the raw modulus, the JWK JSON).
///
/// # Errors
/// `token` is not a JWS or `jwk` is not an RSA public JWK.
pub fn hs256_with_public_key(token: &str, jwk: &Value) -> anyhow::Result<Vec<String>> {
    let parts = decode(token)?;
    let n = URL_SAFE_NO_PAD.decode(jwk.get("n").and_then(Value::as_str).context("JWK without n")?)?;
    let e = URL_SAFE_NO_PAD.decode(jwk.get("e").and_then(Value::as_str).context("JWK without e")?)?;
    let der = spki_der(&n, &e);
    let pem = pem("PUBLIC KEY", &der);
    let mut header = parts.header.clone();
    header["alg"] = Value::from("HS256");
    let signing_input = format!("{}.{}", b64_json(&header), b64_json(&parts.claims));
    let secrets: [Vec<u8>; 5] =
        [pem.clone().into_bytes(), pem.trim_end().as_bytes().to_vec(), der, n, jwk.to_string().into_bytes()];
    Ok(secrets
        .iter()
        .map(|secret| {
            let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), signing_input.as_bytes());
            format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
        })
        .collect())
}

/// An RS256 signer with a key of our own (one the issuer never published).
#[derive(Debug)]
pub struct ForeignKey {
    pair: RsaKeyPair,
    rng: SystemRandom,
}

impl ForeignKey {
    /// Loads an RSA private key in DER: PKCS#8, or PKCS#1 `RSAPrivateKey`.
    ///
    /// # Errors
    /// Neither, or a key ring refuses (under 2048 bits, for example).
    pub fn from_der(der: &[u8]) -> anyhow::Result<Self> {
        let pair = RsaKeyPair::from_pkcs8(der)
            .or_else(|_| RsaKeyPair::from_der(der))
            .map_err(|e| anyhow::anyhow!("not a usable RSA key: {e}"))?;
        Ok(Self { pair, rng: SystemRandom::new() })
    }

    /// The workspace's fixed test key `shared/verifier/testdata/keys/rsa2048-<name>.pk8.der`.
    ///
    /// # Errors
    /// The file is missing or not a key.
    pub fn test_key(name: &str) -> anyhow::Result<Self> {
        let path =
            crate::binaries::workspace_root().join(format!("shared/verifier/testdata/keys/rsa2048-{name}.pk8.der"));
        let der = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        Self::from_der(&der)
    }

    /// The public half as a JWK (`kty`, `n`, `e`), for tokens that embed their own key.
    #[must_use]
    pub fn public_jwk(&self) -> Value {
        let components = ring::signature::RsaPublicKeyComponents::<Vec<u8>>::from(self.pair.public());
        serde_json::json!({
            "kty": "RSA",
            "n": URL_SAFE_NO_PAD.encode(&components.n),
            "e": URL_SAFE_NO_PAD.encode(&components.e),
        })
    }

    /// A properly signed RS256 token with this key.
    ///
    /// # Errors
    /// Signing failed (it does not with a valid key).
    pub fn sign(&self, header: &Value, claims: &Value) -> anyhow::Result<String> {
        let signing_input = format!("{}.{}", b64_json(header), b64_json(claims));
        let mut signature = vec![0; self.pair.public().modulus_len()];
        self.pair
            .sign(&RSA_PKCS1_SHA256, &self.rng, signing_input.as_bytes(), &mut signature)
            .map_err(|_| anyhow::anyhow!("RSA signing failed"))?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

/// A random `kid` shaped like a real one (an RFC 7638 thumbprint: 43 base64url characters),
/// so it passes a verifier's cheap sanity checks and reaches its key lookup.
#[must_use]
pub fn random_kid() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// DER `SubjectPublicKeyInfo` of an RSA public key.
#[must_use]
pub fn spki_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    let rsa_public_key = der_sequence(&[der_integer(n), der_integer(e)].concat());
    // AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }
    let algorithm = der_sequence(&[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00]);
    let mut bit_string = vec![0x00];
    bit_string.extend_from_slice(&rsa_public_key);
    der_sequence(&[algorithm, der_tlv(0x03, &bit_string)].concat())
}

fn der_integer(magnitude: &[u8]) -> Vec<u8> {
    let start = magnitude.iter().position(|b| *b != 0).unwrap_or(magnitude.len().saturating_sub(1));
    let mut bytes = magnitude[start..].to_vec();
    if bytes.first().is_none_or(|b| b & 0x80 != 0) {
        bytes.insert(0, 0);
    }
    der_tlv(0x02, &bytes)
}

fn der_sequence(content: &[u8]) -> Vec<u8> {
    der_tlv(0x30, content)
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap_or_default()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tampering_keeps_the_signature_and_changes_the_claims() {
        let token = encode(&json!({"alg": "RS256"}), &json!({"sub": "a"}), "c2ln");
        let tampered = tamper_claims(&token, |c| c["sub"] = json!("b")).unwrap();
        let parts = decode(&tampered).unwrap();
        assert_eq!(parts.claims["sub"], "b");
        assert_eq!(parts.signature, "c2ln");
        assert_eq!(decode(&alg_none(&token).unwrap()).unwrap().header["alg"], "none");
    }

    #[test]
    fn spki_der_matches_ring_parsing_of_the_test_key() {
        let key = ForeignKey::test_key("a").unwrap();
        // ring's public key is the PKCS#1 RSAPublicKey; our SPKI must embed exactly it.
        let pkcs1 = key.pair.public().as_ref().to_vec();
        let components = ring::signature::RsaPublicKeyComponents::<Vec<u8>>::from(key.pair.public());
        let der = spki_der(&components.n, &components.e);
        assert!(der.windows(pkcs1.len()).any(|w| w == pkcs1.as_slice()), "SPKI does not embed the PKCS#1 key");
        assert!(
            pem("PUBLIC KEY", &der)
                .starts_with("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA")
        );
    }

    #[test]
    fn foreign_signatures_verify_with_the_foreign_public_key() {
        let key = ForeignKey::test_key("b").unwrap();
        let token = key.sign(&json!({"alg": "RS256", "kid": "x"}), &json!({"sub": "s"})).unwrap();
        let (input, signature) = token.rsplit_once('.').unwrap();
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            key.pair.public().as_ref(),
        );
        public.verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
    }
}
