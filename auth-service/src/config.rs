//! Settings, read once at start from environment variables.
//!
//! Every variable has a default fit for local development, and every bad value is reported at
//! once (see [`service_kit::config::Env`]). The defaults that are public or tied to one disk
//! (`AUTH_ISSUER`, `AUTH_MASTER_KEY`, `AUTH_CLIENTS`, and configured values equal to the public
//! ones) are refused unless `DEV_MODE=true` ([`service_kit::config::dev_mode`]). Durations take
//! `ms`, `s`, `m`, `h` or `d` suffixes, so the test suite can run the key lifecycle in seconds
//! with the same code as production.
//!
//! The full table of variables lives in this crate's `README.md`; each field below names its
//! variable. Each settings type lives with the module that uses it ([`TokenSettings`] in
//! [`crate::tokens`], [`KeySettings`] in [`crate::keys`], [`LoginSettings`] in
//! [`crate::passwords`], [`EventSettings`] in [`crate::events`]); the client registry
//! (`AUTH_CLIENTS`) is [`crate::clients`].

use std::{collections::BTreeSet, net::SocketAddr, time::Duration};

use secrecy::SecretBox;
use service_kit::config::{CommonSettings, ConfigError, Env};

use crate::clients::{ClientRegistry, DpopPolicy};
use crate::{
    domain::is_scope_token, events::EventSettings, keys::KeySettings, passwords::LoginSettings, tokens::TokenSettings,
};

/// Name of this service: its `aud` value and the label on its metrics and logs.
pub const SERVICE_NAME: &str = "auth-service";
/// `LISTEN_ADDR` when unset.
pub const DEFAULT_LISTEN_ADDR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8081);

/// Everything the service is configured with.
#[derive(Debug)]
pub struct Settings {
    /// `LISTEN_ADDR`, `DATABASE_URL`, `LOG_FORMAT`.
    pub common: CommonSettings,
    /// `AUTH_DB_MAX_CONNECTIONS` (default 10): pool size per replica.
    pub db_max_connections: u32,
    /// `AUTH_ISSUER` (default `http://127.0.0.1:8081`): the exact `iss` of every token and the
    /// base of every URL in the discovery documents.
    pub issuer: String,
    /// `AUTH_AUDIENCE` (default `auth-service`): the audience this service accepts on its own
    /// bearer-protected endpoints (sessions, logout, admin).
    pub audience: String,
    /// `AUTH_MASTER_KEY` or the file named by `AUTH_MASTER_KEY_FILE`: 32 bytes, base64 or hex,
    /// that encrypt the signing keys at rest. `None` means "use or create the key file beside
    /// the `SQLite` database" (refused with `PostgreSQL`).
    pub master_key: Option<SecretBox<[u8; 32]>>,
    /// Token lifetimes and what user tokens contain.
    pub tokens: TokenSettings,
    /// Registered confidential clients (`AUTH_CLIENTS`).
    pub clients: ClientRegistry,
    /// Key generation and the rotation schedule.
    pub keys: KeySettings,
    /// Password hashing and login throttling.
    pub login: LoginSettings,
    /// The security event feed.
    pub events: EventSettings,
    /// How DPoP proofs are checked at the token endpoints and by this service's own
    /// verifier (`AUTH_DPOP_TRUST_FORWARDED`, `AUTH_DPOP_NONCE_SECRET`).
    pub dpop: service_kit::config::verifier::DpopSettings,
    /// Variables on development-only defaults: empty unless `DEV_MODE=true` allowed them
    /// (then logged at start).
    pub dev_defaults: Vec<String>,
}

impl Settings {
    /// Reads the process environment.
    ///
    /// # Errors
    /// Every bad value, one message each.
    pub fn load() -> Result<Self, ConfigError> {
        Self::from_env(Env::from_process())
    }

