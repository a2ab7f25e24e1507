//! What a [`Verifier`](super::Verifier) counts: exact per-instance counters, read back as
//! [`VerifierStats`], and the handles of its hot-path `metrics` series.

use std::sync::atomic::AtomicU64;

use crate::{revocation::RevocationStats, store::KeyStoreStats};

/// Counters of one verifier instance (tests read them exactly; the `metrics` facade carries
/// the same events process-wide).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifierStats {
    /// Tokens accepted.
    pub verifications_ok: u64,
    /// Tokens refused (any reason, including unavailable keys and revocations).
    pub verifications_failed: u64,
    /// Accepted tokens answered from the verified-token cache.
    pub token_cache_hits: u64,
    /// Accepted tokens verified with a key set past its freshness (issuer unreachable).
    pub stale_served: u64,
    /// The key store's counters (JWKS fetches by result, unknown-`kid` outcomes).
    pub store: KeyStoreStats,
    /// The revocation feed's subscriber and the revocations held (all zero and
    /// [`FeedStatus::Off`](crate::FeedStatus::Off) without a subscriber).
    pub revocation: RevocationStats,
}

impl VerifierStats {
    /// All JWKS fetches, whatever their result.
    #[must_use]
    pub fn jwks_fetches(&self) -> u64 {
        self.store.jwks_fetches()
    }
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) ok: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) cache_hits: AtomicU64,
    pub(super) stale: AtomicU64,
}

/// Handles of the hot-path metrics, registered on first use (by then the service has
/// installed its recorder; handles taken earlier would stay no-ops).
pub(super) struct HotMetrics {
    pub(super) ok: metrics::Counter,
    pub(super) cache_hits: metrics::Counter,
    pub(super) stale: metrics::Counter,
}

impl HotMetrics {
    pub(super) fn register(audience: &str) -> Self {
        let audience = audience.to_owned();
        Self {
            ok: metrics::counter!("auth_verifications_total", "audience" => audience.clone(), "result" => "ok", "reason" => "ok"),
            cache_hits: metrics::counter!("auth_token_cache_hits_total", "audience" => audience.clone()),
            stale: metrics::counter!("auth_stale_served_total", "audience" => audience),
        }
    }
}
