//! Hostile tokens (scenario 8): hostile tokens at every verifying replica are refused with 401 `invalid_token`,
//! a flood of unknown `kid`s costs the issuer at most one key fetch per replica and cooldown,
//! and valid tokens keep working throughout.
//!
//! The hostile set covers what an attacker can make (a payload edited under a real signature,
//! `alg: none`, HS256 keyed with the issuer's public key, a real `kid` with a foreign
//! signature, a token carrying its own key or a key URL, unknown `kid`s) and what a broken
//! deployment produces, minted by real auth-service replicas on the real keys: tokens for
//! another audience, from a replica configured with another issuer name, and from replicas
//! whose clocks run behind (expired) or ahead (not yet valid).

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use e2e::{
    api::{Api, Reply},
    control::{ControlError, RogueIssuer},
    service::Service,
    stack::{Stack, StackOptions},
    tokens::{self, ForeignKey},
};
use http::StatusCode;
use serde_json::{Value, json};

use crate::{
    jwks_fetches::fetch_counts,
    support::{self, User, login, new_user, on_every_replica, skipped, start_load},
};

const NAME: &str = "8-hostile-tokens";
/// Probe clients registered for this scenario: each gets tokens for one audience only.
const PROBE_SECRET: &str = "e2e-probe-secret-not-for-production";
/// The verifiers' unknown-`kid` cooldown in this stack: short, so the flood spans several
/// windows and the bound is tested, not just met by a flood shorter than one window.
const COOLDOWN: Duration = Duration::from_secs(2);
/// How long the flood lasts.
const FLOOD_FOR: Duration = Duration::from_secs(6);

fn configure(mut options: StackOptions) -> StackOptions {
    for verifier in Service::VERIFIERS {
        options = options.with_env(Some(verifier), "AUTH_JWKS_COOLDOWN", &format!("{}s", COOLDOWN.as_secs()));
    }
    options.extra_auth_clients = vec![
        format!("e2e-probe-orders|{PROBE_SECRET}|orders:read|orders-service"),
        format!("e2e-probe-notifications|{PROBE_SECRET}|notifications:read|notifications-service"),
    ];
    options
}

/// A hostile token, and which service it targets (`None`: both).
struct Case {
    name: String,
    only: Option<Service>,
    token: String,
}

impl Case {
    fn both(name: impl Into<String>, token: String) -> Self {
        Self { name: name.into(), only: None, token }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_tokens_are_refused_everywhere_and_an_unknown_kid_flood_does_not_hammer_the_issuer() {
    support::scenario(NAME, configure, async |stack| {
        let api = Api::new(stack.gateway_url().clone());
        let user = new_user(&api).await?;
        let valid = user.token().to_owned();
        let parts = tokens::decode(&valid)?;
        let kid = parts.header.get("kid").and_then(Value::as_str).unwrap_or_default().to_owned();
        let jwks = api.jwks().await?.expect(StatusCode::OK, "GET /.well-known/jwks.json")?;
        let jwk = jwks
            .body
            .get("keys")
            .and_then(Value::as_array)
            .and_then(|keys| keys.iter().find(|k| k.get("kid").and_then(Value::as_str) == Some(kid.as_str())))
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("the signing key {kid} is not in the JWKS"))?;
        let foreign = ForeignKey::test_key("a")?;
        let header = |extra: Value| {
            let mut h = json!({"alg": "RS256", "typ": "at+jwt", "kid": kid});
            if let (Some(h), Some(extra)) = (h.as_object_mut(), extra.as_object()) {
                h.extend(extra.clone());
            }
            h
        };

        let mut cases = vec![
            Case::both("tampered sub", tokens::tamper_claims(&valid, |c| c["sub"] = json!("someone-else"))?),
            Case::both(
                "tampered scope",
                tokens::tamper_claims(&valid, |c| {
                    c["scope"] = json!("orders:read orders:write notifications:read notifications:write auth:admin")
                })?,
            ),
            Case::both("tampered role", tokens::tamper_claims(&valid, |c| c["role"] = json!("admin"))?),
            Case::both(
                "tampered exp",
                tokens::tamper_claims(&valid, |c| c["exp"] = json!(c["exp"].as_i64().unwrap_or(0) + 86_400))?,
            ),
            Case::both("alg none", tokens::alg_none(&valid)?),
            Case::both("alg None", {
                let mut p = tokens::decode(&valid)?;
                p.header["alg"] = json!("None");
                tokens::encode(&p.header, &p.claims, "")
            }),
            Case::both("real kid, foreign signature", foreign.sign(&header(json!({})), &parts.claims)?),
            Case::both(
                "embedded jwk header",
                foreign.sign(
                    &json!({"alg": "RS256", "typ": "at+jwt", "kid": kid, "jwk": foreign.public_jwk()}),
                    &parts.claims,
                )?,
            ),
            Case::both(
                "jku header",
                foreign.sign(&header(json!({"jku": "http://127.0.0.1:9/jwks.json"})), &parts.claims)?,
            ),
            Case::both("unknown kid", foreign.sign(&header(json!({"kid": tokens::random_kid()})), &parts.claims)?),
            Case::both("typ JWT", foreign.sign(&header(json!({"typ": "JWT"})), &parts.claims)?),
            Case::both("not a JWT", "not-a-jwt".to_owned()),
        ];
        for (index, forged) in tokens::hs256_with_public_key(&valid, &jwk)?.into_iter().enumerate() {
            cases.push(Case::both(format!("HS256 keyed with the public key (form {index})"), forged));
        }
        cases.extend(wrong_audience(&api).await?);
        cases.extend(rogue_cases(stack, &user).await?);

        // Every case at every replica of the services it targets.
        let mut checked = 0;
        for service in Service::VERIFIERS {
            let path = path_of(service);
            for case in cases.iter().filter(|c| c.only.is_none_or(|s| s == service)) {
                let replies = on_every_replica(stack, service, |r| {
                    let token = case.token.clone();
                    async move { Ok(r.get(path, Some(&token)).await?) }
                })
                .await?;
                for (replica, reply) in replies {
                    expect_invalid_token(&reply, &format!("{} at {replica}", case.name))?;
                    checked += 1;
                }
            }
            // ...and the valid token still works on each of them.
            for (replica, reply) in on_every_replica(stack, service, |r| {
                let token = valid.clone();
                async move { Ok(r.get(path, Some(&token)).await?) }
            })
            .await?
            {
                anyhow::ensure!(
                    reply.status == StatusCode::OK,
                    "valid token refused by {replica} after the hostile ones: {}",
                    reply.status
                );
            }
        }
        eprintln!("e2e[{NAME}]: {} hostile tokens, {checked} refusals checked, each 401 invalid_token", cases.len());

        unknown_kid_flood(stack, &api, Arc::new(foreign), &parts.claims, &valid).await
    })
    .await;
}

fn path_of(service: Service) -> &'static str {
    if service == Service::Orders { "/v1/orders" } else { "/v1/notifications" }
}

