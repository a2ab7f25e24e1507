//! [`Verifier`]: turns a bearer token into a [`Caller`], or says exactly why not.
//!
//! Order of work for a token, cheapest first:
//! 1. length limit, then the verified-token cache (SHA-256 of the whole token → the caller
//!    it proved, valid until the token's `exp` and only while its key is still in the set);
//! 2. compact form, strict base64url, strict JSON header, the access-token header profile
//!    (`alg`, `typ`, `kid`, no `crit`, no embedded keys);
//! 3. claims decoded and type-checked;
//! 4. key lookup in the lock-free snapshot; for an unknown `kid`, the claim checks run first
//!    on the unverified token so junk never reaches the issuer, then the store is asked;
//! 5. the RSA signature, then the claim checks (issuer, audience, dates, lifetime).

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use ring::digest;

use super::{
    claims::{Caller, Claims, ClaimsPolicy},
    config::{StartupMode, VerifierConfig},
    error::{AuthError, TokenPart},
    jose,
    jwks::{FetchOutcome, JwksCache, JwksCacheError},
    keys::{JwsAlgorithm, VerifyingKey, is_sane_kid},
    store::{KeyLookup, KeySnapshot, KeyStore, KeyStoreStats},
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
}

/// Counters of one verifier instance (tests read them exactly; the `metrics` facade carries
/// the same events process-wide).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifierStats {
    /// Tokens accepted.
    pub verifications_ok: u64,
    /// Tokens refused (any reason, including unavailable keys).
    pub verifications_failed: u64,
    /// Accepted tokens answered from the verified-token cache.
    pub token_cache_hits: u64,
    /// Accepted tokens verified with a key set past its freshness (issuer unreachable).
    pub stale_served: u64,
    /// The key store's counters (JWKS fetches by result, unknown-`kid` outcomes).
    pub store: KeyStoreStats,
}

impl VerifierStats {
    /// All JWKS fetches, whatever their result.
    #[must_use]
    pub fn jwks_fetches(&self) -> u64 {
        self.store.jwks_fetches()
    }
}

#[derive(Default)]
struct Counters {
    ok: AtomicU64,
    failed: AtomicU64,
    cache_hits: AtomicU64,
    stale: AtomicU64,
}

struct CachedCaller {
    caller: Caller,
    kid: Arc<str>,
}

type TokenCache = quick_cache::sync::Cache<[u8; 32], Arc<CachedCaller>>;

/// Handles of the hot-path metrics, registered on first use (by then the service has
/// installed its recorder; handles taken earlier would stay no-ops).
struct HotMetrics {
    ok: metrics::Counter,
    cache_hits: metrics::Counter,
    stale: metrics::Counter,
}

struct Inner {
    metrics: std::sync::OnceLock<HotMetrics>,
    config: VerifierConfig,
    policy: ClaimsPolicy,
    realm: Arc<str>,
    store: Arc<dyn KeyStore>,
    cache: Option<TokenCache>,
    /// Parsed protected headers by their encoded segment: every token one key signs has the
    /// same header, so decoding and parsing it once per key is enough. Exact bytes in, same
    /// answer out: only successful parses are kept.
    headers: quick_cache::sync::Cache<Box<str>, Arc<jose::JoseHeader>>,
    counters: Counters,
}

