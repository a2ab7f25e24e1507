//! Where verification keys come from: the [`KeyStore`] trait and a static implementation.
//!
//! The verifier asks a store two things. [`KeyStore::snapshot`] must answer at once, without
//! locks or I/O: the key set as it is now, or "unavailable". Only when a token names a `kid`
//! the snapshot lacks does it call [`KeyStore::resolve_unknown`], which may go to the network
//! ([`JwksCache`](super::jwks::JwksCache)) or simply say no ([`StaticKeyStore`]).

use std::{sync::Arc, time::Duration};

use arc_swap::ArcSwap;
use futures::future::BoxFuture;

use super::keys::{KeySet, VerifyingKey};

/// The key set as it is right now.
#[derive(Debug, Clone)]
pub enum KeySnapshot {
    /// Keys that may be used.
    Ready {
        /// The keys (possibly empty, before the first load).
        keys: Arc<KeySet>,
        /// The set is past its freshness lifetime because refreshing failed; it is still
        /// served (up to `max_stale`) and every verification with it is counted.
        stale: bool,
    },
    /// The keys must not be used (older than `max_stale`, or never loaded and the issuer is
    /// failing).
    Unavailable {
        /// When a retry may succeed.
        retry_after: Duration,
    },
}

/// The answer for a `kid` the snapshot did not have.
#[derive(Debug, Clone)]
pub enum KeyLookup {
    /// The issuer has it (now in the snapshot too).
    Found(Arc<VerifyingKey>),
    /// The issuer does not have it, or asking again is throttled.
    NotFound,
    /// The issuer could not be asked in time.
    Unavailable {
        /// When a retry may succeed.
        retry_after: Duration,
    },
}

/// Counters a store keeps about itself; all zero for stores that never fetch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeyStoreStats {
    /// Fetches that returned a new key set (200).
    pub jwks_fetches_ok: u64,
    /// Fetches answered 304 Not Modified (keys kept).
    pub jwks_fetches_not_modified: u64,
    /// Fetches that failed to reach the issuer or got an error status.
    pub jwks_fetches_failed: u64,
    /// Fetches whose document was refused (private members, symmetric keys, limits…).
    pub jwks_fetches_refused: u64,
    /// Keys skipped during ingest, over all fetches.
    pub keys_skipped: u64,
    /// Unknown `kid`s found after a fetch.
    pub unknown_kid_found: u64,
    /// Unknown `kid`s the issuer did not have after a fetch.
    pub unknown_kid_not_found: u64,
    /// Unknown `kid`s answered from the negative cache.
    pub unknown_kid_negative_cached: u64,
    /// Unknown `kid`s refused without fetching because of the cooldown.
    pub unknown_kid_throttled: u64,
    /// Unknown `kid`s whose fetch failed or outlasted the wait budget.
    pub unknown_kid_unavailable: u64,
}

impl KeyStoreStats {
    /// All JWKS fetches, whatever their result.
    #[must_use]
    pub fn jwks_fetches(&self) -> u64 {
        self.jwks_fetches_ok + self.jwks_fetches_not_modified + self.jwks_fetches_failed + self.jwks_fetches_refused
    }
}

/// A source of verification keys.
pub trait KeyStore: Send + Sync + 'static {
    /// The keys as they are now. Must not block or wait.
    fn snapshot(&self) -> KeySnapshot;

    /// Called when a token names a `kid` missing from the snapshot (after the token's cheap
    /// checks passed). The default says the key does not exist.
    fn resolve_unknown<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, KeyLookup> {
        let _ = kid;
        Box::pin(std::future::ready(KeyLookup::NotFound))
    }

    /// Whether the store has keys to verify with (for `/readyz`).
    fn is_ready(&self) -> bool;

    /// The store's own counters.
    fn stats(&self) -> KeyStoreStats {
        KeyStoreStats::default()
    }
}

/// Keys the application sets itself, swapped atomically: auth-service verifies its own
/// tokens with one, and service tests use one with the test keys.
#[derive(Debug)]
pub struct StaticKeyStore {
    keys: ArcSwap<KeySet>,
}

impl StaticKeyStore {
    /// A store holding `keys`.
    #[must_use]
    pub fn new(keys: KeySet) -> Self {
        Self { keys: ArcSwap::from_pointee(keys) }
    }

    /// Replaces the keys; verifications already running finish with the old set, later ones
    /// see the new one.
    pub fn replace(&self, keys: KeySet) {
        self.keys.store(Arc::new(keys));
    }

    /// The current keys.
    #[must_use]
    pub fn keys(&self) -> Arc<KeySet> {
        self.keys.load_full()
    }
}

impl KeyStore for StaticKeyStore {
    fn snapshot(&self) -> KeySnapshot {
        KeySnapshot::Ready { keys: self.keys.load_full(), stale: false }
    }

    fn is_ready(&self) -> bool {
        !self.keys.load().is_empty()
    }
}
