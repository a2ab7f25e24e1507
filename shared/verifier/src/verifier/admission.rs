//! Which verified tokens enter the token cache.
//!
//! The first `capacity` verified tokens, every one. After that, only a token verified for
//! the second time: a stream of tokens each presented once (the cold path: a login's first
//! request, a batch of service calls with fresh tokens) then pays neither the copy of the
//! token nor the insert, and cannot push out the tokens that are really in use. A token in
//! use is normally admitted on its second request and hits from the third on.
//!
//! The count of admissions is never decreased (entries that expire or are evicted are not
//! counted out, which would cost the hot path), so after `capacity` admissions the second-
//! sight rule holds for good. Only verified tokens get here, and their cache keys are the end
//! of an RSA signature, so nobody can aim a token at a slot. A token's sighting is forgotten
//! when another first-seen token lands in its slot: under a flood of new tokens (more than
//! the table's slots between two uses of one token) that token may stay out for a while. It
//! then pays full verifications, never a wrong answer.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::CACHE_KEY_BYTES;

pub(super) struct Admission {
    /// Entries admitted so far; below `capacity` everything is. Never decremented: entries
    /// leave the cache by eviction and expiry, and counting those would cost the hot path.
    admitted: AtomicUsize,
    capacity: usize,
    /// Fingerprints of tokens verified once and not admitted, one per slot (0: empty).
    seen: Box<[AtomicU64]>,
    /// `64 - log2(seen.len())`: the slot is the top bits of a multiplicative hash.
    shift: u32,
}

impl Admission {
    pub(super) fn new(capacity: usize) -> Self {
        let slots = capacity.clamp(64, 1 << 20).next_power_of_two();
        Self {
            admitted: AtomicUsize::new(0),
            capacity,
            seen: (0..slots).map(|_| AtomicU64::new(0)).collect(),
            shift: 64 - slots.trailing_zeros(),
        }
    }

    /// Whether the verified token with cache key `key` goes into the cache now.
    pub(super) fn admit(&self, key: &[u8; CACHE_KEY_BYTES]) -> bool {
        if self.admitted.load(Ordering::Relaxed) < self.capacity {
            self.admitted.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        let (first, second) = key.split_at(CACHE_KEY_BYTES / 2);
        let word = |half: &[u8]| u64::from_le_bytes(half.try_into().unwrap_or_default());
        let fingerprint = word(first) | 1;
        // Fibonacci hashing spreads the key's ASCII bytes over all slots.
        let index = word(second).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift;
        let slot = &self.seen[usize::try_from(index).unwrap_or_default()];
        if slot.load(Ordering::Relaxed) == fingerprint {
            slot.store(0, Ordering::Relaxed);
            self.admitted.fetch_add(1, Ordering::Relaxed);
            true
        } else {
            slot.store(fingerprint, Ordering::Relaxed);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> [u8; CACHE_KEY_BYTES] {
        let mut key = *b"AAAAAAAAAAAAAAAA";
        key[..4].copy_from_slice(&n.to_le_bytes());
        key[8..12].copy_from_slice(&n.to_le_bytes());
        key
    }

    #[test]
    fn everything_is_admitted_while_there_is_room_then_only_on_second_sight() {
        let admission = Admission::new(2);
        assert!(admission.admit(&key(1)));
        assert!(admission.admit(&key(2)));
        assert!(!admission.admit(&key(3)), "full: first sight");
        assert!(!admission.admit(&key(4)));
        assert!(admission.admit(&key(3)), "second sight");
        assert!(!admission.admit(&key(3)), "the sighting was used up");
        assert!(admission.admit(&key(4)));
    }
}