    /// Reads settings from `env` (tests build one from pairs).
    ///
    /// # Errors
    /// Every bad value, one message each.
    pub fn from_env(mut env: Env) -> Result<Self, ConfigError> {
        let common = CommonSettings::read(&mut env, DEFAULT_LISTEN_ADDR, "auth.db");
        let db_max_connections = env.parse_with("AUTH_DB_MAX_CONNECTIONS", 10u32, service_kit::config::parse_pool_size);
        if env.raw("AUTH_ISSUER").is_none() {
            env.note_dev_value(
                "AUTH_ISSUER",
                "unset, which issues tokens as a development issuer on 127.0.0.1; set AUTH_ISSUER to the URL \
                 clients reach this service at",
            );
        }
        let issuer = env.parse_with("AUTH_ISSUER", service_kit::config::DEV_ISSUER.to_owned(), parse_issuer);
        let audience = env.parse_with("AUTH_AUDIENCE", SERVICE_NAME.to_owned(), |raw| {
            service_kit::config::parse_name(raw).map(str::to_owned)
        });
        let master_key = read_master_key(&mut env);
        let tokens = read_tokens(&mut env);
        let clients = ClientRegistry::read(&mut env, &tokens.user_client_id);
        refuse_public_client_secrets(&mut env, &clients);
        let keys = read_keys(&mut env);
        let login = read_login(&mut env);
        let events = read_events(&mut env);
        let dpop = service_kit::config::verifier::dpop_settings(&mut env);

        if !tokens.user_audiences.contains(&audience) {
            env.problem(
                "AUTH_USER_AUDIENCES",
                format!("must include this service's own audience `{audience}`, or the sessions endpoints refuse user tokens"),
            );
        }
        let dev_defaults = env.finish()?;
        Ok(Self {
            common,
            db_max_connections,
            issuer,
            audience,
            master_key,
            tokens,
            clients,
            keys,
            login,
            events,
            dpop,
            dev_defaults,
        })
    }

    /// How long a retired key stays published (see [`KeySettings::retire_hold`]).
    #[must_use]
    pub fn retire_hold(&self) -> Duration {
        self.keys.retire_hold(self.tokens.access_token_ttl)
    }

    /// Every scope this issuer can put in a token (for the discovery documents).
    #[must_use]
    pub fn scopes_supported(&self) -> Vec<String> {
        let mut scopes: BTreeSet<String> = self.tokens.user_scopes.iter().cloned().collect();
        scopes.extend(self.tokens.admin_scopes.iter().cloned());
        for client in &self.clients {
            scopes.extend(client.scopes.iter().cloned());
        }
        scopes.into_iter().collect()
    }
}

fn parse_issuer(raw: &str) -> Result<String, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err("expected an http(s) URL with a host".to_owned());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("an issuer has no query or fragment (RFC 8414 §2)".to_owned());
    }
    // The issuer is compared byte for byte by verifiers, and URLs are built by appending
    // paths to it, so a trailing slash would produce `//.well-known/...`.
    Ok(raw.trim_end_matches('/').to_owned())
}

/// Flags a configured client whose secret is one of [`crate::clients::DEV_CLIENTS`]'.
///
/// Those secrets are in this repository, so anyone could mint that client's tokens with them;
/// an unset `AUTH_CLIENTS` is flagged where it is read.
fn refuse_public_client_secrets(env: &mut Env, clients: &ClientRegistry) {
    let mut public_secrets = crate::clients::DEV_CLIENTS.split([';', '\n']).filter_map(|entry| entry.split('|').nth(1));
    if public_secrets.any(|secret| clients.iter().any(|client| client.secret_matches(secret.trim()))) {
        env.note_dev_value(
            "AUTH_CLIENTS",
            "registers a client with the public development secret; give each client a secret of its own \
             (`openssl rand -hex 32`) and set the same one in that client (ORDERS_CLIENT_SECRET for orders-service)",
        );
    }
}

/// The master key, if configured.
///
/// An unset one (a key file generated beside the `SQLite` database, see [`crate::keys::master`])
/// and the public development key are development defaults.
fn read_master_key(env: &mut Env) -> Option<SecretBox<[u8; 32]>> {
    let unset = env.raw("AUTH_MASTER_KEY").is_none() && env.raw("AUTH_MASTER_KEY_FILE").is_none();
    let key = read_configured_master_key(env);
    let instead = "set AUTH_MASTER_KEY or AUTH_MASTER_KEY_FILE to 32 random bytes (`openssl rand -base64 32`)";
    if unset {
        let why = "unset, so the signing keys are sealed with a key generated into a file beside the SQLite database \
                   (refused with PostgreSQL)";
        env.note_dev_value("AUTH_MASTER_KEY", format!("{why}; {instead}"));
    } else if key.as_ref().is_some_and(crate::keys::master::is_public_development_key) {
        env.note_dev_value("AUTH_MASTER_KEY", format!("is the public development key of this repository; {instead}"));
    }
    key
}

