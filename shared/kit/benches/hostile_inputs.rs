//! `cargo bench -p service-kit --bench hostile_inputs`: what the worst input an
//! unauthenticated client can send costs, against a benign input of the same size.
//!
//! Each pair is refused (or parsed) by the same code path; the figure is the ratio of their
//! median times, measured interleaved in one run so that load on a shared machine moves both
//! alike. Linear parsers with counts capped before per-item work keep every ratio near 1
//! (quadratic ones made them 400× and 60×):
//! - form body: 6,000 distinct parameter names vs one parameter of the same length
//!   (`service_kit::http::form`, the OAuth endpoints' parser);
//! - token scopes: an unsigned 8 KiB token with ~1,000 distinct scopes vs one with a single
//!   long scope (both refused at the signature; scopes are parsed only after it);
//! - token members: an unsigned payload of ~700 tiny members vs one member of the same size
//!   (refused by the member cap).
//!
//! Nothing here fails on a figure: it prints them.

use std::{
    hint::black_box,
    sync::Arc,
    time::{Duration, Instant},
};

use futures::FutureExt;
use jwt_verifier::{
    StaticKeyStore, Verifier, VerifierConfig,
    jose::encode_b64url,
    testkit::{key_set, test_key, user_claims},
};
use serde_json::{Value, json};
use service_kit::http::form;

const ISSUER: &str = "https://issuer.bench";
const AUDIENCE: &str = "bench";
const ROUNDS: usize = 15;
const BATCH: Duration = Duration::from_millis(40);

fn main() {
    let forms = (distinct_parameters(6_000), one_parameter_like(&distinct_parameters(6_000)));
    report("form body, 6,000 names vs one parameter", &forms.0, &forms.1, |body| {
        black_box(form::parse_unique(body.as_bytes(), form::DEFAULT_MAX_PARAMETERS).is_ok());
    });

    let verifier = verifier();
    let many_scopes = unsigned_token(&with_scope(&scope_list(1_000)));
    let one_scope = unsigned_token(&with_scope(&"s".repeat(scope_list(1_000).len())));
    report("token, 1,000 scopes vs one long scope", &many_scopes, &one_scope, |token| {
        black_box(verifier.verify(token).now_or_never().expect("no await on a static store").is_ok());
    });

    let many_members = unsigned_token(&with_members(700));
    let one_member = unsigned_token(&with_padding(serde_json::to_vec(&with_members(700)).unwrap().len()));
    report("token, 700 members vs one member", &many_members, &one_member, |token| {
        black_box(verifier.verify(token).now_or_never().expect("no await on a static store").is_ok());
    });
}

/// Times `work` on both inputs, interleaved batch by batch, and prints the median ratio.
fn report(name: &str, hostile: &str, benign: &str, work: impl Fn(&str)) {
    let per_call = |input: &str| {
        let started = Instant::now();
        let mut calls = 0u32;
        while started.elapsed() < BATCH {
            work(input);
            calls += 1;
        }
        started.elapsed().as_secs_f64() / f64::from(calls)
    };
    per_call(hostile);
    per_call(benign);
    let mut ratios: Vec<f64> = Vec::with_capacity(ROUNDS);
    let mut hostile_times = Vec::with_capacity(ROUNDS);
    let mut benign_times = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let h = per_call(hostile);
        let b = per_call(benign);
        hostile_times.push(h);
        benign_times.push(b);
        ratios.push(h / b);
    }
    println!(
        "{name}: {} B vs {} B, {:.1} µs vs {:.1} µs per input, worst/benign {:.2}× (median of {ROUNDS} rounds)",
        hostile.len(),
        benign.len(),
        median(&mut hostile_times) * 1e6,
        median(&mut benign_times) * 1e6,
        median(&mut ratios)
    );
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn distinct_parameters(n: usize) -> String {
    (0..n).map(|i| format!("p{i}=")).collect::<Vec<_>>().join("&")
}

fn one_parameter_like(other: &str) -> String {
    format!("p={}", "x".repeat(other.len() - 2))
}

fn scope_list(n: usize) -> String {
    (0..n).map(|i| format!("s{i}")).collect::<Vec<_>>().join(" ")
}

fn claims() -> Value {
    user_claims(ISSUER, &[AUDIENCE], "user-1", "orders:read")
}

fn with_scope(scope: &str) -> Value {
    let mut claims = claims();
    claims["scope"] = json!(scope);
    claims
}

fn with_members(n: usize) -> Value {
    let mut claims = claims();
    for i in 0..n {
        claims[format!("m{i}")] = json!(1);
    }
    claims
}

fn with_padding(total_len: usize) -> Value {
    let mut claims = claims();
    let base = serde_json::to_vec(&claims).unwrap().len();
    claims["padding"] = json!("x".repeat(total_len.saturating_sub(base + 12)));
    claims
}

/// A token with a well-formed header and payload and a signature of the right length that
/// does not verify.
fn unsigned_token(claims: &Value) -> String {
    let key = test_key(0);
    let header = json!({"alg": "RS256", "typ": "at+jwt", "kid": key.kid()});
    format!(
        "{}.{}.{}",
        encode_b64url(&serde_json::to_vec(&header).unwrap()),
        encode_b64url(&serde_json::to_vec(claims).unwrap()),
        encode_b64url(&[7u8; 256])
    )
}

fn verifier() -> Verifier {
    let mut config = VerifierConfig::new(ISSUER, AUDIENCE);
    config.token_cache_capacity = 0;
    config.max_token_bytes = 16 * 1024;
    Verifier::with_key_store(config, Arc::new(StaticKeyStore::new(key_set(&[test_key(0)]))))
}
