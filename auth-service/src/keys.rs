//! Signing keys: storage, lifecycle, the in-memory key ring, and the published JWKS.
//!
//! The database is the source of truth, shared by every replica. Each replica keeps a
//! [`KeyRing`] in memory (an `ArcSwap`, so minting and JWKS requests never lock) and
//! rebuilds it every `AUTH_KEY_REFRESH_INTERVAL`, running whatever lifecycle step is due on
//! the way ([`KeyManager::tick`]). Steps are conditional statements in the database, so every
//! replica may try them and exactly one succeeds.
//!
//! - [`master`]: the AES-256-GCM master key that seals private halves at rest.
//! - [`signing`]: generation (aws-lc-rs), `kid` thumbprints, RS256 signing (ring).
//! - [`lifecycle`]: which step is due when, and the JWKS `max-age` — pure functions.
//! - [`ring`]: the in-memory [`KeyRing`] and its JWKS document.
//! - [`rotation`]: on-demand rotation.
//! - [`store`]: the `signing_keys` table.

pub mod lifecycle;
pub mod master;
pub mod ring;
pub mod rotation;
pub mod signing;
pub mod store;

use std::{collections::HashMap, sync::Arc, time::Duration};

use anyhow::Context;
use arc_swap::ArcSwap;
use jwt_verifier::{KeySet, StaticKeyStore};
use service_kit::db::{Pool, now_millis};

use self::{
    lifecycle::{Schedule, Step},
    master::MasterKey,
    signing::SigningKey,
    store::{KeyRow, KeyState, NewKey},
};
pub use self::{
    ring::KeyRing,
    rotation::{RotationError, RotationOutcome},
};

/// Signing-key generation and the rotation schedule.
#[derive(Debug, Clone)]
pub struct KeySettings {
    /// `AUTH_KEY_BITS` (default 2048; 3072 and 4096 allowed).
    pub bits: u32,
    /// `AUTH_KEY_ROTATION_INTERVAL` (default 30d): how long a key signs before its successor
    /// takes over.
    pub rotation_interval: Duration,
    /// `AUTH_KEY_PREPUBLISH` (default 1h): how long a successor is published before it signs.
    /// Must be at least `AUTH_JWKS_MAX_AGE` + `AUTH_KEY_REFRESH_INTERVAL`, so every verifier's
    /// cached JWKS has expired and been refetched (and so contains the successor) before the
    /// successor's first token, whichever replica the verifier asked.
    pub prepublish: Duration,
    /// `AUTH_JWKS_MAX_AGE` (default 15m): the largest `max-age` the JWKS is served with. Also
    /// bounds how long a verifier may keep trusting a key removed by an emergency rotation.
    pub jwks_max_age: Duration,
    /// `AUTH_JWKS_MIN_MAX_AGE` (default 60s): the smallest `max-age`, however close the next
    /// change, so verifiers never refetch in a tight loop.
    pub jwks_min_max_age: Duration,
    /// `AUTH_CLOCK_LEEWAY` (default 60s): clock skew allowed to verifiers; a retired key stays
    /// published for the access-token lifetime plus this plus the refresh interval.
    pub clock_leeway: Duration,
    /// `AUTH_KEY_REFRESH_INTERVAL` (default 5s): how often each replica re-reads the key table
    /// and runs due lifecycle steps, so a rotation made by one replica reaches the others.
    pub refresh_interval: Duration,
}

impl KeySettings {
    /// How long a retired key stays published: every token it signed has expired by then,
    /// including one signed by a replica that had not yet seen the rotation, on a verifier
    /// whose clock runs behind by the leeway.
    #[must_use]
    pub fn retire_hold(&self, access_token_ttl: Duration) -> Duration {
        access_token_ttl + self.clock_leeway + self.refresh_interval
    }
}

/// Owns the key ring of this replica. Cheap to clone.
#[derive(Clone)]
pub struct KeyManager {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    master: MasterKey,
    bits: u32,
    schedule: Schedule,
    /// How old the ring may get before this replica reports itself not ready (see
    /// [`KeyManager::is_fresh`]).
    max_staleness_ms: i64,
    ring: ArcSwap<KeyRing>,
    /// The same keys for this service's own verifier (sessions, logout, admin, introspection).
    verifier_keys: Arc<StaticKeyStore>,
    /// Serialises ring rebuilds within this replica; the database serialises replicas.
    rebuild: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for KeyManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyManager").field("schedule", &self.inner.schedule).finish_non_exhaustive()
    }
}

