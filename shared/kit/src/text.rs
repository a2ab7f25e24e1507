//! Untrusted text on its way into a log line, an error message or a database column.

/// At most `max_chars` characters of `text`, control characters dropped: a client or a peer
/// cannot flood a log or smuggle line breaks and terminal escapes into it through what we echo.
#[must_use]
pub fn clip(text: &str, max_chars: usize) -> String {
    text.chars().filter(|c| !c.is_control()).take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn clips_and_drops_control_characters() {
        assert_eq!(super::clip("grant\r\ntype\u{1b}[31m", 64), "granttype[31m");
        assert_eq!(super::clip("ünïcode kept", 5), "ünïco");
    }
}
