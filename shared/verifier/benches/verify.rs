//! `cargo bench -p jwt-verifier`: what a verification costs.
//!
//! Measurements of the same token and key:
//! - `raw_ring_verify`: ring's RSA-PKCS1-SHA256 check of the pre-decoded signature over the
//!   signing input: what a verifier built on ring cannot go under (ring sets up the modulus
//!   on every call);
//! - `raw_aws_lc_verify`: the same check with aws-lc-rs and the key parsed once, which is
//!   what `Verifier` verifies with: its own floor;
//! - `cold_verify`: `Verifier::verify` with the token cache off (all parsing and checks);
//! - `token_cache_hit`: `Verifier::verify` of a token already verified, no revocation list;
//! - `token_cache_hit_revocations_empty` / `token_cache_hit_revocations_10k`: the same hit
//!   with the revocation check, the list empty, and holding 10 000 entries (5 000 sessions,
//!   5 000 tokens). A cached token that passed the current snapshot skips the lookups, so
//!   this is the steady state;
//! - `revocation_lookups_10k`: `RevocationList::check` alone on those 10 000 entries, the
//!   `sid` and the `jti` lookups a full verification, or the first hit after the list
//!   changed, pays.
//!
//! Criterion prints its usual report for each. The summary at the end turns measured means
//! into the ratios the verifier is held to (cold ≤ 1.05 × raw ring, cache hit ≤ 0.3 µs and ≥ 50 ×
//! faster than cold, revocation check ≤ 50 ns over the plain hit). Criterion measures one
//! benchmark after the other, so on a shared machine a load change between two of them skews
//! their ratio. The summary therefore also measures them interleaved, batch by batch, and
//! judges the targets on the median over rounds of each round's means (a round stolen by
//! another process cannot move a median).

use std::{
    cell::RefCell,
    collections::BTreeMap,
    hint::black_box,
    sync::Arc,
    time::{Duration, Instant},
};

use criterion::Criterion;
use futures::FutureExt;
use jwt_verifier::{
    Revocation, RevocationKind, RevocationList, StaticKeyStore, Verifier, VerifierConfig,
    jose::decode_b64url,
    testkit::{key_set, test_key, user_claims},
};

const ISSUER: &str = "https://issuer.bench";
const AUDIENCE: &str = "orders-service";

thread_local! {
    /// Total iterations and time per benchmark, as measured by criterion's own runs.
    static MEASURED: RefCell<BTreeMap<&'static str, (u64, Duration)>> = const { RefCell::new(BTreeMap::new()) };
}

fn record(name: &'static str, iterations: u64, elapsed: Duration) {
    MEASURED.with(|m| {
        let mut m = m.borrow_mut();
        let entry = m.entry(name).or_insert((0, Duration::ZERO));
        entry.0 += iterations;
        entry.1 += elapsed;
    });
}

fn mean(name: &str) -> Option<Duration> {
    MEASURED.with(|m| {
        m.borrow().get(name).filter(|(n, _)| *n > 0).map(|(n, total)| *total / u32::try_from(*n).unwrap_or(u32::MAX))
    })
}

fn verifier(cache: bool, revocations: Option<Arc<RevocationList>>) -> Verifier {
    let mut config = VerifierConfig::new(ISSUER, AUDIENCE);
    config.token_cache_capacity = if cache { 10_000 } else { 0 };
    let store = Arc::new(StaticKeyStore::new(key_set(&[test_key(0)])));
    match revocations {
        Some(list) => Verifier::with_revocation_list(config, store, list),
        None => Verifier::with_key_store(config, store),
    }
}

/// A list of `n` revocations, half sessions and half tokens, none of them the bench token's.
fn revocations(n: usize, now: i64) -> Arc<RevocationList> {
    let list = Arc::new(RevocationList::new(100_000));
    let entry = |i: usize| Revocation {
        kind: if i.is_multiple_of(2) { RevocationKind::Session } else { RevocationKind::Token },
        id: uuid::Uuid::new_v4().to_string(),
        revoked_at: now,
        relevant_until: now + 7200,
    };
    let report = list.apply((0..n).map(entry), now);
    assert_eq!(report.added, n);
    list
}

/// Times `f` over `iterations` and records it under `name`.
fn timed(name: &'static str, iterations: u64, f: &dyn Fn()) -> Duration {
    let started = Instant::now();
    for _ in 0..iterations {
        f();
    }
    let elapsed = started.elapsed();
    record(name, iterations, elapsed);
    elapsed
}

