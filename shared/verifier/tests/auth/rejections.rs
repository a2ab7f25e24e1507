//! One test per rejection reason, asserting the exact [`AuthError`], plus the acceptances
//! that sit right next to each rule.

use jwt_verifier::{
    AuthError, KeySet, StaticKeyStore, TokenPart, Verifier, VerifierConfig,
    clock::system_now_unix,
    jose::encode_b64url,
    testkit::{TestKey, test_key},
};
use serde_json::json;

use crate::helpers::{AUDIENCE, ISSUER, claims, header, static_verifier, unsigned_token, with};

async fn verify(token: &str) -> Result<std::sync::Arc<jwt_verifier::Caller>, AuthError> {
    let (verifier, _) = static_verifier(&[test_key(0)], false);
    verifier.verify(token).await
}

async fn rejects(token: &str) -> AuthError {
    verify(token).await.expect_err("token must be rejected")
}

fn key() -> TestKey {
    test_key(0)
}

#[tokio::test]
async fn a_valid_token_yields_the_caller() {
    let claims = claims();
    let caller = verify(&key().mint(&claims)).await.unwrap();
    assert_eq!(caller.subject, "user-1");
    assert_eq!(caller.client_id, "test-client");
    assert!(caller.has_scope("orders:write"));
    assert!(!caller.is_admin());
    assert!(!caller.is_service());
    assert_eq!(caller.role.as_deref(), Some("user"));
    assert_eq!(caller.session_id.as_deref(), claims["sid"].as_str());
    assert_eq!(caller.token_id, claims["jti"].as_str().unwrap());
    assert_eq!(caller.audience, vec![AUDIENCE.to_owned()]);
    assert_eq!(caller.key_id, key().kid());
    assert_eq!(caller.expires_at, claims["exp"].as_i64().unwrap());
}

#[tokio::test]
async fn service_tokens_are_recognised() {
    let claims = jwt_verifier::testkit::service_claims(ISSUER, &[AUDIENCE, "other"], "orders-service", "notify:send");
    let caller = verify(&key().mint(&claims)).await.unwrap();
    assert!(caller.is_service());
    assert_eq!(caller.role, None);
    assert_eq!(caller.audience.len(), 2);
}

#[tokio::test]
async fn oversized_tokens_are_refused_before_decoding() {
    assert_eq!(rejects(&"a".repeat(8 * 1024 + 1)).await, AuthError::TokenTooLarge);
}

#[tokio::test]
async fn tokens_without_three_segments_are_malformed() {
    assert_eq!(rejects("abc.def").await, AuthError::MalformedToken);
    assert_eq!(rejects("a.b.c.d").await, AuthError::MalformedToken);
}

#[tokio::test]
async fn non_canonical_base64url_is_refused_per_part() {
    let token = key().mint(&claims());
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let padded = |parts: &[String], index: usize| {
        let mut parts = parts.to_vec();
        parts[index].push('=');
        parts.join(".")
    };
    assert_eq!(rejects(&padded(&parts, 0)).await, AuthError::InvalidEncoding(TokenPart::Header));
    assert_eq!(rejects(&padded(&parts, 1)).await, AuthError::InvalidEncoding(TokenPart::Payload));
    assert_eq!(rejects(&padded(&parts, 2)).await, AuthError::InvalidEncoding(TokenPart::Signature));
    // Standard-alphabet characters are not base64url.
    parts[2] = parts[2].replace('-', "+").replace('_', "/");
    if parts[2].contains(['+', '/']) {
        assert_eq!(rejects(&parts.join(".")).await, AuthError::InvalidEncoding(TokenPart::Signature));
    }
}

#[tokio::test]
async fn non_canonical_trailing_bits_are_refused() {
    // A 2-byte payload encodes as 3 characters whose last carries 2 unused bits.
    let token = key().sign_raw(br#"{"alg":"RS256","typ":"at+jwt","kid":"k"}"#, b"{}");
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts[1], "e30");
    let tweaked = format!("{}.e31.{}", parts[0], parts[2]);
    assert_eq!(rejects(&tweaked).await, AuthError::InvalidEncoding(TokenPart::Payload));
}

