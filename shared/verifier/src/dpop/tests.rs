//! Every rule of the module docs, each with the proof that must fail.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{client::DpopKey, *};
use crate::jose::encode_b64url;

const NOW: i64 = 1_800_000_000;
const URI: &str = "https://api.example.com/v1/orders";
const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln";

/// A client key, with the valid proof of these tests.
struct Signer(DpopKey);

impl Signer {
    fn es256() -> Self {
        Self(DpopKey::generate(ProofAlgorithm::Es256).unwrap())
    }

    fn ed25519() -> Self {
        Self(DpopKey::generate(ProofAlgorithm::EdDsa).unwrap())
    }

    fn alg(&self) -> &'static str {
        self.0.algorithm().name()
    }

    fn jwk(&self) -> Value {
        self.0.public_jwk().clone()
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.0.sign(message)
    }

    /// A compact JWS of `header` and `claims`, signed by this key.
    fn proof(&self, header: &Value, claims: &Value) -> String {
        self.0.sign_jws(header, claims)
    }

    fn header(&self) -> Value {
        self.0.header()
    }

    /// A valid proof for GET `URI` with `TOKEN`.
    fn claims(&self) -> Value {
        json!({"jti": uuid::Uuid::new_v4().to_string(), "htm": "GET", "htu": URI, "iat": NOW, "ath": access_token_hash(TOKEN)})
    }

    fn valid(&self) -> String {
        self.proof(&self.header(), &self.claims())
    }

    /// RFC 7638, computed independently: the required members sorted, no whitespace.
    fn thumbprint(&self) -> String {
        let members: BTreeMap<String, Value> = match self.jwk() {
            Value::Object(map) => map.into_iter().collect(),
            _ => unreachable!(),
        };
        encode_b64url(digest::digest(&digest::SHA256, serde_json::to_string(&members).unwrap().as_bytes()).as_ref())
    }
}

fn request() -> ProofRequest<'static> {
    ProofRequest { method: "GET", uri: URI, access_token: Some(TOKEN), bound_to: None }
}

fn verifier() -> ProofVerifier {
    ProofVerifier::new(ProofSettings::default())
}

fn refused(proof: &str) -> ProofError {
    verifier().verify(proof, &request(), NOW).expect_err("the proof must be refused")
}

/// `claims` of a valid proof with `change` applied.
fn with(signer: &Signer, change: impl FnOnce(&mut Value)) -> String {
    let mut claims = signer.claims();
    change(&mut claims);
    signer.proof(&signer.header(), &claims)
}

#[test]
fn a_valid_proof_gives_the_keys_rfc_7638_thumbprint() {
    for signer in [Signer::es256(), Signer::ed25519()] {
        let proof = verifier().verify(&signer.valid(), &request(), NOW).unwrap();
        assert_eq!(proof.thumbprint, signer.thumbprint(), "{}", signer.alg());
        assert_eq!(proof.issued_at, NOW);
    }
}

#[test]
fn the_method_and_the_uri_must_be_the_requests() {
    let signer = Signer::es256();
    assert_eq!(refused(&with(&signer, |c| c["htm"] = json!("POST"))), ProofError::MethodMismatch);
    for other in [
        "https://api.example.com/v1/notifications",
        "http://api.example.com/v1/orders",
        "https://evil.example/v1/orders",
        "/v1/orders",
    ] {
        assert_eq!(refused(&with(&signer, |c| c["htu"] = json!(other))), ProofError::UriMismatch, "{other}");
    }
    // Query, fragment, the case of the host and a default port are not part of the target.
    for same in ["https://API.example.com/v1/orders?limit=5", "https://api.example.com:443/v1/orders#x"] {
        let proof = with(&signer, |c| c["htu"] = json!(same));
        assert!(verifier().verify(&proof, &request(), NOW).is_ok(), "{same}");
    }
}

#[test]
fn ath_must_hash_the_presented_access_token() {
    let signer = Signer::es256();
    let missing = with(&signer, |c| {
        c.as_object_mut().unwrap().remove("ath");
    });
    assert_eq!(refused(&missing), ProofError::AccessTokenHashMismatch);
    assert_eq!(
        refused(&with(&signer, |c| c["ath"] = json!(access_token_hash("another")))),
        ProofError::AccessTokenHashMismatch
    );
    // At the token endpoint there is no access token, and an `ath` is out of place.
    let at_token_endpoint = ProofRequest { access_token: None, ..request() };
    let error = verifier().verify(&signer.valid(), &at_token_endpoint, NOW).unwrap_err();
    assert_eq!(error, ProofError::AccessTokenHashMismatch);
    assert!(verifier().verify(&missing, &at_token_endpoint, NOW).is_ok());
}

