//! One Security Event Token (RFC 8417) from the feed: verified like an access token's
//! signature, then read into [`Revocation`]s.
//!
//! Order of checks, cheapest first and nothing asked of the issuer for junk: compact form and
//! strict base64url; the JOSE header rules of [`jose`](crate::jose) (no `alg: none`, no
//! `crit`, no embedded keys) plus `alg` RS256, `typ` exactly `secevent+jwt` and a sane `kid`;
//! strict JSON claims (duplicates refused at every depth) with `iss` the configured issuer;
//! then the key, from the verifier's own store (an unknown `kid` resolved as for tokens), and
//! the signature; only then the content.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{Revocation, RevocationKind, SESSION_REVOKED_EVENT, SET_TYPE, TOKEN_REVOKED_EVENT};
use crate::{
    claims::MAX_NUMERIC_DATE,
    error::TokenPart,
    jose, json,
    keys::{JwsAlgorithm, VerifyingKey, is_sane_kid},
    store::{KeyLookup, KeySnapshot, KeyStore},
};

/// Ids longer than this are refused: ours are UUIDs, and each one is kept in memory.
const MAX_ID_BYTES: usize = 256;

/// What to do with one SET.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Verified; these revocations take effect.
    Apply(Vec<Revocation>),
    /// Verified, but nothing to do (the reason is a metric label).
    Ignore(&'static str),
    /// Not verified, or malformed (the reason is a metric label).
    Refuse(&'static str),
}

/// The keys to verify a SET could not be had right now: the answer is retried, not skipped.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct KeysUnavailable;

/// What a SET is checked against.
pub(super) struct SetContext<'a> {
    pub(super) issuer: &'a str,
    pub(super) store: &'a dyn KeyStore,
    pub(super) max_bytes: usize,
    pub(super) now: i64,
}

/// Verifies `compact`, listed in the answer under `listed_as`, and reads its events.
pub(super) async fn check_set(
    context: &SetContext<'_>,
    listed_as: &str,
    compact: &str,
) -> Result<Verdict, KeysUnavailable> {
    let parsed = match parse(compact, context) {
        Ok(parsed) => parsed,
        Err(reason) => return Ok(Verdict::Refuse(reason)),
    };
    let Some(key) = key(context.store, &parsed.kid).await? else {
        return Ok(Verdict::Refuse("unknown_kid"));
    };
    if let Err(error) = key.verify(JwsAlgorithm::Rs256, parsed.signing_input.as_bytes(), &parsed.signature) {
        return Ok(Verdict::Refuse(error.reason()));
    }
    Ok(read_events(&parsed.claims, listed_as, context.now))
}

/// A SET whose form, header and issuer passed; its signature is not checked yet.
struct Parsed<'t> {
    kid: String,
    signing_input: &'t str,
    signature: Vec<u8>,
    claims: Map<String, Value>,
}

/// Everything that needs no key: the compact form, the header profile, the claims JSON and
/// the issuer.
fn parse<'t>(compact: &'t str, context: &SetContext<'_>) -> Result<Parsed<'t>, &'static str> {
    let parts = jose::split(compact, context.max_bytes).map_err(|e| e.reason())?;
    let header = jose::decode_part(parts.header, TokenPart::Header)
        .and_then(|bytes| jose::parse_header(&bytes))
        .map_err(|e| e.reason())?;
    // The verifier decides the algorithm (RFC 8725 §3.1): the same allowlist as tokens.
    if header.algorithm != JwsAlgorithm::Rs256 {
        return Err("unsupported_alg");
    }
    if header.typ.as_deref() != Some(SET_TYPE) {
        return Err("bad_typ");
    }
    let kid = header.kid.filter(|kid| is_sane_kid(kid)).ok_or("bad_kid")?;
    let payload = jose::decode_part(parts.payload, TokenPart::Payload).map_err(|e| e.reason())?;
    let signature = jose::decode_part(parts.signature, TokenPart::Signature).map_err(|e| e.reason())?;
    let claims = json::parse_object(&payload).map_err(|_| "bad_json")?;
    // Before the key lookup, so a SET from elsewhere never makes us ask the issuer for keys.
    if claims.get("iss").and_then(Value::as_str) != Some(context.issuer) {
        return Err("bad_issuer");
    }
    Ok(Parsed { kid, signing_input: parts.signing_input, signature, claims })
}

/// The key named `kid`, as a token's would be found: the snapshot, then the store's
/// unknown-`kid` path (single flight, cooldown, negative cache).
async fn key(store: &dyn KeyStore, kid: &str) -> Result<Option<Arc<VerifyingKey>>, KeysUnavailable> {
    match store.snapshot() {
        KeySnapshot::Unavailable { .. } => Err(KeysUnavailable),
        KeySnapshot::Ready { keys, .. } => match keys.get(kid) {
            Some(key) => Ok(Some(Arc::clone(key))),
            None => match store.resolve_unknown(kid).await {
                KeyLookup::Found(key) => Ok(Some(key)),
                KeyLookup::NotFound => Ok(None),
                KeyLookup::Unavailable { .. } => Err(KeysUnavailable),
            },
        },
    }
}

