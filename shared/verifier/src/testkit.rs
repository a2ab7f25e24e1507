//! Test kit (feature `test-helpers`): test keys, a minter, an in-process issuer and more.
//!
//! Fixed RSA test keys, a token minter, claim builders, an in-process issuer with a
//! revocation feed ([`TestIssuer`]), security-event builders ([`events`]) and a rotation
//! conformance check ([`rotation`]).
//!
//! The keys are public files in `shared/verifier/testdata/keys`: anything they sign is worthless
//! outside tests. Services enable this feature in `[dev-dependencies]` only.

pub mod events;
pub mod issuer;
pub mod rotation;

use std::sync::{Arc, LazyLock};

use ring::{
    rand::SystemRandom,
    signature::{self, RsaKeyPair, RsaPublicKeyComponents},
};
use serde_json::{Value, json};

pub use self::issuer::{InProcessTransport, TestIssuer};
use super::{
    clock::system_now_unix,
    jose::encode_b64url,
    keys::{JwsAlgorithm, KeySet, VerifyingKey},
};

const KEY_FILES: [&[u8]; 3] = [
    include_bytes!("../testdata/keys/rsa2048-a.pk8.der"),
    include_bytes!("../testdata/keys/rsa2048-b.pk8.der"),
    include_bytes!("../testdata/keys/rsa2048-c.pk8.der"),
];
const WEAK_KEY_FILE: &[u8] = include_bytes!("../testdata/keys/rsa1024-weak.pk8.der");

/// A fixed RSA-2048 test key pair. Cheap to clone.
#[derive(Clone)]
pub struct TestKey {
    inner: Arc<TestKeyInner>,
}

struct TestKeyInner {
    pair: RsaKeyPair,
    kid: String,
    n: Vec<u8>,
    e: Vec<u8>,
}

impl std::fmt::Debug for TestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestKey").field("kid", &self.inner.kid).finish_non_exhaustive()
    }
}

impl PartialEq for TestKey {
    fn eq(&self, other: &Self) -> bool {
        self.inner.kid == other.inner.kid
    }
}

static KEYS: LazyLock<Vec<TestKey>> = LazyLock::new(|| {
    KEY_FILES
        .iter()
        .map(|der| {
            // The files are PKCS#1 `RSAPrivateKey` DER despite their `.pk8` names; accept either.
            let pair = RsaKeyPair::from_pkcs8(der)
                .or_else(|_| RsaKeyPair::from_der(der))
                .expect("test key files are valid RSA private keys");
            let components = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
            let kid = rfc7638_thumbprint(&components.n, &components.e);
            TestKey { inner: Arc::new(TestKeyInner { pair, kid, n: components.n, e: components.e }) }
        })
        .collect()
});

/// Test key `index` (0, 1 and 2 are distinct RSA-2048 keys).
///
/// # Panics
/// For any other index: the kit has three keys.
#[must_use]
pub fn test_key(index: usize) -> TestKey {
    KEYS.get(index).cloned().unwrap_or_else(|| panic!("test_key({index}): only keys 0, 1 and 2 exist"))
}

/// The RFC 7638 JWK thumbprint of an RSA public key (base64url SHA-256 of the canonical JWK).
#[must_use]
pub fn rfc7638_thumbprint(n: &[u8], e: &[u8]) -> String {
    let canonical = format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, encode_b64url(e), encode_b64url(n));
    encode_b64url(ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes()).as_ref())
}

impl TestKey {
    /// The key id: its RFC 7638 thumbprint.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.inner.kid
    }

    /// The public JWK as an issuer publishes it (`kty`, `kid`, `use`, `alg`, `n`, `e`).
    #[must_use]
    pub fn public_jwk(&self) -> Value {
        json!({
            "kty": "RSA",
            "kid": self.inner.kid,
            "use": "sig",
            "alg": "RS256",
            "n": encode_b64url(&self.inner.n),
            "e": encode_b64url(&self.inner.e),
        })
    }

    /// The public key, ready for a [`KeySet`].
    #[must_use]
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey::from_rsa_components(&self.inner.kid, JwsAlgorithm::Rs256, &self.inner.n, &self.inner.e)
            .expect("test keys are valid RSA-2048 keys")
    }

    /// Signs `header` and `claims` as given (RS256), for tests that need odd headers.
    #[must_use]
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let header = serde_json::to_vec(header).expect("JSON values serialise");
        let claims = serde_json::to_vec(claims).expect("JSON values serialise");
        self.sign_raw(&header, &claims)
    }

    /// Signs raw header and payload bytes (RS256), for tests of malformed JSON.
    #[must_use]
    pub fn sign_raw(&self, header: &[u8], payload: &[u8]) -> String {
        let signing_input = format!("{}.{}", encode_b64url(header), encode_b64url(payload));
        let signature = self.signature(signing_input.as_bytes());
        format!("{signing_input}.{}", encode_b64url(&signature))
    }

    /// The RS256 signature of `message`.
    #[must_use]
    pub fn signature(&self, message: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; self.inner.pair.public().modulus_len()];
        self.inner
            .pair
            .sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), message, &mut signature)
            .expect("RSA signing with a valid key does not fail");
        signature
    }

    /// An access token: header `{"alg":"RS256","typ":"at+jwt","kid":…}` and `claims`.
    #[must_use]
    pub fn mint(&self, claims: &Value) -> String {
        self.sign(&json!({"alg": "RS256", "typ": "at+jwt", "kid": self.inner.kid}), claims)
    }

    /// The private key as PEM (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`, as the file
    /// is), for interoperability tests with other JWT libraries.
    #[must_use]
    pub fn private_key_pem(&self) -> String {
        use base64::Engine;
        let der = KEY_FILES[KEYS.iter().position(|k| k == self).unwrap_or(0)];
        let label = if RsaKeyPair::from_pkcs8(der).is_ok() { "PRIVATE KEY" } else { "RSA PRIVATE KEY" };
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = body.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap_or("")).collect();
        format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
    }
}

