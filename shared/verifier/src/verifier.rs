//! [`Verifier`]: turns a bearer token into a [`Caller`], or says exactly why not.
//!
//! Order of work for a token, cheapest first:
//! 1. length limit, then the verified-token cache (keyed by the end of the signature, the
//!    whole token compared exactly → the caller it proved, valid until the token's `exp`
//!    and only while its key is still in the set; after `token_cache_capacity` admissions, a
//!    token gets in on its second verification, `verifier/admission.rs`);
//! 2. compact form, strict base64url, strict JSON header, the access-token header profile
//!    (`alg`, `typ`, `kid`, no `crit`, no embedded keys);
//! 3. claims decoded and type-checked;
//! 4. key lookup in the lock-free snapshot; for an unknown `kid`, the claim checks run first
//!    on the unverified token so junk never reaches the issuer, then the store is asked;
//! 5. the RSA signature, then the claim checks (issuer, audience, dates, lifetime);
//! 6. the revocation check ([`RevocationList`]), on cache hits too: one snapshot load and,
//!    only when revocations are held, one lookup for `sid` and one for `jti`; a cached token
//!    remembers the snapshot it passed and skips the lookups until the revocations change.
//!
//! [`Verifier::start`] also starts the revocation feed's subscriber (unless it is off), and
//! [`Verifier::is_ready`] waits for its first sync.

mod admission;
mod start;
mod stats;

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use self::{
    admission::Admission,
    stats::{Counters, HotMetrics},
};
pub use self::{start::VerifierStartError, stats::VerifierStats};
use super::{
    claims::{Caller, Claims, ClaimsPolicy},
    config::VerifierConfig,
    dpop::ProofVerifier,
    error::{AuthError, AuthRejection, TokenPart},
    jose,
    keys::{JwsAlgorithm, VerifyingKey, is_sane_kid},
    revocation::{RevocationList, RevocationStats, Subscription},
    store::{KeyLookup, KeySnapshot, KeyStore},
};

struct CachedCaller {
    /// The whole token: a hit compares it exactly, so the key need not be a digest.
    token: Box<str>,
    caller: Arc<Caller>,
    kid: Arc<str>,
    /// The revocation snapshot this token last passed (0: none), so hits skip the lookups
    /// until the revocations change.
    revocations_passed: AtomicU64,
}

/// Keyed by the token's last [`CACHE_KEY_BYTES`] bytes, the end of its signature: for the
/// tokens that get in (verified ones) those are as unpredictable as the signature, and a
/// junk token that shares them with a cached one only costs the exact comparison.
type TokenCache = quick_cache::sync::Cache<[u8; CACHE_KEY_BYTES], Arc<CachedCaller>>;

/// 16 base64url characters: 96 bits of an RSA signature.
const CACHE_KEY_BYTES: usize = 16;

struct Inner {
    metrics: std::sync::OnceLock<HotMetrics>,
    config: VerifierConfig,
    policy: ClaimsPolicy,
    realm: Arc<str>,
    /// RFC 9728 metadata URL named in challenges, from `config.resource`.
    resource_metadata: Option<Arc<str>>,
    store: Arc<dyn KeyStore>,
    cache: Option<(TokenCache, Admission)>,
    /// Parsed protected headers by their encoded segment: every token one key signs has the
    /// same header, so decoding and parsing it once per key is enough. Exact bytes in, same
    /// answer out: only successful parses are kept.
    headers: quick_cache::sync::Cache<Box<str>, Arc<jose::JoseHeader>>,
    counters: Counters,
    /// Checked on every verification; `None` when no revocations can arrive (feed off, or a
    /// verifier built without a list), so the hot path skips even the snapshot load.
    revocations: Option<Arc<RevocationList>>,
    /// The feed's subscriber; dropping the last verifier clone stops it.
    subscription: Option<Subscription>,
    /// Checks the proofs of DPoP-bound tokens and remembers their `jti`s.
    proofs: ProofVerifier,
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
    /// A verifier whose keys come from `store` (auth-service verifies its own tokens from
    /// its key table this way; service tests use a [`StaticKeyStore`](super::StaticKeyStore)).
    /// It subscribes to no revocation feed and checks no revocations.
    #[must_use]
    pub fn with_key_store(config: VerifierConfig, store: Arc<dyn KeyStore>) -> Self {
        Self::assemble(config, store, None, None)
    }

    /// Like [`Verifier::with_key_store`], checking every token against `revocations`, a list
    /// the application fills itself ([`RevocationList::apply`]) rather than from the feed.
    #[must_use]
    pub fn with_revocation_list(
        config: VerifierConfig,
        store: Arc<dyn KeyStore>,
        revocations: Arc<RevocationList>,
    ) -> Self {
        Self::assemble(config, store, Some(revocations), None)
    }