/// The content of a verified SET.
fn read_events(claims: &Map<String, Value>, listed_as: &str, now: i64) -> Verdict {
    let Some(jti) = claims.get("jti").and_then(Value::as_str).filter(|jti| !jti.is_empty()) else {
        return Verdict::Refuse("bad_jti");
    };
    // RFC 8936 §2.4: the answer maps each SET's jti to the SET.
    if jti != listed_as {
        return Verdict::Refuse("jti_mismatch");
    }
    let Some(issued_at) = numeric_date(claims.get("iat")) else { return Verdict::Refuse("bad_iat") };
    let Some(relevant_until) = numeric_date(claims.get("relevant_until")) else {
        return Verdict::Refuse("bad_relevant_until");
    };
    let Some(events) = claims.get("events").and_then(Value::as_object).filter(|events| !events.is_empty()) else {
        return Verdict::Refuse("bad_events");
    };
    // A replay of an old SET, or one delayed past the point where it could refuse anything.
    if relevant_until <= now {
        return Verdict::Ignore("expired");
    }
    let subject = claims.get("sub_id");
    let mut revocations = Vec::new();
    for (event_type, event) in events {
        let kind = match event_type.as_str() {
            SESSION_REVOKED_EVENT => RevocationKind::Session,
            TOKEN_REVOKED_EVENT => RevocationKind::Token,
            _ => continue,
        };
        let Some(event) = event.as_object() else { return Verdict::Refuse("bad_events") };
        let revoked_at = match event.get("event_timestamp") {
            None => issued_at,
            Some(value) => match numeric_date(Some(value)) {
                Some(at) => at.max(issued_at),
                None => return Verdict::Refuse("bad_event_timestamp"),
            },
        };
        let id = match kind {
            RevocationKind::Session => session_id(subject),
            RevocationKind::Token => opaque_id(subject),
        };
        let Some(id) = id else { return Verdict::Refuse("bad_sub_id") };
        revocations.push(Revocation { kind, id: id.to_owned(), revoked_at, relevant_until });
    }
    if revocations.is_empty() { Verdict::Ignore("unknown_event") } else { Verdict::Apply(revocations) }
}

/// `{"format": "opaque", "id": "<id>"}` (RFC 9493 §3.2.4).
fn opaque_id(subject: Option<&Value>) -> Option<&str> {
    let subject = subject?.as_object()?;
    if subject.get("format").and_then(Value::as_str) != Some("opaque") {
        return None;
    }
    subject.get("id").and_then(Value::as_str).filter(|id| !id.is_empty() && id.len() <= MAX_ID_BYTES)
}

/// A complex subject (CAEP) whose `session` member is an opaque id.
fn session_id(subject: Option<&Value>) -> Option<&str> {
    let subject = subject?.as_object()?;
    if subject.get("format").and_then(Value::as_str) != Some("complex") {
        return None;
    }
    opaque_id(subject.get("session"))
}

/// A `NumericDate`: a JSON number of seconds (fractions truncated) from 1970 to 9999, the
/// range tokens' dates are held to.
fn numeric_date(value: Option<&Value>) -> Option<i64> {
    let value = value?;
    let seconds = match value.as_i64() {
        Some(seconds) => seconds,
        None => {
            let float = value.as_f64()?;
            if !(0.0..=MAX_NUMERIC_DATE as f64).contains(&float) {
                return None;
            }
            float.trunc() as i64
        }
    };
    (0..=MAX_NUMERIC_DATE).contains(&seconds).then_some(seconds)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(events: Value, sub_id: Value) -> Map<String, Value> {
        let claims =
            json!({"iss": "i", "jti": "j", "iat": 100, "relevant_until": 200, "sub_id": sub_id, "events": events});
        claims.as_object().cloned().unwrap_or_default()
    }

    fn session_subject(sid: &str) -> Value {
        json!({"format": "complex", "user": {"format": "opaque", "id": "u"}, "session": {"format": "opaque", "id": sid}})
    }

    #[test]
    fn session_and_token_events_are_read() {
        let session = claims(json!({SESSION_REVOKED_EVENT: {"event_timestamp": 150}}), session_subject("s"));
        let expected =
            Revocation { kind: RevocationKind::Session, id: "s".into(), revoked_at: 150, relevant_until: 200 };
        assert_eq!(read_events(&session, "j", 120), Verdict::Apply(vec![expected]));
        let token = claims(json!({TOKEN_REVOKED_EVENT: {}}), json!({"format": "opaque", "id": "t"}));
        let expected = Revocation { kind: RevocationKind::Token, id: "t".into(), revoked_at: 100, relevant_until: 200 };
        assert_eq!(read_events(&token, "j", 120), Verdict::Apply(vec![expected]));
    }

    #[test]
    fn malformed_content_is_refused() {
        let event = json!({SESSION_REVOKED_EVENT: {}});
        assert_eq!(
            read_events(&claims(event.clone(), session_subject("s")), "other", 120),
            Verdict::Refuse("jti_mismatch")
        );
        let opaque = json!({"format": "opaque", "id": "s"});
        assert_eq!(read_events(&claims(event.clone(), opaque), "j", 120), Verdict::Refuse("bad_sub_id"));
        let long = session_subject(&"x".repeat(MAX_ID_BYTES + 1));
        assert_eq!(read_events(&claims(event.clone(), long), "j", 120), Verdict::Refuse("bad_sub_id"));
        let mut no_date = claims(event, session_subject("s"));
        no_date.insert("relevant_until".into(), json!("200"));
        assert_eq!(read_events(&no_date, "j", 120), Verdict::Refuse("bad_relevant_until"));
        assert_eq!(read_events(&claims(json!({}), session_subject("s")), "j", 120), Verdict::Refuse("bad_events"));
    }

    #[test]
    fn unknown_events_and_past_relevance_are_ignored() {
        let unknown = claims(json!({"https://example.com/other": {}}), session_subject("s"));
        assert_eq!(read_events(&unknown, "j", 120), Verdict::Ignore("unknown_event"));
        let session = claims(json!({SESSION_REVOKED_EVENT: {}}), session_subject("s"));
        assert_eq!(read_events(&session, "j", 200), Verdict::Ignore("expired"));
    }
}
