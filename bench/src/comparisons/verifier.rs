//! Verifier overhead and vs jwt-authorizer: one trivial handler served without
//! authentication, behind `jwt_verifier`'s extractor, and behind jwt-authorizer 0.15, with a
//! hot token (the same one every request: our token cache hits) and cold tokens (a different
//! token per request from a list far larger than the cache: full RSA verification every
//! time).
//!
//! Both servers trust the same JWKS, served by the runner's in-process test issuer, and get
//! byte-identical requests: wrk sends the same `Authorization` header to every route, and
//! the unauthenticated route ignores it.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, bail};
use jwt_verifier::{
    DpopKey, ProofAlgorithm, StaticKeyStore, Verifier, VerifierConfig,
    dpop::ProofRequest,
    extract::binding::check_proof,
    testkit::{TestIssuer, TestKey, key_set, test_key},
};
use serde::Serialize;
use serde_json::json;

use super::Comparison;
use crate::{
    child::ChildServer,
    lab::{self, Lab, Measured, Variant},
    stats::{Spread, paired_ratio},
    wrk::Run,
};

/// The audience of the synthetic tokens.
const AUDIENCE: &str = "bench-api";

/// What verifier overhead and vs jwt-authorizer measured.
#[derive(Debug, Clone, Serialize)]
pub struct VerifierResults {
    /// Every variant, in a fixed order: ours-plain, ours-hot, ours-cold, then the peer's.
    pub variants: Vec<Measured>,
    /// Ours, hot / ours, plain (target ≥ 0.9).
    pub hot_vs_plain: Spread,
    /// Ours, cold / ours, plain.
    pub cold_vs_plain: Spread,
    /// Ours, hot / peer, hot (target ≥ 1.5); `None` without vs jwt-authorizer.
    pub hot_vs_peer: Option<Spread>,
    /// Ours, cold / peer, cold (target ≥ 1.0).
    pub cold_vs_peer: Option<Spread>,
    /// Peer, plain / ours, plain: the two axum versions without authentication.
    pub peer_plain_vs_plain: Option<Spread>,
    /// Distinct cold tokens, and the size of one token.
    pub cold_tokens: usize,
    /// The verifier target's cache capacity.
    pub cache_capacity: usize,
    /// Length of the hot token in bytes.
    pub token_bytes: usize,
    /// The verifier called in-process, without HTTP: where the extractor's time goes.
    pub in_process: InProcess,
    /// The same ratios from server CPU per request (`plain CPU / hot CPU`…): what the
    /// throughput ratio becomes where the server, not the load generator, is the bottleneck.
    pub cpu_hot_vs_plain: Option<Spread>,
    /// Ours, cold, by CPU per request.
    pub cpu_cold_vs_plain: Option<Spread>,
    /// Ours vs the peer, hot, by CPU per request.
    pub cpu_hot_vs_peer: Option<Spread>,
    /// Ours vs the peer, cold, by CPU per request.
    pub cpu_cold_vs_peer: Option<Spread>,
}

impl VerifierResults {
    /// The variant with `key`.
    #[must_use]
    pub fn variant(&self, key: &str) -> Option<&Measured> {
        self.variants.iter().find(|v| v.key == key)
    }
}

/// `Verifier::verify` timed in the runner's process (no HTTP), CPU nanoseconds per call.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct InProcess {
    /// A hot token: cache hit.
    pub verify_hot_ns: f64,
    /// Distinct tokens: full verification.
    pub verify_cold_ns: f64,
    /// SHA-256 of the hot token alone (what the cache key cost before it was the signature's end).
    pub sha256_ns: f64,
    /// ring's RS256 check alone, over the cold tokens' signing inputs and decoded signatures:
    /// the floor of a verifier built on ring (jwt-authorizer's, through jsonwebtoken).
    pub ring_verify_ns: f64,
    /// The same check with aws-lc-rs and the key parsed once: what `jwt_verifier` verifies
    /// with, so the floor of its cold verification.
    pub aws_lc_verify_ns: f64,
    /// A DPoP-bound token (RFC 9449) that hits the cache, plus the check of a fresh proof
    /// (ES256 signature, `htm`/`htu`/`iat`/`ath`, the replay cache): a bound hot request.
    pub dpop_hot_ns: f64,
    /// Distinct DPoP-bound tokens, each fully verified, plus the proof check: a bound cold
    /// request (target ≤ 2× `verify_cold_ns`).
    pub dpop_cold_ns: f64,
    /// One raw aws-lc-rs ES256 verification (P-256, the point parsed per call as a proof's
    /// key is): the floor of what a proof can add.
    pub es256_verify_ns: f64,
}

