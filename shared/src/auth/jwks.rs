//! [`JwksCache`]: the issuer's key set, kept fresh, shared lock-free, and defended against
//! floods and outages.
//!
//! How it behaves:
//!
//! - **Readers never wait.** The current key set lives in an [`ArcSwap`]; a verification
//!   loads it with a few atomic operations. Fetches build a new set and swap it in. The only
//!   lock (a `parking_lot` mutex over the fetch bookkeeping) is held for a few instructions
//!   and never across an `.await`.
//! - **Freshness from the issuer.** `Cache-Control`/`Expires` set the lifetime (clamped, see
//!   [`freshness`]); `ETag` is sent back as `If-None-Match` and a 304 keeps the keys. A
//!   background task refreshes at a random point between 75 % and 85 % of the lifetime so
//!   replicas started together do not fetch together.
//! - **Unknown `kid`.** After the verifier's cheap checks passed, all callers asking at the
//!   same time share one fetch (single flight) and wait for it at most `unknown_kid_wait`.
//!   A new fetch starts only if the last attempt of any kind is older than
//!   `unknown_kid_cooldown`; `kid`s the issuer did not have go into a bounded negative cache
//!   until the next key set arrives. Random `kid`s therefore cost the issuer at most one
//!   request per cooldown per replica.
//! - **Outages.** A failed refresh keeps the last good set: it is served (and counted as
//!   stale) for up to `max_stale` past its freshness, then refused with 503. A successful
//!   fetch always replaces the set, so a key the issuer removed stops verifying at once.
//! - **Ingest hardening.** See [`KeySet::from_jwks_json`](super::keys::KeySet) for what is
//!   refused or skipped; the transport adds timeouts, same-origin redirects and a body cap;
//!   the `Content-Type` must be JSON.

pub mod freshness;
pub mod transport;

use std::{
    sync::{
        Arc, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

use arc_swap::ArcSwap;
use futures::{
    FutureExt,
    future::{BoxFuture, Shared},
};
use parking_lot::Mutex;
use rand::Rng;
use serde_json::Value;
use tokio::{sync::Notify, time::Instant};
use url::Url;

use self::{
    freshness::FreshnessPolicy,
    transport::{FetchRequest, FetchResponse, JwksTransport, ReqwestTransport, TransportError},
};
use super::{
    config::{StartupMode, VerifierConfig, check_fetch_url},
    json,
    keys::{JwksLimits, KeySet},
    store::{KeyLookup, KeySnapshot, KeyStore, KeyStoreStats},
};

/// What one fetch did, shared with every caller that waited for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchOutcome {
    /// A new key set replaced the old one.
    Updated,
    /// 304: the keys held are still current.
    NotModified,
    /// The issuer could not be reached or answered with an error status.
    Failed,
    /// The issuer answered, but the document was refused.
    Refused,
}

impl FetchOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Updated => "ok",
            Self::NotModified => "not_modified",
            Self::Failed => "error",
            Self::Refused => "refused",
        }
    }

    fn succeeded(self) -> bool {
        matches!(self, Self::Updated | Self::NotModified)
    }
}

/// Why the key cache could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksCacheError {
    /// The configuration names a URL the cache must not fetch.
    #[error("invalid key set configuration: {0}")]
    InvalidConfig(String),
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
}

/// The settings the cache uses, copied out of [`VerifierConfig`].
#[derive(Debug, Clone)]
struct Settings {
    issuer: String,
    audience: String,
    jwks_url: Option<Url>,
    allow_insecure_http: bool,
    freshness: FreshnessPolicy,
    cooldown: Duration,
    wait: Duration,
    negative_ttl: Duration,
    max_stale: Duration,
    limits: JwksLimits,
    lazy: bool,
}

/// The key set and what is known about its freshness. Replaced as a whole.
#[derive(Debug)]
struct State {
    keys: Arc<KeySet>,
    /// Bumped on every new key set (not on 304), so negative-cache entries from an older set
    /// can be recognised.
    generation: u64,
    loaded: bool,
    validated_at: Option<Instant>,
    fresh_until: Option<Instant>,
    etag: Option<String>,
}

