//! orders-service settings, read once at start from environment variables.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `LISTEN_ADDR` | `127.0.0.1:8082` | address to bind (port 0 picks a free port) |
//! | `DATABASE_URL` | `sqlite://data/orders.db` | SQLite file or `postgres://…` |
//! | `DATABASE_MAX_CONNECTIONS` | `10` | pool size per replica |
//! | `LOG_FORMAT`, `RUST_LOG` | human, `info` | logging |
//! | `AUTH_ISSUER`, `AUTH_JWKS_URL`, `AUTH_ALLOW_INSECURE_HTTP`, … | see `jwt_verifier` | the trusted issuer |
//! | `AUTH_RESOURCE_URL` | issuer origin + `/v1/orders` | this resource's RFC 9728 identifier, published at `/.well-known/oauth-protected-resource` and named in challenges |
//! | `AUTH_TOKEN_URL` | issuer metadata's `token_endpoint`, else `<issuer>/oauth/token` | where service tokens come from |
//! | `ORDERS_CLIENT_ID` | `orders-service` | this service's OAuth client |
//! | `ORDERS_CLIENT_SECRET` | `orders-dev-secret` (dev default: needs `DEV_MODE=true`) | its secret |
//! | `NOTIFICATIONS_URL` | `http://127.0.0.1:8083` | notifications-service base URL |
//! | `NOTIFICATIONS_TIMEOUT` | `5s` | per delivery attempt |
//! | `OUTBOX_BATCH_SIZE` | `32` | records claimed per round |
//! | `OUTBOX_POLL_INTERVAL` | `1s` | idle wait between rounds (new orders wake the dispatcher at once) |
//! | `OUTBOX_INITIAL_BACKOFF` | `1s` | delay after the first failed attempt |
//! | `OUTBOX_MAX_BACKOFF` | `5m` | cap of the exponential backoff |
//! | `OUTBOX_CLAIM_LEASE` | `30s` | how long a claim lasts; must exceed a delivery's duration |
//! | `OUTBOX_RETENTION` | `7d` | delivered records are deleted after this |
//! | `IDEMPOTENCY_KEY_TTL` | `24h` | how long an `Idempotency-Key` is remembered |
//!
//! The audience this service accepts is fixed: `orders-service`. Development defaults (an
//! unset `AUTH_ISSUER` or `ORDERS_CLIENT_SECRET`, or the public development secret set
//! explicitly) are refused unless `DEV_MODE=true` (`service_kit::config::dev_mode`).
//!
//! This module reads and checks the variables and composes [`Settings`]; the parts are defined
//! by the modules that use them ([`ClientSettings`] by the token client, [`OutboxSettings`] by
//! the dispatcher).

use std::{net::SocketAddr, time::Duration};

use jwt_verifier::{VerifierConfig, config::check_fetch_url};
use secrecy::SecretString;
use service_kit::config::{CommonSettings, ConfigError, Env};
use url::Url;

use crate::{
    clients::token::ClientSettings,
    outbox::{CONCURRENCY, OutboxSettings},
};

/// Name used in `X-Served-By`, logs and metrics.
pub const SERVICE_NAME: &str = "orders-service";
/// The `aud` value tokens must carry to be accepted here.
pub const AUDIENCE: &str = "orders-service";

/// Where the API lives under the resource's origin: the default RFC 9728 resource identifier
/// is the issuer's origin plus this path (`AUTH_RESOURCE_URL` overrides it).
pub const RESOURCE_PATH: &str = "/v1/orders";
/// `LISTEN_ADDR` when unset.
pub const DEFAULT_LISTEN_ADDR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8082);
/// Development-only secret matching auth-service's development client. It is public, so it
/// needs `DEV_MODE=true`, whether it is the fallback or set explicitly.
const DEV_CLIENT_SECRET: &str = "orders-dev-secret";
/// The scope the dispatcher asks for.
pub const NOTIFICATIONS_SCOPE: &str = "notifications:write";
/// The audience of the dispatcher's token.
pub const NOTIFICATIONS_AUDIENCE: &str = "notifications-service";

/// Everything the service needs to start.
pub struct Settings {
    /// Listen address, database URL, log format.
    pub common: CommonSettings,
    /// `DATABASE_MAX_CONNECTIONS`: this replica's pool size. With PostgreSQL, replicas × this
    /// must stay under the server's `max_connections`.
    pub database_max_connections: u32,
    /// The issuer this service trusts and how its keys are fetched and cached.
    pub verifier: VerifierConfig,
    /// How the dispatcher gets its own access token.
    pub client: ClientSettings,
    /// Where and how notifications are delivered.
    pub outbox: OutboxSettings,
    /// `IDEMPOTENCY_KEY_TTL`.
    pub idempotency_ttl: Duration,
}

