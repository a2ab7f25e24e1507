//! The strict base64url codec of RFC 7515 §2, shared by JWK members and JWS segments.
//!
//! It lives under [`keys`](super) because JWK parsing is the lowest layer that needs it;
//! [`jose`](crate::jose) re-exports it at its public paths, so `jose` depends on `keys` and
//! never the other way round.

use base64::{
    Engine,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};

// Unpadded, URL-safe alphabet, canonical trailing bits: the only encoding RFC 7515 §2 allows.
const STRICT_B64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Input that is not canonical unpadded base64url.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not canonical unpadded base64url")]
pub struct Base64Error;

/// Decodes strict base64url (see the module docs).
///
/// # Errors
/// [`Base64Error`] for padding, characters outside the alphabet, or non-zero trailing bits.
pub fn decode_b64url(text: &str) -> Result<Vec<u8>, Base64Error> {
    STRICT_B64URL.decode(text).map_err(|_| Base64Error)
}

/// Decodes strict base64url into `out`, returning the decoded length.
///
/// # Errors
/// [`Base64Error`] for bad input, or when `out` is too small.
pub fn decode_b64url_into(text: &str, out: &mut [u8]) -> Result<usize, Base64Error> {
    STRICT_B64URL.decode_slice(text, out).map_err(|_| Base64Error)
}

/// Encodes as unpadded base64url.
#[must_use]
pub fn encode_b64url(bytes: &[u8]) -> String {
    STRICT_B64URL.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_is_strict() {
        assert_eq!(decode_b64url("VGVzdA").unwrap(), b"Test");
        assert!(decode_b64url("VGVzdA==").is_err(), "padding");
        assert!(decode_b64url("VGVzdB").is_err(), "non-zero trailing bits");
        assert!(decode_b64url("VGV+dA").is_err(), "standard alphabet");
        assert!(decode_b64url("VGV zdA").is_err(), "whitespace");
        assert!(decode_b64url("V").is_err(), "impossible length");
        assert_eq!(decode_b64url("").unwrap(), b"");
    }

    #[test]
    fn decoding_into_a_buffer_fits_exactly() {
        for len in [255, 256, 512, 1023, 1024] {
            let bytes = vec![0xa5u8; len];
            let mut out = [0u8; 1024];
            assert_eq!(decode_b64url_into(&encode_b64url(&bytes), &mut out), Ok(len), "{len}");
            assert_eq!(&out[..len], &bytes[..]);
        }
        let mut small = [0u8; 10];
        assert!(decode_b64url_into(&encode_b64url(&[1u8; 11]), &mut small).is_err());
        assert!(decode_b64url_into("VGVzdA==", &mut small).is_err());
    }
}