/// Fetch bookkeeping; guarded by a mutex that is never held across `.await`.
#[derive(Default)]
struct Control {
    in_flight: Option<(u64, Shared<BoxFuture<'static, FetchOutcome>>)>,
    flights: u64,
    last_attempt: Option<Instant>,
    last_outcome: Option<FetchOutcome>,
    next_refresh: Option<Instant>,
    discovered: Option<Url>,
    stale_warned: bool,
}

#[derive(Default)]
struct Counters {
    fetch_ok: AtomicU64,
    fetch_not_modified: AtomicU64,
    fetch_failed: AtomicU64,
    fetch_refused: AtomicU64,
    keys_skipped: AtomicU64,
    kid_found: AtomicU64,
    kid_not_found: AtomicU64,
    kid_negative: AtomicU64,
    kid_throttled: AtomicU64,
    kid_unavailable: AtomicU64,
}

struct Inner {
    settings: Settings,
    transport: Arc<dyn JwksTransport>,
    state: ArcSwap<State>,
    control: Mutex<Control>,
    negative: quick_cache::sync::Cache<String, (u64, Instant)>,
    counters: Counters,
    changed: Arc<Notify>,
}

/// The issuer's key set, cached (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct JwksCache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.inner.state.load();
        f.debug_struct("JwksCache")
            .field("issuer", &self.inner.settings.issuer)
            .field("kids", &state.keys.kids().collect::<Vec<_>>())
            .field("loaded", &state.loaded)
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    /// A cache fetching over HTTPS with `reqwest`, its background refresh task spawned.
    /// Nothing is fetched yet: see [`JwksCache::start_fetch`] and [`JwksCache::load`].
    ///
    /// # Errors
    /// [`JwksCacheError`] for an unusable URL or HTTP client.
    pub fn new(config: &VerifierConfig) -> Result<Self, JwksCacheError> {
        let transport = ReqwestTransport::new(config.connect_timeout, config.fetch_timeout)
            .map_err(|e| JwksCacheError::HttpClient(e.to_string()))?;
        Self::with_transport(config, Arc::new(transport))
    }

    /// A cache using `transport` (tests use an in-process issuer). Must be called inside a
    /// tokio runtime: it spawns the refresh task, which ends when the last clone is dropped.
    ///
    /// # Errors
    /// [`JwksCacheError::InvalidConfig`] for a URL that breaks the https rule.
    pub fn with_transport(config: &VerifierConfig, transport: Arc<dyn JwksTransport>) -> Result<Self, JwksCacheError> {
        if let Some((name, message)) = config.problems().into_iter().next() {
            return Err(JwksCacheError::InvalidConfig(format!("{name}: {message}")));
        }
        let settings = Settings {
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            jwks_url: config.jwks_url.clone(),
            allow_insecure_http: config.allow_insecure_http,
            freshness: FreshnessPolicy {
                min: config.min_refresh,
                max: config.max_refresh,
                default: config.default_refresh,
            },
            cooldown: config.unknown_kid_cooldown,
            wait: config.unknown_kid_wait,
            negative_ttl: config.negative_cache_ttl,
            max_stale: config.max_stale,
            limits: config.jwks_limits,
            lazy: config.startup == StartupMode::Lazy,
        };
        let inner = Arc::new(Inner {
            settings,
            transport,
            state: ArcSwap::from_pointee(State {
                keys: Arc::new(KeySet::empty()),
                generation: 0,
                loaded: false,
                validated_at: None,
                fresh_until: None,
                etag: None,
            }),
            control: Mutex::new(Control::default()),
            negative: quick_cache::sync::Cache::new(config.negative_cache_capacity.max(1)),
            counters: Counters::default(),
            changed: Arc::new(Notify::new()),
        });
        tokio::spawn(refresh_loop(Arc::downgrade(&inner), Arc::clone(&inner.changed)));
        Ok(Self { inner })
    }

    /// Starts a fetch now unless one is in flight (ignores the cooldown), without waiting.
    pub fn start_fetch(&self) {
        let _flight = self.inner.join_or_start(true);
    }