#[test]
fn a_proof_is_accepted_once_per_verifier() {
    let signer = Signer::es256();
    let verifier = verifier();
    let proof = signer.valid();
    assert!(verifier.verify(&proof, &request(), NOW).is_ok());
    assert_eq!(verifier.verify(&proof, &request(), NOW + 1).unwrap_err(), ProofError::Replayed);
    // The same jti under another key is another proof.
    let other = Signer::es256();
    let mut claims = other.claims();
    claims["jti"] = json!(serde_json::from_slice::<Value>(&decode_b64url_part(&proof, 1)).unwrap()["jti"]);
    assert!(verifier.verify(&other.proof(&other.header(), &claims), &request(), NOW).is_ok());
}

fn decode_b64url_part(token: &str, index: usize) -> Vec<u8> {
    crate::jose::decode_b64url(token.split('.').nth(index).unwrap()).unwrap()
}

#[test]
fn iat_must_be_recent_and_not_ahead_of_the_clock() {
    let signer = Signer::es256();
    assert_eq!(refused(&with(&signer, |c| c["iat"] = json!(NOW - 61))), ProofError::Stale);
    assert_eq!(refused(&with(&signer, |c| c["iat"] = json!(NOW + 6))), ProofError::FromTheFuture);
    assert_eq!(refused(&with(&signer, |c| c["iat"] = json!("now"))), ProofError::MissingClaim("iat"));
    assert!(verifier().verify(&with(&signer, |c| c["iat"] = json!(NOW - 60)), &request(), NOW).is_ok());
}

#[test]
fn a_proof_signed_by_another_key_is_refused() {
    let (holder, thief) = (Signer::es256(), Signer::es256());
    // The holder's key in the header, the thief's signature.
    assert_eq!(refused(&thief.proof(&holder.header(), &holder.claims())), ProofError::BadSignature);
    let ed = Signer::ed25519();
    assert_eq!(refused(&ed.proof(&Signer::ed25519().header(), &ed.claims())), ProofError::BadSignature);
}

#[test]
fn only_asymmetric_algorithms_are_accepted() {
    let signer = Signer::es256();
    for alg in ["none", "HS256", "RS256", "ES384", "es256", ""] {
        let mut header = signer.header();
        header["alg"] = json!(alg);
        assert_eq!(refused(&signer.proof(&header, &signer.claims())), ProofError::UnsupportedAlgorithm, "{alg}");
    }
    // An unsigned proof: alg none and an empty signature.
    let mut header = signer.header();
    header["alg"] = json!("none");
    let unsigned = format!(
        "{}.{}.",
        encode_b64url(header.to_string().as_bytes()),
        encode_b64url(signer.claims().to_string().as_bytes())
    );
    assert_eq!(refused(&unsigned), ProofError::UnsupportedAlgorithm);
    // An ES256 header over an Ed25519 key.
    let mut header = signer.header();
    header["jwk"] = Signer::ed25519().jwk();
    assert!(matches!(refused(&signer.proof(&header, &signer.claims())), ProofError::InvalidKey(_)));
}

#[test]
fn a_jwk_with_private_members_is_refused() {
    let signer = Signer::es256();
    let mut header = signer.header();
    header["jwk"]["d"] = json!(encode_b64url(&[7; 32]));
    assert_eq!(refused(&signer.proof(&header, &signer.claims())), ProofError::PrivateKey);
}

#[test]
fn the_header_must_be_a_dpop_header_with_its_own_key_only() {
    let signer = Signer::es256();
    for (member, value) in [("typ", json!("JWT")), ("typ", json!("at+jwt"))] {
        let mut header = signer.header();
        header[member] = value;
        assert_eq!(refused(&signer.proof(&header, &signer.claims())), ProofError::WrongType);
    }
    for member in ["kid", "jku", "x5c", "crit"] {
        let mut header = signer.header();
        header[member] = json!("x");
        assert_eq!(refused(&signer.proof(&header, &signer.claims())), ProofError::ForbiddenHeader(member), "{member}");
    }
    let mut header = signer.header();
    header.as_object_mut().unwrap().remove("jwk");
    assert!(matches!(refused(&signer.proof(&header, &signer.claims())), ProofError::InvalidKey(_)));
    let mut header = signer.header();
    header["jwk"]["x"] = json!(encode_b64url(&[1; 31]));
    assert!(matches!(refused(&signer.proof(&header, &signer.claims())), ProofError::InvalidKey(_)));
}

