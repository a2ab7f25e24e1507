//! Key rotation (scenario 5): a key rotation during steady load. No valid token is rejected at any point,
//! tokens signed by the new key verify everywhere, and tokens signed by the old key keep
//! verifying until they expire.
//!
//! The stack runs the key lifecycle in seconds instead of hours: the JWKS is served with
//! `max-age` ≤ 2 s, a new key is published 6 s before it signs, access tokens live 20 s, and
//! the verifiers honour key-set lifetimes down to 1 s. The rotation is started the way an
//! operator does it, with `auth-service rotate-keys` against the shared database.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use e2e::{
    api::{Api, Tokens},
    control::ControlError,
    service::Service,
    stack::StackOptions,
    tokens,
};
use http::StatusCode;
use tokio::sync::Mutex;

use crate::support::{self, kid_of, login, new_user, on_every_replica, poll, skipped, start_load};

const NAME: &str = "5-key-rotation";
/// Access-token lifetime in this stack.
const TOKEN_TTL_SECS: u64 = 20;
/// Clock leeway of the verifiers (and of the issuer's retirement hold) in this stack.
const LEEWAY_SECS: u64 = 2;
/// Load workers refresh their tokens this often, well inside the lifetime.
const REFRESH_EVERY: Duration = Duration::from_secs(6);

fn configure(options: StackOptions) -> StackOptions {
    let auth = Some(Service::Auth);
    let mut options = options
        .with_env(auth, "AUTH_JWKS_MAX_AGE", "2s")
        .with_env(auth, "AUTH_JWKS_MIN_MAX_AGE", "1s")
        .with_env(auth, "AUTH_KEY_PREPUBLISH", "6s")
        .with_env(auth, "AUTH_KEY_REFRESH_INTERVAL", "250ms")
        .with_env(auth, "AUTH_ACCESS_TOKEN_TTL", &format!("{TOKEN_TTL_SECS}s"))
        .with_env(auth, "AUTH_CLOCK_LEEWAY", &format!("{LEEWAY_SECS}s"));
    for verifier in Service::VERIFIERS {
        options = options
            .with_env(Some(verifier), "AUTH_JWKS_MIN_REFRESH", "1s")
            .with_env(Some(verifier), "AUTH_JWKS_MAX_REFRESH", "2s")
            .with_env(Some(verifier), "AUTH_LEEWAY", &format!("{LEEWAY_SECS}s"));
    }
    options
}

/// One load worker's session.
struct Session {
    tokens: Tokens,
    refreshed_at: tokio::time::Instant,
}

