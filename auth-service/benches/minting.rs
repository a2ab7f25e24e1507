//! Minting throughput next to raw `ring` RS256 signing with the same key, in the same run.
//!
//! `cargo bench -p auth-service` prints both rates and their ratio. Minting is everything a
//! token request does after authentication: build the claims (with a fresh `jti`), serialise
//! them, base64url-encode, sign with the cached key, encode the signature. Raw signing is
//! `RsaKeyPair::sign` over a signing input of the same length. RSA dominates, so the ratio
//! should stay close to 1 (target ≥ 0.9).
//!
//! The two are measured in alternating batches, so drifting CPU frequency or a noisy
//! neighbour affects both alike; the median batch of each is reported. `BENCH_ROUNDS`
//! (default 15) and `BENCH_BATCH` (default 200) tune the run; `cargo test --benches` runs one
//! tiny round as a smoke test.

use std::{
    hint::black_box,
    time::{Duration, Instant},
};

use auth_service::{
    keys::signing::{SigningKey, generate_pkcs8},
    tokens::{AccessTokenSpec, mint_access_token, now_secs},
};
use ring::{
    rand::SystemRandom,
    signature::{RSA_PKCS1_SHA256, RsaKeyPair},
};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(default)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: run a smoke round then.
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    let (rounds, batch) =
        if benchmarking { (env_usize("BENCH_ROUNDS", 15), env_usize("BENCH_BATCH", 200)) } else { (1, 5) };

    let der = generate_pkcs8(2048).expect("generate an RSA-2048 key");
    let key = SigningKey::from_pkcs8(&der).expect("parse it for minting");
    let raw = RsaKeyPair::from_pkcs8(&der).expect("parse it for raw ring");
    let rng = SystemRandom::new();

    let audience = vec!["auth-service".to_owned(), "orders-service".to_owned(), "notifications-service".to_owned()];
    let spec = AccessTokenSpec {
        issuer: "http://127.0.0.1:8081",
        subject: "3f1c2d4e-5b6a-4c7d-8e9f-0a1b2c3d4e5f",
        client_id: "web",
        audience: &audience,
        scope: "orders:read orders:write notifications:read",
        session_id: Some("9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"),
        role: Some("user"),
        ttl: Duration::from_secs(600),
    };
    let sample = mint_access_token(&key, &spec, now_secs()).expect("mint");
    let signing_input = sample.rsplit_once('.').expect("compact JWS").0.as_bytes().to_vec();
    let mut signature = vec![0u8; raw.public().modulus_len()];

    // Warm-up: caches, CPU frequency, lazy initialisation.
    for _ in 0..batch.min(20) {
        black_box(mint_access_token(&key, &spec, now_secs()).expect("mint"));
        raw.sign(&RSA_PKCS1_SHA256, &rng, &signing_input, &mut signature).expect("sign");
    }

    let mut mint_batches = Vec::with_capacity(rounds);
    let mut raw_batches = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        for _ in 0..batch {
            black_box(mint_access_token(black_box(&key), black_box(&spec), now_secs()).expect("mint"));
        }
        mint_batches.push(started.elapsed());

        let started = Instant::now();
        for _ in 0..batch {
            raw.sign(&RSA_PKCS1_SHA256, &rng, black_box(&signing_input), &mut signature).expect("sign");
            black_box(&signature);
        }
        raw_batches.push(started.elapsed());
    }

    let per_second = |batch_time: Duration| batch as f64 / batch_time.as_secs_f64();
    let mint_rate = per_second(median(mint_batches));
    let raw_rate = per_second(median(raw_batches));
    let ratio = mint_rate / raw_rate;
    println!("RS256, RSA-2048, token of {} bytes; {rounds} rounds of {batch}, median batch", sample.len());
    println!("  raw ring signing : {raw_rate:>10.0} signatures/s");
    println!("  token minting    : {mint_rate:>10.0} tokens/s");
    let verdict = if !benchmarking {
        "smoke run: unoptimised and too short to judge"
    } else if ratio >= 0.9 {
        "target >= 0.90: met"
    } else {
        "target >= 0.90: NOT met"
    };
    println!("  ratio mint / raw : {ratio:>10.3}  ({verdict})");
}
