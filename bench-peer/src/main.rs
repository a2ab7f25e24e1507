//! `bench-peer`: the peer of the "vs jwt-authorizer" comparison in `bench/`.
//!
//! Serves `GET /plain` (no authentication) and `GET /auth` (the same handler behind
//! jwt-authorizer's layer, keys from the JWKS URL given on the command line) on loopback, and
//! prints `listening: <address>` on stdout once bound. The claims type mirrors every claim the
//! workspace's verifier reads, so both sides decode the same payload.
//!
//! ```text
//! bench-peer --jwks-url http://127.0.0.1:4000/.well-known/jwks.json \
//!            --issuer http://127.0.0.1:4000 --audience bench [--listen 127.0.0.1:0]
//! ```

use std::{io::Write, net::SocketAddr, process::ExitCode};

use axum::{routing::get, Router};
use jwt_authorizer::{layer::JwtSource, Authorizer, IntoLayer, JwtAuthorizer, JwtClaims, OneOrArray, Validation};
use serde::Deserialize;

/// What a token says, as the workspace's `Caller` reads it.
#[derive(Debug, Clone, Deserialize)]
#[allow(dead_code)] // decoded for parity with the workspace's verifier, not read
struct Claims {
    iss: String,
    sub: String,
    aud: OneOrArray<String>,
    exp: i64,
    iat: i64,
    nbf: Option<i64>,
    jti: String,
    client_id: String,
    scope: String,
    sid: Option<String>,
    role: Option<String>,
}

struct Args {
    listen: SocketAddr,
    jwks_url: String,
    issuer: String,
    audience: String,
}

const USAGE: &str = "usage: bench-peer --jwks-url URL --issuer ISS --audience AUD [--listen ADDR]";

fn parse_args() -> Result<Args, String> {
    let mut listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let (mut jwks_url, mut issuer, mut audience) = (None, None, None);
    let mut raw = std::env::args().skip(1);
    while let Some(flag) = raw.next() {
        let mut value = || raw.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => {
                let text = value()?;
                listen = text.parse().map_err(|_| format!("--listen: `{text}` is not host:port"))?;
            }
            "--jwks-url" => jwks_url = Some(value()?),
            "--issuer" => issuer = Some(value()?),
            "--audience" => audience = Some(value()?),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(Args {
        listen,
        jwks_url: jwks_url.ok_or("--jwks-url is required")?,
        issuer: issuer.ok_or("--issuer is required")?,
        audience: audience.ok_or("--audience is required")?,
    })
}

async fn plain() -> &'static str {
    "ok"
}

async fn authenticated(JwtClaims(_claims): JwtClaims<Claims>) -> &'static str {
    "ok"
}

async fn run(args: Args) -> Result<(), String> {
    // The same checks the workspace's verifier makes: pinned RS256, issuer, audience, exp and
    // nbf with 30 s leeway.
    let validation = Validation::new()
        .iss(&[args.issuer.as_str()])
        .aud(&[args.audience.as_str()])
        .exp(true)
        .nbf(true)
        .leeway(30)
        .algs(vec![jsonwebtoken::Algorithm::RS256]);
    let authorizer: Authorizer<Claims> = JwtAuthorizer::from_jwks_url(&args.jwks_url)
        .validation(validation)
        .jwt_source(JwtSource::AuthorizationHeader)
        .build()
        .await
        .map_err(|e| format!("cannot build the authorizer: {e}"))?;
    let app =
        Router::new().route("/auth", get(authenticated)).layer(authorizer.into_layer()).route("/plain", get(plain));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening: {address}").and_then(|()| stdout.flush()).map_err(|e| e.to_string())?;
    axum::serve(listener, app).await.map_err(|e| format!("server failed: {e}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("bench-peer: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench-peer: {message}");
            ExitCode::FAILURE
        }
    }
}