fn read_configured_master_key(env: &mut Env) -> Option<SecretBox<[u8; 32]>> {
    let inline = env.raw("AUTH_MASTER_KEY").map(str::to_owned);
    let file = env.optional("AUTH_MASTER_KEY_FILE");
    match (inline, file) {
        (Some(_), Some(_)) => {
            env.problem("AUTH_MASTER_KEY", "set either AUTH_MASTER_KEY or AUTH_MASTER_KEY_FILE, not both");
            None
        }
        (Some(raw), None) => match crate::keys::master::parse_master_key(&raw) {
            Ok(key) => Some(key),
            Err(message) => {
                // The value is a secret: never echo it back.
                env.problem("AUTH_MASTER_KEY", message);
                None
            }
        },
        (None, Some(path)) => match std::fs::read_to_string(&path) {
            Ok(contents) => match crate::keys::master::parse_master_key(contents.trim()) {
                Ok(key) => Some(key),
                Err(message) => {
                    env.problem("AUTH_MASTER_KEY_FILE", format!("{path}: {message}"));
                    None
                }
            },
            Err(error) => {
                env.problem("AUTH_MASTER_KEY_FILE", format!("cannot read {path}: {error}"));
                None
            }
        },
        (None, None) => None,
    }
}

fn read_tokens(env: &mut Env) -> TokenSettings {
    let access_token_ttl = env.duration("AUTH_ACCESS_TOKEN_TTL", Duration::from_secs(600));
    let refresh_token_ttl = env.duration("AUTH_REFRESH_TOKEN_TTL", Duration::from_secs(14 * 86_400));
    let session_ttl = env.duration("AUTH_SESSION_TTL", Duration::from_secs(30 * 86_400));
    for (name, value) in [
        ("AUTH_ACCESS_TOKEN_TTL", access_token_ttl),
        ("AUTH_REFRESH_TOKEN_TTL", refresh_token_ttl),
        ("AUTH_SESSION_TTL", session_ttl),
    ] {
        if value < Duration::from_secs(1) {
            env.problem(name, "must be at least 1s");
        }
    }
    if access_token_ttl > Duration::from_secs(86_400) {
        env.problem("AUTH_ACCESS_TOKEN_TTL", "must be at most 24h: access tokens cannot be revoked");
    }
    let user_client_id = env.parse_with("AUTH_USER_CLIENT_ID", "web".to_owned(), |raw| {
        service_kit::config::parse_name(raw).map(str::to_owned)
    });
    let default_audiences =
        vec![SERVICE_NAME.to_owned(), "orders-service".to_owned(), "notifications-service".to_owned()];
    let user_audiences = env.parse_with("AUTH_USER_AUDIENCES", default_audiences, |raw| {
        service_kit::config::parse_list(raw, "audience", |a| service_kit::config::parse_name(a).is_ok())
            .and_then(|list| if list.is_empty() { Err("expected at least one audience".to_owned()) } else { Ok(list) })
    });
    let default_scopes = vec!["orders:read".to_owned(), "orders:write".to_owned(), "notifications:read".to_owned()];
    let user_scopes = env.parse_with("AUTH_USER_SCOPES", default_scopes, |raw| {
        service_kit::config::parse_list(raw, "scope", is_scope_token)
    });
    let admin_scopes = env.parse_with("AUTH_ADMIN_SCOPES", vec!["auth:admin".to_owned()], |raw| {
        service_kit::config::parse_list(raw, "scope", is_scope_token)
    });
    if env.raw("AUTH_ADMIN_EMAILS").is_some() {
        // Whoever registers a listed address first would become an administrator.
        env.problem(
            "AUTH_ADMIN_EMAILS",
            "is no longer supported: an email proves nothing at registration; provision administrators \
             with `auth-service create-admin --email <address>`",
        );
    }
    let refresh_reuse_grace = env.duration("AUTH_REFRESH_REUSE_GRACE", Duration::from_secs(2));
    if refresh_reuse_grace > Duration::from_secs(60) {
        env.problem("AUTH_REFRESH_REUSE_GRACE", "must be at most 60s: within it a replay raises no alarm");
    }
    let user_dpop = env.parse_with("AUTH_USER_DPOP", DpopPolicy::Optional, DpopPolicy::parse);
    TokenSettings {
        access_token_ttl,
        refresh_token_ttl,
        session_ttl,
        user_client_id,
        user_audiences,
        user_scopes,
        admin_scopes,
        refresh_reuse_grace,
        user_dpop,
    }
}

