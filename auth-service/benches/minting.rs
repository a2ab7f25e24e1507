//! Minting, per grant, next to raw RS256 signing with the same key size, in the same run.
//!
//! `cargo bench -p auth-service` prints, measured in alternating batches on one thread:
//! - raw `ring` signing and raw `aws-lc-rs` signing of a real access token's signing input
//!   (RSA-2048): the floors. auth-service signs with aws-lc-rs;
//! - `mint_access_token`: claims built (with a fresh `jti`), serialised, encoded and signed;
//! - the `client_credentials` and `refresh_token` grants, each a real `POST /oauth/token` through
//!   auth-service's whole router (every layer: request id, tracing span, metrics, timeouts) on a
//!   real database (SQLite in a temporary directory, or `TEST_DATABASE_URL`), driven in-process
//!   with `oneshot`, so the figure is the service's own work without a socket. The refresh
//!   grant rotates its refresh token in the database on every call (reuse detection included),
//!   chaining each answer's token into the next request.
//!
//! Each rate is set against raw ring signing, the target being ≥ 0.9 (a token endpoint that
//! costs a signature and little else), and against raw aws-lc-rs signing. Batches alternate, so
//! a noisy neighbour slows all of them alike; the median batch of each is reported.
//! `BENCH_ROUNDS` (default 15) and `BENCH_BATCH` (default 100) tune the run; `cargo test
//! --benches` runs one tiny round as a smoke test.

use std::{
    hint::black_box,
    net::SocketAddr,
    time::{Duration, Instant},
};

use auth_service::{
    config::Settings,
    keys::signing::{SigningKey, generate_pkcs8},
    startup::Application,
    tokens::{AccessTokenSpec, mint_access_token, now_secs},
};
use axum::{Router, body::Body, extract::ConnectInfo};
use base64::{Engine, engine::general_purpose::STANDARD};
use http::{Request, StatusCode, header};
use service_kit::{config::Env, serve::Application as _, testing::TestDatabase};
use tower::ServiceExt;

const CLIENT: &str = "orders-service";
const CLIENT_SECRET: &str = "orders-bench-secret";

/// A measured operation: its name and one call.
type Operation<'a> = (&'static str, Box<dyn FnMut() + 'a>);

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(default)
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// auth-service on `db`, with argon2 lowered so the one login of the set-up is quick (no
/// password is hashed while measuring).
async fn application(db: &TestDatabase) -> Application {
    let vars = [
        ("LISTEN_ADDR", "127.0.0.1:0"),
        ("DATABASE_URL", db.url.as_str()),
        ("AUTH_ISSUER", "https://auth.bench"),
        ("AUTH_MASTER_KEY", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
        ("AUTH_ARGON2_MEMORY_KIB", "256"),
        ("AUTH_ARGON2_ITERATIONS", "1"),
        ("AUTH_CLIENTS", "orders-service|orders-bench-secret|notifications:write|notifications-service"),
        ("AUTH_REFRESH_REUSE_GRACE", "0s"),
        ("RUST_LOG", "warn"),
    ];
    let settings = Settings::from_env(Env::from_pairs(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))))
        .expect("bench settings are valid");
    Application::build(settings).await.expect("auth-service builds")
}

