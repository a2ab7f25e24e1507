//! Keyset pagination for list endpoints: an opaque cursor naming the last item of a page,
//! the page size, the query string that carries both and the page that answers it.
//!
//! Lists are ordered newest first by `(created_at, id)`; a cursor is that pair for the last
//! item returned (`<created_at ms>.<id as 32 hex digits>`), and the next page is everything
//! strictly after it in that order. Unlike offsets, a cursor stays correct while new items
//! arrive, and the query uses an index instead of skipping rows. Clients should treat cursors
//! as opaque; the format is exact and published ([`CURSOR_PATTERN`]) so that every string the
//! API document allows is one the API accepts. (For one release the earlier base64url form is
//! accepted too, so paging survives a rolling upgrade.)

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

/// Exactly the strings [`Cursor::parse`] accepts: up to 18 digits (always within `i64`), a
/// dot, and the id's 32 lowercase hex digits.
pub const CURSOR_PATTERN: &str = "^[0-9]{1,18}\\.[0-9a-f]{32}$";

/// Longest cursor of the earlier base64url form (18 digits, a dot, 32 hex digits, encoded).
const MAX_LEGACY_LEN: usize = 68;

/// Digits of `created_at` a cursor may carry.
const MAX_CREATED_AT_DIGITS: usize = 18;

impl Cursor {
    /// The cursor pointing after an item.
    #[must_use]
    pub fn after(created_at: i64, id: Uuid) -> Self {
        Self { created_at, id }
    }

    /// The opaque string handed to clients.
    #[must_use]
    pub fn encode(&self) -> String {
        format!("{}.{}", self.created_at, self.id.simple())
    }

    /// Parses a cursor a client sent back.
    ///
    /// # Errors
    /// A [`FieldError`] on `cursor` when it is not one this service produced.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let invalid = || FieldError::new("cursor", "is not a cursor returned by this API");
        if !raw.contains('.') && raw.len() <= MAX_LEGACY_LEN {
            // The base64url form earlier releases handed out, so a client paging across a
            // rolling upgrade is not refused. Remove once no replica of those runs.
            let decoded = URL_SAFE_NO_PAD.decode(raw.as_bytes()).map_err(|_| invalid())?;
            let text = std::str::from_utf8(&decoded).map_err(|_| invalid())?;
            return if text.contains('.') { Self::parse(text) } else { Err(invalid()) };
        }
        let (created_at, id) = raw.split_once('.').ok_or_else(invalid)?;
        let digits =
            (1..=MAX_CREATED_AT_DIGITS).contains(&created_at.len()) && created_at.bytes().all(|b| b.is_ascii_digit());
        let hex = id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !digits || !hex {
            return Err(invalid());
        }
        let created_at: i64 = created_at.parse().map_err(|_| invalid())?;
        let id = Uuid::try_parse(id).map_err(|_| invalid())?;
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
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1–100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100, example = 20)]
    pub limit: Option<String>,
    /// A `next_cursor` from the previous page.
    #[param(pattern = "^[0-9]{1,18}\\.[0-9a-f]{32}$", example = "1764667800123.0192f1c45a6b7c8d9e0f1a2b3c4d5e6f")]
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
#[derive(Debug, Serialize, utoipa::ToSchema)]
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
        let id = Uuid::nil().simple().to_string();
        let garbage = [
            String::new(),
            "not a cursor".to_owned(),
            format!("-5.{id}"),
            format!("+5.{id}"),
            format!(".{id}"),
            format!("{}.{id}", "9".repeat(19)),
            format!("5.{}", id.to_uppercase().replace('0', "A")),
            format!("5.{id}0"),
            format!("5.{id}.5"),
            "A".repeat(500),
        ];
        for raw in &garbage {
            let error = Cursor::parse(raw).unwrap_err();
            assert_eq!(error.field, "cursor", "{raw}");
        }
    }

    #[test]
    fn cursors_of_the_earlier_base64_form_still_parse() {
        let cursor = Cursor::after(1_700_000_000_123, Uuid::now_v7());
        let legacy = URL_SAFE_NO_PAD.encode(cursor.encode());
        assert_eq!(Cursor::parse(&legacy).unwrap(), cursor);
        for raw in [URL_SAFE_NO_PAD.encode("no dot"), URL_SAFE_NO_PAD.encode(URL_SAFE_NO_PAD.encode(cursor.encode()))] {
            assert!(Cursor::parse(&raw).is_err(), "{raw}");
        }
    }

    #[test]
    fn the_published_pattern_is_exactly_what_parses() {
        let pattern = CURSOR_PATTERN;
        assert!(pattern.starts_with('^') && pattern.ends_with('$'));
        let cursor = Cursor::after(999_999_999_999_999_999, Uuid::from_u128(u128::MAX));
        assert_eq!(Cursor::parse(&cursor.encode()).unwrap(), cursor);
        assert_eq!(cursor.encode(), format!("{}.{}", "9".repeat(18), "f".repeat(32)));
        let params = <PageQuery as utoipa::IntoParams>::into_params(|| None);
        let documented = serde_json::to_value(params.iter().find(|p| p.name == "cursor").unwrap()).unwrap();
        assert_eq!(documented["schema"]["pattern"], CURSOR_PATTERN, "{documented}");
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
