//! The `jti`s of accepted proofs, remembered until they expire, in bounded memory.
//!
//! Keyed by a 128-bit digest of the key's thumbprint and the `jti` (so an attacker choosing
//! long `jti`s costs no memory); entries leave in the order they expire. When the cache is
//! full of unexpired entries a new proof is refused rather than an old entry forgotten:
//! forgetting would reopen a replay window.

use std::collections::{HashMap, VecDeque};

use aws_lc_rs::digest;
use parking_lot::Mutex;

use super::ProofError;

type Fingerprint = [u8; 16];

#[derive(Debug, Default)]
struct Entries {
    expiry: HashMap<Fingerprint, i64>,
    /// (expires, fingerprint), in insertion order; expiries are `iat + max_age`, so roughly
    /// ordered: the sweep stops at the first unexpired entry and later ones wait their turn.
    order: VecDeque<(i64, Fingerprint)>,
}

/// See the module docs.
#[derive(Debug)]
pub struct ReplayCache {
    capacity: usize,
    entries: Mutex<Entries>,
}

impl ReplayCache {
    /// A cache of at most `capacity` unexpired proofs.
    #[must_use]
    pub fn new(capacity: usize) -> Self {
        Self { capacity, entries: Mutex::new(Entries::default()) }
    }

    /// Remembers (`thumbprint`, `jti`) until `expires`, or refuses it when already seen.
    ///
    /// # Errors
    /// [`ProofError::Replayed`], or [`ProofError::ReplayCacheFull`].
    pub fn insert(&self, thumbprint: &str, jti: &str, expires: i64, now: i64) -> Result<(), ProofError> {
        let mut context = digest::Context::new(&digest::SHA256);
        context.update(thumbprint.as_bytes());
        context.update(&[0]);
        context.update(jti.as_bytes());
        let mut fingerprint = [0; 16];
        fingerprint.copy_from_slice(&context.finish().as_ref()[..16]);

        let mut entries = self.entries.lock();
        while let Some(&(expiry, old)) = entries.order.front() {
            if expiry >= now {
                break;
            }
            entries.order.pop_front();
            if entries.expiry.get(&old) == Some(&expiry) {
                entries.expiry.remove(&old);
            }
        }
        if entries.expiry.get(&fingerprint).is_some_and(|&expiry| expiry >= now) {
            return Err(ProofError::Replayed);
        }
        if entries.order.len() >= self.capacity {
            return Err(ProofError::ReplayCacheFull);
        }
        entries.expiry.insert(fingerprint, expires);
        entries.order.push_back((expires, fingerprint));
        Ok(())
    }

    /// Proofs remembered now (expired ones not yet swept included).
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.lock().order.len()
    }

    /// Whether nothing is remembered.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