impl KeyManager {
    /// A manager over `pool`; call [`tick`](Self::tick) once before serving.
    #[must_use]
    pub fn new(pool: Pool, master: MasterKey, keys: &KeySettings, access_token_ttl: Duration) -> Self {
        let schedule = Schedule {
            rotation_interval_ms: lifecycle::millis(keys.rotation_interval),
            prepublish_ms: lifecycle::millis(keys.prepublish),
            retire_hold_ms: lifecycle::millis(keys.retire_hold(access_token_ttl)),
            max_age_cap: keys.jwks_max_age,
            max_age_floor: keys.jwks_min_max_age,
        };
        Self {
            inner: Arc::new(Inner {
                pool,
                master,
                bits: keys.bits,
                schedule,
                max_staleness_ms: lifecycle::millis(keys.clock_leeway + keys.refresh_interval),
                ring: ArcSwap::from_pointee(KeyRing::empty()),
                verifier_keys: Arc::new(StaticKeyStore::new(KeySet::empty())),
                rebuild: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The current ring (lock-free).
    #[must_use]
    pub fn ring(&self) -> Arc<KeyRing> {
        self.inner.ring.load_full()
    }

    /// The key that signs now.
    #[must_use]
    pub fn signer(&self) -> Option<Arc<SigningKey>> {
        self.inner.ring.load().signer().cloned()
    }

    /// Whether this replica read the key table recently enough to be trusted with signing:
    /// within the clock leeway plus one refresh interval. A replica cut off from the database
    /// for longer may still sign with a key the others have retired, and the retirement hold
    /// only covers that much delay; `/readyz` fails so load balancers stop sending it logins.
    #[must_use]
    pub fn is_fresh(&self, now: i64) -> bool {
        now.saturating_sub(self.inner.ring.load().loaded_at) <= self.inner.max_staleness_ms
    }

    /// The key store this service's own [`jwt_verifier::Verifier`] reads.
    #[must_use]
    pub fn verifier_keys(&self) -> Arc<StaticKeyStore> {
        Arc::clone(&self.inner.verifier_keys)
    }

    /// The schedule in force.
    #[must_use]
    pub fn schedule(&self) -> &Schedule {
        &self.inner.schedule
    }

    /// The JWKS `max-age` (seconds) at `now`.
    #[must_use]
    pub fn jwks_max_age(&self, now: i64) -> u64 {
        lifecycle::jwks_max_age(&self.inner.ring.load().keys, now, &self.inner.schedule)
    }

    /// Runs every lifecycle step due now, then reloads the ring from the database.
    ///
    /// # Errors
    /// Database failures, key generation failures, or a stored key that cannot be decrypted
    /// (wrong master key). The previous ring stays in use.
    pub async fn tick(&self) -> anyhow::Result<()> {
        let _guard = self.inner.rebuild.lock().await;
        let rows = store::published(&self.inner.pool).await.context("cannot read the signing keys")?;
        let now = now_millis();
        let steps = lifecycle::due_steps(&rows, now, &self.inner.schedule);
        let mut changed = false;
        for step in steps {
            changed |= self.apply(&step, now).await?;
        }
        let rows = if changed {
            store::published(&self.inner.pool).await.context("cannot read the signing keys")?
        } else {
            rows
        };
        self.install(rows)
    }

    async fn apply(&self, step: &Step, now: i64) -> anyhow::Result<bool> {
        let pool = &self.inner.pool;
        let schedule = &self.inner.schedule;
        let applied = match step {
            Step::CreateActive => {
                let key = self.generate().await?;
                let applied = store::insert_active(pool, &key, now_millis()).await?;
                if applied {
                    tracing::info!(key.kid = %key.kid, "created the first signing key; it signs at once");
                }
                applied
            }
            Step::CreatePending { active } => {
                let key = self.generate().await?;
                // Generation takes a while: the publication time counts from the insert.
                let now = now_millis();
                let activate_after = now.saturating_add(schedule.prepublish_ms);
                let applied = store::insert_pending(pool, &key, active, now, activate_after).await?;
                if applied {
                    metrics::counter!("auth_key_rotations_total", "kind" => "scheduled").increment(1);
                    tracing::info!(key.kid = %key.kid, activate_after, "published the next signing key");
                }
                applied
            }
            Step::Activate { pending, retiring, wait_for_publication } => {
                let applied = store::activate(
                    pool,
                    pending,
                    retiring.as_deref(),
                    now,
                    schedule.retire_hold_ms,
                    *wait_for_publication,
                )
                .await?;
                if applied {
                    tracing::info!(key.kid = %pending, retired.kid = retiring.as_deref().unwrap_or("-"), "signing key activated");
                }
                applied
            }
            Step::Remove { kid } => {
                let applied = store::remove(pool, kid, now).await?;
                if applied {
                    tracing::info!(key.kid = %kid, "retired signing key removed and its private half destroyed");
                }
                applied
            }
        };
        Ok(applied)
    }

    /// Every key ever created, newest first, without private halves.
    ///
    /// # Errors
    /// Database failures.
    pub async fn list_all(&self) -> Result<Vec<KeyRow>, sqlx::Error> {
        let mut rows = store::all(&self.inner.pool).await?;
        for row in &mut rows {
            row.private_key = None;
        }
        Ok(rows)
    }

    /// Generates and seals a key (off the async threads: RSA generation takes a while).
    async fn generate(&self) -> anyhow::Result<NewKey> {
        let bits = self.inner.bits;
        let der = tokio::task::spawn_blocking(move || signing::generate_pkcs8(bits))
            .await
            .context("key generation task failed")??;
        let parsed = SigningKey::from_pkcs8(&der)?;
        let public = parsed.public();
        let sealed_private_key = self.inner.master.seal(&public.kid, &der)?;
        Ok(NewKey {
            kid: public.kid.clone(),
            n: public.n.clone(),
            e: public.e.clone(),
            bits: i64::from(public.bits),
            sealed_private_key,
        })
    }

    /// Builds a ring from `rows` and swaps it in. Keys already parsed are reused; only new
    /// active or pending keys are decrypted and parsed.
    fn install(&self, rows: Vec<KeyRow>) -> anyhow::Result<()> {
        let current = self.inner.ring.load();
        let mut parsed: HashMap<&str, &Arc<SigningKey>> = HashMap::new();
        for key in current.parsed_keys() {
            parsed.insert(key.kid(), key);
        }
        let mut signer = None;
        let mut successor = None;
        for row in rows.iter().filter(|r| matches!(r.state, KeyState::Active | KeyState::Pending)) {
            let key = match parsed.get(row.kid.as_str()) {
                Some(key) => Arc::clone(key),
                None => Arc::new(self.open(row)?),
            };
            if row.state == KeyState::Active {
                signer = Some(key);
            } else {
                successor = Some(key);
            }
        }
        let ring = KeyRing::new(rows, signer, successor)?;
        let unchanged = ring.jwks == current.jwks;
        if !unchanged || self.inner.verifier_keys.keys().is_empty() {
            match KeySet::from_jwks_json(&ring.jwks) {
                Ok((set, _report)) => self.inner.verifier_keys.replace(set),
                Err(error) if ring.keys.is_empty() => tracing::debug!(%error, "no published keys yet"),
                Err(error) => anyhow::bail!("our own JWKS is refused by the verifier: {error}"),
            }
        }
        drop(current);
        self.inner.ring.store(Arc::new(ring));
        self.record_metrics(now_millis());
        Ok(())
    }

    fn open(&self, row: &KeyRow) -> anyhow::Result<SigningKey> {
        let sealed =
            row.private_key.as_deref().with_context(|| format!("signing key {} has no private half", row.kid))?;
        let der = self.inner.master.open(&row.kid, sealed)?;
        let key = SigningKey::from_pkcs8(&der)?;
        anyhow::ensure!(key.kid() == row.kid, "signing key {} does not match its stored kid", row.kid);
        Ok(key)
    }

    /// Updates the key gauges for `/metrics`: ages per state, and seconds until the next
    /// rotation.
    pub fn record_metrics(&self, now: i64) {
        let ring = self.inner.ring.load();
        for state in [KeyState::Pending, KeyState::Active, KeyState::Retired] {
            let in_state = ring.keys.iter().filter(|k| k.state == state);
            let count = in_state.clone().count();
            let oldest = in_state.map(state_entered_at).min();
            let age = oldest.map_or(0.0, |since| millis_to_secs(now.saturating_sub(since)));
            metrics::gauge!("auth_signing_keys", "state" => state.as_str()).set(count as f64);
            metrics::gauge!("auth_signing_key_age_seconds", "state" => state.as_str()).set(age);
        }
        if let Some(at) = lifecycle::next_rotation_at(&ring.keys, &self.inner.schedule) {
            metrics::gauge!("auth_key_rotation_due_seconds").set(millis_to_secs(at.saturating_sub(now)).max(0.0));
        }
    }

    /// Runs [`tick`](Self::tick) every `interval` until `stop` resolves.
    pub async fn run(self, interval: Duration, stop: impl std::future::Future<Output = ()>) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                _ = ticker.tick() => {
                    if let Err(error) = self.tick().await {
                        tracing::warn!(error = format!("{error:#}"), "key refresh failed; keeping the keys already loaded");
                    }
                }
            }
        }
    }
}

/// When a key entered its current state.
fn state_entered_at(key: &KeyRow) -> i64 {
    match key.state {
        KeyState::Pending => key.created_at,
        KeyState::Active => key.activated_at.unwrap_or(key.created_at),
        KeyState::Retired => key.retired_at.unwrap_or(key.created_at),
        KeyState::Removed => key.removed_at.unwrap_or(key.created_at),
    }
}

#[allow(clippy::cast_precision_loss)]
fn millis_to_secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}
