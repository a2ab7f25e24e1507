//! `Idempotency-Key` support: the key a client sends and the fingerprint of its request.
//!
//! A retried `POST /v1/orders` with the same key returns the first result. The key is stored
//! with the order in the same transaction under a unique constraint on (owner, key), so the
//! guarantee holds across replicas and restarts. The fingerprint of the request body is stored
//! with it: the same key with a different body is a client bug and is refused, instead of
//! silently returning an order that does not match what was sent.

use sha2::{Digest, Sha256};

use super::{FieldError, OrderItems};

/// Name of the header, also used as the field name in errors.
pub const HEADER: &str = "Idempotency-Key";

/// A client-chosen key: 1–255 visible ASCII characters (a UUID is typical).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Longest accepted key.
    pub const MAX_LEN: usize = 255;

    /// Parses the header value.
    ///
    /// # Errors
    /// A [`FieldError`] on `Idempotency-Key` when empty, too long or not visible ASCII.
    pub fn parse(raw: &[u8]) -> Result<Self, FieldError> {
        let valid = !raw.is_empty() && raw.len() <= Self::MAX_LEN && raw.iter().all(|b| (0x21..=0x7e).contains(b));
        match std::str::from_utf8(raw) {
            Ok(key) if valid => Ok(Self(key.to_owned())),
            _ => Err(FieldError::new(
                HEADER,
                format!("must be 1-{} visible ASCII characters (a UUID is a good choice)", Self::MAX_LEN),
            )),
        }
    }
}

impl AsRef<str> for IdempotencyKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// SHA-256 (hex) of a request's meaning: the parsed items in order. Computed from parsed
/// values, so formatting differences (whitespace, key order) do not change it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The fingerprint of an order request.
    #[must_use]
    pub fn of_items(items: &OrderItems) -> Self {
        let mut hasher = Sha256::new();
        for item in items.as_slice() {
            // SKUs cannot contain ':' or '\n', so this encoding is unambiguous.
            hasher.update(format!("{}:{}\n", item.sku.as_ref(), item.quantity.get()).as_bytes());
        }
        Self(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
    }

    /// A fingerprint read back from the database.
    #[must_use]
    pub(crate) fn from_stored(value: String) -> Self {
        Self(value)
    }
}

impl AsRef<str> for Fingerprint {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        assert!(IdempotencyKey::parse(b"3f1c2a9e-0c4b-4d1e-9a57-2d1f0e6b8c11").is_ok());
        assert!(IdempotencyKey::parse(&[b'k'; 255]).is_ok());
        for bad in [&b""[..], b"has space", b"tab\t", &[b'k'; 256], "é".as_bytes()] {
            assert_eq!(IdempotencyKey::parse(bad).unwrap_err().field, HEADER);
        }
    }

    #[test]
    fn fingerprints_depend_on_items_and_their_order() {
        let a = OrderItems::parse([("A", 1), ("B", 2)]).unwrap();
        let same = OrderItems::parse([("A", 1), ("B", 2)]).unwrap();
        let swapped = OrderItems::parse([("B", 2), ("A", 1)]).unwrap();
        let other = OrderItems::parse([("A", 1), ("B", 3)]).unwrap();
        assert_eq!(Fingerprint::of_items(&a), Fingerprint::of_items(&same));
        assert_ne!(Fingerprint::of_items(&a), Fingerprint::of_items(&swapped));
        assert_ne!(Fingerprint::of_items(&a), Fingerprint::of_items(&other));
    }
}
