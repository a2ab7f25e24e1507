//! DPoP proofs: `ProofVerifier::verify` (with server nonces required) on the fuzz input as the
//! proof, for a fixed request. Reaches the size limit, the compact split, strict base64url and
//! JSON, the header rules, the embedded JWK's parsing, and the signature check with that key;
//! the claims only behind a valid signature, which the fuzzer cannot make.
//! Input: the proof text (lossy UTF-8).

#![no_main]

use std::sync::LazyLock;

use jwt_verifier::dpop::{ProofRequest, ProofSettings, ProofVerifier, nonce::NonceKey};
use libfuzzer_sys::fuzz_target;

static VERIFIER: LazyLock<ProofVerifier> =
    LazyLock::new(|| ProofVerifier::with_nonces(ProofSettings::default(), NonceKey::new(&[3; 32])));

fuzz_target!(|data: &[u8]| {
    let proof = String::from_utf8_lossy(data);
    let request =
        ProofRequest { method: "GET", uri: "https://api.example.com/v1/orders", access_token: Some("t"), bound_to: None };
    // No key the fuzzer holds signed anything we would accept with a nonce it cannot seal.
    assert!(VERIFIER.verify(&proof, &request, 1_800_000_000).is_err(), "a fuzzed DPoP proof verified");
});
