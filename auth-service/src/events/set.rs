//! Security Event Tokens (RFC 8417) built from stored events, and the per-replica cache that
//! signs each event once per signing key.
//!
//! The payload is a function of the row and the issuer alone (`iat` is the event's time, not
//! the signing time), so a SET re-signed after a rotation says the same thing, and every
//! replica produces the same bytes with the same key.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use serde_json::{Value, json};

use super::store::{EventRow, TOKEN_REVOKED};
use crate::keys::signing::SigningKey;

/// CAEP's session-revoked event type.
pub const SESSION_REVOKED_EVENT: &str = "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
/// Our event type for one revoked access token (CAEP has none).
pub const TOKEN_REVOKED_EVENT: &str = "urn:jwt-verification:secevent:token-revoked";

/// Signed SETs kept per replica: enough for a full-state answer of a busy issuer (each is
/// about 1 KB with RSA-2048, so this bounds the cache near 20 MB).
const SET_CACHE_CAPACITY: usize = 20_000;

/// Unix ms to the seconds a SET carries; `round_up` for ends, so an end is never early.
fn secs(ms: i64, round_up: bool) -> i64 {
    if round_up { ms.div_euclid(1000) + i64::from(ms.rem_euclid(1000) != 0) } else { ms.div_euclid(1000) }
}

/// The SET payload of `row` (contract: "A SET").
#[must_use]
pub fn payload(row: &EventRow, issuer: &str) -> Value {
    let at = secs(row.occurred_at, false);
    let (sub_id, events) = if row.kind == TOKEN_REVOKED {
        (
            json!({"format": "opaque", "id": row.token_jti}),
            json!({ TOKEN_REVOKED_EVENT: {"event_timestamp": at, "initiating_entity": row.initiating_entity} }),
        )
    } else {
        (
            json!({
                "format": "complex",
                "user": {"format": "opaque", "id": row.user_id},
                "session": {"format": "opaque", "id": row.session_id},
            }),
            json!({ SESSION_REVOKED_EVENT: {
                "event_timestamp": at,
                "initiating_entity": row.initiating_entity,
                "reason_admin": {"en": row.reason},
            }}),
        )
    };
    json!({
        "iss": issuer,
        "jti": row.set_jti,
        "iat": at,
        "txn": row.txn,
        "sub_id": sub_id,
        "events": events,
        "relevant_until": secs(row.relevant_until, true),
    })
}

/// Signs SETs, each `(seq, kid)` once while it stays cached.
pub struct SetSigner {
    issuer: Arc<str>,
    cache: quick_cache::sync::Cache<(i64, Arc<str>), Arc<str>>,
    signed: AtomicU64,
}

impl std::fmt::Debug for SetSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetSigner").field("signed", &self.signed).finish_non_exhaustive()
    }
}

impl SetSigner {
    /// A signer for SETs of `issuer`.
    #[must_use]
    pub fn new(issuer: &str) -> Self {
        Self {
            issuer: Arc::from(issuer),
            cache: quick_cache::sync::Cache::new(SET_CACHE_CAPACITY),
            signed: AtomicU64::new(0),
        }
    }

    /// How many SETs this replica has signed (each a cache miss).
    #[must_use]
    pub fn signed(&self) -> u64 {
        self.signed.load(Ordering::Relaxed)
    }

    /// `(jti, compact SET)` of every row, signed by `key`. Call from a blocking thread when
    /// anything may be uncached: an RSA-2048 signature takes about a millisecond. Two callers
    /// needing the same SET wait for one signature.
    ///
    /// # Errors
    /// Serialisation or signing failures (neither happens with a valid key).
    pub fn sign_all(&self, key: &SigningKey, rows: &[EventRow]) -> anyhow::Result<Vec<(String, Arc<str>)>> {
        let kid: Arc<str> = Arc::from(key.kid());
        rows.iter()
            .map(|row| {
                let set = self.cache.get_or_insert_with(&(row.seq, Arc::clone(&kid)), || {
                    let claims = serde_json::to_vec(&payload(row, &self.issuer))?;
                    self.signed.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("auth_security_event_sets_signed_total").increment(1);
                    key.sign_set(&claims).map(Arc::from)
                })?;
                Ok((row.set_jti.clone(), set))
            })
            .collect()
    }