fn main() {
    let key = test_key(0);
    let mut claims = user_claims(ISSUER, &[AUDIENCE], "user-1", "orders:read orders:write");
    // Long enough for any benchmark run.
    claims["exp"] = serde_json::json!(claims["iat"].as_i64().unwrap_or(0) + 3600);
    let token = key.mint(&claims);
    let (signing_input, signature) = token.rsplit_once('.').expect("compact JWS");
    let signature = decode_b64url(signature).expect("valid signature encoding");
    let ring_key = key.verifying_key();
    let components = ring_key.ring_components();
    let parsed = aws_lc_rs::signature::RsaPublicKeyComponents { n: &components.n[..], e: &components.e[..] }
        .to_parsed_public_key(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256)
        .expect("a valid key");

    let now = claims["iat"].as_i64().unwrap_or(0);
    let cold = verifier(false, None);
    let warm = verifier(true, None);
    let empty = verifier(true, Some(revocations(0, now)));
    let full = verifier(true, Some(revocations(10_000, now)));
    let raw = || {
        let result = components.verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            black_box(signing_input.as_bytes()),
            black_box(&signature),
        );
        assert!(result.is_ok());
    };
    let raw_aws_lc = || assert!(parsed.verify_sig(black_box(signing_input.as_bytes()), black_box(&signature)).is_ok());
    // Every measured call must succeed, or the numbers mean nothing.
    let call = |verifier: &Verifier| {
        let caller = verifier.verify(black_box(&token)).now_or_never().expect("static store never waits");
        assert!(caller.is_ok());
    };
    let cold_call = || call(&cold);
    let hit_call = || call(&warm);
    let empty_call = || call(&empty);
    let full_call = || call(&full);
    for f in [&cold_call as &dyn Fn(), &hit_call, &empty_call, &full_call] {
        f();
    }

    let mut criterion = Criterion::default()
        .sample_size(40)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    let list = full.revocations().expect("a verifier with a list").clone();
    let (sid, jti) = (claims["sid"].as_str().unwrap_or(""), claims["jti"].as_str().unwrap_or(""));
    let lookups = || assert!(list.check(Some(black_box(sid)), black_box(jti), now, now).is_ok());
    let cases: [(&'static str, &dyn Fn()); N] = [
        ("raw_ring_verify", &raw),
        ("raw_aws_lc_verify", &raw_aws_lc),
        ("cold_verify", &cold_call),
        ("token_cache_hit", &hit_call),
        ("token_cache_hit_revocations_empty", &empty_call),
        ("token_cache_hit_revocations_10k", &full_call),
        ("revocation_lookups_10k", &lookups),
    ];
    for (name, f) in cases {
        criterion.bench_function(name, |b| b.iter_custom(|iterations| timed(name, iterations, f)));
    }
    criterion.final_summary();
    for verifier in [&warm, &empty, &full] {
        assert!(verifier.stats().token_cache_hits > 0, "the cache-hit benchmarks must hit the cache");
    }
    let test_mode = std::env::args().any(|arg| arg == "--test" || arg == "--list");
    let paired = (!test_mode)
        .then(|| paired_means(&[&raw, &cold_call, &hit_call, &empty_call, &full_call, &lookups, &raw_aws_lc]));
    summary(paired);
}

/// The operations measured in alternating batches (a few seconds in all): raw ring, cold,
/// hit, hit with an empty revocation list, hit with 10 000 revocations, the lookups alone,
/// raw aws-lc.
struct Paired {
    /// Per round: the mean time of each operation in that round's batches.
    rounds: Vec<[Duration; N]>,
}

const N: usize = 7;

impl Paired {
    /// Overall means.
    fn means(&self) -> [Duration; N] {
        let n = u32::try_from(self.rounds.len()).unwrap_or(u32::MAX).max(1);
        let mut sum = [Duration::ZERO; N];
        for round in &self.rounds {
            for (total, value) in sum.iter_mut().zip(round) {
                *total += *value;
            }
        }
        sum.map(|total| total / n)
    }

    /// The median over rounds of `f(round)`: one noisy round (another process taking the
    /// core) cannot move it, unlike the mean.
    fn median(&self, f: impl Fn(&[Duration; N]) -> f64) -> f64 {
        let mut values: Vec<f64> = self.rounds.iter().map(f).collect();
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
    }
}

