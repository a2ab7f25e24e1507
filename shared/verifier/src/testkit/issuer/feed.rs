//! The [`TestIssuer`]'s revocation feed, per the wire contract: `GET /v1/security-events`
//! (`after`, `wait`; a long poll woken by a `tokio::sync::watch`), its event log, and the
//! methods tests publish with (revoke a session or a token, a raw SET, a forged one).
//!
//! Cursors are decimal sequence numbers. [`TestIssuer::forget_events`] restarts them in a
//! new range, as a restored database would, so a receiver's cursor becomes unknown and its
//! next answer is a reset.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use axum::{
    Json,
    extract::{RawQuery, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use tokio::{sync::watch, time::Instant};
use url::Url;

use super::{Shared, TestIssuer};
use crate::{
    clock::{Clock, TokioClock},
    jose::{decode_b64url, split},
    testkit::{
        TestKey,
        events::{session_revoked_claims, token_revoked_claims},
        test_key,
    },
};

/// The longest `wait` honoured, as auth-service's default `AUTH_EVENTS_MAX_WAIT`.
const MAX_WAIT_SECS: u64 = 25;
/// How long a revoked session matters: the kit's tokens live 10 minutes, plus 60 s.
const SESSION_RELEVANCE_SECS: i64 = 660;
/// Sequence numbers after [`TestIssuer::forget_events`] start this much higher.
const EPOCH: u64 = 1_000_000_000;

struct Entry {
    seq: u64,
    jti: String,
    set: String,
    relevant_until: i64,
}

/// The feed's state: the log, who signs, and the watch held polls wait on.
#[derive(Debug)]
pub(super) struct Events {
    log: Mutex<Log>,
    changed: watch::Sender<u64>,
    signer: Mutex<TestKey>,
    pub(super) clock: Arc<TokioClock>,
    pub(super) advertised: std::sync::atomic::AtomicBool,
    pub(super) requests: std::sync::atomic::AtomicUsize,
}

struct Log {
    entries: Vec<Entry>,
    /// Cursors below this are from before the last "restore": answered with a reset.
    base: u64,
    last: u64,
    page: usize,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log").field("events", &self.entries.len()).field("last", &self.last).finish_non_exhaustive()
    }
}