/// 401, the error envelope with `invalid_token`, and an RFC 6750 challenge saying so.
fn expect_invalid_token(reply: &Reply, what: &str) -> anyhow::Result<()> {
    let challenge = reply.header("www-authenticate").unwrap_or_default();
    anyhow::ensure!(
        reply.status == StatusCode::UNAUTHORIZED
            && reply.error_code() == Some("invalid_token")
            && reply.is_error_envelope()
            && challenge.starts_with("Bearer")
            && challenge.contains("invalid_token"),
        "{what}: expected 401 invalid_token with a Bearer challenge, got {} (WWW-Authenticate: {challenge:?}) {}",
        reply.status,
        reply.text
    );
    Ok(())
}

/// Real service tokens for the other service's audience.
async fn wrong_audience(api: &Api) -> anyhow::Result<Vec<Case>> {
    let mut cases = Vec::new();
    for (client, scope, target) in [
        ("e2e-probe-notifications", "notifications:read", Service::Orders),
        ("e2e-probe-orders", "orders:read", Service::Notifications),
    ] {
        let reply = api.client_credentials(client, PROBE_SECRET, scope, None).await?;
        if reply.status != StatusCode::OK {
            skipped(
                NAME,
                &format!("wrong-audience token for {target}"),
                &format!("client {client} is not registered here ({} {})", reply.status, reply.text),
            );
            continue;
        }
        let token = reply.str("access_token").unwrap_or_default().to_owned();
        cases.push(Case { name: format!("wrong audience ({client})"), only: Some(target), token });
    }
    Ok(cases)
}

/// Tokens from misconfigured auth-service replicas that sign with the real keys.
async fn rogue_cases(stack: &Stack, user: &User) -> anyhow::Result<Vec<Case>> {
    let rogues = [
        // Behind by more than a token's lifetime plus the verifiers' leeway: expired on arrival.
        ("expired (issuer clock 750 s behind)", RogueIssuer { clock_skew_secs: -750, issuer: None }),
        // Ahead by more than the leeway: issued in the future.
        ("not yet valid (issuer clock 300 s ahead)", RogueIssuer { clock_skew_secs: 300, issuer: None }),
        ("wrong issuer", RogueIssuer { clock_skew_secs: 0, issuer: Some("http://rogue-issuer.invalid".to_owned()) }),
    ];
    let mut cases = Vec::new();
    for (name, rogue) in rogues {
        match stack.control().start_rogue_issuer(rogue).await {
            Ok(url) => {
                let tokens = login(&Api::new(url), &user.email).await?;
                let claims = tokens::decode(&tokens.access_token)?.claims;
                eprintln!("e2e[{NAME}]: {name}: iss {} iat {} exp {}", claims["iss"], claims["iat"], claims["exp"]);
                cases.push(Case::both(name, tokens.access_token));
            }
            Err(ControlError::Unsupported(reason)) => skipped(NAME, name, &reason),
            Err(ControlError::Failed(error)) => return Err(error),
        }
    }
    Ok(cases)
}