/// CPU time of `work` on this thread, in nanoseconds per `count` (wall time when `/proc` is
/// not there).
fn cpu_ns_per(count: usize, work: impl FnOnce()) -> f64 {
    let ((), seconds) = lab::on_thread_cpu(work);
    seconds * 1e9 / count.max(1) as f64
}

/// Times the verifier directly, over the same tokens the HTTP runs use, in CPU time of one
/// thread (the key store never waits, so `block_on` runs each call to its end at once).
fn in_process(issuer: &str, key: &TestKey, hot: &str, cold: &[String], cache_capacity: usize) -> InProcess {
    let mut config = VerifierConfig::new(issuer, AUDIENCE);
    config.token_cache_capacity = cache_capacity;
    let verifier =
        Verifier::with_key_store(config, std::sync::Arc::new(StaticKeyStore::new(key_set(std::slice::from_ref(key)))));
    let block_on = futures::executor::block_on;
    let _ = block_on(verifier.verify(hot));
    let hot_rounds = 1_000_000;
    let verify_hot_ns = cpu_ns_per(hot_rounds, || {
        for _ in 0..hot_rounds {
            std::hint::black_box(block_on(verifier.verify(std::hint::black_box(hot))).is_ok());
        }
    });
    let verify_cold_ns = cpu_ns_per(cold.len(), || {
        for token in cold {
            std::hint::black_box(block_on(verifier.verify(token)).is_ok());
        }
    });
    let sha256_ns = cpu_ns_per(hot_rounds, || {
        for _ in 0..hot_rounds {
            std::hint::black_box(ring::digest::digest(&ring::digest::SHA256, std::hint::black_box(hot.as_bytes())));
        }
    });
    let verifying_key = key.verifying_key();
    let components = verifying_key.ring_components();
    let decoded: Vec<(&str, Vec<u8>)> = cold
        .iter()
        .filter_map(|token| token.rsplit_once('.'))
        .filter_map(|(input, signature)| Some((input, jwt_verifier::jose::decode_b64url(signature).ok()?)))
        .collect();
    let ring_verify_ns = cpu_ns_per(decoded.len(), || {
        for (input, signature) in &decoded {
            let checked = components.verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, input.as_bytes(), signature);
            std::hint::black_box(checked.is_ok());
        }
    });
    let parsed = aws_lc_rs::signature::RsaPublicKeyComponents { n: &components.n[..], e: &components.e[..] }
        .to_parsed_public_key(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256)
        .expect("the test key is a valid RSA key");
    let aws_lc_verify_ns = cpu_ns_per(decoded.len(), || {
        for (input, signature) in &decoded {
            std::hint::black_box(parsed.verify_sig(input.as_bytes(), signature).is_ok());
        }
    });
    let (dpop_hot_ns, dpop_cold_ns) = dpop_in_process(issuer, key, DPOP_TOKENS, cache_capacity);
    InProcess {
        verify_hot_ns,
        verify_cold_ns,
        sha256_ns,
        ring_verify_ns,
        aws_lc_verify_ns,
        dpop_hot_ns,
        dpop_cold_ns,
        es256_verify_ns: es256_verify_ns(DPOP_TOKENS),
    }
}

/// Raw ES256 verifications of `count` distinct messages, CPU ns each.
fn es256_verify_ns(count: usize) -> f64 {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let Ok(pair) = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING) else { return f64::NAN };
    let point = pair.public_key().as_ref().to_vec();
    let signed: Vec<(Vec<u8>, Vec<u8>)> = (0..count)
        .filter_map(|i| {
            let message = format!("proof-{i}").into_bytes();
            let signature = pair.sign(&rng, &message).ok()?.as_ref().to_vec();
            Some((message, signature))
        })
        .collect();
    cpu_ns_per(signed.len(), || {
        for (message, signature) in &signed {
            let key = aws_lc_rs::signature::UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point);
            std::hint::black_box(key.verify(message, signature).is_ok());
        }
    })
}

