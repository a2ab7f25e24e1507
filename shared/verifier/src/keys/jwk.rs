//! One JWK object (RFC 7517 §4) to a [`VerifyingKey`]: which members are refused, which make
//! the key merely unusable, and how `alg` pins the key.

use serde_json::{Map, Value};

use super::{JwsAlgorithm, KeyProblem, VerifyingKey, base64url::decode_b64url, short};

/// Members only a private key has: a JWKS is public, so finding one means a leak.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth"];

impl VerifyingKey {
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
}