fn paired_means(operations: &[&dyn Fn(); N]) -> Paired {
    const ROUNDS: u32 = 800;
    // RSA operations are slow: fewer per batch than cache hits.
    const BATCHES: [u32; N] = [20, 20, 400, 400, 400, 4000, 20];
    let time = |f: &dyn Fn(), n: u32| {
        let started = Instant::now();
        for _ in 0..n {
            f();
        }
        started.elapsed() / n
    };
    let rounds = (0..ROUNDS).map(|_| std::array::from_fn(|i| time(operations[i], BATCHES[i]))).collect();
    Paired { rounds }
}

fn summary(paired: Option<Paired>) {
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let nanos = |d: Duration| d.as_secs_f64() * 1e9;
    println!();
    println!("verifier cost summary");
    if let (Some(raw), Some(cold), Some(hit)) = (mean("raw_ring_verify"), mean("cold_verify"), mean("token_cache_hit"))
    {
        println!(
            "  criterion means (sequential): raw {:.2} µs, cold {:.2} µs, hit {:.3} µs; cold/raw {:.3}, cold/hit {:.1}x",
            micros(raw),
            micros(cold),
            micros(hit),
            cold.as_secs_f64() / raw.as_secs_f64(),
            cold.as_secs_f64() / hit.as_secs_f64()
        );
        if let (Some(empty), Some(full)) =
            (mean("token_cache_hit_revocations_empty"), mean("token_cache_hit_revocations_10k"))
        {
            println!(
                "  criterion means (sequential): hit + revocation check {:.3} µs (empty), {:.3} µs (10 000 entries)",
                micros(empty),
                micros(full)
            );
        }
    }
    let Some(paired) = paired else {
        println!("  (test mode: nothing measured)");
        return;
    };
    let [raw, cold, hit, empty, full, lookups, raw_aws_lc] = paired.means();
    println!(
        "  interleaved means: raw ring {:.2} µs, raw aws-lc {:.2} µs, cold {:.2} µs, hit {:.3} µs (+ revocations: {:.3} µs empty, {:.3} µs 10k; lookups {:.1} ns); cold/raw {:.3}, cold/hit {:.1}x",
        micros(raw),
        micros(raw_aws_lc),
        micros(cold),
        micros(hit),
        micros(empty),
        micros(full),
        nanos(lookups),
        cold.as_secs_f64() / raw.as_secs_f64(),
        cold.as_secs_f64() / hit.as_secs_f64()
    );
    let cold_ratio = paired.median(|r| r[1].as_secs_f64() / r[0].as_secs_f64());
    let cold_over_floor = paired.median(|r| r[1].as_secs_f64() / r[6].as_secs_f64());
    let hit_micros = paired.median(|r| micros(r[2]));
    let speedup = paired.median(|r| r[1].as_secs_f64() / r[2].as_secs_f64());
    let empty_cost = paired.median(|r| nanos(r[3]) - nanos(r[2]));
    let full_cost = paired.median(|r| nanos(r[4]) - nanos(r[2]));
    let lookups_cost = paired.median(|r| nanos(r[5]));
    println!("  judged (median over {} interleaved rounds of the round means):", paired.rounds.len());
    println!("    raw ring RS256 verify       {:>10.2} µs", paired.median(|r| micros(r[0])));
    println!("    cold verify (cache off)     {:>10.2} µs", paired.median(|r| micros(r[1])));
    println!(
        "    raw aws-lc RS256 verify     {:>10.2} µs (parsed key: the verifier's own floor)",
        paired.median(|r| micros(r[6]))
    );
    println!("    cold / raw ring             {cold_ratio:>10.3}   (target <= 1.05: {})", verdict(cold_ratio <= 1.05));
    println!(
        "    cold / raw aws-lc           {cold_over_floor:>10.3}   (parsing and claim checks on top of the RSA check)"
    );
    println!(
        "    token-cache hit             {hit_micros:>10.3} µs (target <= 0.3 µs: {})",
        verdict(hit_micros <= 0.3)
    );
    println!("    cold / cache hit            {speedup:>10.1}x  (target >= 50x: {})", verdict(speedup >= 50.0));
    println!(
        "    revocation check, empty     {empty_cost:>10.1} ns (target <= 50 ns: {})",
        verdict(empty_cost <= 50.0)
    );
    println!("    revocation check, 10k       {full_cost:>10.1} ns (target <= 50 ns: {})", verdict(full_cost <= 50.0));
    println!("    revocation lookups, 10k     {lookups_cost:>10.1} ns (sid and jti, first hit after a change)");
}
