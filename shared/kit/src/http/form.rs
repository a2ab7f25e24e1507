//! Strict `application/x-www-form-urlencoded` bodies, as OAuth endpoints read them (RFC 6749
//! §3.2: a parameter may appear at most once).
//!
//! The work is linear in the body's length: the parameters are counted from the `&`
//! separators before anything is decoded, so a body of thousands of tiny parameters is
//! refused at the cost of one scan, and repeats are found with a hash set, not by comparing
//! every pair.

use std::collections::HashSet;

use url::form_urlencoded;

/// A sensible cap for OAuth requests: the token endpoint reads at most half a dozen.
pub const DEFAULT_MAX_PARAMETERS: usize = 32;

/// Why a form body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// More parameters than the caller allows.
    #[error("the body has more than {0} parameters")]
    TooManyParameters(usize),
    /// A parameter appeared twice (its name, clipped for safe echoing).
    #[error("parameter `{0}` is repeated")]
    Repeated(String),
}

/// Parses a form body into its parameters, in order, each name at most once and at most
/// `max_parameters` of them. Percent-escapes and `+` are decoded; invalid UTF-8 is replaced,
/// as browsers do.
///
/// # Errors
/// [`FormError`] saying what was wrong.
pub fn parse_unique(body: &[u8], max_parameters: usize) -> Result<Vec<(String, String)>, FormError> {
    let count = body.split(|byte| *byte == b'&').filter(|piece| !piece.is_empty()).count();
    if count > max_parameters {
        return Err(FormError::TooManyParameters(max_parameters));
    }
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(body).map(|(name, value)| (name.into_owned(), value.into_owned())).collect();
    let mut seen = HashSet::with_capacity(pairs.len());
    if let Some((name, _)) = pairs.iter().find(|(name, _)| !seen.insert(name.as_str())) {
        return Err(FormError::Repeated(crate::text::clip(name, 64)));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_decoded_in_order() {
        let pairs = parse_unique(b"grant_type=refresh_token&scope=a+b&x=%41", 8).unwrap();
        assert_eq!(
            pairs,
            [("grant_type", "refresh_token"), ("scope", "a b"), ("x", "A")].map(|(n, v)| (n.to_owned(), v.to_owned()))
        );
        assert_eq!(parse_unique(b"", 8).unwrap(), []);
        assert_eq!(parse_unique(b"a=1&&b=2&", 2).unwrap().len(), 2);
    }

    #[test]
    fn repeats_are_refused_after_decoding() {
        assert_eq!(parse_unique(b"a=1&b=2&%61=3", 8), Err(FormError::Repeated("a".into())));
        assert_eq!(parse_unique(b"a&a", 8), Err(FormError::Repeated("a".into())));
    }

    #[test]
    fn the_count_is_capped_before_decoding() {
        let body = (0..33).map(|i| format!("p{i}=1")).collect::<Vec<_>>().join("&");
        assert_eq!(parse_unique(body.as_bytes(), 32), Err(FormError::TooManyParameters(32)));
        assert!(parse_unique(body.as_bytes(), 33).is_ok());
    }
}
