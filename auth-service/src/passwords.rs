//! Password hashing with argon2id, within a memory budget.
//!
//! Parameters default to OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane); tests lower
//! them through configuration to stay fast. Each hash holds its argon2 memory for its whole
//! run, so the number running at once is the memory budget divided by that memory
//! (`AUTH_ARGON2_MEMORY_BUDGET_MIB`, at least one), not the host's core count: a container's
//! memory limit is what an unbounded burst would exceed. A few more requests may wait their
//! turn (`AUTH_ARGON2_MAX_QUEUE`, for at most `AUTH_ARGON2_QUEUE_TIMEOUT`); past that the
//! hasher answers [`HashError::Busy`], which the API turns into 503 with `Retry-After`.
//! Waiting requests hold no argon2 memory.
//!
//! Unknown accounts are checked against a dummy hash made with the same parameters, so a
//! login for an email nobody registered costs the same time as a wrong password.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use anyhow::Context;
use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString},
};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::domain::Password;

/// Password hashing and the login and registration throttles.
#[derive(Debug, Clone)]
pub struct LoginSettings {
    /// `AUTH_ARGON2_MEMORY_KIB` (default 19456 = 19 MiB, OWASP's minimum for argon2id).
    pub argon2_memory_kib: u32,
    /// `AUTH_ARGON2_ITERATIONS` (default 2).
    pub argon2_iterations: u32,
    /// `AUTH_ARGON2_PARALLELISM` (default 1).
    pub argon2_parallelism: u32,
    /// `AUTH_ARGON2_MEMORY_BUDGET_MIB` (default 64): argon2 memory all concurrent hashes of a
    /// replica may hold together; hashes at once = budget / `argon2_memory_kib`, at least 1.
    pub argon2_memory_budget_mib: u32,
    /// `AUTH_ARGON2_MAX_QUEUE` (default 32): requests that may wait for a hash slot; more get 503.
    pub argon2_max_queue: u32,
    /// `AUTH_ARGON2_QUEUE_TIMEOUT` (default 2s): the longest wait for a slot before 503.
    pub argon2_queue_timeout: Duration,
    /// `AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT` (default 5): attempts on one account allowed back
    /// to back; after them, attempts are spaced by progressive delays.
    pub max_failures_per_account: u32,
    /// `AUTH_LOGIN_ACCOUNT_DELAY` (default 1m): the first delay, doubled after every further
    /// attempt.
    pub account_delay: Duration,
    /// `AUTH_LOGIN_ACCOUNT_MAX_DELAY` (default 5m): the longest delay, at most the window.
    pub account_max_delay: Duration,
    /// `AUTH_LOGIN_MAX_FAILURES_PER_ADDRESS` (default 20) within the window.
    pub max_failures_per_address: u32,
    /// `AUTH_LOGIN_FAILURE_WINDOW` (default 15m): the counting window of every throttle
    /// bucket; an account's streak ends after a whole window without attempts.
    pub failure_window: Duration,
    /// `AUTH_REGISTER_MAX_PER_ADDRESS` (default 20): registration attempts per client address
    /// within the window.
    pub max_registrations_per_address: u32,
    /// `AUTH_TRUST_FORWARDED_FOR` (default false): take the client address from the last
    /// `X-Forwarded-For` entry (the one the trusted proxy appended) instead of the TCP peer.
    pub trust_forwarded_for: bool,
}

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every slot of the memory budget is taken and the queue is full, or the wait timed out:
    /// the request was not evaluated and may be retried.
    #[error("every password hashing slot is busy")]
    Busy,
    /// A malformed stored hash, or the blocking task failing (only at shutdown).
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// How many hashes may run at once within `budget_mib`: each holds `memory_kib`. At least
/// one, or nobody could ever log in.
#[must_use]
pub fn concurrent_hashes(budget_mib: u32, memory_kib: u32) -> usize {
    let fitting = u64::from(budget_mib) * 1024 / u64::from(memory_kib.max(1));
    usize::try_from(fitting).unwrap_or(usize::MAX).max(1)
}