#[test]
fn malformed_and_oversized_proofs_are_refused_before_any_work() {
    let signer = Signer::es256();
    for proof in ["", "a.b", "a.b.c.d", "!!.!!.!!", &"a".repeat(MAX_PROOF_BYTES + 1)] {
        assert_eq!(refused(proof), ProofError::Malformed, "{proof:.20}");
    }
    // Duplicate members would let two parsers read two different proofs.
    let header = format!(r#"{{"typ":"dpop+jwt","alg":"ES256","alg":"none","jwk":{}}}"#, signer.jwk());
    let input =
        format!("{}.{}", encode_b64url(header.as_bytes()), encode_b64url(signer.claims().to_string().as_bytes()));
    let proof = format!("{input}.{}", encode_b64url(&signer.sign(input.as_bytes())));
    assert_eq!(refused(&proof), ProofError::Malformed);
    assert_eq!(refused(&with(&signer, |c| c["jti"] = json!(""))), ProofError::MissingClaim("jti"));
    assert_eq!(refused(&with(&signer, |c| c["jti"] = json!("j".repeat(257)))), ProofError::MissingClaim("jti"));
}

#[test]
fn nonces_are_ours_recent_and_not_from_the_future() {
    let key = || NonceKey::new(&[9; 32]);
    let verifier = ProofVerifier::with_nonces(ProofSettings::default(), key());
    let signer = Signer::es256();
    let nonced = |nonce: &str| with(&signer, |c| c["nonce"] = json!(nonce));

    let missing = verifier.verify(&signer.valid(), &request(), NOW).unwrap_err();
    assert_eq!(missing, ProofError::NonceRequired);
    assert!(missing.wants_nonce());

    let fresh = verifier.issue_nonce(NOW).unwrap();
    assert!(verifier.verify(&nonced(&fresh), &request(), NOW).is_ok());
    // Another replica with the same key accepts it too.
    let replica = ProofVerifier::with_nonces(ProofSettings::default(), key());
    assert!(replica.verify(&nonced(&fresh), &request(), NOW + 10).is_ok());

    let old = key().issue(NOW - 301);
    let expired = verifier.verify(&nonced(&old), &request(), NOW).unwrap_err();
    assert_eq!(expired, ProofError::NonceExpired);
    assert!(expired.wants_nonce());
    let future = key().issue(NOW + 60);
    assert_eq!(verifier.verify(&nonced(&future), &request(), NOW).unwrap_err(), ProofError::NonceInvalid);
    let forged = NonceKey::new(&[8; 32]).issue(NOW);
    assert_eq!(verifier.verify(&nonced(&forged), &request(), NOW).unwrap_err(), ProofError::NonceInvalid);
    assert_eq!(verifier.verify(&nonced("not-a-nonce"), &request(), NOW).unwrap_err(), ProofError::NonceInvalid);
    assert!(ProofError::NonceInvalid.wants_nonce(), "a stale nonce from an old key is replaced, not fatal");
}

#[test]
fn a_proof_by_another_key_than_the_bound_one_is_refused_before_its_jti_is_kept() {
    let (holder, other) = (Signer::es256(), Signer::es256());
    let verifier = verifier();
    let jkt = holder.thumbprint();
    let bound = ProofRequest { bound_to: Some(&jkt), ..request() };
    for _ in 0..3 {
        assert_eq!(verifier.verify(&other.valid(), &bound, NOW).unwrap_err(), ProofError::KeyMismatch);
    }
    assert!(verifier.replay.is_empty(), "nothing remembered for a key the token is not bound to");
    assert!(verifier.verify(&holder.valid(), &bound, NOW).is_ok());
}

#[test]
fn a_full_replay_cache_refuses_rather_than_forgets() {
    let cache = replay::ReplayCache::new(2);
    cache.insert("k", "1", NOW + 60, NOW).unwrap();
    cache.insert("k", "2", NOW + 60, NOW).unwrap();
    assert_eq!(cache.insert("k", "3", NOW + 60, NOW), Err(ProofError::ReplayCacheFull));
    assert_eq!(cache.insert("k", "1", NOW + 60, NOW + 1), Err(ProofError::Replayed));
    // Once the first two have expired, they make room.
    cache.insert("k", "3", NOW + 200, NOW + 61).unwrap();
    assert_eq!(cache.len(), 1);
}