/// Bound tokens minted for the DPoP figures, in smoke runs too: thread CPU time is counted in
/// 10 ms ticks, and 2 000 bound requests are 0.2 s of them; minting them takes a second or two.
const DPOP_TOKENS: usize = 2_000;

/// What the extractor does for a DPoP-bound token: verify it, then check its proof
/// (`jwt_verifier::extract::binding`), over `count` pre-signed proofs each (signing is the
/// client's cost, outside the timing). Returns the hot and the cold figure, CPU ns per call.
fn dpop_in_process(issuer: &str, key: &TestKey, count: usize, cache_capacity: usize) -> (f64, f64) {
    let Ok(client) = DpopKey::generate(ProofAlgorithm::Es256) else { return (f64::NAN, f64::NAN) };
    let mut config = VerifierConfig::new(issuer, AUDIENCE);
    config.token_cache_capacity = cache_capacity;
    // Every proof below is fresh, so the replay cache must hold them all.
    config.dpop.replay_capacity = 4 * count;
    let verifier =
        Verifier::with_key_store(config, std::sync::Arc::new(StaticKeyStore::new(key_set(std::slice::from_ref(key)))));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let bound = |index: usize| {
        let mut claims = claims(issuer, index, now, 3600);
        claims["cnf"] = json!({"jkt": client.thumbprint()});
        key.mint(&claims)
    };
    let uri = "http://bench.test/auth";
    let hot = bound(0);
    let hot_proofs: Vec<String> = (0..count).map(|_| client.proof("GET", uri, Some(&hot), None, now)).collect();
    let cold: Vec<(String, String)> = (1..=count)
        .map(|index| {
            let token = bound(index);
            let proof = client.proof("GET", uri, Some(&token), None, now);
            (token, proof)
        })
        .collect();
    let bound_request = |token: &str, proof: &str| {
        let Ok(caller) = futures::executor::block_on(verifier.verify(token)) else { return false };
        let jkt = caller.dpop_jkt.as_deref();
        let request = ProofRequest { method: "GET", uri, access_token: Some(token), bound_to: jkt };
        jkt.is_some() && check_proof(verifier.proofs(), proof, &request, now).is_ok()
    };
    let _ = futures::executor::block_on(verifier.verify(&hot));
    let hot_ns = cpu_ns_per(hot_proofs.len(), || {
        for proof in &hot_proofs {
            std::hint::black_box(bound_request(&hot, proof));
        }
    });
    let cold_ns = cpu_ns_per(cold.len(), || {
        for (token, proof) in &cold {
            std::hint::black_box(bound_request(token, proof));
        }
    });
    (hot_ns, cold_ns)
}

fn claims(issuer: &str, index: usize, now: i64, lifetime: i64) -> serde_json::Value {
    json!({
        "iss": issuer,
        "sub": format!("user-{index}"),
        "aud": AUDIENCE,
        "client_id": "web",
        "scope": "orders:read orders:write",
        "role": "user",
        "sid": uuid::Uuid::new_v4().to_string(),
        "jti": uuid::Uuid::new_v4().to_string(),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
    })
}

/// Mints `count` tokens on every core.
fn mint_many(key: &TestKey, issuer: &str, count: usize, lifetime: i64) -> Vec<String> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let workers = std::thread::available_parallelism().map_or(1, usize::from).max(1);
    let chunk = count.div_ceil(workers);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let key = key.clone();
                scope.spawn(move || {
                    (w * chunk..((w + 1) * chunk).min(count))
                        .map(|i| key.mint(&claims(issuer, i, now, lifetime)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    })
}

async fn expect_status(client: &reqwest::Client, url: &str, token: &str, expected: u16) -> anyhow::Result<()> {
    let status = client.get(url).bearer_auth(token).send().await?.status();
    if status.as_u16() != expected {
        bail!("GET {url} answered {status}, expected {expected}");
    }
    Ok(())
}

/// What both targets are started with, and the tokens they are checked with before the runs.
struct Target<'a> {
    issuer: &'a TestIssuer,
    issuer_id: &'a str,
    hot: &'a str,
    cold: &'a str,
}