/// Verifies access tokens. Cheap to clone (one `Arc`); put it in your axum state and
/// implement `FromRef` so the extractors find it.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.inner.config.issuer)
            .field("audience", &self.inner.config.audience)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier whose keys come from the issuer's JWKS (the configured URL, or discovery),
    /// loaded as `config.startup` says, with background refresh.
    ///
    /// # Errors
    /// [`VerifierStartError`] for an unusable configuration, or no keys by the deadline of
    /// [`StartupMode::WarmWithDeadline`].
    pub async fn start(config: VerifierConfig) -> Result<Self, VerifierStartError> {
        let cache = JwksCache::new(&config)?;
        Self::start_with_cache(config, cache).await
    }

    /// Like [`Verifier::start`] with a cache built by the caller (for example over an
    /// in-process transport in tests).
    ///
    /// # Errors
    /// As [`Verifier::start`].
    pub async fn start_with_cache(config: VerifierConfig, cache: JwksCache) -> Result<Self, VerifierStartError> {
        match config.startup {
            StartupMode::Lazy => {}
            StartupMode::Warm => cache.start_fetch(),
            StartupMode::WarmWithDeadline(deadline) => {
                let outcome = tokio::time::timeout(deadline, cache.load()).await.ok();
                if !cache.is_ready() {
                    return Err(VerifierStartError::KeysNotLoaded { waited: deadline, outcome });
                }
            }
        }
        Ok(Self::with_key_store(config, Arc::new(cache)))
    }

    /// A verifier whose keys come from `store` (auth-service verifies its own tokens from
    /// its key table this way; service tests use a [`StaticKeyStore`](super::StaticKeyStore)).
    #[must_use]
    pub fn with_key_store(config: VerifierConfig, store: Arc<dyn KeyStore>) -> Self {
        let policy = ClaimsPolicy {
            issuer: Arc::from(config.issuer.as_str()),
            audience: Arc::from(config.audience.as_str()),
            leeway_secs: i64::try_from(config.leeway.as_secs()).unwrap_or(i64::MAX / 4),
            max_lifetime_secs: i64::try_from(config.max_token_lifetime.as_secs()).unwrap_or(i64::MAX / 4),
        };
        let cache = (config.token_cache_capacity > 0).then(|| TokenCache::new(config.token_cache_capacity));
        let realm = Arc::from(config.audience.as_str());
        Self {
            inner: Arc::new(Inner {
                metrics: std::sync::OnceLock::new(),
                config,
                policy,
                realm,
                store,
                cache,
                headers: quick_cache::sync::Cache::new(HEADER_CACHE_CAPACITY),
                counters: Counters::default(),
            }),
        }
    }

    /// Verifies an access token.
    ///
    /// # Errors
    /// The [`AuthError`] naming the first check that failed.
    pub async fn verify(&self, token: &str) -> Result<Caller, AuthError> {
        let result = self.verify_inner(token).await;
        let inner = &self.inner;
        match &result {
            Ok(_) => {
                inner.counters.ok.fetch_add(1, Ordering::Relaxed);
                inner.metrics().ok.increment(1);
            }
            Err(error) => {
                inner.counters.failed.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("auth_verifications_total", "audience" => inner.config.audience.clone(), "result" => "rejected", "reason" => error.reason())
                    .increment(1);
                if tracing::enabled!(tracing::Level::DEBUG) {
                    // The kid is re-read only when someone listens; never the token itself.
                    let kid = peek_kid(token, inner.config.max_token_bytes);
                    tracing::debug!(
                        auth.reason = error.reason(),
                        auth.kid = kid.as_deref().unwrap_or("-"),
                        "token rejected"
                    );
                }
            }
        }
        result
    }

    async fn verify_inner(&self, token: &str) -> Result<Caller, AuthError> {
        let inner = &*self.inner;
        if token.len() > inner.config.max_token_bytes {
            return Err(AuthError::TokenTooLarge);
        }
        let cache_key = inner.cache.as_ref().map(|_| token_hash(token));
        if let (Some(cache), Some(key)) = (&inner.cache, &cache_key)
            && let Some(hit) = self.cached(cache, key)?
        {
            return Ok(hit);
        }

        let compact = jose::split(token, inner.config.max_token_bytes)?;
        let header = match inner.headers.get(compact.header) {
            Some(header) => header,
            None => {
                let header = Arc::new(jose::parse_header(&jose::decode_part(compact.header, TokenPart::Header)?)?);
                inner.headers.insert(Box::from(compact.header), Arc::clone(&header));
                header
            }
        };
        // RFC 8725 §3.1: the verifier, not the token, decides the algorithm.
        if header.algorithm != JwsAlgorithm::Rs256 {
            return Err(AuthError::UnsupportedAlgorithm);
        }
        let kid = header.kid.as_deref().ok_or(AuthError::MissingKeyId)?;
        if !is_sane_kid(kid) {
            return Err(AuthError::InvalidKeyId);
        }
        if !header.typ.as_deref().is_some_and(is_access_token_type) {
            return Err(AuthError::InvalidType);
        }
        let payload = jose::decode_part(compact.payload, TokenPart::Payload)?;
        // On the stack: a signature never exceeds the largest modulus (8192 bits).
        let mut signature = [0u8; MAX_SIGNATURE_BYTES];
        let signature_len = decode_signature(compact.signature, &mut signature)?;
        let signature = &signature[..signature_len];
        let claims = Claims::from_members(jose::parse_members(&payload, TokenPart::Payload)?)?;

        let (keys, stale) = match inner.store.snapshot() {
            KeySnapshot::Ready { keys, stale } => (keys, stale),
            KeySnapshot::Unavailable { retry_after } => return Err(unavailable(retry_after)),
        };
        let key: Arc<VerifyingKey> = match keys.get(kid) {
            Some(key) => Arc::clone(key),
            None => {
                // Junk must not make us call the issuer: a token that would fail anyway is
                // refused before the store is asked.
                claims.validate(&inner.policy, inner.config.clock.now_unix())?;
                match inner.store.resolve_unknown(kid).await {
                    KeyLookup::Found(key) => key,
                    KeyLookup::NotFound => return Err(AuthError::UnknownKey),
                    KeyLookup::Unavailable { retry_after } => return Err(unavailable(retry_after)),
                }
            }
        };
        key.verify(header.algorithm, compact.signing_input.as_bytes(), signature)?;
        claims.validate(&inner.policy, inner.config.clock.now_unix())?;
        if stale {
            inner.counters.stale.fetch_add(1, Ordering::Relaxed);
            inner.metrics().stale.increment(1);
        }
        let caller = claims.into_caller(key.kid());
        if let (Some(cache), Some(hash)) = (&inner.cache, cache_key) {
            cache.insert(hash, Arc::new(CachedCaller { caller: caller.clone(), kid: Arc::clone(key.kid_arc()) }));
        }
        Ok(caller)
    }

    /// A cache hit, if the entry is still valid: not past `exp`, and its key still in the
    /// set (entries of removed keys are dropped here).
    fn cached(&self, cache: &TokenCache, hash: &[u8; 32]) -> Result<Option<Caller>, AuthError> {
        let inner = &*self.inner;
        let Some(entry) = cache.get(hash) else { return Ok(None) };
        if inner.config.clock.now_unix() >= entry.caller.expires_at {
            cache.remove(hash);
            return Ok(None);
        }
        match inner.store.snapshot() {
            KeySnapshot::Ready { keys, stale } if keys.contains(&entry.kid) => {
                inner.counters.cache_hits.fetch_add(1, Ordering::Relaxed);
                inner.metrics().cache_hits.increment(1);
                if stale {
                    inner.counters.stale.fetch_add(1, Ordering::Relaxed);
                    inner.metrics().stale.increment(1);
                }
                Ok(Some(entry.caller.clone()))
            }
            KeySnapshot::Ready { .. } => {
                cache.remove(hash);
                Ok(None)
            }
            KeySnapshot::Unavailable { retry_after } => Err(unavailable(retry_after)),
        }
    }

    /// Whether keys are loaded (for `/readyz`).
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.inner.store.is_ready()
    }

    /// This instance's counters.
    #[must_use]
    pub fn stats(&self) -> VerifierStats {
        let c = &self.inner.counters;
        VerifierStats {
            verifications_ok: c.ok.load(Ordering::Relaxed),
            verifications_failed: c.failed.load(Ordering::Relaxed),
            token_cache_hits: c.cache_hits.load(Ordering::Relaxed),
            stale_served: c.stale.load(Ordering::Relaxed),
            store: self.inner.store.stats(),
        }
    }

    /// The settings this verifier runs with.
    #[must_use]
    pub fn config(&self) -> &VerifierConfig {
        &self.inner.config
    }

    /// The realm of `WWW-Authenticate` challenges (the audience).
    #[must_use]
    pub fn realm(&self) -> &Arc<str> {
        &self.inner.realm
    }

    /// The key store behind this verifier.
    #[must_use]
    pub fn key_store(&self) -> &Arc<dyn KeyStore> {
        &self.inner.store
    }
}

