//! Password hashing with argon2id.
//!
//! Parameters default to OWASP's minimum for argon2id (19 MiB, 2 passes, 1 lane); tests lower
//! them through configuration to stay fast. Hashing runs on the blocking pool, at most a few
//! at a time: each hash holds its memory for its whole run, so unbounded concurrency would let
//! a burst of logins exhaust the replica's memory.
//!
//! Unknown accounts are checked against a dummy hash made with the same parameters, so a
//! login for an email nobody registered costs the same time as a wrong password.

use std::{sync::Arc, time::Duration};

use anyhow::Context;
use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString},
};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::domain::Password;

/// Password hashing and failed-login throttling.
#[derive(Debug, Clone)]
pub struct LoginSettings {
    /// `AUTH_ARGON2_MEMORY_KIB` (default 19456 = 19 MiB, OWASP's minimum for argon2id).
    pub argon2_memory_kib: u32,
    /// `AUTH_ARGON2_ITERATIONS` (default 2).
    pub argon2_iterations: u32,
    /// `AUTH_ARGON2_PARALLELISM` (default 1).
    pub argon2_parallelism: u32,
    /// `AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT` (default 5) within the window.
    pub max_failures_per_account: u32,
    /// `AUTH_LOGIN_MAX_FAILURES_PER_ADDRESS` (default 20) within the window.
    pub max_failures_per_address: u32,
    /// `AUTH_LOGIN_FAILURE_WINDOW` (default 15m): counting window, and the longest wait.
    pub failure_window: Duration,
    /// `AUTH_TRUST_FORWARDED_FOR` (default false): take the client address from the last
    /// `X-Forwarded-For` entry (the one the trusted proxy appended) instead of the TCP peer.
    pub trust_forwarded_for: bool,
}

/// Hashes and verifies passwords. Cheap to clone.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    permits: Semaphore,
    dummy_hash: String,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher").field("params", &self.inner.params).finish_non_exhaustive()
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
        let dummy_hash = hash_with(&params, "dummy password for unknown accounts")?;
        let concurrency = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
        Ok(Self { inner: Arc::new(Inner { params, permits: Semaphore::new(concurrency), dummy_hash }) })
    }

    /// Hashes a new password (PHC string with salt and parameters).
    ///
    /// # Errors
    /// The blocking task failing, which only happens at shutdown.
    pub async fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let _permit = self.inner.permits.acquire().await.context("password hasher closed")?;
        let params = self.inner.params.clone();
        let password = SecretString::from(password.expose().to_owned());
        tokio::task::spawn_blocking(move || hash_with(&params, password.expose_secret()))
            .await
            .context("password hashing task failed")?
    }

    /// Verifies `password` against `stored`, or against the dummy hash when there is no
    /// account (always `false` then), taking the same time either way.
    ///
    /// # Errors
    /// A stored hash that is not a PHC string, or the blocking task failing.
    pub async fn verify(&self, password: SecretString, stored: Option<String>) -> anyhow::Result<bool> {
        let _permit = self.inner.permits.acquire().await.context("password hasher closed")?;
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.inner.dummy_hash.clone());
        let matches = tokio::task::spawn_blocking(move || -> anyhow::Result<bool> {
            let parsed =
                PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("stored password hash is malformed: {e}"))?;
            Ok(Argon2::default().verify_password(password.expose_secret().as_bytes(), &parsed).is_ok())
        })
        .await
        .context("password verification task failed")??;
        Ok(known && matches)
    }
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

    fn hasher() -> PasswordHasher {
        PasswordHasher::new(&LoginSettings {
            argon2_memory_kib: 1024,
            argon2_iterations: 1,
            argon2_parallelism: 1,
            max_failures_per_account: 5,
            max_failures_per_address: 20,
            failure_window: Duration::from_secs(60),
            trust_forwarded_for: false,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn hashes_verify_only_the_right_password() {
        let hasher = hasher();
        let hash = hasher.hash(&Password::parse("correct horse".to_owned()).unwrap()).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(hasher.verify(SecretString::from("correct horse"), Some(hash.clone())).await.unwrap());
        assert!(!hasher.verify(SecretString::from("wrong horse"), Some(hash)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_accounts_never_verify() {
        let hasher = hasher();
        assert!(!hasher.verify(SecretString::from("dummy password for unknown accounts"), None).await.unwrap());
    }
}