impl Target<'_> {
    /// Starts `program` as `name` (`before` and `after` around the shared arguments: where to
    /// listen, whose keys to trust, the `iss` and `aud` to expect), waits for `/plain`, and
    /// checks that `/auth` accepts the hot and a cold token and refuses garbage. Returns the
    /// server and its base URL; `who` names it in errors.
    async fn start(
        &self,
        lab: &Lab,
        name: &str,
        who: &str,
        program: &Path,
        before: &[&str],
        after: &[String],
    ) -> anyhow::Result<(ChildServer, String)> {
        let port = e2e::ports::free_port()?;
        let url = format!("http://127.0.0.1:{port}");
        let mut args: Vec<String> = before.iter().map(ToString::to_string).collect();
        args.extend(
            [
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--jwks-url",
                self.issuer.jwks_url().as_str(),
                "--issuer",
                self.issuer_id,
                "--audience",
                AUDIENCE,
            ]
            .map(str::to_owned),
        );
        args.extend_from_slice(after);
        let mut server = ChildServer::spawn(name, program, &args, &[("RUST_LOG", "warn".to_owned())], &lab.dir)?;
        server.wait_ready(&lab.client, &format!("{url}/plain"), Duration::from_secs(30)).await?;
        let auth = format!("{url}/auth");
        expect_status(&lab.client, &auth, self.hot, 200).await.with_context(|| format!("{who}, hot token"))?;
        expect_status(&lab.client, &auth, self.cold, 200).await.with_context(|| format!("{who}, cold token"))?;
        expect_status(&lab.client, &auth, "not-a-token", 401).await?;
        Ok((server, url))
    }
}

