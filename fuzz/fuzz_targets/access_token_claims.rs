//! Access-token claims, through the public API: `Verifier::verify` on a token whose header is
//! fixed and whose payload segment is the fuzz input (base64url-encoded), so strict JSON, the
//! claim type checks (`Claims::from_members`, crate-private) and, for an unknown `kid`, the
//! unverified claim checks run. The signature is junk and fails afterwards.
//! Input: one selector byte (bit 0: the header names the published key, or an unknown one),
//! then the payload.

#![no_main]

use std::sync::{Arc, LazyLock};

use auth_fuzz::{AUDIENCE, ISSUER, SIGNER};
use jwt_verifier::{AuthError, StaticKeyStore, Verifier, VerifierConfig, jose::encode_b64url, testkit::key_set};
use libfuzzer_sys::fuzz_target;

static VERIFIER: LazyLock<Verifier> = LazyLock::new(|| {
    let mut config = VerifierConfig::new(ISSUER, AUDIENCE);
    config.token_cache_capacity = 0;
    Verifier::with_key_store(config, Arc::new(StaticKeyStore::new(key_set(&[SIGNER.clone()]))))
});

static HEADERS: LazyLock<[String; 2]> = LazyLock::new(|| {
    let header = |kid: &str| encode_b64url(format!(r#"{{"alg":"RS256","typ":"at+jwt","kid":"{kid}"}}"#).as_bytes());
    [header(SIGNER.kid()), header("unknown-kid")]
});

static SIGNATURE: LazyLock<String> = LazyLock::new(|| encode_b64url(&[7u8; 256]));

fuzz_target!(|data: &[u8]| {
    let Some((selector, payload)) = data.split_first() else { return };
    let header = &HEADERS[usize::from(selector & 1)];
    let token = format!("{header}.{}.{}", encode_b64url(payload), *SIGNATURE);
    let result = futures::executor::block_on(VERIFIER.verify(&token));
    // Nothing signed this token: acceptance would be a forgery.
    assert!(result.is_err(), "a token with a junk signature verified");
    if let Err(AuthError::InvalidEncoding(_)) = result {
        panic!("our own encoding of the payload was refused");
    }
});
