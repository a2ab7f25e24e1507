//! `cargo bench -p shared`: what a verification costs.
//!
//! Three measurements of the same token and key:
//! - `raw_ring_verify`: ring's RSA-PKCS1-SHA256 check of the pre-decoded signature over the
//!   signing input: the floor no verifier can go under;
//! - `cold_verify`: `Verifier::verify` with the token cache off (all parsing and checks);
//! - `token_cache_hit`: `Verifier::verify` of a token already verified.
//!
//! Criterion prints its usual report for each. The summary at the end turns measured means
//! into the ratios the verifier is held to (cold ≤ 1.15 × raw, cache hit ≤ 2 µs and ≥ 10 ×
//! faster than cold). Criterion measures one benchmark after the other, so on a shared
//! machine a load change between two of them skews their ratio. The summary therefore also
//! measures the three interleaved, batch by batch, and judges the targets on the median over
//! rounds of each round's means (a round stolen by another process cannot move a median).

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
    StaticKeyStore, Verifier, VerifierConfig,
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

fn verifier(cache: bool) -> Verifier {
    let mut config = VerifierConfig::new(ISSUER, AUDIENCE);
    config.token_cache_capacity = if cache { 10_000 } else { 0 };
    Verifier::with_key_store(config, Arc::new(StaticKeyStore::new(key_set(&[test_key(0)]))))
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

    let cold = verifier(false);
    let warm = verifier(true);
    // Every measured call must succeed, or the numbers mean nothing.
    assert!(cold.verify(&token).now_or_never().expect("static store never waits").is_ok());
    assert!(warm.verify(&token).now_or_never().expect("static store never waits").is_ok());

    let mut criterion = Criterion::default()
        .sample_size(40)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();

    criterion.bench_function("raw_ring_verify", |b| {
        b.iter_custom(|iterations| {
            let started = Instant::now();
            for _ in 0..iterations {
                let result = components.verify(
                    &ring::signature::RSA_PKCS1_2048_8192_SHA256,
                    black_box(signing_input.as_bytes()),
                    black_box(&signature),
                );
                assert!(result.is_ok());
            }
            let elapsed = started.elapsed();
            record("raw_ring_verify", iterations, elapsed);
            elapsed
        });
    });
    criterion.bench_function("cold_verify", |b| {
        b.iter_custom(|iterations| {
            let started = Instant::now();
            for _ in 0..iterations {
                let caller = cold.verify(black_box(&token)).now_or_never();
                assert!(matches!(caller, Some(Ok(_))));
            }
            let elapsed = started.elapsed();
            record("cold_verify", iterations, elapsed);
            elapsed
        });
    });
    criterion.bench_function("token_cache_hit", |b| {
        b.iter_custom(|iterations| {
            let started = Instant::now();
            for _ in 0..iterations {
                let caller = warm.verify(black_box(&token)).now_or_never();
                assert!(matches!(caller, Some(Ok(_))));
            }
            let elapsed = started.elapsed();
            record("token_cache_hit", iterations, elapsed);
            elapsed
        });
    });
    criterion.final_summary();
    assert!(warm.stats().token_cache_hits > 0, "the cache-hit benchmark must hit the cache");

    let raw = || {
        let result = components.verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            black_box(signing_input.as_bytes()),
            black_box(&signature),
        );
        assert!(result.is_ok());
    };
    let cold_call = || assert!(matches!(cold.verify(black_box(&token)).now_or_never(), Some(Ok(_))));
    let hit_call = || assert!(matches!(warm.verify(black_box(&token)).now_or_never(), Some(Ok(_))));
    let test_mode = std::env::args().any(|arg| arg == "--test" || arg == "--list");
    let paired = (!test_mode).then(|| paired_means(&raw, &cold_call, &hit_call));
    summary(paired);
}

/// The three operations measured in alternating batches (about 3 s in all).
struct Paired {
    /// Per round: mean raw, cold and hit time of that round's batches.
    rounds: Vec<(Duration, Duration, Duration)>,
}

impl Paired {
    /// Overall means.
    fn means(&self) -> (Duration, Duration, Duration) {
        let n = u32::try_from(self.rounds.len()).unwrap_or(u32::MAX).max(1);
        let sum = self
            .rounds
            .iter()
            .fold((Duration::ZERO, Duration::ZERO, Duration::ZERO), |acc, r| (acc.0 + r.0, acc.1 + r.1, acc.2 + r.2));
        (sum.0 / n, sum.1 / n, sum.2 / n)
    }

    /// The median over rounds of `f(round)`: one noisy round (another process taking the
    /// core) cannot move it, unlike the mean.
    fn median(&self, f: impl Fn(&(Duration, Duration, Duration)) -> f64) -> f64 {
        let mut values: Vec<f64> = self.rounds.iter().map(f).collect();
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
    }
}

fn paired_means(raw: &dyn Fn(), cold: &dyn Fn(), hit: &dyn Fn()) -> Paired {
    const ROUNDS: u32 = 800;
    const BATCH: u32 = 20;
    const HIT_BATCH: u32 = 400;
    let time = |f: &dyn Fn(), n: u32| {
        let started = Instant::now();
        for _ in 0..n {
            f();
        }
        started.elapsed() / n
    };
    let rounds = (0..ROUNDS).map(|_| (time(raw, BATCH), time(cold, BATCH), time(hit, HIT_BATCH))).collect();
    Paired { rounds }
}

fn summary(paired: Option<Paired>) {
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
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
    }
    let Some(paired) = paired else {
        println!("  (test mode: nothing measured)");
        return;
    };
    let (raw, cold, hit) = paired.means();
    println!(
        "  interleaved means: raw {:.2} µs, cold {:.2} µs, hit {:.3} µs; cold/raw {:.3}, cold/hit {:.1}x",
        micros(raw),
        micros(cold),
        micros(hit),
        cold.as_secs_f64() / raw.as_secs_f64(),
        cold.as_secs_f64() / hit.as_secs_f64()
    );
    let cold_ratio = paired.median(|(raw, cold, _)| cold.as_secs_f64() / raw.as_secs_f64());
    let hit_micros = paired.median(|(_, _, hit)| micros(*hit));
    let speedup = paired.median(|(_, cold, hit)| cold.as_secs_f64() / hit.as_secs_f64());
    println!("  judged (median over {} interleaved rounds of the round means):", paired.rounds.len());
    println!("    raw ring RS256 verify       {:>10.2} µs", paired.median(|(raw, _, _)| micros(*raw)));
    println!("    cold verify (cache off)     {:>10.2} µs", paired.median(|(_, cold, _)| micros(*cold)));
    println!("    cold / raw ring             {cold_ratio:>10.3}   (target <= 1.15: {})", verdict(cold_ratio <= 1.15));
    println!("    token-cache hit             {hit_micros:>10.3} µs (target <= 2 µs: {})", verdict(hit_micros <= 2.0));
    println!("    cold / cache hit            {speedup:>10.1}x  (target >= 10x: {})", verdict(speedup >= 10.0));
}
