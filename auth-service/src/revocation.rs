//! Ending access: every state change that must stop tokens already issued.
//!
//! Each is made in one transaction with its security events ([`crate::events`]), so a change
//! is never committed without its event nor an event without its change. Once the caller
//! hears "done", verifiers can learn of it from the feed.
//!
//! Natural expiry writes nothing: verifiers see `exp` themselves.
//!
//! Each transaction starts with its write (so `SQLite` takes its lock at once rather than
//! failing to upgrade a read) and takes the event counter last (the deadlock rule in
//! [`crate::events`]).

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jwt_verifier::Caller;
use service_kit::db::{is_unique_violation, now_millis};

use crate::{
    db,
    events::{self, NewEvent, Revoked, SessionEnd},
    state::AppState,
};

/// Largest token this module decodes before verification (the verifier's own limit is
/// lower; this only bounds the peek at `aud`).
const MAX_TOKEN_BYTES: usize = 16 * 1024;

fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 4)
}

/// Unix ms until which a session ended at `now` can matter: its last access token was minted
/// by `now` and lives the access-token lifetime, plus the leeway verifiers allow on `exp`.
fn session_relevant_until(state: &AppState, now: i64) -> i64 {
    let settings = &state.settings;
    now.saturating_add(millis(settings.tokens.access_token_ttl + settings.keys.clock_leeway))
}

fn session_event(
    state: &AppState,
    user_id: String,
    session_id: String,
    cause: SessionEnd,
    now: i64,
    txn: &str,
) -> NewEvent {
    NewEvent {
        revoked: Revoked::Session { user_id, session_id, cause },
        occurred_at: now,
        relevant_until: session_relevant_until(state, now),
        txn: txn.to_owned(),
    }
}

/// Ends the session `session_id` (only if it belongs to `owner`, when given) with its
/// session-revoked event. `false` when there was no such session still open.
///
/// # Errors
/// Database failures; then neither the change nor the event is committed.
pub async fn end_session(
    state: &AppState,
    session_id: &str,
    owner: Option<&str>,
    cause: SessionEnd,
) -> Result<bool, sqlx::Error> {
    let now = now_millis();
    let mut tx = state.db.begin().await?;
    let Some(user_id) = db::end_session(&mut tx, session_id, owner, cause.db_reason(), now).await? else {
        tx.rollback().await?;
        return Ok(false);
    };
    let txn = uuid::Uuid::new_v4().to_string();
    let seq = events::record(&mut tx, &session_event(state, user_id, session_id.to_owned(), cause, now, &txn)).await?;
    tx.commit().await?;
    state.events.committed(seq);
    Ok(true)
}

/// Ends every session of `user_id` that may still have live access tokens, with one
/// session-revoked event per session, all with one `txn`. Returns the ended session ids.
///
/// One event per session rather than one "user not before" event: a time-based cut-off at
/// the one-second precision of `iat` would either let through a token minted in the same
/// second before the cut, or refuse a fresh login made in that second after it.
///
/// # Errors
/// Database failures; then nothing is committed.
pub async fn end_user_sessions(state: &AppState, user_id: &str, cause: SessionEnd) -> Result<Vec<String>, sqlx::Error> {
    let now = now_millis();
    let settings = &state.settings;
    // A session past its absolute end more than a token lifetime (plus leeway) ago has no
    // live tokens left: ending it would publish an event that can refuse nothing.
    let cutoff = now.saturating_sub(millis(settings.tokens.access_token_ttl + settings.keys.clock_leeway));
    let mut tx = state.db.begin().await?;
    let mut ended = db::end_user_sessions(&mut tx, user_id, cause.db_reason(), now, cutoff).await?;
    if ended.is_empty() {
        tx.rollback().await?;
        return Ok(ended);
    }
    ended.sort();
    let txn = uuid::Uuid::new_v4().to_string();
    let mut last = 0;
    for session_id in &ended {
        last = events::record(&mut tx, &session_event(state, user_id.to_owned(), session_id.clone(), cause, now, &txn))
            .await?;
    }
    tx.commit().await?;
    state.events.committed(last);
    Ok(ended)
}

/// Revokes one access token (RFC 7009) by its `jti`, relevant until its `exp` plus the
/// leeway. `false` when it was already revoked.
///
/// # Errors
/// Database failures.
pub async fn revoke_access_token(state: &AppState, caller: &Caller) -> Result<bool, sqlx::Error> {
    if events::store::is_token_revoked(&state.db, &caller.token_id).await? {
        return Ok(false);
    }
    let now = now_millis();
    let leeway_ms = millis(state.settings.keys.clock_leeway);
    let event = NewEvent {
        revoked: Revoked::Token { jti: caller.token_id.clone() },
        occurred_at: now,
        relevant_until: caller.expires_at.saturating_mul(1000).saturating_add(leeway_ms),
        txn: uuid::Uuid::new_v4().to_string(),
    };
    let mut tx = state.db.begin().await?;
    let seq = match events::record(&mut tx, &event).await {
        Ok(seq) => seq,
        // A concurrent revocation of the same token won; rolling back returns our number.
        Err(error) if is_unique_violation(&error) => {
            tx.rollback().await?;
            return Ok(false);
        }
        Err(error) => return Err(error),
    };
    tx.commit().await?;
    state.events.committed(seq);
    Ok(true)
}

/// Verifies `token` as one of this issuer's access tokens, whatever its audience.
///
/// The verifier for the first audience it names that this issuer issues for checks the
/// signature, `typ`, `iss` and dates. `None` for anything else.
pub async fn verify_own_access_token(state: &AppState, token: &str) -> Option<Arc<Caller>> {
    for audience in claimed_audiences(token)? {
        if let Some(verifier) = state.any_audience.get(&audience) {
            return verifier.verify(token).await.ok();
        }
    }
    None
}

/// The `aud` a JWT claims, unverified: it only picks the verifier that then checks it.
fn claimed_audiences(token: &str) -> Option<Vec<String>> {
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let payload = token.split('.').nth(1)?;
    let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    match claims.get("aud")? {
        serde_json::Value::String(one) => Some(vec![one.clone()]),
        serde_json::Value::Array(many) => Some(many.iter().filter_map(|a| a.as_str().map(str::to_owned)).collect()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::claimed_audiences;
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    fn token(claims: &str) -> String {
        format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(claims))
    }

    #[test]
    fn audiences_are_peeked_from_either_form() {
        assert_eq!(claimed_audiences(&token(r#"{"aud":"a"}"#)), Some(vec!["a".to_owned()]));
        assert_eq!(claimed_audiences(&token(r#"{"aud":["a","b"]}"#)), Some(vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(claimed_audiences(&token(r#"{"sub":"x"}"#)), None);
        assert_eq!(claimed_audiences("garbage"), None);
    }
}
