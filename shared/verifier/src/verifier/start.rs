//! Starting a [`Verifier`] over the issuer's JWKS, subscribed to its revocation feed, and
//! why that can fail.

use std::{sync::Arc, time::Duration};

use super::Verifier;
use crate::{
    config::{StartupMode, VerifierConfig},
    jwks::{FetchOutcome, JwksCache, JwksCacheError, transport::JwksTransport},
    revocation::{self, RevocationList},
    store::KeyStore,
};

/// Why [`Verifier::start`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifierStartError {
    /// The key cache could not be created (bad URL, TLS initialisation).
    #[error(transparent)]
    Cache(#[from] JwksCacheError),
    /// [`StartupMode::WarmWithDeadline`] and no key set arrived in time.
    #[error("no key set from the issuer within {waited:?} (last fetch: {outcome:?})")]
    KeysNotLoaded {
        /// The deadline.
        waited: Duration,
        /// What the last fetch did, if it finished.
        outcome: Option<FetchOutcome>,
    },
    /// The configured revocation feed URL breaks the https rule.
    #[error("invalid revocation feed URL: {0}")]
    InvalidFeed(String),
}

impl Verifier {
    /// A verifier whose keys come from the issuer's JWKS (the configured URL, or discovery),
    /// loaded as `config.startup` says, with background refresh; and, unless
    /// `config.revocation_feed` is off, subscribed to the issuer's revocation feed (the
    /// configured URL, or discovery). Start-up waits for keys only (as `startup` says); the
    /// feed's first sync holds [`Verifier::is_ready`] instead.
    ///
    /// # Errors
    /// [`VerifierStartError`] for an unusable configuration, or no keys by the deadline of
    /// [`StartupMode::WarmWithDeadline`].
    pub async fn start(config: VerifierConfig) -> Result<Self, VerifierStartError> {
        let cache = JwksCache::new(&config)?;
        Self::start_with_cache(config, cache).await
    }

    /// Like [`Verifier::start`] with a cache built by the caller (for example over an
    /// in-process transport in tests). The feed is polled through the cache's transport.
    ///
    /// # Errors
    /// As [`Verifier::start`].
    pub async fn start_with_cache(config: VerifierConfig, cache: JwksCache) -> Result<Self, VerifierStartError> {
        if let Some(message) = config.feed_url_problem() {
            return Err(VerifierStartError::InvalidFeed(message));
        }
        let startup = config.startup;
        let transport = cache.transport();
        // Subscribed before the keys are waited for: both loads run at once.
        let verifier = Self::subscribed(config, Arc::new(cache.clone()), transport);
        match startup {
            StartupMode::Lazy => {}
            StartupMode::Warm => cache.start_fetch(),
            StartupMode::WarmWithDeadline(deadline) => {
                let outcome = tokio::time::timeout(deadline, cache.load()).await.ok();
                if !cache.is_ready() {
                    return Err(VerifierStartError::KeysNotLoaded { waited: deadline, outcome });
                }
            }
        }
        Ok(verifier)
    }

    fn subscribed(config: VerifierConfig, store: Arc<dyn KeyStore>, transport: Arc<dyn JwksTransport>) -> Self {
        let list = Arc::new(RevocationList::new(config.revocation_max_entries));
        let subscription = revocation::subscribe(&config, Arc::clone(&store), transport, Arc::clone(&list));
        let revocations = subscription.is_some().then_some(list);
        Self::assemble(config, store, revocations, subscription)
    }
}