impl Inner {
    fn metrics(&self) -> &HotMetrics {
        self.metrics.get_or_init(|| {
            let audience = self.config.audience.clone();
            HotMetrics {
                ok: metrics::counter!("auth_verifications_total", "audience" => audience.clone(), "result" => "ok", "reason" => "ok"),
                cache_hits: metrics::counter!("auth_token_cache_hits_total", "audience" => audience.clone()),
                stale: metrics::counter!("auth_stale_served_total", "audience" => audience),
            }
        })
    }
}

/// `typ` values RFC 9068 §2.1 allows; media type names compare case-insensitively
/// (RFC 7515 §4.1.9), and the `application/` prefix may be omitted.
fn is_access_token_type(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
}

/// Distinct protected headers remembered (a few per published key is the normal case).
const HEADER_CACHE_CAPACITY: usize = 64;

const MAX_SIGNATURE_BYTES: usize = super::keys::MAX_RSA_BITS / 8;

/// Decodes the signature segment into `out`; one longer than any key could verify is simply
/// a bad signature.
fn decode_signature(text: &str, out: &mut [u8; MAX_SIGNATURE_BYTES]) -> Result<usize, AuthError> {
    // base64url: 4 characters per 3 bytes; anything longer cannot fit, whatever it encodes.
    if text.len() > MAX_SIGNATURE_BYTES.div_ceil(3) * 4 {
        return Err(AuthError::InvalidSignature);
    }
    jose::decode_b64url_into(text, out).map_err(|_| AuthError::InvalidEncoding(TokenPart::Signature))
}

/// The `kid` of a token's header, if it has a sane one (for logs).
fn peek_kid(token: &str, max_bytes: usize) -> Option<String> {
    let compact = jose::split(token, max_bytes).ok()?;
    let header = jose::parse_header(&jose::decode_part(compact.header, TokenPart::Header).ok()?).ok()?;
    header.kid.filter(|kid| is_sane_kid(kid))
}

fn unavailable(retry_after: Duration) -> AuthError {
    AuthError::KeysUnavailable { retry_after_secs: retry_after.as_secs().max(1) }
}

fn token_hash(token: &str) -> [u8; 32] {
    let digest = digest::digest(&digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}
