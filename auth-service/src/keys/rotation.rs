//! On-demand rotation (admin endpoint, `rotate-keys` subcommand): what it did, why it did not
//! happen, and the rotation itself.

use anyhow::Context;
use serde::Serialize;
use service_kit::db::now_millis;

use super::{
    KeyManager,
    store::{self, KeyState},
};

/// What an on-demand rotation did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RotationOutcome {
    /// A successor was published; it signs from `activate_after` (Unix ms).
    Scheduled {
        /// The new key.
        kid: String,
        /// When it starts signing.
        activate_after: i64,
    },
    /// A successor was already waiting; nothing changed.
    AlreadyScheduled {
        /// The waiting key.
        kid: String,
        /// When it starts signing.
        activate_after: i64,
    },
    /// No key was active; the new key signs at once.
    Activated {
        /// The new key.
        kid: String,
    },
    /// Emergency: the new key signs at once; the old active and pending keys are gone.
    Replaced {
        /// The new key.
        kid: String,
        /// Keys removed (unpublished, private halves destroyed).
        removed: Vec<String>,
    },
}

/// Why an on-demand rotation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    /// Another replica changed the keys at the same moment; retrying is safe.
    #[error("another rotation changed the keys at the same time; retry")]
    Conflict,
    /// Key generation or the database failed.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl KeyManager {
    /// On-demand rotation (admin endpoint, `rotate-keys` subcommand). A normal rotation
    /// publishes a successor that signs after the usual publication time; an emergency one
    /// (a compromised key) replaces the active key at once and removes it, and verifiers
    /// recover through their refetch on the unknown `kid`.
    ///
    /// # Errors
    /// [`RotationError::Conflict`] when another replica changed the keys concurrently.
    pub async fn rotate(&self, emergency: bool) -> Result<RotationOutcome, RotationError> {
        let _guard = self.inner.rebuild.lock().await;
        let pool = &self.inner.pool;
        let rows = store::published(pool).await.context("cannot read the signing keys")?;
        if !emergency && let Some(pending) = rows.iter().find(|k| k.state == KeyState::Pending) {
            return Ok(RotationOutcome::AlreadyScheduled {
                kid: pending.kid.clone(),
                activate_after: pending.activate_after,
            });
        }
        let key = self.generate().await?;
        let now = now_millis();
        let outcome = if emergency {
            let removed = store::replace_active(pool, &key, now).await.context("emergency rotation failed")?;
            let removed = removed.ok_or(RotationError::Conflict)?;
            metrics::counter!("auth_key_rotations_total", "kind" => "emergency").increment(1);
            tracing::warn!(key.kid = %key.kid, removed = ?removed, "emergency key rotation: new key signs at once, old keys removed");
            RotationOutcome::Replaced { kid: key.kid, removed }
        } else if let Some(active) = rows.iter().find(|k| k.state == KeyState::Active) {
            let activate_after = now.saturating_add(self.inner.schedule.prepublish_ms);
            if !store::insert_pending(pool, &key, &active.kid, now, activate_after).await.context("rotation failed")? {
                return Err(RotationError::Conflict);
            }
            metrics::counter!("auth_key_rotations_total", "kind" => "manual").increment(1);
            tracing::info!(key.kid = %key.kid, activate_after, "published the next signing key on request");
            RotationOutcome::Scheduled { kid: key.kid, activate_after }
        } else {
            if !store::insert_active(pool, &key, now).await.context("rotation failed")? {
                return Err(RotationError::Conflict);
            }
            RotationOutcome::Activated { kid: key.kid }
        };
        let rows = store::published(pool).await.context("cannot read the signing keys")?;
        self.install(rows)?;
        Ok(outcome)
    }
}