/// Hashes and verifies passwords. Cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    /// One permit per hash the memory budget allows at once. Owned permits move into the
    /// blocking task, so a request cancelled mid-hash (client gone, timeout) keeps its slot
    /// until argon2 has really let go of the memory.
    permits: Arc<Semaphore>,
    /// Requests waiting for a permit right now.
    waiting: AtomicUsize,
    max_waiting: usize,
    wait_timeout: Duration,
    dummy_hash: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher").field("params", &self.inner.params).finish_non_exhaustive()
    }
}

/// A place in the wait queue, given back on drop whatever ends the wait.
struct QueuePlace<'a>(&'a AtomicUsize);

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl PasswordHasher {
    /// A hasher with the configured parameters (computes the dummy hash once).
    ///
    /// # Errors
    /// Parameters argon2 refuses (checked at configuration time already).
    pub fn new(settings: &LoginSettings) -> anyhow::Result<Self> {
        let params =
            Params::new(settings.argon2_memory_kib, settings.argon2_iterations, settings.argon2_parallelism, None)
                .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        if settings.argon2_memory_kib < 19_456 || settings.argon2_iterations < 2 {
            tracing::warn!(
                memory_kib = settings.argon2_memory_kib,
                iterations = settings.argon2_iterations,
                "argon2 parameters are below the OWASP minimum (19456 KiB, 2 iterations); use them for tests only"
            );
        }
        let slots = concurrent_hashes(settings.argon2_memory_budget_mib, settings.argon2_memory_kib);
        if u64::from(settings.argon2_memory_budget_mib) * 1024 < u64::from(settings.argon2_memory_kib) {
            tracing::warn!(
                budget_mib = settings.argon2_memory_budget_mib,
                memory_kib = settings.argon2_memory_kib,
                "the argon2 memory budget is smaller than one hash; running one at a time anyway"
            );
        }
        tracing::info!(slots, queue = settings.argon2_max_queue, "password hashing bounded by its memory budget");
        let dummy_hash = hash_with(&params, "dummy password for unknown accounts")?;
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                permits: Arc::new(Semaphore::new(slots)),
                waiting: AtomicUsize::new(0),
                max_waiting: usize::try_from(settings.argon2_max_queue).unwrap_or(usize::MAX),
                wait_timeout: settings.argon2_queue_timeout,
                dummy_hash,
            }),
        })
    }

    /// A hashing slot: at once if one is free, else after waiting in the bounded queue.
    async fn slot(&self) -> Result<OwnedSemaphorePermit, HashError> {
        let inner = &self.inner;
        if let Ok(permit) = Arc::clone(&inner.permits).try_acquire_owned() {
            return Ok(permit);
        }
        if inner.waiting.fetch_add(1, Ordering::AcqRel) >= inner.max_waiting {
            inner.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(busy("queue_full"));
        }
        let _place = QueuePlace(&inner.waiting);
        match tokio::time::timeout(inner.wait_timeout, Arc::clone(&inner.permits).acquire_owned()).await {
            Ok(permit) => permit.context("password hasher closed").map_err(HashError::Failed),
            Err(_elapsed) => Err(busy("queue_timeout")),
        }
    }

    /// Hashes a new password (PHC string with salt and parameters).
    ///
    /// # Errors
    /// [`HashError::Busy`] when no slot frees up in time; the blocking task failing.
    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let permit = self.slot().await?;
        let params = self.inner.params.clone();
        let password = SecretString::from(password.expose().to_owned());
        let hashed = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            hash_with(&params, password.expose_secret())
        })
        .await
        .context("password hashing task failed")??;
        Ok(hashed)
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no
    /// account (always `false` then), taking the same time either way.
    ///
    /// # Errors
    /// [`HashError::Busy`] when no slot frees up in time; a stored hash that is not a PHC
    /// string, or the blocking task failing.
    pub async fn verify(&self, password: SecretString, stored: Option<String>) -> Result<bool, HashError> {
        let permit = self.slot().await?;
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.inner.dummy_hash.clone());
        let matches = tokio::task::spawn_blocking(move || -> anyhow::Result<bool> {
            let _permit = permit;
            let parsed =
                PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("stored password hash is malformed: {e}"))?;
            Ok(Argon2::default().verify_password(password.expose_secret().as_bytes(), &parsed).is_ok())
        })
        .await
        .context("password verification task failed")??;
        Ok(known && matches)
    }
}