/// Runs verifier overhead, and vs jwt-authorizer when the peer's binary is given.
///
/// # Errors
/// A server does not start, refuses a valid token, or wrk fails.
pub async fn run(lab: &Lab, peer_binary: Option<PathBuf>) -> anyhow::Result<VerifierResults> {
    let plan = &lab.plan;
    let with_peer = peer_binary.is_some();
    let key = test_key(0);
    let issuer = TestIssuer::start(vec![key.clone()]).await;
    let issuer_id = issuer.issuer();
    // Long enough for the whole run, short of the verifier's 24 h lifetime limit.
    let lifetime = 4 * 3600;
    let hot = key.mint(&claims(&issuer_id, 0, time::OffsetDateTime::now_utc().unix_timestamp(), lifetime));
    let started = std::time::Instant::now();
    let cold = {
        let (key, issuer_id, count) = (key.clone(), issuer_id.clone(), plan.cold_tokens);
        tokio::task::spawn_blocking(move || mint_many(&key, &issuer_id, count, lifetime)).await?
    };
    eprintln!("bench: minted {} cold tokens in {:.1}s", cold.len(), started.elapsed().as_secs_f64());
    let in_process = {
        let (issuer_id, key, hot, cold, capacity) =
            (issuer_id.clone(), key.clone(), hot.clone(), cold.clone(), plan.cache_capacity);
        tokio::task::spawn_blocking(move || in_process(&issuer_id, &key, &hot, &cold, capacity)).await?
    };
    eprintln!(
        "bench: in-process Verifier::verify: hot {:.0} ns, cold {:.0} ns; SHA-256 of the token {:.0} ns; \
         DPoP-bound with its proof: hot {:.0} ns, cold {:.0} ns (raw ES256 verification {:.0} ns)",
        in_process.verify_hot_ns,
        in_process.verify_cold_ns,
        in_process.sha256_ns,
        in_process.dpop_hot_ns,
        in_process.dpop_cold_ns,
        in_process.es256_verify_ns
    );
    let hot_file = lab::write_tokens(&lab.dir, "hot.tokens", std::slice::from_ref(&hot))?;
    let cold_file = lab::write_tokens(&lab.dir, "cold.tokens", &cold)?;

    let target = Target { issuer: &issuer, issuer_id: &issuer_id, hot: &hot, cold: &cold[0] };
    let capacity = ["--cache-capacity".to_owned(), plan.cache_capacity.to_string()];
    let (ours, ours_url) =
        target.start(lab, "verifier-target", "our verifier", &lab.exe, &["serve", "verifier"], &capacity).await?;
    let mut peer = None;
    let mut peer_url = String::new();
    if let Some(binary) = &peer_binary {
        let (server, url) = target.start(lab, "peer-target", "peer", binary, &[], &[]).await?;
        peer = Some(server);
        peer_url = url;
    }

    let run = |url: &str, path: &str, file: &Path| Run::tokens("tokens.lua", url, path, file, plan.load.threads);
    let stats = Some(format!("{ours_url}/stats"));
    let ours_pid = ours.pid();
    let peer_pid = peer.as_ref().and_then(ChildServer::pid);
    let mut variants = vec![
        Variant {
            key: "ours-plain",
            label: "no authentication".into(),
            run: run(&ours_url, "/plain", &hot_file),
            stats_url: None,
            pid: ours_pid,
        },
        Variant {
            key: "ours-hot",
            label: "jwt-verifier, hot token".into(),
            run: run(&ours_url, "/auth", &hot_file),
            stats_url: stats.clone(),
            pid: ours_pid,
        },
        Variant {
            key: "ours-cold",
            label: "jwt-verifier, cold tokens".into(),
            run: run(&ours_url, "/auth", &cold_file),
            stats_url: stats,
            pid: ours_pid,
        },
    ];
    if peer.is_some() {
        variants.extend([
            Variant {
                key: "peer-plain",
                label: "axum 0.7, no authentication".into(),
                run: run(&peer_url, "/plain", &hot_file),
                stats_url: None,
                pid: peer_pid,
            },
            Variant {
                key: "peer-hot",
                label: "jwt-authorizer, hot token".into(),
                run: run(&peer_url, "/auth", &hot_file),
                stats_url: None,
                pid: peer_pid,
            },
            Variant {
                key: "peer-cold",
                label: "jwt-authorizer, cold tokens".into(),
                run: run(&peer_url, "/auth", &cold_file),
                stats_url: None,
                pid: peer_pid,
            },
        ]);
    }
    eprintln!(
        "bench: {}{}: {} variants x {} rounds",
        Comparison::VerifierOverhead.title(),
        if peer.is_some() { format!(" and {}", Comparison::JwtAuthorizer.title()) } else { String::new() },
        variants.len(),
        plan.rounds
    );
    let measured = lab::measure(lab, &variants).await?;
    ours.stop().await;
    if let Some(peer) = peer {
        peer.stop().await;
    }

    let rounds = |key: &str| measured.iter().find(|m| m.key == key).map(Measured::rps_by_round).unwrap_or_default();
    let with_peer = with_peer && measured.iter().any(|m| m.key == "peer-hot");
    let cpu = |key: &str| measured.iter().find(|m| m.key == key).map(|m| m.cpu_by_round().to_vec()).unwrap_or_default();
    // Less CPU per request is better: the ratio is inverted so that, like throughput, more
    // is better and 1.0 means equal.
    let cpu_ratio = |ours: &str, other: &str| {
        let (ours, other) = (cpu(ours), cpu(other));
        (!ours.is_empty() && ours.len() == other.len()).then(|| paired_ratio(&other, &ours))
    };
    Ok(VerifierResults {
        hot_vs_plain: paired_ratio(&rounds("ours-hot"), &rounds("ours-plain")),
        cold_vs_plain: paired_ratio(&rounds("ours-cold"), &rounds("ours-plain")),
        hot_vs_peer: with_peer.then(|| paired_ratio(&rounds("ours-hot"), &rounds("peer-hot"))),
        cold_vs_peer: with_peer.then(|| paired_ratio(&rounds("ours-cold"), &rounds("peer-cold"))),
        peer_plain_vs_plain: with_peer.then(|| paired_ratio(&rounds("peer-plain"), &rounds("ours-plain"))),
        cpu_hot_vs_plain: cpu_ratio("ours-hot", "ours-plain"),
        cpu_cold_vs_plain: cpu_ratio("ours-cold", "ours-plain"),
        cpu_hot_vs_peer: if with_peer { cpu_ratio("ours-hot", "peer-hot") } else { None },
        cpu_cold_vs_peer: if with_peer { cpu_ratio("ours-cold", "peer-cold") } else { None },
        in_process,
        cold_tokens: cold.len(),
        cache_capacity: plan.cache_capacity,
        token_bytes: hot.len(),
        variants: measured,
    })
}