fn read_keys(env: &mut Env) -> KeySettings {
    let bits = env.parse_with("AUTH_KEY_BITS", 2048u32, |raw| match raw {
        "2048" => Ok(2048),
        "3072" => Ok(3072),
        "4096" => Ok(4096),
        _ => Err("expected 2048, 3072 or 4096".to_owned()),
    });
    let keys = KeySettings {
        bits,
        rotation_interval: env.duration("AUTH_KEY_ROTATION_INTERVAL", Duration::from_secs(30 * 86_400)),
        prepublish: env.duration("AUTH_KEY_PREPUBLISH", Duration::from_secs(3_600)),
        jwks_max_age: env.duration("AUTH_JWKS_MAX_AGE", Duration::from_secs(900)),
        jwks_min_max_age: env.duration("AUTH_JWKS_MIN_MAX_AGE", Duration::from_secs(60)),
        clock_leeway: env.duration("AUTH_CLOCK_LEEWAY", Duration::from_secs(60)),
        refresh_interval: env.duration("AUTH_KEY_REFRESH_INTERVAL", Duration::from_secs(5)),
    };
    if keys.jwks_max_age < Duration::from_secs(1) {
        env.problem("AUTH_JWKS_MAX_AGE", "must be at least 1s (max-age is in whole seconds)");
    }
    if keys.jwks_min_max_age > keys.jwks_max_age {
        env.problem("AUTH_JWKS_MIN_MAX_AGE", "must not exceed AUTH_JWKS_MAX_AGE");
    }
    if keys.prepublish < keys.jwks_max_age + keys.refresh_interval {
        // A replica learns of a new key up to one refresh interval after another replica
        // created it, and may serve the old key set with the full max-age until then.
        env.problem(
            "AUTH_KEY_PREPUBLISH",
            "must be at least AUTH_JWKS_MAX_AGE + AUTH_KEY_REFRESH_INTERVAL, or a verifier holding a cached JWKS could see \
             a token from a key it has never fetched",
        );
    }
    if keys.rotation_interval <= keys.prepublish {
        env.problem("AUTH_KEY_ROTATION_INTERVAL", "must be longer than AUTH_KEY_PREPUBLISH");
    }
    if keys.refresh_interval < Duration::from_millis(50) || keys.refresh_interval > Duration::from_secs(300) {
        env.problem("AUTH_KEY_REFRESH_INTERVAL", "must be between 50ms and 5m");
    }
    keys
}

