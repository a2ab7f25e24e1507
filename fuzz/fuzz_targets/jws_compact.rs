//! Compact JWS splitting, strict base64url segments and protected-header parsing
//! (`jose::split`, `jose::decode_part`, `jose::parse_header`), then `verify_jws` against a
//! fixed RSA key. Input: a token, or a header's JSON (also fed to `parse_header` as is).

#![no_main]

use std::sync::LazyLock;

use jwt_verifier::{
    TokenPart, VerifyingKey,
    jose::{self, DEFAULT_MAX_TOKEN_BYTES},
};
use libfuzzer_sys::fuzz_target;

static KEY: LazyLock<VerifyingKey> = LazyLock::new(|| auth_fuzz::SIGNER.verifying_key());

fuzz_target!(|data: &[u8]| {
    let _ = jose::parse_header(data);
    let Ok(token) = std::str::from_utf8(data) else { return };
    if let Ok(parts) = jose::split(token, DEFAULT_MAX_TOKEN_BYTES) {
        assert_eq!(parts.signing_input, format!("{}.{}", parts.header, parts.payload));
        for (segment, part) in [
            (parts.header, TokenPart::Header),
            (parts.payload, TokenPart::Payload),
            (parts.signature, TokenPart::Signature),
        ] {
            // The README promises one encoding per token: whatever decodes re-encodes to itself.
            if let Ok(bytes) = jose::decode_part(segment, part) {
                assert_eq!(jose::encode_b64url(&bytes), segment, "a second encoding of the same bytes was accepted");
            }
        }
        if let Ok(header) = jose::decode_part(parts.header, TokenPart::Header) {
            let _ = jose::parse_header(&header);
        }
    }
    let _ = jose::verify_jws(token, &KEY, DEFAULT_MAX_TOKEN_BYTES);
});
