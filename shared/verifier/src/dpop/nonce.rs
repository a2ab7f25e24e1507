//! Server nonces (RFC 9449 §8–9) that every replica can check without shared state: a
//! timestamp sealed with a key the replicas share.
//!
//! A nonce is `base64url(issued_at as 8 big-endian bytes || first 16 bytes of
//! HMAC-SHA256(key, "dpop-nonce" || issued_at))`: 32 characters, no secret in it, forgeable
//! only with the key, and dated, so it expires on its own.

use aws_lc_rs::{constant_time, hmac};

use crate::jose::{decode_b64url, encode_b64url};

/// Bytes of the MAC kept in a nonce: 128 bits.
const TAG_BYTES: usize = 16;

/// Why a nonce was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceProblem {
    /// Ours, but older than the lifetime: the client should retry with a fresh one.
    Expired,
    /// Not ours, malformed, or dated in the future.
    Invalid,
}

/// The key nonces are sealed with.
#[derive(Clone)]
pub struct NonceKey(hmac::Key);

impl std::fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NonceKey(..)")
    }
}

impl NonceKey {
    /// A key from 32 secret bytes (every replica that must accept a nonce needs the same).
    #[must_use]
    pub fn new(secret: &[u8; 32]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    fn tag(&self, issued_at: i64) -> [u8; TAG_BYTES] {
        let mut context = hmac::Context::with_key(&self.0);
        context.update(b"dpop-nonce");
        context.update(&issued_at.to_be_bytes());
        let mut tag = [0; TAG_BYTES];
        tag.copy_from_slice(&context.sign().as_ref()[..TAG_BYTES]);
        tag
    }

    /// A nonce issued at `now` (Unix seconds).
    #[must_use]
    pub fn issue(&self, now: i64) -> String {
        let mut bytes = [0; 8 + TAG_BYTES];
        bytes[..8].copy_from_slice(&now.to_be_bytes());
        bytes[8..].copy_from_slice(&self.tag(now));
        encode_b64url(&bytes)
    }

    /// Checks `nonce` at `now`: issued by this key, no more than `lifetime` seconds ago and
    /// no more than `skew` seconds ahead (another replica's clock).
    ///
    /// # Errors
    /// [`NonceProblem`].
    pub fn check(&self, nonce: &str, now: i64, lifetime: i64, skew: i64) -> Result<(), NonceProblem> {
        let bytes = decode_b64url(nonce).map_err(|_| NonceProblem::Invalid)?;
        let (Ok(stamp), Some(tag)) = (<[u8; 8]>::try_from(bytes.get(..8).unwrap_or_default()), bytes.get(8..)) else {
            return Err(NonceProblem::Invalid);
        };
        let issued_at = i64::from_be_bytes(stamp);
        if tag.len() != TAG_BYTES || constant_time::verify_slices_are_equal(tag, &self.tag(issued_at)).is_err() {
            return Err(NonceProblem::Invalid);
        }
        if issued_at > now.saturating_add(skew) {
            return Err(NonceProblem::Invalid);
        }
        if issued_at < now.saturating_sub(lifetime) {
            return Err(NonceProblem::Expired);
        }
        Ok(())
    }
}