/// What one load request saw.
#[derive(Debug)]
enum Outcome {
    Verified { kid: String },
    Rejected(String),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotating_keys_under_load_rejects_no_valid_token() {
    support::scenario(NAME, configure, async |stack| {
        let api = Api::new(stack.gateway_url().clone());
        let mut users = Vec::new();
        for _ in 0..4 {
            users.push(new_user(&api).await?);
        }
        let old_kid = kid_of(users[0].token())?;
        let old_tokens: Vec<String> = users.iter().map(|u| u.token().to_owned()).collect();

        // Steady load: each worker keeps its session fresh and calls both verifying services.
        let sessions: Arc<Vec<Mutex<Session>>> = Arc::new(
            users
                .iter()
                .map(|u| Mutex::new(Session { tokens: u.tokens.clone(), refreshed_at: tokio::time::Instant::now() }))
                .collect(),
        );
        let load = start_load(sessions.len(), Duration::from_millis(20), {
            let api = api.clone();
            let sessions = Arc::clone(&sessions);
            move |worker, iteration| {
                let api = api.clone();
                let sessions = Arc::clone(&sessions);
                async move { load_step(&api, &sessions[worker], iteration).await }
            }
        });

        tokio::time::sleep(Duration::from_secs(2)).await;
        match stack.control().rotate_keys().await {
            Ok(()) => {}
            Err(ControlError::Unsupported(reason)) => {
                load.stop().await?;
                skipped(NAME, "the whole scenario", &reason);
                return Ok(());
            }
            Err(ControlError::Failed(error)) => return Err(error),
        }
        let rotated_at = tokio::time::Instant::now();
        eprintln!("e2e[{NAME}]: rotation started (old kid {old_kid})");

        // The next key is published first, then signs.
        poll("the next key in the JWKS", Duration::from_secs(10), Duration::from_millis(100), || async {
            let reply = api.jwks().await?;
            let kids = kids_of(&reply.body);
            Ok((kids.len() >= 2 && kids.contains(&old_kid)).then_some(()))
        })
        .await?;
        let probe = new_user(&api).await?;
        let new_token =
            poll("a token signed by the new key", Duration::from_secs(40), Duration::from_millis(250), || async {
                let tokens = login(&api, &probe.email).await?;
                Ok((kid_of(&tokens.access_token)? != old_kid).then_some(tokens.access_token))
            })
            .await?;
        let new_kid = kid_of(&new_token)?;
        eprintln!(
            "e2e[{NAME}]: new key {new_kid} signs {:.1}s after the rotation started",
            rotated_at.elapsed().as_secs_f64()
        );

        // New-key and old-key tokens verify on every replica of both services.
        for (label, token) in [("new-key", new_token.as_str()), ("old-key", old_tokens[0].as_str())] {
            for (service, path) in [(Service::Orders, "/v1/orders"), (Service::Notifications, "/v1/notifications")] {
                for (replica, reply) in on_every_replica(stack, service, |r| {
                    let token = token.to_owned();
                    async move { Ok(r.get(path, Some(&token)).await?) }
                })
                .await?
                {
                    anyhow::ensure!(
                        reply.status == StatusCode::OK,
                        "{label} token refused by {replica}: {} {}",
                        reply.status,
                        reply.text
                    );
                }
            }
        }

        // Keep the load going until every worker has been served with a new-key token.
        poll("every load worker using the new key", Duration::from_secs(30), Duration::from_millis(250), || async {
            for session in sessions.iter() {
                if kid_of(&session.lock().await.tokens.access_token)? == old_kid {
                    return Ok(None);
                }
            }
            Ok(Some(()))
        })
        .await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let outcomes = load.stop().await?;
        let mut verified: BTreeMap<String, usize> = BTreeMap::new();
        let mut rejected = Vec::new();
        for outcome in outcomes {
            match outcome {
                Outcome::Verified { kid } => *verified.entry(kid).or_default() += 1,
                Outcome::Rejected(why) => rejected.push(why),
            }
        }
        eprintln!("e2e[{NAME}]: load verified by kid: {verified:?}; rejected: {}", rejected.len());
        anyhow::ensure!(
            rejected.is_empty(),
            "{} valid requests failed during the rotation, first: {:?}",
            rejected.len(),
            &rejected[..rejected.len().min(5)]
        );
        anyhow::ensure!(
            verified.get(&old_kid).copied().unwrap_or(0) > 0 && verified.get(&new_kid).copied().unwrap_or(0) > 0,
            "the load did not cover both keys: {verified:?}"
        );

        // Old-key tokens verify until they expire, and not after.
        check_old_tokens_until_expiry(stack, &old_tokens).await?;
        Ok(())
    })
    .await;
}

async fn load_step(api: &Api, session: &Mutex<Session>, iteration: usize) -> Outcome {
    let mut session = session.lock().await;
    if session.refreshed_at.elapsed() >= REFRESH_EVERY {
        match api.refresh(&session.tokens.refresh_token).await {
            Ok(reply) if reply.status == StatusCode::OK => match Tokens::from_reply(&reply) {
                Ok(tokens) => {
                    session.tokens = tokens;
                    session.refreshed_at = tokio::time::Instant::now();
                }
                Err(error) => return Outcome::Rejected(format!("refresh answer: {error:#}")),
            },
            Ok(reply) => return Outcome::Rejected(format!("refresh: {} {}", reply.status, reply.text)),
            Err(error) => return Outcome::Rejected(format!("refresh: {error}")),
        }
    }
    let token = session.tokens.access_token.clone();
    drop(session);
    let path = if iteration.is_multiple_of(2) { "/v1/orders" } else { "/v1/notifications" };
    let kid = kid_of(&token).unwrap_or_default();
    match api.get(path, Some(&token)).await {
        Ok(reply) if reply.status == StatusCode::OK => Outcome::Verified { kid },
        Ok(reply) => Outcome::Rejected(format!(
            "{path} with kid {kid}: {} from {} {}",
            reply.status,
            support::served_by(&reply),
            reply.text
        )),
        Err(error) => Outcome::Rejected(format!("{path}: {error}")),
    }
}

/// Polls every verifying replica with the old-key tokens: accepted while they are valid, refused
/// as `invalid_token` once past `exp` plus the leeway.
async fn check_old_tokens_until_expiry(stack: &e2e::stack::Stack, old_tokens: &[String]) -> anyhow::Result<()> {
    let exp = old_tokens
        .iter()
        .filter_map(|t| tokens::decode(t).ok()?.claims.get("exp")?.as_u64())
        .max()
        .ok_or_else(|| anyhow::anyhow!("old tokens without exp"))?;
    let now = || SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let deadline = exp + LEEWAY_SECS + 2;
    let mut accepted_rounds = 0;
    loop {
        let round_start = now();
        let mut statuses = BTreeSet::new();
        for service in Service::VERIFIERS {
            let path = if service == Service::Orders { "/v1/orders" } else { "/v1/notifications" };
            for token in old_tokens {
                for (replica, reply) in on_every_replica(stack, service, |r| {
                    let token = token.clone();
                    async move { Ok(r.get(path, Some(&token)).await?) }
                })
                .await?
                {
                    let token_exp =
                        tokens::decode(token)?.claims.get("exp").and_then(serde_json::Value::as_u64).unwrap_or(0);
                    let checked_at = now();
                    if checked_at + 1 < token_exp && round_start + 1 < token_exp {
                        anyhow::ensure!(
                            reply.status == StatusCode::OK,
                            "old-key token refused by {replica} {}s before it expires: {} {}",
                            token_exp - checked_at,
                            reply.status,
                            reply.text
                        );
                    } else if round_start > token_exp + LEEWAY_SECS + 1 {
                        anyhow::ensure!(
                            reply.status == StatusCode::UNAUTHORIZED && reply.error_code() == Some("invalid_token"),
                            "expired old-key token at {replica}: {} {}",
                            reply.status,
                            reply.text
                        );
                    }
                    statuses.insert(reply.status.as_u16());
                }
            }
        }
        if statuses == BTreeSet::from([200]) {
            accepted_rounds += 1;
        }
        if round_start > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    anyhow::ensure!(accepted_rounds > 0, "no round saw the old-key tokens accepted");
    eprintln!(
        "e2e[{NAME}]: old-key tokens verified on every replica in {accepted_rounds} rounds until they expired, refused after"
    );
    Ok(())
}

fn kids_of(jwks: &serde_json::Value) -> BTreeSet<String> {
    jwks.get("keys")
        .and_then(serde_json::Value::as_array)
        .map(|keys| keys.iter().filter_map(|k| k.get("kid")?.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}