fn read_login(env: &mut Env) -> LoginSettings {
    let positive =
        |raw: &str| raw.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| "expected a positive integer".to_owned());
    // The delays default to fit a shortened window: 1 min then at most 5 min, within it.
    let failure_window = env.duration("AUTH_LOGIN_FAILURE_WINDOW", Duration::from_secs(900));
    let account_max_delay = env.duration("AUTH_LOGIN_ACCOUNT_MAX_DELAY", failure_window.min(Duration::from_secs(300)));
    let account_delay = env.duration("AUTH_LOGIN_ACCOUNT_DELAY", account_max_delay.min(Duration::from_secs(60)));
    let login = LoginSettings {
        argon2_memory_kib: env.parse_with("AUTH_ARGON2_MEMORY_KIB", 19_456, positive),
        argon2_iterations: env.parse_with("AUTH_ARGON2_ITERATIONS", 2, positive),
        argon2_parallelism: env.parse_with("AUTH_ARGON2_PARALLELISM", 1, positive),
        argon2_memory_budget_mib: env.parse_with("AUTH_ARGON2_MEMORY_BUDGET_MIB", 64, positive),
        argon2_max_queue: env.parse_with("AUTH_ARGON2_MAX_QUEUE", 32, |raw| {
            raw.parse::<u32>().map_err(|_| "expected a whole number (0 or more)".to_owned())
        }),
        argon2_queue_timeout: env.duration("AUTH_ARGON2_QUEUE_TIMEOUT", Duration::from_secs(2)),
        max_failures_per_account: env.parse_with("AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT", 5, positive),
        account_delay,
        account_max_delay,
        max_failures_per_address: env.parse_with("AUTH_LOGIN_MAX_FAILURES_PER_ADDRESS", 20, positive),
        failure_window,
        max_registrations_per_address: env.parse_with("AUTH_REGISTER_MAX_PER_ADDRESS", 20, positive),
        trust_forwarded_for: env.bool("AUTH_TRUST_FORWARDED_FOR", false),
    };
    if let Err(error) =
        argon2::Params::new(login.argon2_memory_kib, login.argon2_iterations, login.argon2_parallelism, None)
    {
        env.problem("AUTH_ARGON2_MEMORY_KIB", format!("argon2 refuses these parameters: {error}"));
    }
    if login.argon2_queue_timeout < Duration::from_millis(1) || login.argon2_queue_timeout > Duration::from_secs(10) {
        // The wait is part of the request, which the kit's timeout ends at 30 s.
        env.problem("AUTH_ARGON2_QUEUE_TIMEOUT", "must be between 1ms and 10s");
    }
    if login.failure_window < Duration::from_secs(1) {
        env.problem("AUTH_LOGIN_FAILURE_WINDOW", "must be at least 1s");
    }
    if login.account_delay < Duration::from_secs(1) {
        env.problem("AUTH_LOGIN_ACCOUNT_DELAY", "must be at least 1s (Retry-After is in whole seconds)");
    }
    if login.account_max_delay < login.account_delay || login.account_max_delay > login.failure_window {
        // Longer than the window, a delay would lock an owner out longer than the window
        // itself, which is what the delays are there to avoid.
        env.problem(
            "AUTH_LOGIN_ACCOUNT_MAX_DELAY",
            "must be at least AUTH_LOGIN_ACCOUNT_DELAY and at most AUTH_LOGIN_FAILURE_WINDOW",
        );
    }
    login
}

fn read_events(env: &mut Env) -> EventSettings {
    let defaults = EventSettings::default();
    let events = EventSettings {
        max_wait: env.duration("AUTH_EVENTS_MAX_WAIT", defaults.max_wait),
        poll_interval: env.duration("AUTH_EVENTS_POLL_INTERVAL", defaults.poll_interval),
    };
    // A held request must be answered before the kit's request timeout turns it into a 408;
    // the margin covers building a page of freshly signed SETs.
    let request_timeout = service_kit::http::layers::REQUEST_TIMEOUT;
    if events.max_wait + Duration::from_secs(2) > request_timeout {
        env.problem("AUTH_EVENTS_MAX_WAIT", format!("must be at most {}s", request_timeout.as_secs() - 2));
    }
    if events.poll_interval < Duration::from_millis(10) || events.poll_interval > Duration::from_secs(10) {
        env.problem("AUTH_EVENTS_POLL_INTERVAL", "must be between 10ms and 10s");
    }
    events
}

#[cfg(test)]
mod tests {

    use super::*;

