//! Keyset pagination: an opaque cursor naming the last item of a page, and the page size.
//!
//! Lists are ordered newest first by `(created_at, id)`; a cursor is the base64url encoding of
//! that pair for the last item returned, and the next page is everything strictly after it in
//! that order. Unlike offsets, a cursor stays correct while new items arrive, and the query
//! uses an index instead of skipping rows. Clients treat cursors as opaque strings.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use uuid::Uuid;

use super::FieldError;

/// Position after which the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// `created_at` (Unix milliseconds) of the last item of the previous page.
    pub created_at: i64,
    /// Id of that item; breaks ties between items created in the same millisecond.
    pub id: Uuid,
}

/// Cursors are short; anything longer is garbage and is refused before decoding.
const MAX_CURSOR_LEN: usize = 128;

impl Cursor {
    /// The cursor pointing after an item.
    #[must_use]
    pub fn after(created_at: i64, id: Uuid) -> Self {
        Self { created_at, id }
    }

    /// The opaque string handed to clients.
    #[must_use]
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}.{}", self.created_at, self.id.simple()))
    }

    /// Parses a cursor a client sent back.
    ///
    /// # Errors
    /// A [`FieldError`] on `cursor` when it is not one this service produced.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let invalid = || FieldError::new("cursor", "is not a cursor returned by this API");
        if raw.len() > MAX_CURSOR_LEN {
            return Err(invalid());
        }
        let decoded = URL_SAFE_NO_PAD.decode(raw.as_bytes()).map_err(|_| invalid())?;
        let text = std::str::from_utf8(&decoded).map_err(|_| invalid())?;
        let (created_at, id) = text.split_once('.').ok_or_else(invalid)?;
        let created_at: i64 = created_at.parse().map_err(|_| invalid())?;
        let id = Uuid::try_parse(id).map_err(|_| invalid())?;
        if created_at < 0 {
            return Err(invalid());
        }
        Ok(Self { created_at, id })
    }
}

/// Number of items per page: 1–100, default 20.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit(u32);

impl PageLimit {
    /// Used when the client sends no `limit`.
    pub const DEFAULT: u32 = 20;
    /// Upper bound, so one request cannot ask for the whole table.
    pub const MAX: u32 = 100;

    /// Parses the `limit` query parameter (absent means the default).
    ///
    /// # Errors
    /// A [`FieldError`] on `limit` when it is not an integer in 1–100.
    pub fn parse(raw: Option<&str>) -> Result<Self, FieldError> {
        let Some(raw) = raw else {
            return Ok(Self(Self::DEFAULT));
        };
        match raw.trim().parse::<u32>() {
            Ok(value) if (1..=Self::MAX).contains(&value) => Ok(Self(value)),
            _ => Err(FieldError::new("limit", format!("must be an integer between 1 and {}", Self::MAX))),
        }
    }

    /// The page size.
    #[must_use]
    pub fn get(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let cursor = Cursor::after(1_700_000_000_123, Uuid::now_v7());
        assert_eq!(Cursor::parse(&cursor.encode()).unwrap(), cursor);
    }

    #[test]
    fn garbage_cursors_are_refused() {
        for raw in ["", "not base64!", "bm90LWEtY3Vyc29y", &"A".repeat(500)] {
            let error = Cursor::parse(raw).unwrap_err();
            assert_eq!(error.field, "cursor");
        }
        let negative = URL_SAFE_NO_PAD.encode(format!("-5.{}", Uuid::nil().simple()));
        assert!(Cursor::parse(&negative).is_err());
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(PageLimit::parse(None).unwrap().get(), 20);
        assert_eq!(PageLimit::parse(Some("1")).unwrap().get(), 1);
        assert_eq!(PageLimit::parse(Some("100")).unwrap().get(), 100);
        for bad in ["0", "101", "-1", "ten", ""] {
            assert_eq!(PageLimit::parse(Some(bad)).unwrap_err().field, "limit", "{bad}");
        }
    }
}