    fn assemble(
        config: VerifierConfig,
        store: Arc<dyn KeyStore>,
        revocations: Option<Arc<RevocationList>>,
        subscription: Option<Subscription>,
    ) -> Self {
        let policy = ClaimsPolicy {
            issuer: Arc::from(config.issuer.as_str()),
            audience: Arc::from(config.audience.as_str()),
            leeway_secs: i64::try_from(config.leeway.as_secs()).unwrap_or(i64::MAX / 4),
            max_lifetime_secs: i64::try_from(config.max_token_lifetime.as_secs()).unwrap_or(i64::MAX / 4),
        };
        let capacity = config.token_cache_capacity;
        let cache = (capacity > 0).then(|| (TokenCache::new(capacity), Admission::new(capacity)));
        let realm = Arc::from(config.audience.as_str());
        let resource_metadata = config.resource.as_ref().map(|r| Arc::from(crate::resource::metadata_url(r).as_str()));
        let proofs = ProofVerifier::configured(config.dpop.clone(), config.dpop_nonces.clone());
        Self {
            inner: Arc::new(Inner {
                metrics: std::sync::OnceLock::new(),
                config,
                policy,
                realm,
                resource_metadata,
                store,
                cache,
                headers: quick_cache::sync::Cache::new(HEADER_CACHE_CAPACITY),
                counters: Counters::default(),
                revocations,
                subscription,
                proofs,
            }),
        }
    }

    /// Verifies an access token. The caller is shared with the token cache: a hit hands out
    /// the same `Arc`, not a copy.
    ///
    /// # Errors
    /// The [`AuthError`] naming the first check that failed.
    pub async fn verify(&self, token: &str) -> Result<Arc<Caller>, AuthError> {
        match self.verify_cached(token.as_bytes()) {
            Some(result) => result,
            None => self.verify_uncached(token).await,
        }
    }

    /// The full verification of a token the cache did not answer ([`Verifier::verify_cached`]
    /// returned `None`), so the cache is not asked twice.
    pub(crate) async fn verify_uncached(&self, token: &str) -> Result<Arc<Caller>, AuthError> {
        let result = self.verify_miss(token).await;
        self.record(&result, token.as_bytes());
        result
    }

    /// A verification the token cache can answer alone, `None` when it cannot (the caller
    /// then checks the token's syntax and calls [`Verifier::verify_uncached`]). `token` may be any
    /// bytes: one equal to a cached token is a token that verified, so the extractors skip
    /// their byte-by-byte syntax check for it.
    pub(crate) fn verify_cached(&self, token: &[u8]) -> Option<Result<Arc<Caller>, AuthError>> {
        let (cache, _) = self.inner.cache.as_ref()?;
        let key = cache_key(token)?;
        let result = self.cached(cache, &key, token).transpose()?;
        self.record(&result, token);
        Some(result)
    }