impl Events {
    pub(super) fn new(signer: Option<&TestKey>) -> Self {
        Self {
            log: Mutex::new(Log { entries: Vec::new(), base: 0, last: 0, page: 500 }),
            changed: watch::Sender::new(0),
            signer: Mutex::new(signer.cloned().unwrap_or_else(|| test_key(0))),
            clock: Arc::new(TokioClock::new()),
            advertised: std::sync::atomic::AtomicBool::new(true),
            requests: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Wakes every held poll (a new event, or the issuer going down).
    pub(super) fn wake(&self) {
        self.changed.send_modify(|generation| *generation += 1);
    }

    pub(super) fn set_signer(&self, key: &TestKey) {
        *self.signer.lock() = key.clone();
    }

    fn publish(&self, jti: String, set: String, relevant_until: i64) -> String {
        {
            let mut log = self.log.lock();
            log.last += 1;
            let seq = log.last;
            log.entries.push(Entry { seq, jti: jti.clone(), set, relevant_until });
        }
        self.wake();
        jti
    }

    /// The answer for `after` now, and whether it says anything (else the poll may wait).
    fn answer(&self, after: Option<u64>) -> (Value, bool) {
        let now = self.clock.now_unix();
        let log = self.log.lock();
        let known = after.filter(|after| (log.base..=log.last).contains(after));
        let (reset, from) = match known {
            Some(after) => (false, after),
            None => (true, log.base),
        };
        let mut later = log.entries.iter().filter(|e| e.seq > from && (!reset || e.relevant_until > now));
        let page: Vec<&Entry> = later.by_ref().take(log.page).collect();
        let more = later.next().is_some();
        let cursor = match (page.last(), reset) {
            (Some(entry), _) if more => entry.seq,
            (Some(_) | None, true) | (Some(_), false) => log.last,
            (None, false) => from,
        };
        let sets: Map<String, Value> = page.iter().map(|e| (e.jti.clone(), Value::String(e.set.clone()))).collect();
        let news = reset || !sets.is_empty();
        (json!({"sets": sets, "cursor": cursor.to_string(), "reset": reset, "moreAvailable": more}), news)
    }
}

/// `GET /v1/security-events?after=&wait=`.
pub(super) async fn security_events(State(shared): State<Arc<Shared>>, RawQuery(query): RawQuery) -> Response {
    let events = &shared.events;
    events.requests.fetch_add(1, Ordering::SeqCst);
    let unavailable = || shared.down.load(Ordering::SeqCst) || shared.stopped.load(Ordering::SeqCst);
    if unavailable() {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let (after, wait) = match parse_query(query.as_deref().unwrap_or("")) {
        Ok(parsed) => parsed,
        Err(description) => {
            let body = json!({"error": "invalid_request", "error_description": description});
            return (StatusCode::BAD_REQUEST, Json(body)).into_response();
        }
    };
    let deadline = Instant::now() + Duration::from_secs(wait);
    // Subscribed before the first look, so an event published in between still wakes us.
    let mut changed = events.changed.subscribe();
    loop {
        let (answer, news) = events.answer(after);
        if news || Instant::now() >= deadline {
            return ([(header::CACHE_CONTROL, "no-store")], Json(answer)).into_response();
        }
        tokio::select! {
            result = changed.changed() => if result.is_err() { return StatusCode::SERVICE_UNAVAILABLE.into_response() },
            () = tokio::time::sleep_until(deadline) => {}
        }
        if unavailable() {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
    }
}

fn parse_query(query: &str) -> Result<(Option<u64>, u64), String> {
    let (mut after, mut wait) = (None, 0);
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let number = || value.parse::<u64>().ok().filter(|_| value.bytes().all(|b| b.is_ascii_digit()));
        match &*name {
            "after" => after = Some(number().ok_or("after: not a cursor of this feed")?),
            "wait" => wait = number().ok_or("wait: expected whole seconds")?.min(MAX_WAIT_SECS),
            _ => {}
        }
    }
    Ok((after, wait))
}

impl TestIssuer {
    /// The feed's URL (`/v1/security-events`).
    #[must_use]
    pub fn events_url(&self) -> Url {
        Url::parse(&format!("http://{}/v1/security-events", self.address)).expect("valid URL")
    }

    /// The issuer's clock (a [`TokioClock`]): SET dates and relevance are computed with it;
    /// give it to verifiers on paused time.
    #[must_use]
    pub fn clock(&self) -> Arc<TokioClock> {
        Arc::clone(&self.shared.events.clock)
    }

    /// Ends session `sid` of `user`: publishes a session-revoked SET, relevant for the kit
    /// tokens' 10 minutes plus 60 s. Returns the SET's `jti`.
    pub fn revoke_session(&self, user: &str, sid: &str) -> String {
        let now = self.shared.events.clock.now_unix();
        self.revoke_session_until(user, sid, now + SESSION_RELEVANCE_SECS)
    }

    /// [`TestIssuer::revoke_session`] relevant until `relevant_until` (Unix seconds).
    pub fn revoke_session_until(&self, user: &str, sid: &str, relevant_until: i64) -> String {
        let now = self.shared.events.clock.now_unix();
        self.publish_signed(&session_revoked_claims(&self.issuer(), user, sid, now, relevant_until))
    }

    /// Revokes the access token `jti` that expires at `exp`: relevant until `exp` + 60 s.
    pub fn revoke_token(&self, jti: &str, exp: i64) -> String {
        let now = self.shared.events.clock.now_unix();
        self.publish_signed(&token_revoked_claims(&self.issuer(), jti, now, exp + 60))
    }

    /// Signs `claims` as a SET with the event signer (by default the first published key)
    /// and publishes it.
    pub fn publish_signed(&self, claims: &Value) -> String {
        let set = self.shared.events.signer.lock().sign_set(claims);
        self.publish_set(&set)
    }

    /// Publishes `set` as it is (forged, malformed, replayed…), listed under its `jti` when
    /// one can be read, else under a random id. Returns that id.
    pub fn publish_set(&self, set: &str) -> String {
        let claims: Option<Value> = split(set, usize::MAX)
            .ok()
            .and_then(|parts| decode_b64url(parts.payload).ok())
            .and_then(|payload| serde_json::from_slice(&payload).ok());
        let read = |name: &str| claims.as_ref().and_then(|claims| claims.get(name).cloned());
        let jti = read("jti").and_then(|v| v.as_str().map(str::to_owned));
        let jti = jti.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let relevant_until = read("relevant_until").and_then(|v| v.as_i64()).unwrap_or(i64::MAX);
        self.shared.events.publish(jti, set.to_owned(), relevant_until)
    }

    /// Signs SETs with `key` from now on (it need not be published: forged SETs).
    pub fn set_event_signer(&self, key: &TestKey) {
        self.shared.events.set_signer(key);
    }

    /// Whether the metadata names the feed (default `true`); the feed itself keeps answering.
    pub fn set_feed_advertised(&self, advertised: bool) {
        self.shared.events.advertised.store(advertised, Ordering::SeqCst);
    }

    /// At most `page` SETs per answer (default 500, as the contract).
    pub fn set_feed_page_size(&self, page: usize) {
        self.shared.events.log.lock().page = page.max(1);
    }

    /// Forgets every event and restarts sequence numbers in a new range, as a restored
    /// database would: receivers' cursors become unknown and their next answer is a reset.
    pub fn forget_events(&self) {
        {
            let mut log = self.shared.events.log.lock();
            log.entries.clear();
            log.base = (log.last / EPOCH + 1) * EPOCH;
            log.last = log.base;
        }
        self.shared.events.wake();
    }

    /// Feed requests received (whatever the answer).
    #[must_use]
    pub fn feed_requests(&self) -> usize {
        self.shared.events.requests.load(Ordering::SeqCst)
    }
}