impl Settings {
    /// Reads every variable, recording each bad value in `env`.
    pub fn from_env(env: &mut Env) -> Self {
        let common = CommonSettings::read(env, DEFAULT_LISTEN_ADDR, "orders.db");
        let database_max_connections =
            env.parse_with("DATABASE_MAX_CONNECTIONS", 10, service_kit::config::parse_pool_size);
        let mut verifier = service_kit::config::verifier_config(env, AUDIENCE);
        verifier.resource = service_kit::config::resource_url(env, &verifier, RESOURCE_PATH);
        let client = read_client(env, &verifier);
        let outbox = read_outbox(env);
        let idempotency_ttl = env.duration("IDEMPOTENCY_KEY_TTL", Duration::from_secs(86_400));
        check_outbox(env, &outbox);
        if idempotency_ttl.is_zero() {
            env.problem("IDEMPOTENCY_KEY_TTL", "must be longer than zero");
        }
        // Client secrets and bearer tokens travel on these connections: the verifier's rule
        // for key fetches (https, or http to loopback, unless explicitly allowed) applies.
        let outgoing =
            [("AUTH_TOKEN_URL", client.token_url.as_ref()), ("NOTIFICATIONS_URL", Some(&outbox.notifications_url))];
        for (name, url) in outgoing {
            if let Some(Err(message)) = url.map(|url| check_fetch_url(url, client.allow_insecure_http)) {
                env.problem(name, message);
            }
        }
        Self { common, database_max_connections, verifier, client, outbox, idempotency_ttl }
    }

    /// Reads the process environment.
    ///
    /// # Errors
    /// Every bad value at once. On success, also the variables that fell back to
    /// development-only defaults, for `main` to log.
    pub fn from_process() -> Result<(Self, Vec<String>), ConfigError> {
        let mut env = Env::from_process();
        let settings = Self::from_env(&mut env);
        let dev_defaults = env.finish()?;
        Ok((settings, dev_defaults))
    }
}

/// `AUTH_TOKEN_URL`, `ORDERS_CLIENT_ID`, `ORDERS_CLIENT_SECRET` and
/// `ORDERS_SERVICE_TOKEN_DPOP`, with the issuer and the
/// plain-http opt-in the verifier's configuration has already read (and checked).
fn read_client(env: &mut Env, verifier: &VerifierConfig) -> ClientSettings {
    let issuer = parse_http_url(&verifier.issuer)
        .unwrap_or_else(|_| Url::parse(service_kit::config::DEV_ISSUER).expect("the default issuer is a valid URL"));
    let token_url = env.raw("AUTH_TOKEN_URL").map(str::to_owned).and_then(|raw| match parse_http_url(&raw) {
        Ok(url) => Some(url),
        Err(message) => {
            env.problem("AUTH_TOKEN_URL", format!("{message} (got `{raw}`)"));
            None
        }
    });
    let client_id = env.string("ORDERS_CLIENT_ID", "orders-service");
    let instead = "set ORDERS_CLIENT_SECRET to a private secret (`openssl rand -hex 32`), the one auth-service's \
                   AUTH_CLIENTS registers for this client";
    let client_secret = match env.optional("ORDERS_CLIENT_SECRET") {
        Some(secret) => {
            if secret == DEV_CLIENT_SECRET {
                env.note_dev_value("ORDERS_CLIENT_SECRET", format!("is the public development secret; {instead}"));
            }
            SecretString::from(secret)
        }
        None => {
            env.note_dev_value(
                "ORDERS_CLIENT_SECRET",
                format!("unset, which falls back to a public secret; {instead}"),
            );
            SecretString::from(DEV_CLIENT_SECRET)
        }
    };
    let dpop = env.bool("ORDERS_SERVICE_TOKEN_DPOP", true);
    ClientSettings {
        issuer,
        token_url,
        client_id,
        client_secret,
        allow_insecure_http: verifier.allow_insecure_http,
        dpop,
    }
}

/// `NOTIFICATIONS_URL`, `NOTIFICATIONS_TIMEOUT` and the `OUTBOX_*` variables.
fn read_outbox(env: &mut Env) -> OutboxSettings {
    let default_notifications = Url::parse("http://127.0.0.1:8083").expect("the default URL is valid");
    OutboxSettings {
        notifications_url: env.parse_with("NOTIFICATIONS_URL", default_notifications, parse_http_url),
        request_timeout: env.duration("NOTIFICATIONS_TIMEOUT", Duration::from_secs(5)),
        batch_size: env.parse_with("OUTBOX_BATCH_SIZE", 32, |raw| match raw.parse::<u32>() {
            Ok(size) if (1..=1000).contains(&size) => Ok(size),
            _ => Err("expected a batch size between 1 and 1000".to_owned()),
        }),
        poll_interval: env.duration("OUTBOX_POLL_INTERVAL", Duration::from_secs(1)),
        initial_backoff: env.duration("OUTBOX_INITIAL_BACKOFF", Duration::from_secs(1)),
        max_backoff: env.duration("OUTBOX_MAX_BACKOFF", Duration::from_secs(300)),
        claim_lease: env.duration("OUTBOX_CLAIM_LEASE", Duration::from_secs(30)),
        retention: env.duration("OUTBOX_RETENTION", Duration::from_secs(7 * 86_400)),
    }
}