/// Tokens with fresh random `kid`s for several cooldown windows, mixed with valid requests:
/// every hostile one is refused, every valid one served, and each verifying replica fetches the
/// JWKS at most once per cooldown.
async fn unknown_kid_flood(
    stack: &Stack,
    api: &Api,
    foreign: Arc<ForeignKey>,
    claims: &Value,
    valid: &str,
) -> anyhow::Result<()> {
    let counting = match stack.control().replica_urls(Service::Orders).await {
        Ok(_) => true,
        Err(ControlError::Unsupported(reason)) => {
            skipped(NAME, "counting JWKS fetches during the flood", &reason);
            false
        }
        Err(ControlError::Failed(error)) => return Err(error),
    };
    let before = if counting { Some(fetch_counts(stack).await?) } else { None };
    let started = std::time::Instant::now();
    let load = start_load(8, Duration::from_millis(5), {
        let api = api.clone();
        let foreign = Arc::clone(&foreign);
        let claims = claims.clone();
        let valid = valid.to_owned();
        move |worker, iteration| {
            let api = api.clone();
            let foreign = Arc::clone(&foreign);
            let claims = claims.clone();
            let valid = valid.clone();
            async move {
                let path = if (worker + iteration).is_multiple_of(2) { "/v1/orders" } else { "/v1/notifications" };
                if iteration % 5 == 4 {
                    let reply = api.get(path, Some(&valid)).await?;
                    anyhow::ensure!(
                        reply.status == StatusCode::OK,
                        "valid token during the flood: {} {}",
                        reply.status,
                        reply.text
                    );
                    Ok(false)
                } else {
                    let token = foreign
                        .sign(&json!({"alg": "RS256", "typ": "at+jwt", "kid": tokens::random_kid()}), &claims)?;
                    let reply = api.get(path, Some(&token)).await?;
                    expect_invalid_token(&reply, "unknown kid during the flood")?;
                    Ok(true)
                }
            }
        }
    });
    tokio::time::sleep(FLOOD_FOR).await;
    let results = load.stop().await?;
    let hostile = results.iter().filter(|r| matches!(r, Ok(true))).count();
    let failures: Vec<String> = results.into_iter().filter_map(Result::err).map(|e| format!("{e:#}")).collect();
    anyhow::ensure!(
        failures.is_empty(),
        "{} flood requests went wrong, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );

    if let Some(before) = before {
        let after = fetch_counts(stack).await?;
        let elapsed = started.elapsed();
        let windows = 1 + (elapsed.as_secs_f64() / COOLDOWN.as_secs_f64()).floor() as u64;
        let verifier_replicas = (stack.topology().orders + stack.topology().notifications) as u64;
        let mut verifier_fetches = BTreeMap::new();
        let mut issuer_fetches = 0;
        for (replica, count) in &after {
            let delta = count - before.get(replica).copied().unwrap_or(0);
            if stack
                .control()
                .replica_urls(Service::Auth)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .iter()
                .any(|u| u.as_str() == replica)
            {
                issuer_fetches += delta;
            } else {
                anyhow::ensure!(
                    delta <= windows,
                    "{replica} fetched the JWKS {delta} times during the flood (at most {windows} allowed)"
                );
                verifier_fetches.insert(replica.clone(), delta);
            }
        }
        anyhow::ensure!(
            verifier_fetches.values().sum::<u64>() > 0,
            "no verifier refetched the JWKS for any of {hostile} unknown kids over {elapsed:?}, so a newly published key \
             would never be picked up this way"
        );
        anyhow::ensure!(
            issuer_fetches <= verifier_replicas * windows,
            "the issuer served {issuer_fetches} JWKS requests during the flood; at most {} allowed",
            verifier_replicas * windows
        );
        eprintln!(
            "e2e[{NAME}]: {hostile} unknown-kid tokens over {:.1}s: JWKS fetches per verifier {verifier_fetches:?} (at most {windows} each), issuer served {issuer_fetches}",
            elapsed.as_secs_f64()
        );
    } else {
        eprintln!("e2e[{NAME}]: {hostile} unknown-kid tokens refused");
    }
    Ok(())
}
