//! How the services write times on the wire.

/// RFC 3339 UTC time with exactly three fractional digits (fixed width, so timestamps sort as
/// strings too) for a stored Unix-milliseconds timestamp.
#[must_use]
pub fn rfc3339_millis(millis: i64) -> String {
    const FORMAT: &[time::format_description::FormatItem<'static>] =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    let nanos = i128::from(millis) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok().and_then(|t| t.format(FORMAT).ok()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(super::rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::rfc3339_millis(1_700_000_000_120), "2023-11-14T22:13:20.120Z");
    }
}