/// Sends one request through the router; the status and the JSON body.
async fn send(router: &Router, request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let mut request = request;
    request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
    let response = router.clone().oneshot(request).await.expect("the router is infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("a body");
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

fn json_post(path: &str, body: &serde_json::Value) -> Request<Body> {
    Request::post(path)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("a valid request")
}

fn token_request(form: String, basic: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/oauth/token").header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(credentials) = basic {
        request = request.header(header::AUTHORIZATION, format!("Basic {}", STANDARD.encode(credentials)));
    }
    request.body(Body::from(form)).expect("a valid request")
}

/// A logged-in user's refresh token.
async fn first_refresh_token(router: &Router) -> String {
    let user = serde_json::json!({"email": "bench@example.com", "password": "correct horse battery staple"});
    let (status, body) = send(router, json_post("/v1/users", &user)).await;
    assert_eq!(status, StatusCode::CREATED, "register: {body}");
    let (status, body) = send(router, json_post("/v1/login", &user)).await;
    assert_eq!(status, StatusCode::OK, "login: {body}");
    body["refresh_token"].as_str().expect("a refresh token").to_owned()
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not: run a smoke round then.
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    let (rounds, batch) =
        if benchmarking { (env_usize("BENCH_ROUNDS", 15), env_usize("BENCH_BATCH", 100)) } else { (1, 3) };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");

    let der = generate_pkcs8(2048).expect("generate an RSA-2048 key");
    let key = SigningKey::from_pkcs8(&der).expect("parse it for minting");
    let raw_ring = ring::signature::RsaKeyPair::from_pkcs8(&der).expect("parse it for ring");
    let raw_aws_lc = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&der).expect("parse it for aws-lc-rs");
    let (ring_rng, aws_lc_rng) = (ring::rand::SystemRandom::new(), aws_lc_rs::rand::SystemRandom::new());

    let audience = vec!["auth-service".to_owned(), "orders-service".to_owned(), "notifications-service".to_owned()];
    let spec = AccessTokenSpec {
        issuer: "https://auth.bench",
        subject: "3f1c2d4e-5b6a-4c7d-8e9f-0a1b2c3d4e5f",
        client_id: "web",
        audience: &audience,
        scope: "orders:read orders:write notifications:read",
        session_id: Some("9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"),
        role: Some("user"),
        ttl: Duration::from_secs(600),
        dpop_jkt: None,
    };
    let sample = mint_access_token(&key, &spec, now_secs()).expect("mint");
    let signing_input = sample.rsplit_once('.').expect("compact JWS").0.as_bytes().to_vec();
    let mut signature = vec![0u8; 256];

    let db = runtime.block_on(TestDatabase::create("minting-bench"));
    let app = runtime.block_on(application(&db));
    let router = app.router();
    let mut refresh_token = runtime.block_on(first_refresh_token(&router));
    let basic = format!("{CLIENT}:{CLIENT_SECRET}");
    let client_credentials_form =
        "grant_type=client_credentials&scope=notifications%3Awrite&audience=notifications-service";

    let mut ops: [Operation<'_>; 5] = [
        (
            "raw ring signing",
            Box::new(|| {
                raw_ring
                    .sign(&ring::signature::RSA_PKCS1_SHA256, &ring_rng, black_box(&signing_input), &mut signature)
                    .expect("sign");
                black_box(&signature);
            }),
        ),
        (
            "raw aws-lc-rs signing",
            Box::new({
                let (mut signature, signing_input) = (vec![0u8; 256], &signing_input);
                move || {
                    raw_aws_lc
                        .sign(
                            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                            &aws_lc_rng,
                            black_box(signing_input),
                            &mut signature,
                        )
                        .expect("sign");
                    black_box(&signature);
                }
            }),
        ),
        ("mint_access_token", Box::new(|| drop(black_box(mint_access_token(&key, &spec, now_secs()).expect("mint"))))),
        (
            "client_credentials grant",
            Box::new(|| {
                let request = token_request(client_credentials_form.to_owned(), Some(&basic));
                let (status, body) = runtime.block_on(send(&router, request));
                assert_eq!(status, StatusCode::OK, "client_credentials: {body}");
            }),
        ),
        (
            "refresh_token grant",
            Box::new(|| {
                let form = format!("grant_type=refresh_token&refresh_token={refresh_token}");
                let (status, body) = runtime.block_on(send(&router, token_request(form, None)));
                assert_eq!(status, StatusCode::OK, "refresh_token: {body}");
                body["refresh_token"].as_str().expect("a rotated refresh token").clone_into(&mut refresh_token);
            }),
        ),
    ];

    // Warm-up: caches, CPU frequency, lazy initialisation, the database's first pages.
    for (_, op) in &mut ops {
        for _ in 0..batch.min(10) {
            op();
        }
    }
    let mut batches: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); ops.len()];
    for _ in 0..rounds {
        for ((_, op), times) in ops.iter_mut().zip(&mut batches) {
            let started = Instant::now();
            for _ in 0..batch {
                op();
            }
            times.push(started.elapsed());
        }
    }
    let rates: Vec<f64> = batches.into_iter().map(|times| batch as f64 / median(times).as_secs_f64()).collect();
    let (ring_rate, aws_lc_rate) = (rates[0], rates[1]);
    println!("RS256, RSA-2048, token of {} bytes; {rounds} rounds of {batch}, median batch, one thread", sample.len());
    for ((name, _), rate) in ops.iter().zip(&rates) {
        println!("  {name:<26} {rate:>8.0}/s  {:>6.1} µs each", 1e6 / rate);
    }
    println!("  against raw signing (rate / raw rate):");
    for ((name, _), rate) in ops.iter().zip(&rates).skip(2) {
        let ratio = rate / ring_rate;
        let verdict = if !benchmarking {
            "smoke run: unoptimised and too short to judge"
        } else if ratio >= 0.9 {
            "target >= 0.90 of raw ring: met"
        } else {
            "target >= 0.90 of raw ring: NOT met"
        };
        println!("    {name:<24} {ratio:>6.3} of raw ring, {:>6.3} of raw aws-lc-rs  ({verdict})", rate / aws_lc_rate);
    }
    drop((app, db));
}