    /// Whether every row already has a SET signed by `key` (then no blocking thread is needed).
    #[must_use]
    pub fn all_cached(&self, key: &SigningKey, rows: &[EventRow]) -> bool {
        let kid: Arc<str> = Arc::from(key.kid());
        rows.iter().all(|row| self.cache.get(&(row.seq, Arc::clone(&kid))).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::store::SESSION_REVOKED;

    fn row(kind: &str) -> EventRow {
        EventRow {
            seq: 7,
            set_jti: "set-1".into(),
            kind: kind.into(),
            user_id: (kind == SESSION_REVOKED).then(|| "user-1".into()),
            session_id: (kind == SESSION_REVOKED).then(|| "session-1".into()),
            token_jti: (kind == TOKEN_REVOKED).then(|| "token-1".into()),
            occurred_at: 1_764_580_000_400,
            relevant_until: 1_764_580_690_001,
            reason: (kind == SESSION_REVOKED).then(|| "logout".into()),
            initiating_entity: "user".into(),
            txn: "txn-1".into(),
        }
    }

    #[test]
    fn session_events_follow_the_contract() {
        let payload = payload(&row(SESSION_REVOKED), "http://issuer");
        assert_eq!(
            payload,
            json!({
                "iss": "http://issuer", "jti": "set-1", "iat": 1_764_580_000_i64, "txn": "txn-1",
                "sub_id": {"format": "complex", "user": {"format": "opaque", "id": "user-1"},
                           "session": {"format": "opaque", "id": "session-1"}},
                "events": {SESSION_REVOKED_EVENT: {"event_timestamp": 1_764_580_000_i64,
                           "initiating_entity": "user", "reason_admin": {"en": "logout"}}},
                "relevant_until": 1_764_580_691_i64,
            })
        );
        for absent in ["exp", "aud", "sub"] {
            assert!(payload.get(absent).is_none(), "{absent}");
        }
    }

    #[test]
    fn token_events_name_the_token_by_jti() {
        let payload = payload(&row(TOKEN_REVOKED), "http://issuer");
        assert_eq!(payload["sub_id"], json!({"format": "opaque", "id": "token-1"}));
        assert_eq!(
            payload["events"],
            json!({TOKEN_REVOKED_EVENT: {"event_timestamp": 1_764_580_000_i64, "initiating_entity": "user"}})
        );
    }

    #[test]
    fn each_event_is_signed_once_per_key() {
        let key = SigningKey::from_pkcs8(&crate::keys::signing::generate_pkcs8(2048).unwrap()).unwrap();
        let signer = SetSigner::new("http://issuer");
        let rows = [row(SESSION_REVOKED)];
        assert!(!signer.all_cached(&key, &rows));
        let first = signer.sign_all(&key, &rows).unwrap();
        let again = signer.sign_all(&key, &rows).unwrap();
        assert_eq!(first, again);
        assert_eq!(signer.signed(), 1);
        assert!(signer.all_cached(&key, &rows));
        let other = SigningKey::from_pkcs8(&crate::keys::signing::generate_pkcs8(2048).unwrap()).unwrap();
        signer.sign_all(&other, &rows).unwrap();
        assert_eq!(signer.signed(), 2, "a new key signs again");
    }

    #[test]
    fn ends_round_up_and_starts_round_down() {
        assert_eq!(secs(1_999, false), 1);
        assert_eq!(secs(1_001, true), 2);
        assert_eq!(secs(2_000, true), 2);
    }
}