/// A [`KeySet`] of the given test keys.
#[must_use]
pub fn key_set(keys: &[TestKey]) -> KeySet {
    KeySet::from_keys(keys.iter().map(TestKey::verifying_key)).expect("test keys have distinct kids")
}

/// A JWKS document publishing the given keys.
#[must_use]
pub fn jwks_document(keys: &[TestKey]) -> Value {
    json!({ "keys": keys.iter().map(TestKey::public_jwk).collect::<Vec<_>>() })
}

/// The JWK of the 1024-bit test key, which the verifier must refuse (ring cannot even load
/// it for signing, so only its public half is offered).
#[must_use]
pub fn weak_key_jwk() -> Value {
    let (n, e) = rsa_public_from_der(WEAK_KEY_FILE).expect("weak test key file is a valid RSA key");
    json!({
        "kty": "RSA",
        "kid": rfc7638_thumbprint(&n, &e),
        "use": "sig",
        "alg": "RS256",
        "n": encode_b64url(&n),
        "e": encode_b64url(&e),
    })
}

/// Claims of a user-session token: valid now for 10 minutes, with `sid`, `role: user`, a
/// fresh `jti`, and `client_id` `test-client`.
#[must_use]
pub fn user_claims(issuer: &str, audience: &[&str], sub: &str, scope: &str) -> Value {
    user_claims_at(system_now_unix(), issuer, audience, sub, scope)
}

/// [`user_claims`] issued at `now` (Unix seconds), for tests on a [`TokioClock`](super::TokioClock).
#[must_use]
pub fn user_claims_at(now: i64, issuer: &str, audience: &[&str], sub: &str, scope: &str) -> Value {
    json!({
        "iss": issuer,
        "sub": sub,
        "aud": audience_value(audience),
        "client_id": "test-client",
        "scope": scope,
        "role": "user",
        "sid": uuid::Uuid::new_v4().to_string(),
        "jti": uuid::Uuid::new_v4().to_string(),
        "iat": now,
        "nbf": now,
        "exp": now + 600,
    })
}

/// Claims of a client-credentials token: `sub` = `client_id`, no `sid`, no `role`; valid now
/// for 10 minutes.
#[must_use]
pub fn service_claims(issuer: &str, audience: &[&str], client_id: &str, scope: &str) -> Value {
    service_claims_at(system_now_unix(), issuer, audience, client_id, scope)
}

/// [`service_claims`] issued at `now` (Unix seconds).
#[must_use]
pub fn service_claims_at(now: i64, issuer: &str, audience: &[&str], client_id: &str, scope: &str) -> Value {
    json!({
        "iss": issuer,
        "sub": client_id,
        "aud": audience_value(audience),
        "client_id": client_id,
        "scope": scope,
        "jti": uuid::Uuid::new_v4().to_string(),
        "iat": now,
        "exp": now + 600,
    })
}

fn audience_value(audience: &[&str]) -> Value {
    match audience {
        [single] => json!(single),
        many => json!(many),
    }
}

/// `(n, e)` from a PKCS#8 or PKCS#1 RSA private key, with a minimal DER walk (ring does not
/// expose keys it refuses to load, such as the 1024-bit one).
fn rsa_public_from_der(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    fn read(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (length, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let length = rest[..count].iter().fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (length, &rest[count..])
        };
        (rest.len() >= length).then(|| (tag, &rest[..length], &rest[length..]))
    }
    let (_, outer, _) = read(der)?;
    let (_, _version, rest) = read(outer)?;
    let (tag, _, _) = read(rest)?;
    // PKCS#8 has an AlgorithmIdentifier SEQUENCE (0x30) next; PKCS#1 has the modulus INTEGER.
    let rsa = if tag == 0x30 {
        let (_, _algorithm, rest) = read(rest)?;
        let (_, octets, _) = read(rest)?; // OCTET STRING wrapping RSAPrivateKey
        read(octets)?.1
    } else {
        outer
    };
    let (_, _version, rest) = read(rsa)?;
    let (_, n, rest) = read(rest)?;
    let (_, e, _) = read(rest)?;
    let strip = |bytes: &[u8]| bytes.iter().position(|b| *b != 0).map_or_else(Vec::new, |i| bytes[i..].to_vec());
    Some((strip(n), strip(e)))
}