    /// Counts a verification's outcome, and logs a rejection when someone listens.
    fn record(&self, result: &Result<Arc<Caller>, AuthError>, token: &[u8]) {
        let inner = &self.inner;
        match result {
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
                    let kid = std::str::from_utf8(token).ok().and_then(|t| peek_kid(t, inner.config.max_token_bytes));
                    tracing::debug!(
                        auth.reason = error.reason(),
                        auth.kid = kid.as_deref().unwrap_or("-"),
                        "token rejected"
                    );
                }
            }
        }
    }

    /// A cache miss: the length limit, then the full check. A cached token is never over the
    /// limit, so asking the cache first changes no answer.
    async fn verify_miss(&self, token: &str) -> Result<Arc<Caller>, AuthError> {
        let inner = &*self.inner;
        if token.len() > inner.config.max_token_bytes {
            return Err(AuthError::TokenTooLarge);
        }
        let cache_key = inner.cache.as_ref().and_then(|_| cache_key(token.as_bytes()));
        // Boxed: the full check keeps a signature buffer across its await, and inline it
        // would make every verification's future that large, hits included, copied whenever
        // the future moves. One allocation is nothing next to an RSA check.
        Box::pin(self.verify_full(token, cache_key)).await
    }

    /// Everything after a cache miss: parsing, the key, the signature, the claims.
    async fn verify_full(
        &self,
        token: &str,
        cache_key: Option<[u8; CACHE_KEY_BYTES]>,
    ) -> Result<Arc<Caller>, AuthError> {
        let inner = &*self.inner;
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
        let now = inner.config.clock.now_unix();
        claims.validate(&inner.policy, now)?;
        let passed = AtomicU64::new(0);
        if let Some(revocations) = &inner.revocations {
            revocations.check_once(&passed, claims.session_id.as_deref(), &claims.token_id, claims.issued_at, now)?;
        }
        if stale {
            inner.counters.stale.fetch_add(1, Ordering::Relaxed);
            inner.metrics().stale.increment(1);
        }
        let caller = Arc::new(claims.into_caller(key.kid())?);
        if let (Some((cache, admission)), Some(cache_key)) = (&inner.cache, cache_key)
            && admission.admit(&cache_key)
        {
            let kid = Arc::clone(key.kid_arc());
            let entry =
                CachedCaller { token: Box::from(token), caller: Arc::clone(&caller), kid, revocations_passed: passed };
            cache.insert(cache_key, Arc::new(entry));
        }
        Ok(caller)
    }

    /// A cache hit, if the entry is still valid: not past `exp`, and its key still in the
    /// set (entries of removed keys are dropped here); then, like every token, not revoked.
    fn cached(
        &self,
        cache: &TokenCache,
        key: &[u8; CACHE_KEY_BYTES],
        token: &[u8],
    ) -> Result<Option<Arc<Caller>>, AuthError> {
        let inner = &*self.inner;
        let Some(entry) = cache.get(key).filter(|entry| *entry.token.as_bytes() == *token) else { return Ok(None) };
        let now = inner.config.clock.now_unix();
        if now >= entry.caller.expires_at {
            cache.remove(key);
            return Ok(None);
        }
        match inner.store.snapshot() {
            KeySnapshot::Ready { keys, stale } if keys.contains(&entry.kid) => {
                if let Some(revocations) = &inner.revocations {
                    let (caller, passed) = (&entry.caller, &entry.revocations_passed);
                    revocations.check_once(
                        passed,
                        caller.session_id.as_deref(),
                        &caller.token_id,
                        caller.issued_at,
                        now,
                    )?;
                }
                inner.counters.cache_hits.fetch_add(1, Ordering::Relaxed);
                inner.metrics().cache_hits.increment(1);
                if stale {
                    inner.counters.stale.fetch_add(1, Ordering::Relaxed);
                    inner.metrics().stale.increment(1);
                }
                Ok(Some(Arc::clone(&entry.caller)))
            }
            KeySnapshot::Ready { .. } => {
                cache.remove(key);
                Ok(None)
            }
            KeySnapshot::Unavailable { retry_after } => Err(unavailable(retry_after)),
        }
    }

    /// Whether keys are loaded and, when the revocation feed is on and found, its first
    /// sync is complete (for `/readyz`): a replica that would accept a revoked session takes
    /// no traffic. After the first sync it stays ready while the feed is unreachable.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.inner.store.is_ready() && self.inner.subscription.as_ref().is_none_or(Subscription::is_ready)
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
            revocation: match (&self.inner.subscription, &self.inner.revocations) {
                (Some(subscription), Some(list)) => subscription.stats(list),
                (None, Some(list)) => RevocationStats::of_list(list),
                _ => RevocationStats::default(),
            },
        }
    }

    /// The revocations this verifier checks, if any (see [`Verifier::with_revocation_list`]).
    #[must_use]
    pub fn revocations(&self) -> Option<&Arc<RevocationList>> {
        self.inner.revocations.as_ref()
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

    /// The URL of this resource's RFC 9728 metadata, named in challenges; `None` without
    /// [`VerifierConfig::resource`].
    #[must_use]
    pub fn resource_metadata_url(&self) -> Option<&Arc<str>> {
        self.inner.resource_metadata.as_ref()
    }

    /// The extractors' rejection for `error`: this verifier's realm and resource metadata in
    /// the challenge, in the `DPoP` scheme when the request used it.
    #[must_use]
    pub fn rejection(&self, error: AuthError, dpop_scheme: bool) -> AuthRejection {
        AuthRejection {
            error,
            realm: Arc::clone(&self.inner.realm),
            resource_metadata: self.inner.resource_metadata.clone(),
            dpop_scheme,
        }
    }

    /// The DPoP proof checks of this verifier (the extractors use them for bound tokens).
    #[must_use]
    pub fn proofs(&self) -> &ProofVerifier {
        &self.inner.proofs
    }

    /// The key store behind this verifier.
    #[must_use]
    pub fn key_store(&self) -> &Arc<dyn KeyStore> {
        &self.inner.store
    }
}

impl Inner {
    fn metrics(&self) -> &HotMetrics {
        self.metrics.get_or_init(|| HotMetrics::register(&self.config.audience))
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

/// The token-cache key of `token`; `None` for one too short to be a token.
fn cache_key(token: &[u8]) -> Option<[u8; CACHE_KEY_BYTES]> {
    token.last_chunk().copied()
}