fn check_outbox(env: &mut Env, outbox: &OutboxSettings) {
    for (name, value) in [
        ("NOTIFICATIONS_TIMEOUT", outbox.request_timeout),
        ("OUTBOX_POLL_INTERVAL", outbox.poll_interval),
        ("OUTBOX_INITIAL_BACKOFF", outbox.initial_backoff),
        ("OUTBOX_CLAIM_LEASE", outbox.claim_lease),
    ] {
        if value.is_zero() {
            env.problem(name, "must be longer than zero");
        }
    }
    if outbox.max_backoff < outbox.initial_backoff {
        env.problem("OUTBOX_MAX_BACKOFF", "must not be shorter than OUTBOX_INITIAL_BACKOFF");
    }
    // A round takes up to one token request plus one request per wave of concurrent
    // deliveries; a lease shorter than that would let another replica claim records that are
    // still being delivered.
    let waves = outbox.batch_size.div_ceil(CONCURRENCY) + 1;
    if outbox.claim_lease <= outbox.request_timeout * waves {
        env.problem(
            "OUTBOX_CLAIM_LEASE",
            format!(
                "must be longer than NOTIFICATIONS_TIMEOUT × {waves} (one token request plus one request per {} deliveries of a batch)",
                CONCURRENCY
            ),
        );
    }
}

/// An absolute `http` or `https` URL.
fn parse_http_url(raw: &str) -> Result<Url, String> {
    match Url::parse(raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(url),
        _ => Err("expected an absolute http(s) URL".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `pairs` on a development machine (`DEV_MODE=true` unless `pairs` says otherwise).
    fn read(pairs: &[(&str, &str)]) -> (Settings, Result<Vec<String>, ConfigError>) {
        let mut env = Env::from_pairs([("DEV_MODE", "true")].iter().chain(pairs).copied());
        let settings = Settings::from_env(&mut env);
        (settings, env.finish())
    }

    #[test]
    fn the_development_secret_is_refused_without_dev_mode() {
        let (_, result) = read(&[("DEV_MODE", "false"), ("AUTH_ISSUER", "http://127.0.0.1:9")]);
        let problems = result.unwrap_err().0;
        assert!(problems[0].starts_with("ORDERS_CLIENT_SECRET: unset"), "{problems:?}");
        let (_, result) = read(&[
            ("DEV_MODE", "false"),
            ("AUTH_ISSUER", "http://127.0.0.1:9"),
            ("ORDERS_CLIENT_SECRET", DEV_CLIENT_SECRET),
        ]);
        let problems = result.unwrap_err().0;
        assert!(problems[0].starts_with("ORDERS_CLIENT_SECRET: is the public development secret"), "{problems:?}");
        assert!(!problems[0].contains(DEV_CLIENT_SECRET), "the secret is not echoed: {problems:?}");
    }

    #[test]
    fn defaults_need_no_configuration_and_the_dev_secret_is_reported() {
        let (settings, result) = read(&[]);
        assert_eq!(settings.common.listen_addr, DEFAULT_LISTEN_ADDR);
        assert_eq!(settings.common.database_url, "sqlite://data/orders.db");
        assert_eq!(settings.outbox.notifications_url.as_str(), "http://127.0.0.1:8083/");
        assert_eq!(settings.client.client_id, "orders-service");
        assert_eq!(settings.client.issuer.as_str(), "http://127.0.0.1:8081/");
        assert!(settings.client.token_url.is_none());
        let dev_defaults = result.unwrap();
        assert!(dev_defaults.contains(&"ORDERS_CLIENT_SECRET".to_owned()), "{dev_defaults:?}");
    }

    #[test]
    fn a_configured_secret_is_not_a_dev_default() {
        let (_, result) =
            read(&[("DEV_MODE", "false"), ("ORDERS_CLIENT_SECRET", "s3cret"), ("AUTH_ISSUER", "http://127.0.0.1:9")]);
        assert!(result.unwrap().is_empty());
    }

    #[test]
    fn bad_values_are_all_reported() {
        let (_, result) = read(&[
            ("NOTIFICATIONS_URL", "ftp://x"),
            ("AUTH_TOKEN_URL", "not a url"),
            ("OUTBOX_BATCH_SIZE", "0"),
            ("OUTBOX_MAX_BACKOFF", "1ms"),
            ("OUTBOX_CLAIM_LEASE", "5s"),
        ]);
        let problems = result.unwrap_err().0;
        for name in
            ["NOTIFICATIONS_URL", "AUTH_TOKEN_URL", "OUTBOX_BATCH_SIZE", "OUTBOX_MAX_BACKOFF", "OUTBOX_CLAIM_LEASE"]
        {
            assert!(problems.iter().any(|p| p.starts_with(name)), "{name} missing from {problems:?}");
        }
    }

    #[test]
    fn plain_http_to_remote_hosts_needs_the_opt_in() {
        let (_, result) = read(&[("NOTIFICATIONS_URL", "http://notifications:8080")]);
        assert!(result.unwrap_err().0[0].starts_with("NOTIFICATIONS_URL"));
        let (_, result) =
            read(&[("NOTIFICATIONS_URL", "http://notifications:8080"), ("AUTH_ALLOW_INSECURE_HTTP", "true")]);
        assert!(result.is_ok());
    }
}