fn busy(reason: &'static str) -> HashError {
    metrics::counter!("auth_password_hashing_busy_total", "reason" => reason).increment(1);
    HashError::Busy
}

fn hash_with(params: &Params, password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt encoding failed: {e}"))?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    Ok(argon2
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))?
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> LoginSettings {
        LoginSettings {
            argon2_memory_kib: 1024,
            argon2_iterations: 1,
            argon2_parallelism: 1,
            argon2_memory_budget_mib: 64,
            argon2_max_queue: 32,
            argon2_queue_timeout: Duration::from_secs(2),
            max_failures_per_account: 5,
            account_delay: Duration::from_secs(60),
            account_max_delay: Duration::from_secs(300),
            max_failures_per_address: 20,
            failure_window: Duration::from_secs(900),
            max_registrations_per_address: 20,
            trust_forwarded_for: false,
        }
    }

    fn password() -> Password {
        Password::parse("correct horse".to_owned()).unwrap()
    }

    #[tokio::test]
    async fn hashes_verify_only_the_right_password() {
        let hasher = PasswordHasher::new(&settings()).unwrap();
        let hash = hasher.hash(&password()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(hasher.verify(SecretString::from("correct horse"), Some(hash.clone())).await.unwrap());
        assert!(!hasher.verify(SecretString::from("wrong horse"), Some(hash)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_accounts_never_verify() {
        let hasher = PasswordHasher::new(&settings()).unwrap();
        assert!(!hasher.verify(SecretString::from("dummy password for unknown accounts"), None).await.unwrap());
    }

    #[test]
    fn the_memory_budget_sets_how_many_hashes_run_at_once() {
        assert_eq!(concurrent_hashes(64, 19_456), 3, "the defaults: 3 × 19 MiB within 64 MiB");
        assert_eq!(concurrent_hashes(256, 19_456), 13);
        assert_eq!(concurrent_hashes(1, 19_456), 1, "never zero");
        assert_eq!(concurrent_hashes(1, 256), 4);
    }

    #[tokio::test]
    async fn past_the_queue_the_hasher_is_busy_and_a_slot_is_released_after_the_hash() {
        // One slot (1 MiB budget, 1 MiB hashes), one place in the queue, hashes slow enough
        // to overlap.
        let hasher = PasswordHasher::new(&LoginSettings {
            argon2_memory_budget_mib: 1,
            argon2_max_queue: 1,
            argon2_iterations: 200,
            ..settings()
        })
        .unwrap();
        let password = password();

        let (running, queued, turned_away) = tokio::join!(hasher.hash(&password), hasher.hash(&password), async {
            tokio::task::yield_now().await;
            hasher.hash(&password).await
        });

        assert!(running.is_ok() && queued.is_ok(), "{running:?} {queued:?}");
        assert!(matches!(turned_away, Err(HashError::Busy)), "{turned_away:?}");
        assert!(hasher.hash(&password).await.is_ok(), "the slot is free again");
    }

    #[tokio::test]
    async fn a_wait_longer_than_the_queue_timeout_is_busy() {
        let hasher = PasswordHasher::new(&LoginSettings {
            argon2_memory_budget_mib: 1,
            argon2_iterations: 400,
            argon2_queue_timeout: Duration::from_millis(1),
            ..settings()
        })
        .unwrap();
        let password = password();

        let (first, second) = tokio::join!(hasher.hash(&password), hasher.hash(&password));

        assert!(first.is_ok(), "{first:?}");
        assert!(matches!(second, Err(HashError::Busy)), "{second:?}");
    }
}
