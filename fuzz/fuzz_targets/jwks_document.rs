//! JWKS ingest: `KeySet::from_jwks_json` (size limits, strict JSON, per-key rules in
//! `VerifyingKey::from_jwk`, the weak-key checks), under the default and tight limits.
//! Keys that ingest are used once, so their decoded components are exercised too.

#![no_main]

use jwt_verifier::{JwksLimits, JwsAlgorithm, KeySet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = KeySet::from_jwks_json_with_limits(data, JwksLimits { max_bytes: 4096, max_keys: 2 });
    let Ok((set, report)) = KeySet::from_jwks_json(data) else { return };
    assert_eq!(report.accepted, set.len());
    assert!(!set.is_empty(), "an empty key set was accepted");
    let kids: Vec<&str> = set.kids().collect();
    for (index, kid) in kids.iter().enumerate() {
        assert!(!kids[..index].contains(kid), "duplicate kid {kid:?} accepted");
        assert!(jwt_verifier::keys::is_sane_kid(kid), "insane kid {kid:?} accepted");
    }
    for key in set.keys() {
        assert!((2048..=8192).contains(&key.modulus_bits()), "modulus of {} bits accepted", key.modulus_bits());
        let _ = key.verify(JwsAlgorithm::Rs256, b"fuzz", &[0u8; 256]);
    }
});