    /// Fetches now (or joins the fetch in flight) and waits for it.
    pub async fn load(&self) -> FetchOutcome {
        let flight = self.inner.join_or_start(true);
        match flight {
            Some(flight) => flight.await,
            None => FetchOutcome::Failed,
        }
    }

    /// The keys held now (possibly empty or stale).
    #[must_use]
    pub fn keys(&self) -> Arc<KeySet> {
        Arc::clone(&self.inner.state.load().keys)
    }
}

impl KeyStore for JwksCache {
    fn snapshot(&self) -> KeySnapshot {
        self.inner.snapshot()
    }

    fn resolve_unknown<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, KeyLookup> {
        Box::pin(self.inner.resolve_unknown(kid))
    }

    fn is_ready(&self) -> bool {
        if self.inner.settings.lazy {
            return true;
        }
        let state = self.inner.state.load();
        state.loaded && state.fresh_until.is_some_and(|fresh| Instant::now() <= fresh + self.inner.settings.max_stale)
    }

    fn stats(&self) -> KeyStoreStats {
        let c = &self.inner.counters;
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        KeyStoreStats {
            jwks_fetches_ok: get(&c.fetch_ok),
            jwks_fetches_not_modified: get(&c.fetch_not_modified),
            jwks_fetches_failed: get(&c.fetch_failed),
            jwks_fetches_refused: get(&c.fetch_refused),
            keys_skipped: get(&c.keys_skipped),
            unknown_kid_found: get(&c.kid_found),
            unknown_kid_not_found: get(&c.kid_not_found),
            unknown_kid_negative_cached: get(&c.kid_negative),
            unknown_kid_throttled: get(&c.kid_throttled),
            unknown_kid_unavailable: get(&c.kid_unavailable),
        }
    }
}

/// Why a fetch failed, for the log line.
enum FetchFailure {
    Unreachable(String),
    Refused(String),
}

enum Fetched {
    New {
        keys: KeySet,
        skipped: Vec<(Option<String>, super::keys::KeyProblem)>,
        etag: Option<String>,
        lifetime: Duration,
    },
    NotModified {
        lifetime: Duration,
    },
}

impl Inner {
    fn snapshot(&self) -> KeySnapshot {
        let state = self.state.load();
        let Some(fresh_until) = state.fresh_until.filter(|_| state.loaded) else {
            // Nothing loaded yet: an empty set sends every token to `resolve_unknown`, which
            // fetches (or says why it cannot).
            return KeySnapshot::Ready { keys: Arc::clone(&state.keys), stale: false };
        };
        let now = Instant::now();
        if now <= fresh_until {
            KeySnapshot::Ready { keys: Arc::clone(&state.keys), stale: false }
        } else if now <= fresh_until + self.settings.max_stale {
            KeySnapshot::Ready { keys: Arc::clone(&state.keys), stale: true }
        } else {
            KeySnapshot::Unavailable { retry_after: self.retry_after(now) }
        }
    }

    fn retry_after(&self, now: Instant) -> Duration {
        let control = self.control.lock();
        let next = control.next_refresh.map_or(Duration::ZERO, |next| next.saturating_duration_since(now));
        next.max(Duration::from_secs(1))
    }

