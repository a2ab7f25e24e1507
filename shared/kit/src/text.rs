//! Untrusted text on its way into a log line, an error message or a database column.

/// At most `max_chars` characters of `text`, control characters dropped: a client or a peer
/// cannot flood a log or smuggle line breaks and terminal escapes into it through what we echo.
#[must_use]
pub fn clip(text: &str, max_chars: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max_chars).collect()
}

/// The longest prefix of `text` of at most `max_bytes` bytes that ends on a character boundary.
///
/// For values that cannot hold control characters (a URI path, a header value that
/// passed `to_str`), it bounds them without allocating, on paths taken by every request.
#[must_use]
pub fn prefix(text: &str, max_bytes: usize) -> &str {
    if text.len() <= max_bytes {
        return text;
    }
    let mut end = max_bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    #[test]
    fn clips_and_drops_control_characters() {
        assert_eq!(super::clip("grant\r\ntype\u{1b}[31m", 64), "granttype[31m");
        assert_eq!(super::clip("ünïcode kept", 5), "ünïco");
    }

    #[test]
    fn prefixes_end_on_a_character_boundary() {
        assert_eq!(super::prefix("short", 10), "short");
        assert_eq!(super::prefix("abcdef", 3), "abc");
        assert_eq!(super::prefix("aé", 2), "a");
    }
}
