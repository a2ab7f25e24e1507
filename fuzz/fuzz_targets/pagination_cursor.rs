//! The list endpoints' query: `Cursor::parse` (`created_at.id`, or the earlier base64url of it), `PageLimit::parse`
//! and `PageQuery::parse` over a query string. Input: the cursor, limit or query text.

#![no_main]

use axum::extract::Query;
use libfuzzer_sys::fuzz_target;
use service_kit::pagination::{Cursor, PageLimit, PageQuery};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(cursor) = Cursor::parse(text) {
        assert!(cursor.created_at >= 0);
        assert_eq!(Cursor::parse(&cursor.encode()).ok(), Some(cursor), "a cursor does not survive its own encoding");
    }
    if let Ok(limit) = PageLimit::parse(Some(text)) {
        assert!((1..=PageLimit::MAX).contains(&limit.get()));
    }
    if let Ok(uri) = format!("/items?{text}").parse::<http::Uri>() {
        let _ = PageQuery::parse(Query::<PageQuery>::try_from_uri(&uri));
    }
});