    /// The shared fetch: the one in flight, or a new one if `force` or the cooldown allows.
    fn join_or_start(self: &Arc<Self>, force: bool) -> Option<Shared<BoxFuture<'static, FetchOutcome>>> {
        let mut control = self.control.lock();
        if let Some((_, flight)) = &control.in_flight {
            return Some(flight.clone());
        }
        let now = Instant::now();
        let cooled = control.last_attempt.is_none_or(|last| now.duration_since(last) >= self.settings.cooldown);
        if !force && !cooled {
            return None;
        }
        control.last_attempt = Some(now);
        control.flights += 1;
        let id = control.flights;
        let inner = Arc::clone(self);
        let task = tokio::spawn(async move { inner.fetch_and_apply(id).await });
        // A panicking or cancelled fetch task counts as a failed fetch for its waiters.
        let flight = async move { task.await.unwrap_or(FetchOutcome::Failed) }.boxed().shared();
        control.in_flight = Some((id, flight.clone()));
        Some(flight)
    }

    async fn resolve_unknown(self: &Arc<Self>, kid: &str) -> KeyLookup {
        let state = self.state.load_full();
        if let Some(key) = state.keys.get(kid) {
            // A refresh landed between the caller's snapshot and now.
            return self.found(key);
        }
        if let Some((generation, at)) = self.negative.get(kid)
            && generation == state.generation
            && at.elapsed() < self.settings.negative_ttl
        {
            self.count(&self.counters.kid_negative, "negative_cached");
            return KeyLookup::NotFound;
        }
        let Some(flight) = self.join_or_start(false) else {
            self.count(&self.counters.kid_throttled, "throttled");
            let last_failed = self.control.lock().last_outcome.is_some_and(|o| !o.succeeded());
            return if state.loaded && !last_failed {
                KeyLookup::NotFound
            } else {
                KeyLookup::Unavailable { retry_after: self.cooldown_remaining() }
            };
        };
        let outcome = match tokio::time::timeout(self.settings.wait, flight).await {
            Ok(outcome) => outcome,
            Err(_elapsed) => {
                self.count(&self.counters.kid_unavailable, "timeout");
                return KeyLookup::Unavailable { retry_after: Duration::from_secs(1) };
            }
        };
        let state = self.state.load();
        if let Some(key) = state.keys.get(kid) {
            return self.found(key);
        }
        if !outcome.succeeded() {
            self.count(&self.counters.kid_unavailable, "fetch_failed");
            return KeyLookup::Unavailable { retry_after: self.cooldown_remaining() };
        }
        self.negative.insert(kid.to_owned(), (state.generation, Instant::now()));
        self.count(&self.counters.kid_not_found, "not_found");
        KeyLookup::NotFound
    }

    fn found(&self, key: &Arc<super::keys::VerifyingKey>) -> KeyLookup {
        self.count(&self.counters.kid_found, "found");
        KeyLookup::Found(Arc::clone(key))
    }

    fn count(&self, counter: &AtomicU64, outcome: &'static str) {
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("auth_unknown_kid_total", "audience" => self.settings.audience.clone(), "outcome" => outcome)
            .increment(1);
    }

    fn cooldown_remaining(&self) -> Duration {
        let control = self.control.lock();
        let remaining =
            control.last_attempt.map_or(Duration::ZERO, |last| self.settings.cooldown.saturating_sub(last.elapsed()));
        remaining.max(Duration::from_secs(1))
    }

    async fn fetch_and_apply(self: Arc<Self>, id: u64) -> FetchOutcome {
        let result = self.fetch().await;
        let now = Instant::now();
        let outcome = match result {
            Ok(Fetched::New { keys, skipped, etag, lifetime }) => {
                let previous = self.state.load();
                let kids: Vec<&str> = keys.kids().collect();
                tracing::info!(
                    auth.iss = %self.settings.issuer,
                    auth.kids = ?kids,
                    auth.skipped = skipped.len(),
                    auth.lifetime_secs = lifetime.as_secs(),
                    "key set fetched"
                );
                for (kid, problem) in &skipped {
                    tracing::warn!(auth.iss = %self.settings.issuer, auth.kid = kid.as_deref().unwrap_or("-"), "skipping key that {problem}");
                    metrics::counter!("auth_jwks_keys_skipped_total", "audience" => self.settings.audience.clone(), "reason" => problem.label())
                        .increment(1);
                }
                self.counters.keys_skipped.fetch_add(skipped.len() as u64, Ordering::Relaxed);
                metrics::gauge!("auth_jwks_keys", "audience" => self.settings.audience.clone()).set(keys.len() as f64);
                self.state.store(Arc::new(State {
                    keys: Arc::new(keys),
                    generation: previous.generation + 1,
                    loaded: true,
                    validated_at: Some(now),
                    fresh_until: Some(now + lifetime),
                    etag,
                }));
                self.counters.fetch_ok.fetch_add(1, Ordering::Relaxed);
                FetchOutcome::Updated
            }
            Ok(Fetched::NotModified { lifetime }) => {
                let previous = self.state.load();
                tracing::debug!(auth.iss = %self.settings.issuer, "key set not modified");
                self.state.store(Arc::new(State {
                    keys: Arc::clone(&previous.keys),
                    generation: previous.generation,
                    loaded: true,
                    validated_at: Some(now),
                    fresh_until: Some(now + lifetime),
                    etag: previous.etag.clone(),
                }));
                self.counters.fetch_not_modified.fetch_add(1, Ordering::Relaxed);
                FetchOutcome::NotModified
            }
            Err(FetchFailure::Unreachable(reason)) => {
                self.log_failure("issuer unreachable", &reason, now);
                self.counters.fetch_failed.fetch_add(1, Ordering::Relaxed);
                FetchOutcome::Failed
            }
            Err(FetchFailure::Refused(reason)) => {
                self.log_failure("key set refused", &reason, now);
                self.counters.fetch_refused.fetch_add(1, Ordering::Relaxed);
                FetchOutcome::Refused
            }
        };
        metrics::counter!("auth_jwks_fetches_total", "audience" => self.settings.audience.clone(), "result" => outcome.label())
            .increment(1);
        if outcome.succeeded() {
            metrics::gauge!("auth_jwks_key_set_age_seconds", "audience" => self.settings.audience.clone()).set(0.0);
            metrics::gauge!("auth_jwks_last_success_timestamp_seconds", "audience" => self.settings.audience.clone())
                .set(SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64()));
        }
        {
            let mut control = self.control.lock();
            control.last_outcome = Some(outcome);
            let mut rng = rand::rng();
            control.next_refresh = Some(if outcome.succeeded() {
                let lifetime =
                    self.state.load().fresh_until.map_or(Duration::ZERO, |f| f.saturating_duration_since(now));
                control.stale_warned = false;
                now + lifetime.mul_f64(rng.random_range(0.75..0.85))
            } else {
                now + self.settings.cooldown.mul_f64(rng.random_range(0.9..1.1))
            });
            if control.in_flight.as_ref().is_some_and(|(flight, _)| *flight == id) {
                control.in_flight = None;
            }
        }
        self.changed.notify_one();
        outcome
    }

    fn log_failure(&self, what: &str, reason: &str, now: Instant) {
        let state = self.state.load();
        let age = state.validated_at.map(|at| now.saturating_duration_since(at).as_secs());
        let stale = state.fresh_until.is_some_and(|fresh| now > fresh);
        if stale {
            let first = {
                let mut control = self.control.lock();
                !std::mem::replace(&mut control.stale_warned, true)
            };
            if first {
                tracing::warn!(auth.iss = %self.settings.issuer, auth.key_set_age_secs = ?age, reason, "{what}; serving the last good key set past its freshness");
            } else {
                tracing::debug!(auth.iss = %self.settings.issuer, auth.key_set_age_secs = ?age, reason, "{what}");
            }
        } else {
            tracing::warn!(auth.iss = %self.settings.issuer, auth.key_set_age_secs = ?age, reason, "{what}; keeping the current key set");
        }
        if let Some(age) = age {
            metrics::gauge!("auth_jwks_key_set_age_seconds", "audience" => self.settings.audience.clone())
                .set(age as f64);
        }
    }

    async fn jwks_url(&self) -> Result<Url, FetchFailure> {
        if let Some(url) = &self.settings.jwks_url {
            return Ok(url.clone());
        }
        if let Some(url) = self.control.lock().discovered.clone() {
            return Ok(url);
        }
        let base = self.settings.issuer.trim_end_matches('/');
        let metadata_url = Url::parse(&format!("{base}/.well-known/openid-configuration"))
            .map_err(|e| FetchFailure::Refused(format!("issuer is not a URL: {e}")))?;
        let response = self.get(metadata_url, None).await?;
        if response.status != 200 {
            return Err(FetchFailure::Unreachable(format!("discovery answered {}", response.status)));
        }
        check_json_content_type(&response, &["application/json"])?;
        let document = json::parse_object(&response.body)
            .map_err(|problem| FetchFailure::Refused(format!("discovery document is not JSON ({problem:?})")))?;
        // RFC 8414 §3.3: metadata for another issuer must not be used.
        if document.get("issuer").and_then(Value::as_str) != Some(self.settings.issuer.as_str()) {
            return Err(FetchFailure::Refused("discovery document names a different issuer".to_owned()));
        }
        let jwks_uri = document
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or_else(|| FetchFailure::Refused("discovery document has no jwks_uri".to_owned()))?;
        let url = Url::parse(jwks_uri).map_err(|e| FetchFailure::Refused(format!("jwks_uri is not a URL: {e}")))?;
        check_fetch_url(&url, self.settings.allow_insecure_http).map_err(FetchFailure::Refused)?;
        tracing::info!(auth.iss = %self.settings.issuer, auth.jwks_uri = %url, "discovered the key set URL");
        self.control.lock().discovered = Some(url.clone());
        Ok(url)
    }

    async fn get(&self, url: Url, if_none_match: Option<String>) -> Result<FetchResponse, FetchFailure> {
        let request = FetchRequest { url, if_none_match, max_body_bytes: self.settings.limits.max_bytes };
        self.transport.get(request).await.map_err(|error| match error {
            TransportError::BodyTooLarge { .. } => FetchFailure::Refused(error.to_string()),
            TransportError::Connect(_) | TransportError::Timeout | TransportError::Other(_) => {
                FetchFailure::Unreachable(error.to_string())
            }
        })
    }

    async fn fetch(&self) -> Result<Fetched, FetchFailure> {
        let url = self.jwks_url().await?;
        let (etag, have_keys) = {
            let state = self.state.load();
            (state.etag.clone(), state.loaded)
        };
        let sent_etag = etag.filter(|_| have_keys);
        let response = self.get(url, sent_etag.clone()).await?;
        let received_at = SystemTime::now();
        match response.status {
            200 => {}
            304 if sent_etag.is_some() => {
                return Ok(Fetched::NotModified {
                    lifetime: freshness::lifetime(&response.headers, received_at, self.settings.freshness),
                });
            }
            status => {
                if status == 404 && self.settings.jwks_url.is_none() {
                    // The discovered URL may have moved: discover again next time.
                    self.control.lock().discovered = None;
                }
                return Err(FetchFailure::Unreachable(format!("key set URL answered {status}")));
            }
        }
        check_json_content_type(&response, &["application/json", "application/jwk-set+json"])?;
        let (keys, report) = KeySet::from_jwks_json_with_limits(&response.body, self.settings.limits)
            .map_err(|error| FetchFailure::Refused(error.to_string()))?;
        let etag = response
            .headers
            .get(http::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.len() <= 256)
            .map(str::to_owned);
        Ok(Fetched::New {
            keys,
            skipped: report.skipped,
            etag,
            lifetime: freshness::lifetime(&response.headers, received_at, self.settings.freshness),
        })
    }
}

fn check_json_content_type(response: &FetchResponse, allowed: &[&str]) -> Result<(), FetchFailure> {
    let media_type = response
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    match media_type {
        Some(media_type) if allowed.contains(&media_type.as_str()) => Ok(()),
        Some(media_type) => {
            Err(FetchFailure::Refused(format!("unexpected content type `{}`", media_type.escape_debug())))
        }
        None => Err(FetchFailure::Refused("no content type".to_owned())),
    }
}

/// Refreshes ahead of expiry and retries after failures; ends when the cache is dropped.
async fn refresh_loop(inner: Weak<Inner>, changed: Arc<Notify>) {
    loop {
        let next = match inner.upgrade() {
            Some(inner) => inner.control.lock().next_refresh,
            None => return,
        };
        match next {
            // Lazy start and nothing fetched yet: wait for the first fetch to schedule one.
            None => changed.notified().await,
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = changed.notified() => continue,
                }
            }
        }
        let Some(strong) = inner.upgrade() else { return };
        let due = strong.control.lock().next_refresh.is_some_and(|at| at <= Instant::now());
        if due {
            let flight = strong.join_or_start(true);
            drop(strong);
            if let Some(flight) = flight {
                flight.await;
            }
        }
    }
}
