//! Keyset pagination for list endpoints: an opaque cursor naming the last item of a page,
//! the page size, the query string that carries both and the page that answers it.
//!
//! Lists are ordered newest first by `(created_at, id)`; a cursor is the base64url encoding of
//! that pair for the last item returned, and the next page is everything strictly after it in
//! that order. Unlike offsets, a cursor stays correct while new items arrive, and the query
//! uses an index instead of skipping rows. Clients treat cursors as opaque strings.

use axum::extract::{Query, rejection::QueryRejection};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::http::error::FieldError;

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

/// The query string of a list endpoint (`?limit=…&cursor=…`). Values are taken as strings and
/// parsed by [`PageLimit`] and [`Cursor`], so errors name the parameter.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    /// Page size, 1–100.
    pub limit: Option<String>,
    /// A `next_cursor` from the previous page.
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The page size and the cursor (if any) of a request's query string.
    ///
    /// # Errors
    /// A [`FieldError`] naming `query`, `limit` or `cursor`.
    pub fn parse(query: Result<Query<Self>, QueryRejection>) -> Result<(PageLimit, Option<Cursor>), FieldError> {
        let Query(query) = query.map_err(|r| FieldError::new("query", r.body_text()))?;
        let limit = PageLimit::parse(query.limit.as_deref())?;
        let after = query.cursor.as_deref().map(Cursor::parse).transpose()?;
        Ok((limit, after))
    }
}

/// One page of a list, as every list endpoint answers it.
#[derive(Debug, Serialize)]
pub struct Page<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The page for `rows`, fetched with one more row than `limit` so the last page is known
    /// without a count: the extra row is dropped, and its presence means there is a next page,
    /// starting after the last row kept (`position` says where a row stands).
    pub fn from_rows<R>(
        mut rows: Vec<R>,
        limit: PageLimit,
        position: impl Fn(&R) -> Cursor,
        render: impl FnMut(R) -> T,
    ) -> Self {
        let limit = limit.get() as usize;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|last| position(last).encode())
        } else {
            None
        };
        Self { items: rows.into_iter().map(render).collect(), next_cursor }
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

    #[test]
    fn a_page_knows_whether_another_follows() {
        let rows: Vec<(i64, Uuid)> = (0..4).map(|i| (100 - i, Uuid::now_v7())).collect();
        let limit = PageLimit::parse(Some("3")).unwrap();
        let page = Page::from_rows(rows.clone(), limit, |r| Cursor::after(r.0, r.1), |r| r.0);
        assert_eq!(page.items, vec![100, 99, 98]);
        let next = Cursor::parse(page.next_cursor.as_deref().unwrap()).unwrap();
        assert_eq!(next, Cursor::after(98, rows[2].1));
        let last = Page::from_rows(rows[..3].to_vec(), limit, |r| Cursor::after(r.0, r.1), |r| r.0);
        assert!(last.next_cursor.is_none());
    }
}
