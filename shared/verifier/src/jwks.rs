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
//!
//! Where each part lives: [`JwksCache`] and the state it swaps live here; `lookup` answers
//! readers (snapshots, unknown `kid`s, the negative cache); `single_flight` decides whether a
//! fetch starts or is joined; `refresh` applies a fetch's result and schedules the next one;
//! `fetch` does the HTTP exchange and ingest; `discovery` finds the key set URL from the
//! issuer's metadata; `metrics` keeps the counters and exported series.

mod discovery;
mod fetch;
pub mod freshness;
mod lookup;
mod metrics;
mod refresh;
mod single_flight;
pub mod transport;

use std::{sync::Arc, time::Duration};

use arc_swap::ArcSwap;
use futures::future::{BoxFuture, Shared};
use parking_lot::Mutex;
use tokio::{sync::Notify, time::Instant};
use url::Url;

use self::{
    freshness::FreshnessPolicy,
    metrics::Counters,
    refresh::refresh_loop,
    transport::{JwksTransport, ReqwestTransport},
};
use super::{
    config::{StartupMode, VerifierConfig},
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
        // The feed's settings are not the cache's business: it starts without a usable feed.
        if let Some((name, message)) = config.key_problems().into_iter().next() {
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

    /// The transport the cache fetches with; the revocation feed uses the same one, so it
    /// gets the same hardening (and, in tests, the same in-process issuer).
    pub(crate) fn transport(&self) -> Arc<dyn JwksTransport> {
        Arc::clone(&self.inner.transport)
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
        self.inner.counters.stats()
    }
}
