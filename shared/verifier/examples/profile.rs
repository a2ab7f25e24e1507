//! One verifier operation in a loop, for an instruction-counting profiler:
//!
//! ```text
//! cargo build --release -p jwt-verifier --example profile
//! valgrind --tool=callgrind --toggle-collect='*measured*' \
//!     target/release/examples/profile cold 2000
//! callgrind_annotate --inclusive=yes callgrind.out.<pid> | head -40
//! ```
//!
//! Operations: `raw` (ring's RS256 check of the pre-decoded signature, the floor), `cold`
//! (`Verifier::verify`, token cache off, a different token each time), `hit` (the same token,
//! answered from the cache). Callgrind counts instructions, which repeat run after run on a
//! machine too noisy for timings; `--toggle-collect` leaves set-up (key generation, minting)
//! out of the counts.

use std::{hint::black_box, sync::Arc};

use futures::FutureExt;
use jwt_verifier::{
    StaticKeyStore, Verifier, VerifierConfig,
    jose::decode_b64url,
    testkit::{key_set, test_key, user_claims},
};

const ISSUER: &str = "https://issuer.bench";
const AUDIENCE: &str = "orders-service";

fn main() {
    let mut args = std::env::args().skip(1);
    let operation = args.next().unwrap_or_else(|| "cold".to_owned());
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let key = test_key(0);
    let tokens: Vec<String> = (0..count)
        .map(|i| {
            let mut claims = user_claims(ISSUER, &[AUDIENCE], &format!("user-{i}"), "orders:read orders:write");
            claims["exp"] = serde_json::json!(claims["iat"].as_i64().unwrap_or(0) + 3600);
            key.mint(&claims)
        })
        .collect();
    let mut config = VerifierConfig::new(ISSUER, AUDIENCE);
    config.token_cache_capacity = if operation == "hit" { 10_000 } else { 0 };
    let verifier = Verifier::with_key_store(config, Arc::new(StaticKeyStore::new(key_set(std::slice::from_ref(&key)))));
    // Warm the header cache (and, for `hit`, the token cache) outside the counted loop.
    assert!(verifier.verify(&tokens[0]).now_or_never().is_some_and(|r| r.is_ok()));
    let started = std::time::Instant::now();
    match operation.as_str() {
        "raw" => {
            let verifying_key = key.verifying_key();
            let components = verifying_key.ring_components();
            let decoded: Vec<(&str, Vec<u8>)> = tokens
                .iter()
                .map(|t| t.rsplit_once('.').expect("compact JWS"))
                .map(|(input, signature)| (input, decode_b64url(signature).expect("valid signature")))
                .collect();
            measured_raw(components, &decoded);
        }
        "aws" => {
            let verifying_key = key.verifying_key();
            let components = verifying_key.ring_components();
            let parsed = aws_lc_rs::signature::RsaPublicKeyComponents { n: &components.n[..], e: &components.e[..] }
                .to_parsed_public_key(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256)
                .expect("a valid key");
            let decoded: Vec<(&str, Vec<u8>)> = tokens
                .iter()
                .map(|t| t.rsplit_once('.').expect("compact JWS"))
                .map(|(input, signature)| (input, decode_b64url(signature).expect("valid signature")))
                .collect();
            measured_aws(&parsed, &decoded);
        }
        "cold" => measured_verify(&verifier, &tokens),
        "hit" => measured_verify(&verifier, &vec![tokens[0].clone(); count]),
        other => {
            eprintln!("unknown operation `{other}`: raw, cold or hit");
            std::process::exit(2);
        }
    }
    // Wall time, for a rough figure outside the profiler; the benches are the real measure.
    eprintln!("{operation}: {:.2} µs each", started.elapsed().as_secs_f64() * 1e6 / count as f64);
}

#[inline(never)]
fn measured_verify(verifier: &Verifier, tokens: &[String]) {
    for token in tokens {
        let caller = verifier.verify(black_box(token)).now_or_never().expect("a static store never waits");
        assert!(caller.is_ok());
    }
}

#[inline(never)]
fn measured_raw(components: &ring::signature::RsaPublicKeyComponents<Vec<u8>>, decoded: &[(&str, Vec<u8>)]) {
    for (input, signature) in decoded {
        let result =
            components.verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, black_box(input.as_bytes()), signature);
        assert!(result.is_ok());
    }
}

#[inline(never)]
fn measured_aws(key: &aws_lc_rs::signature::ParsedPublicKey, decoded: &[(&str, Vec<u8>)]) {
    for (input, signature) in decoded {
        assert!(key.verify_sig(black_box(input.as_bytes()), signature).is_ok());
    }
}
