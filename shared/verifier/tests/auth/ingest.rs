//! JWKS ingest: what refuses a whole set, what skips one key, and the limits.

use jwt_verifier::{
    JwksError, JwksLimits, KeyProblem, KeySet,
    jose::{decode_b64url, encode_b64url},
    testkit::{test_key, weak_key_jwk},
};
use serde_json::{Value, json};

fn ingest(document: &Value) -> Result<(KeySet, jwt_verifier::IngestReport), JwksError> {
    KeySet::from_jwks_json(document.to_string().as_bytes())
}

fn good() -> Value {
    test_key(0).public_jwk()
}

fn modified(mut jwk: Value, name: &str, value: Value) -> Value {
    jwk[name] = value;
    jwk
}

#[test]
fn a_published_key_is_accepted_and_pinned() {
    let (keys, report) = ingest(&json!({"keys": [good(), test_key(1).public_jwk()]})).unwrap();
    assert_eq!(report.accepted, 2);
    assert!(report.skipped.is_empty());
    let key = keys.get(test_key(0).kid()).unwrap();
    assert_eq!(key.algorithm(), jwt_verifier::JwsAlgorithm::Rs256);
    assert_eq!(key.modulus_bits(), 2048);
    assert_eq!(keys.kids().collect::<Vec<_>>(), vec![test_key(0).kid(), test_key(1).kid()]);
}

#[test]
fn a_key_set_with_a_private_member_is_refused() {
    for member in ["d", "p", "q", "dp", "dq", "qi"] {
        let leaked = modified(test_key(1).public_jwk(), member, json!("AQAB"));
        let error = ingest(&json!({"keys": [good(), leaked]})).unwrap_err();
        assert!(
            matches!(&error, JwksError::Refused { index: 1, problem: KeyProblem::PrivateMember(m), .. } if *m == member),
            "{member}: {error:?}"
        );
    }
}

#[test]
fn a_key_set_with_a_symmetric_key_is_refused() {
    let oct = json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"});
    let error = ingest(&json!({"keys": [good(), oct]})).unwrap_err();
    assert!(matches!(error, JwksError::Refused { problem: KeyProblem::Symmetric, .. }), "{error:?}");
}

#[test]
fn duplicate_kids_refuse_the_set() {
    let twin = modified(test_key(1).public_jwk(), "kid", json!(test_key(0).kid()));
    let error = ingest(&json!({"keys": [good(), twin]})).unwrap_err();
    assert!(matches!(error, JwksError::Refused { problem: KeyProblem::DuplicateKid, .. }), "{error:?}");
}

#[test]
fn unusable_keys_are_skipped_one_by_one() {
    let ec = json!({"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AA", "y": "AA"});
    let enc = modified(test_key(1).public_jwk(), "use", json!("enc"));
    let ops = modified(modified(test_key(2).public_jwk(), "kid", json!("ops")), "key_ops", json!(["encrypt"]));
    let rs384 = modified(modified(test_key(2).public_jwk(), "kid", json!("rs384")), "alg", json!("RS384"));
    let no_kid = {
        let mut jwk = test_key(2).public_jwk();
        jwk.as_object_mut().unwrap().remove("kid");
        jwk
    };
    let e_one = modified(modified(test_key(2).public_jwk(), "kid", json!("e1")), "e", json!("AQ"));
    let e_even = modified(modified(test_key(2).public_jwk(), "kid", json!("e2")), "e", json!("AQAA"));
    let bad_b64 = modified(modified(test_key(2).public_jwk(), "kid", json!("b64")), "n", json!("not base64!"));
    let document = json!({"keys": [ec, enc, ops, rs384, no_kid, weak_key_jwk(), e_one, e_even, bad_b64, good()]});
    let (keys, report) = ingest(&document).unwrap();
    assert_eq!(keys.len(), 1);
    assert!(keys.contains(test_key(0).kid()));
    let problems: Vec<&KeyProblem> = report.skipped.iter().map(|(_, p)| p).collect();
    assert_eq!(
        problems,
        vec![
            &KeyProblem::UnsupportedKeyType("EC".to_owned()),
            &KeyProblem::WrongUse,
            &KeyProblem::WrongKeyOps,
            &KeyProblem::UnsupportedAlgorithm("RS384".to_owned()),
            &KeyProblem::MissingKid,
            &KeyProblem::WeakModulus { bits: 1024 },
            &KeyProblem::BadExponent,
            &KeyProblem::BadExponent,
            &KeyProblem::Malformed,
        ]
    );
}

#[test]
fn key_ops_with_verify_and_keys_without_alg_are_accepted() {
    let mut jwk = modified(good(), "key_ops", json!(["verify"]));
    jwk.as_object_mut().unwrap().remove("alg");
    jwk.as_object_mut().unwrap().remove("use");
    let (keys, _) = ingest(&json!({"keys": [jwk]})).unwrap();
    assert_eq!(keys.get(test_key(0).kid()).unwrap().algorithm(), jwt_verifier::JwsAlgorithm::Rs256);
}

#[test]
fn leading_zero_octets_in_the_modulus_are_tolerated() {
    let n = decode_b64url(good()["n"].as_str().unwrap()).unwrap();
    let padded = [vec![0u8], n].concat();
    let (keys, _) = ingest(&json!({"keys": [modified(good(), "n", json!(encode_b64url(&padded)))]})).unwrap();
    assert_eq!(keys.get(test_key(0).kid()).unwrap().modulus_bits(), 2048);
}

#[test]
fn a_set_with_nothing_usable_is_refused() {
    let error = ingest(&json!({"keys": [weak_key_jwk()]})).unwrap_err();
    assert_eq!(error, JwksError::NoUsableKeys { skipped: 1 });
    assert_eq!(ingest(&json!({"keys": []})).unwrap_err(), JwksError::NoUsableKeys { skipped: 0 });
}

#[test]
fn limits_apply_before_keys_are_read() {
    let many: Vec<Value> = (0..33).map(|i| modified(good(), "kid", json!(format!("k{i}")))).collect();
    assert_eq!(ingest(&json!({"keys": many})).unwrap_err(), JwksError::TooManyKeys { count: 33, limit: 32 });
    let big = vec![b' '; 70 * 1024];
    assert_eq!(KeySet::from_jwks_json(&big).unwrap_err(), JwksError::TooLarge { limit: 64 * 1024 });
    let limits = JwksLimits { max_bytes: 100, max_keys: 32 };
    let document = json!({"keys": [good()]}).to_string();
    assert_eq!(
        KeySet::from_jwks_json_with_limits(document.as_bytes(), limits).unwrap_err(),
        JwksError::TooLarge { limit: 100 }
    );
}

#[test]
fn malformed_documents_are_refused() {
    assert!(matches!(KeySet::from_jwks_json(b"not json").unwrap_err(), JwksError::InvalidJson(_)));
    assert_eq!(ingest(&json!({"keyz": []})).unwrap_err(), JwksError::NotAKeySet);
    assert_eq!(ingest(&json!({"keys": {}})).unwrap_err(), JwksError::NotAKeySet);
    let duplicate = format!(r#"{{"keys":[{}],"keys":[]}}"#, good());
    assert!(matches!(KeySet::from_jwks_json(duplicate.as_bytes()).unwrap_err(), JwksError::InvalidJson(_)));
}
