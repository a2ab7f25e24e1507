//! Interoperability with `jsonwebtoken` (aws-lc-rs backend): our test-kit tokens verify there,
//! and tokens it mints verify here.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use jwt_verifier::testkit::test_key;
use serde_json::Value;

use crate::helpers::{AUDIENCE, ISSUER, claims, static_verifier};

#[test]
fn our_tokens_verify_with_jsonwebtoken() {
    let key = test_key(0);
    let jwk = key.public_jwk();
    let decoding = DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    let claims = claims();
    let data = jsonwebtoken::decode::<Value>(&key.mint(&claims), &decoding, &validation).unwrap();
    assert_eq!(data.claims, claims);
    assert_eq!(data.header.kid.as_deref(), Some(key.kid()));
    // And a token signed by another key does not.
    assert!(jsonwebtoken::decode::<Value>(&test_key(1).mint(&claims), &decoding, &validation).is_err());
}

#[tokio::test]
async fn jsonwebtoken_tokens_verify_with_ours() {
    let key = test_key(1);
    let encoding = EncodingKey::from_rsa_pem(key.private_key_pem().as_bytes()).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid().to_owned());
    header.typ = Some("at+jwt".to_owned());
    let token = jsonwebtoken::encode(&header, &claims(), &encoding).unwrap();

    let (verifier, _) = static_verifier(&[key], false);
    assert_eq!(verifier.verify(&token).await.unwrap().subject, "user-1");
}