#[tokio::test]
async fn header_and_payload_must_be_json_objects() {
    let bad_header = format!("{}.{}.{}", encode_b64url(b"[1]"), encode_b64url(b"{}"), encode_b64url(b"sig"));
    assert_eq!(rejects(&bad_header).await, AuthError::InvalidJson(TokenPart::Header));
    let header = format!(r#"{{"alg":"RS256","typ":"at+jwt","kid":"{}"}}"#, key().kid());
    let bad_payload = key().sign_raw(header.as_bytes(), b"not json");
    assert_eq!(rejects(&bad_payload).await, AuthError::InvalidJson(TokenPart::Payload));
}

#[tokio::test]
async fn duplicate_members_are_refused_in_header_and_claims() {
    let kid = key().kid().to_owned();
    let header = format!(r#"{{"alg":"RS256","typ":"at+jwt","kid":"{kid}","kid":"{kid}"}}"#);
    let token = key().sign_raw(header.as_bytes(), claims().to_string().as_bytes());
    assert_eq!(rejects(&token).await, AuthError::DuplicateMember(TokenPart::Header));

    let header = format!(r#"{{"alg":"RS256","typ":"at+jwt","kid":"{kid}"}}"#);
    let body = claims().to_string();
    let body = format!(r#"{{"sub":"admin",{}"#, &body[1..]);
    let token = key().sign_raw(header.as_bytes(), body.as_bytes());
    assert_eq!(rejects(&token).await, AuthError::DuplicateMember(TokenPart::Payload));
}

#[tokio::test]
async fn only_rs256_is_allowed() {
    for alg in ["none", "HS256", "PS256", "RS384", "rs256"] {
        let token = key().sign(&header(&key(), json!({"alg": alg})), &claims());
        assert_eq!(rejects(&token).await, AuthError::UnsupportedAlgorithm, "{alg}");
    }
    let token = key().sign(&header(&key(), json!({"alg": null})), &claims());
    assert_eq!(rejects(&token).await, AuthError::UnsupportedAlgorithm);
}

#[tokio::test]
async fn alg_must_match_the_keys_pinned_algorithm() {
    // The issuer published this key for PS256; an RS256 token naming it is refused.
    let mut jwk = key().public_jwk();
    jwk["alg"] = json!("PS256");
    let (keys, _) = KeySet::from_jwks_json(json!({"keys": [jwk]}).to_string().as_bytes()).unwrap();
    let mut config = VerifierConfig::new(ISSUER, AUDIENCE);
    config.token_cache_capacity = 0;
    let verifier = Verifier::with_key_store(config, std::sync::Arc::new(StaticKeyStore::new(keys)));
    assert_eq!(verifier.verify(&key().mint(&claims())).await.unwrap_err(), AuthError::AlgorithmMismatch);
}

#[tokio::test]
async fn kid_is_required_and_must_be_sane() {
    let token = key().sign(&header(&key(), json!({"kid": null})), &claims());
    assert_eq!(rejects(&token).await, AuthError::MissingKeyId);
    let token = key().sign(&header(&key(), json!({"kid": "has space"})), &claims());
    assert_eq!(rejects(&token).await, AuthError::InvalidKeyId);
    let token = key().sign(&header(&key(), json!({"kid": "k".repeat(200)})), &claims());
    assert_eq!(rejects(&token).await, AuthError::InvalidKeyId);
    let token = key().sign(&header(&key(), json!({"kid": 42})), &claims());
    assert_eq!(rejects(&token).await, AuthError::InvalidKeyId);
}

#[tokio::test]
async fn typ_must_be_at_jwt_compared_case_insensitively() {
    for typ in [json!(null), json!("JWT"), json!("at+jwt2"), json!(1)] {
        let token = key().sign(&header(&key(), json!({"typ": typ})), &claims());
        assert_eq!(rejects(&token).await, AuthError::InvalidType, "{typ}");
    }
    for typ in ["at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT"] {
        let token = key().sign(&header(&key(), json!({"typ": typ})), &claims());
        assert!(verify(&token).await.is_ok(), "{typ}");
    }
}

#[tokio::test]
async fn crit_is_refused() {
    let token = key().sign(&header(&key(), json!({"crit": ["exp"], "exp": 1})), &claims());
    assert_eq!(rejects(&token).await, AuthError::UnsupportedCritical);
}

#[tokio::test]
async fn embedded_keys_and_key_urls_are_refused() {
    let values = [
        ("jku", json!("https://evil.example/jwks.json")),
        ("x5u", json!("https://evil.example/cert.pem")),
        ("x5c", json!(["MIIB"])),
        ("jwk", key().public_jwk()),
    ];
    for (name, value) in values {
        let token = key().sign(&header(&key(), json!({ name: value })), &claims());
        assert_eq!(rejects(&token).await, AuthError::EmbeddedKey, "{name}");
    }
}

#[tokio::test]
async fn unknown_kids_are_refused_by_a_static_store() {
    assert_eq!(rejects(&test_key(1).mint(&claims())).await, AuthError::UnknownKey);
    assert_eq!(rejects(&unsigned_token("no-such-kid", &claims())).await, AuthError::UnknownKey);
}

#[tokio::test]
async fn bad_signatures_are_refused() {
    // Signed by key 1 but naming key 0.
    let forged = test_key(1).sign(&header(&key(), json!({})), &claims());
    assert_eq!(rejects(&forged).await, AuthError::InvalidSignature);
    // Claims changed after signing.
    let token = key().mint(&claims());
    let parts: Vec<&str> = token.split('.').collect();
    let tampered_claims = with(claims(), "sub", json!("admin"));
    let tampered = format!("{}.{}.{}", parts[0], encode_b64url(tampered_claims.to_string().as_bytes()), parts[2]);
    assert_eq!(rejects(&tampered).await, AuthError::InvalidSignature);
    // Truncated signature.
    let signature = jwt_verifier::jose::decode_b64url(parts[2]).unwrap();
    let truncated = format!("{}.{}.{}", parts[0], parts[1], encode_b64url(&signature[..255]));
    assert_eq!(rejects(&truncated).await, AuthError::InvalidSignature);
    // Empty signature.
    assert_eq!(rejects(&format!("{}.{}.", parts[0], parts[1])).await, AuthError::InvalidSignature);
}

#[tokio::test]
async fn issuer_must_match_exactly() {
    for iss in ["https://issuer.test/", "https://ISSUER.test", "https://evil.test"] {
        let token = key().mint(&with(claims(), "iss", json!(iss)));
        assert_eq!(rejects(&token).await, AuthError::InvalidIssuer, "{iss}");
    }
}

#[tokio::test]
async fn audience_must_include_ours() {
    let token = key().mint(&with(claims(), "aud", json!("notifications-service")));
    assert_eq!(rejects(&token).await, AuthError::InvalidAudience);
    let token = key().mint(&with(claims(), "aud", json!(["a", "b"])));
    assert_eq!(rejects(&token).await, AuthError::InvalidAudience);
    let token = key().mint(&with(claims(), "aud", json!(["a", AUDIENCE])));
    assert!(verify(&token).await.is_ok());
    let token = key().mint(&with(claims(), "aud", json!([1])));
    assert_eq!(rejects(&token).await, AuthError::InvalidClaim("aud"));
    let token = key().mint(&with(claims(), "aud", json!([])));
    assert_eq!(rejects(&token).await, AuthError::InvalidClaim("aud"));
}

#[tokio::test]
async fn expiry_is_enforced_with_leeway() {
    let now = system_now_unix();
    let base = with(claims(), "iat", json!(now - 600));
    let token = key().mint(&with(base.clone(), "exp", json!(now - 40)));
    assert_eq!(rejects(&token).await, AuthError::Expired);
    let token = key().mint(&with(base, "exp", json!(now - 20)));
    assert!(verify(&token).await.is_ok(), "20 s past exp is within the 30 s leeway");
}

#[tokio::test]
async fn not_before_is_honoured_with_leeway() {
    let now = system_now_unix();
    let token = key().mint(&with(claims(), "nbf", json!(now + 40)));
    assert_eq!(rejects(&token).await, AuthError::NotYetValid);
    let token = key().mint(&with(claims(), "nbf", json!(now + 20)));
    assert!(verify(&token).await.is_ok());
}

#[tokio::test]
async fn tokens_issued_in_the_future_are_refused() {
    let now = system_now_unix();
    let token = key().mint(&with(with(claims(), "iat", json!(now + 120)), "exp", json!(now + 600)));
    assert_eq!(rejects(&token).await, AuthError::IssuedInFuture);
}

#[tokio::test]
async fn lifetime_is_bounded() {
    let now = system_now_unix();
    let token = key().mint(&with(with(claims(), "iat", json!(now)), "exp", json!(now + 25 * 3600)));
    assert_eq!(rejects(&token).await, AuthError::LifetimeTooLong);
    let token = key().mint(&with(with(claims(), "iat", json!(now)), "exp", json!(now + 23 * 3600)));
    assert!(verify(&token).await.is_ok());
}

#[tokio::test]
async fn dates_must_be_numbers_in_range() {
    let now = system_now_unix();
    let token = key().mint(&with(claims(), "exp", json!((now + 600).to_string())));
    assert_eq!(rejects(&token).await, AuthError::InvalidDate("exp"));
    let token = key().mint(&with(claims(), "iat", json!(1e20)));
    assert_eq!(rejects(&token).await, AuthError::InvalidDate("iat"));
    let token = key().mint(&with(claims(), "nbf", json!(true)));
    assert_eq!(rejects(&token).await, AuthError::InvalidDate("nbf"));
    let token = key().mint(&with(claims(), "exp", json!(now - 7200)));
    assert_eq!(rejects(&token).await, AuthError::InvalidDate("exp"), "exp before iat");
    // Fractional seconds are valid NumericDates.
    let token = key().mint(&with(claims(), "exp", json!(now as f64 + 600.5)));
    assert!(verify(&token).await.is_ok());
}

#[tokio::test]
async fn required_claims_are_required() {
    for name in ["iss", "aud", "exp", "iat", "sub", "client_id", "jti"] {
        let token = key().mint(&with(claims(), name, json!(null)));
        assert_eq!(rejects(&token).await, AuthError::MissingClaim(name), "{name}");
    }
}

#[tokio::test]
async fn string_claims_must_be_non_empty_strings() {
    for name in ["sub", "client_id", "jti", "role", "sid"] {
        let token = key().mint(&with(claims(), name, json!(7)));
        assert_eq!(rejects(&token).await, AuthError::InvalidClaim(name), "{name}");
        let token = key().mint(&with(claims(), name, json!("")));
        assert_eq!(rejects(&token).await, AuthError::InvalidClaim(name), "{name} empty");
    }
    let token = key().mint(&with(claims(), "scope", json!(["orders:read"])));
    assert_eq!(rejects(&token).await, AuthError::InvalidClaim("scope"));
}

#[tokio::test]
async fn each_reason_maps_to_the_documented_status() {
    use http::StatusCode;
    assert_eq!(AuthError::MissingToken.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(AuthError::Expired.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(AuthError::MalformedAuthorization.status(), StatusCode::BAD_REQUEST);
    assert_eq!(AuthError::InsufficientScope("x").status(), StatusCode::FORBIDDEN);
    assert_eq!(AuthError::ServiceTokenRequired.status(), StatusCode::FORBIDDEN);
    assert_eq!(AuthError::CrossSiteRequest.status(), StatusCode::FORBIDDEN);
    assert_eq!(AuthError::KeysUnavailable { retry_after_secs: 1 }.status(), StatusCode::SERVICE_UNAVAILABLE);
}

/// `n` distinct scopes, space-separated.
fn scope_list(n: usize) -> String {
    (0..n).map(|i| format!("s{i}")).collect::<Vec<_>>().join(" ")
}

#[tokio::test]
async fn a_signed_token_with_too_many_scopes_is_refused() {
    let at_cap = with(claims(), "scope", json!(scope_list(jwt_verifier::MAX_SCOPES)));
    assert_eq!(verify(&key().mint(&at_cap)).await.unwrap().scopes.len(), jwt_verifier::MAX_SCOPES);
    let over = with(claims(), "scope", json!(scope_list(jwt_verifier::MAX_SCOPES + 1)));
    assert_eq!(rejects(&key().mint(&over)).await, AuthError::InvalidClaim("scope"));
}

#[tokio::test]
async fn an_unsigned_token_full_of_scopes_fails_on_its_signature() {
    // About 1,900 scopes in 8 KiB: the scope claim is not read before the signature verifies.
    let mut scopes = 1_900;
    let token = loop {
        let token = unsigned_token(key().kid(), &with(claims(), "scope", json!(scope_list(scopes))));
        if token.len() <= 8 * 1024 {
            break token;
        }
        scopes -= 50;
    };
    assert_eq!(rejects(&token).await, AuthError::InvalidSignature);
}

#[tokio::test]
async fn a_payload_of_many_members_is_refused_by_the_member_cap() {
    let mut crowded = claims();
    let map = crowded.as_object_mut().unwrap();
    for i in 0..jwt_verifier::json::MAX_MEMBERS {
        map.insert(format!("x{i}"), json!(1));
    }
    assert_eq!(rejects(&key().mint(&crowded)).await, AuthError::InvalidJson(TokenPart::Payload));
}