    /// Settings from `pairs` on a development machine (`DEV_MODE=true` unless `pairs` says
    /// otherwise), so each test states only what it is about.
    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let pairs = [("DEV_MODE", "true")].iter().chain(pairs);
        Settings::from_env(Env::from_pairs(pairs.map(|(k, v)| (k.to_string(), v.to_string()))))
    }

    const PRIVATE_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const PRIVATE_CLIENTS: &str = "orders-service|a-private-secret|notifications:write|notifications-service";

    #[test]
    fn development_defaults_are_refused_without_dev_mode() {
        let text = settings(&[("DEV_MODE", "false")]).unwrap_err().to_string();
        for name in ["AUTH_ISSUER", "AUTH_MASTER_KEY", "AUTH_CLIENTS", "DEV_MODE"] {
            assert!(text.contains(&format!("{name}: ")), "{name} missing from {text}");
        }

        // Configured, but to the public development values: refused just the same.
        let public_key =
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b"DEVELOPMENT ONLY - NOT A SECRET!");
        let text = settings(&[
            ("DEV_MODE", "false"),
            ("AUTH_ISSUER", "https://auth.example.com"),
            ("AUTH_MASTER_KEY", &public_key),
            ("AUTH_CLIENTS", crate::clients::DEV_CLIENTS),
        ])
        .unwrap_err()
        .to_string();
        assert!(text.contains("AUTH_MASTER_KEY: is the public development key"), "{text}");
        assert!(text.contains("AUTH_CLIENTS: registers a client with the public development secret"), "{text}");
        assert!(!text.contains("AUTH_ISSUER"), "{text}");

        let configured = settings(&[
            ("DEV_MODE", "false"),
            ("AUTH_ISSUER", "https://auth.example.com"),
            ("AUTH_MASTER_KEY", PRIVATE_KEY),
            ("AUTH_CLIENTS", PRIVATE_CLIENTS),
        ])
        .unwrap();
        assert!(configured.dev_defaults.is_empty(), "{:?}", configured.dev_defaults);
    }

    #[test]
    fn dev_mode_allows_the_development_defaults_and_lists_them() {
        let settings = settings(&[]).unwrap();
        assert_eq!(settings.dev_defaults, ["AUTH_ISSUER", "AUTH_MASTER_KEY", "AUTH_CLIENTS"]);
    }

    #[test]
    fn defaults_are_valid_and_flag_the_dev_clients() {
        let settings = settings(&[]).unwrap();
        assert_eq!(settings.issuer, "http://127.0.0.1:8081");
        assert_eq!(settings.tokens.access_token_ttl, Duration::from_secs(600));
        assert_eq!(settings.tokens.user_audiences, ["auth-service", "orders-service", "notifications-service"]);
        assert!(settings.dev_defaults.contains(&"AUTH_CLIENTS".to_owned()));
        let client = settings.clients.get("orders-service").unwrap();
        assert!(client.secret_matches("orders-dev-secret"));
        assert!(!client.secret_matches("orders-dev-secreT"));
        assert_eq!(client.scopes, ["notifications:write"]);
        assert_eq!(client.audiences, ["notifications-service"]);
        assert_eq!(settings.retire_hold(), Duration::from_secs(600 + 60 + 5));
        assert_eq!(settings.events.max_wait, Duration::from_secs(25));
        assert_eq!(settings.events.poll_interval, Duration::from_millis(200));
    }

    #[test]
    fn feed_settings_are_bounded() {
        let error = settings(&[("AUTH_EVENTS_MAX_WAIT", "29s"), ("AUTH_EVENTS_POLL_INTERVAL", "1ms")]).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("AUTH_EVENTS_MAX_WAIT") && text.contains("AUTH_EVENTS_POLL_INTERVAL"), "{text}");
        let ok = settings(&[("AUTH_EVENTS_MAX_WAIT", "0s"), ("AUTH_EVENTS_POLL_INTERVAL", "20ms")]).unwrap();
        assert_eq!(ok.events.max_wait, Duration::ZERO);
    }

    #[test]
    fn every_problem_is_reported_and_secrets_are_not_echoed() {
        let error = settings(&[
            ("AUTH_ISSUER", "ftp://x"),
            ("AUTH_MASTER_KEY", "c2VjcmV0LXRvby1zaG9ydA=="),
            ("AUTH_KEY_BITS", "1024"),
            ("AUTH_JWKS_MAX_AGE", "2h"),
            ("AUTH_CLIENTS", "a|b|c"),
        ])
        .unwrap_err();
        let text = error.to_string();
        for name in ["AUTH_ISSUER", "AUTH_MASTER_KEY", "AUTH_KEY_BITS", "AUTH_KEY_PREPUBLISH", "AUTH_CLIENTS"] {
            assert!(text.contains(name), "{name} missing from {text}");
        }
        assert!(!text.contains("c2VjcmV0"), "the master key leaked into {text}");
    }

    #[test]
    fn issuer_loses_its_trailing_slash() {
        assert_eq!(
            settings(&[("AUTH_ISSUER", "https://auth.example.com/")]).unwrap().issuer,
            "https://auth.example.com"
        );
    }

    #[test]
    fn own_audience_must_be_in_user_audiences() {
        let error = settings(&[("AUTH_USER_AUDIENCES", "orders-service")]).unwrap_err();
        assert!(error.to_string().contains("AUTH_USER_AUDIENCES"));
    }
}
