//! [`KeySet`] and JWKS ingest: the document-level rules (size limits, duplicate `kid`s, fatal
//! keys) around the per-key rules of [`VerifyingKey::from_jwk`].

use std::sync::Arc;

use serde_json::Value;

use super::{KeyProblem, VerifyingKey, short};
use crate::json::{self, JsonProblem};

/// Limits applied to a JWKS document before and while ingesting it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksLimits {
    /// Largest document accepted, in bytes (default 64 KiB).
    pub max_bytes: usize,
    /// Most keys accepted in one document (default 32).
    pub max_keys: usize,
}

impl Default for JwksLimits {
    fn default() -> Self {
        Self { max_bytes: 64 * 1024, max_keys: 32 }
    }
}

/// Why a JWKS document was refused as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// Larger than the byte limit.
    #[error("key set document is larger than {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Not a JSON object (or contains duplicate members).
    #[error("key set document is not valid JSON: {0:?}")]
    InvalidJson(JsonProblem),
    /// No `keys` array.
    #[error("key set document has no `keys` array")]
    NotAKeySet,
    /// More keys than allowed.
    #[error("key set has {count} keys (limit {limit})")]
    TooManyKeys {
        /// Keys in the document.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A key (by position, with its kid if any) made the whole set untrustworthy.
    #[error("key #{index} ({kid}) {problem}; the whole key set is refused")]
    Refused {
        /// Position in `keys`.
        index: usize,
        /// Its `kid`, or `-`.
        kid: String,
        /// What was wrong.
        problem: KeyProblem,
    },
    /// Every key was skipped.
    #[error("key set has no usable keys ({skipped} skipped)")]
    NoUsableKeys {
        /// Keys skipped.
        skipped: usize,
    },
}

impl JwksError {
    /// A short label for metrics.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::InvalidJson(_) => "invalid_json",
            Self::NotAKeySet => "not_a_key_set",
            Self::TooManyKeys { .. } => "too_many_keys",
            Self::Refused { problem, .. } => problem.label(),
            Self::NoUsableKeys { .. } => "no_usable_keys",
        }
    }
}

/// What ingest did with each key of a document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Keys now in the set.
    pub accepted: usize,
    /// Keys skipped: their `kid` (if any) and why.
    pub skipped: Vec<(Option<String>, KeyProblem)>,
}

/// An immutable set of verification keys, looked up by `kid`.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    // A handful of keys (≤ 32): a linear scan beats hashing for lookups.
    keys: Vec<Arc<VerifyingKey>>,
}

impl KeySet {
    /// A set with no keys.
    #[must_use]
    pub fn empty() -> Self {
        Self::default()
    }

    /// A set from keys built elsewhere (auth-service builds its own from its key table).
    ///
    /// # Errors
    /// [`JwksError::Refused`] with [`KeyProblem::DuplicateKid`] when two keys share a `kid`.
    pub fn from_keys(keys: impl IntoIterator<Item = VerifyingKey>) -> Result<Self, JwksError> {
        let mut set = Self::empty();
        for (index, key) in keys.into_iter().enumerate() {
            if set.contains(key.kid()) {
                return Err(JwksError::Refused { index, kid: key.kid().to_owned(), problem: KeyProblem::DuplicateKid });
            }
            set.keys.push(Arc::new(key));
        }
        Ok(set)
    }

    /// Ingests a JWKS document with the default [`JwksLimits`].
    ///
    /// # Errors
    /// [`JwksError`] when the document as a whole is refused (see the module docs).
    pub fn from_jwks_json(bytes: &[u8]) -> Result<(Self, IngestReport), JwksError> {
        Self::from_jwks_json_with_limits(bytes, JwksLimits::default())
    }

    /// Ingests a JWKS document under `limits`.
    ///
    /// # Errors
    /// [`JwksError`] when the document as a whole is refused (see the module docs).
    pub fn from_jwks_json_with_limits(bytes: &[u8], limits: JwksLimits) -> Result<(Self, IngestReport), JwksError> {
        if bytes.len() > limits.max_bytes {
            return Err(JwksError::TooLarge { limit: limits.max_bytes });
        }
        let document = json::parse_object(bytes).map_err(JwksError::InvalidJson)?;
        let Some(Value::Array(entries)) = document.get("keys") else {
            return Err(JwksError::NotAKeySet);
        };
        if entries.len() > limits.max_keys {
            return Err(JwksError::TooManyKeys { count: entries.len(), limit: limits.max_keys });
        }
        let mut set = Self::empty();
        let mut report = IngestReport::default();
        for (index, entry) in entries.iter().enumerate() {
            let kid = entry.get("kid").and_then(Value::as_str).map(short);
            let Value::Object(jwk) = entry else {
                report.skipped.push((None, KeyProblem::Malformed));
                continue;
            };
            // Duplicate kids are checked across all entries, usable or not: two published
            // keys with one kid are ambiguous even if we could use only one of them.
            if let Some(kid) = jwk.get("kid").and_then(Value::as_str)
                && entries[..index].iter().any(|earlier| earlier.get("kid").and_then(Value::as_str) == Some(kid))
            {
                return Err(JwksError::Refused { index, kid: short(kid), problem: KeyProblem::DuplicateKid });
            }
            match VerifyingKey::from_jwk(jwk) {
                Ok(key) => set.keys.push(Arc::new(key)),
                Err(problem) if problem.is_fatal() => {
                    return Err(JwksError::Refused { index, kid: kid.unwrap_or_else(|| "-".to_owned()), problem });
                }
                Err(problem) => report.skipped.push((kid, problem)),
            }
        }
        if set.keys.is_empty() {
            return Err(JwksError::NoUsableKeys { skipped: report.skipped.len() });
        }
        report.accepted = set.keys.len();
        Ok((set, report))
    }

    /// The key with this `kid`.
    #[must_use]
    pub fn get(&self, kid: &str) -> Option<&Arc<VerifyingKey>> {
        self.keys.iter().find(|key| key.kid() == kid)
    }

    /// Whether a key with this `kid` is present.
    #[must_use]
    pub fn contains(&self, kid: &str) -> bool {
        self.get(kid).is_some()
    }

    /// The `kid`s in the set, in document order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|key| key.kid())
    }

    /// The keys, in document order.
    pub fn keys(&self) -> impl Iterator<Item = &Arc<VerifyingKey>> {
        self.keys.iter()
    }

    /// Number of keys.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no keys.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
