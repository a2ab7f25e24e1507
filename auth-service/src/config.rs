//! Settings, read once at start from environment variables.
//!
//! Every variable has a default fit for local development, and every bad value is reported at
//! once (see [`shared::config::Env`]). Durations take `ms`, `s`, `m`, `h` or `d` suffixes, so the
//! test suite can run the key lifecycle in seconds with the same code as production.
//!
//! The full table of variables lives in `README-section.md`; each field below names its
//! variable.

use std::{collections::BTreeSet, net::SocketAddr, time::Duration};

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest, Sha256};
use shared::config::{CommonSettings, ConfigError, Env};
use subtle::ConstantTimeEq;

use crate::domain::{Email, is_scope_token};

/// Name of this service: its `aud` value and the label on its metrics and logs.
pub const SERVICE_NAME: &str = "auth-service";

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
    pub clients: Vec<ServiceClient>,
    /// Key generation and the rotation schedule.
    pub keys: KeySettings,
    /// Password hashing and login throttling.
    pub login: LoginSettings,
    /// Variables that fell back to development-only defaults (logged at start).
    pub dev_defaults: Vec<String>,
}

/// Lifetimes and contents of the tokens this service issues.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    /// `AUTH_ACCESS_TOKEN_TTL` (default 10m).
    pub access_token_ttl: Duration,
    /// `AUTH_REFRESH_TOKEN_TTL` (default 14d): how long an unused refresh token stays valid; each
    /// refresh issues a new one, so this is the session's idle timeout.
    pub refresh_token_ttl: Duration,
    /// `AUTH_SESSION_TTL` (default 30d): absolute session lifetime, whatever the activity.
    pub session_ttl: Duration,
    /// `AUTH_USER_CLIENT_ID` (default `web`): `client_id` of tokens issued through login.
    pub user_client_id: String,
    /// `AUTH_USER_AUDIENCES` (default `auth-service orders-service notifications-service`).
    pub user_audiences: Vec<String>,
    /// `AUTH_USER_SCOPES` (default `orders:read orders:write notifications:read`).
    pub user_scopes: Vec<String>,
    /// `AUTH_ADMIN_SCOPES` (default `auth:admin`): added for administrators.
    pub admin_scopes: Vec<String>,
    /// `AUTH_ADMIN_EMAILS` (default none): normalised addresses whose users get role `admin`.
    pub admin_emails: BTreeSet<String>,
}

/// Signing-key generation and the rotation schedule.
#[derive(Debug, Clone)]
pub struct KeySettings {
    /// `AUTH_KEY_BITS` (default 2048; 3072 and 4096 allowed).
    pub bits: u32,
    /// `AUTH_KEY_ROTATION_INTERVAL` (default 30d): how long a key signs before its successor
    /// takes over.
    pub rotation_interval: Duration,
    /// `AUTH_KEY_PREPUBLISH` (default 1h): how long a successor is published before it signs.
    /// Must be at least `AUTH_JWKS_MAX_AGE` + `AUTH_KEY_REFRESH_INTERVAL`, so every verifier's
    /// cached JWKS has expired and been refetched (and so contains the successor) before the
    /// successor's first token, whichever replica the verifier asked.
    pub prepublish: Duration,
    /// `AUTH_JWKS_MAX_AGE` (default 15m): the largest `max-age` the JWKS is served with. Also
    /// bounds how long a verifier may keep trusting a key removed by an emergency rotation.
    pub jwks_max_age: Duration,
    /// `AUTH_JWKS_MIN_MAX_AGE` (default 60s): the smallest `max-age`, however close the next
    /// change, so verifiers never refetch in a tight loop.
    pub jwks_min_max_age: Duration,
    /// `AUTH_CLOCK_LEEWAY` (default 60s): clock skew allowed to verifiers; a retired key stays
    /// published for the access-token lifetime plus this plus the refresh interval.
    pub clock_leeway: Duration,
    /// `AUTH_KEY_REFRESH_INTERVAL` (default 5s): how often each replica re-reads the key table
    /// and runs due lifecycle steps, so a rotation made by one replica reaches the others.
    pub refresh_interval: Duration,
}

impl KeySettings {
    /// How long a retired key stays published: every token it signed has expired by then,
    /// including one signed by a replica that had not yet seen the rotation, on a verifier
    /// whose clock runs behind by the leeway.
    #[must_use]
    pub fn retire_hold(&self, access_token_ttl: Duration) -> Duration {
        access_token_ttl + self.clock_leeway + self.refresh_interval
    }
}

/// Password hashing and failed-login throttling.
#[derive(Debug, Clone)]
pub struct LoginSettings {
    /// `AUTH_ARGON2_MEMORY_KIB` (default 19456 = 19 MiB, OWASP's minimum for argon2id).
    pub argon2_memory_kib: u32,
    /// `AUTH_ARGON2_ITERATIONS` (default 2).
    pub argon2_iterations: u32,
    /// `AUTH_ARGON2_PARALLELISM` (default 1).
    pub argon2_parallelism: u32,
    /// `AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT` (default 5) within the window.
    pub max_failures_per_account: u32,
    /// `AUTH_LOGIN_MAX_FAILURES_PER_ADDRESS` (default 20) within the window.
    pub max_failures_per_address: u32,
    /// `AUTH_LOGIN_FAILURE_WINDOW` (default 15m): counting window, and the longest wait.
    pub failure_window: Duration,
    /// `AUTH_TRUST_FORWARDED_FOR` (default false): take the client address from the last
    /// `X-Forwarded-For` entry (the one the trusted proxy appended) instead of the TCP peer.
    pub trust_forwarded_for: bool,
}

/// A confidential client that authenticates at the token endpoint with HTTP Basic
/// (`client_credentials` grant), limited to its scopes and audiences.
pub struct ServiceClient {
    /// `client_id`, also the `sub` of its tokens.
    pub id: String,
    /// SHA-256 of the secret: compared in constant time, and the plain secret is not kept.
    secret_digest: [u8; 32],
    /// Scopes it may request.
    pub scopes: Vec<String>,
    /// Audiences its tokens may name.
    pub audiences: Vec<String>,
}

impl std::fmt::Debug for ServiceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceClient")
            .field("id", &self.id)
            .field("scopes", &self.scopes)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

impl ServiceClient {
    /// A registration; `secret` is hashed at once.
    #[must_use]
    pub fn new(id: String, secret: &SecretString, scopes: Vec<String>, audiences: Vec<String>) -> Self {
        Self { id, secret_digest: Sha256::digest(secret.expose_secret().as_bytes()).into(), scopes, audiences }
    }

    /// Compares a presented secret in constant time. Hashing first makes the comparison
    /// independent of the secrets' lengths too.
    #[must_use]
    pub fn secret_matches(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        bool::from(self.secret_digest.ct_eq(&presented))
    }
}

/// The development default for `AUTH_CLIENTS`: orders-service may ask for
/// `notifications:write` on notifications-service (orders-service has the same default).
pub const DEV_CLIENTS: &str = "orders-service|orders-dev-secret|notifications:write|notifications-service";

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
        let default_listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8081));
        let common = CommonSettings::read(&mut env, default_listen, "auth.db");
        let db_max_connections = env.parse_with("AUTH_DB_MAX_CONNECTIONS", 10u32, |raw| {
            raw.parse::<u32>().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| "expected 1 to 1000".to_owned())
        });
        let issuer = env.parse_with("AUTH_ISSUER", "http://127.0.0.1:8081".to_owned(), parse_issuer);
        let audience =
            env.parse_with("AUTH_AUDIENCE", SERVICE_NAME.to_owned(), |raw| parse_name(raw).map(str::to_owned));
        let master_key = read_master_key(&mut env);
        let tokens = read_tokens(&mut env);
        let clients = read_clients(&mut env, &tokens.user_client_id);
        let keys = read_keys(&mut env);
        let login = read_login(&mut env);

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
            dev_defaults,
        })
    }

    /// The registered client with this id.
    #[must_use]
    pub fn client(&self, id: &str) -> Option<&ServiceClient> {
        self.clients.iter().find(|c| c.id == id)
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

fn parse_name(raw: &str) -> Result<&str, String> {
    if !raw.is_empty()
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/'))
    {
        Ok(raw)
    } else {
        Err("expected letters, digits and - _ . : / only".to_owned())
    }
}

fn parse_list(raw: &str, what: &str, valid: impl Fn(&str) -> bool) -> Result<Vec<String>, String> {
    let mut items: Vec<String> = Vec::new();
    for item in raw.split([' ', ',']).filter(|s| !s.is_empty()) {
        if !valid(item) {
            return Err(format!("`{item}` is not a valid {what}"));
        }
        if !items.iter().any(|i| i == item) {
            items.push(item.to_owned());
        }
    }
    Ok(items)
}

fn read_master_key(env: &mut Env) -> Option<SecretBox<[u8; 32]>> {
    let inline = env.raw("AUTH_MASTER_KEY").map(str::to_owned);
    let file = env.optional("AUTH_MASTER_KEY_FILE");
    match (inline, file) {
        (Some(_), Some(_)) => {
            env.problem("AUTH_MASTER_KEY", "set either AUTH_MASTER_KEY or AUTH_MASTER_KEY_FILE, not both");
            None
        }
        (Some(raw), None) => match parse_master_key(&raw) {
            Ok(key) => Some(key),
            Err(message) => {
                // The value is a secret: never echo it back.
                env.problem("AUTH_MASTER_KEY", message);
                None
            }
        },
        (None, Some(path)) => match std::fs::read_to_string(&path) {
            Ok(contents) => match parse_master_key(contents.trim()) {
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

/// Parses a 32-byte master key written as 64 hex digits or as base64 (standard or URL-safe).
///
/// # Errors
/// Any other encoding or length; the message never contains the value.
pub fn parse_master_key(raw: &str) -> Result<SecretBox<[u8; 32]>, String> {
    let raw = raw.trim();
    let bytes = if raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32).map(|i| u8::from_str_radix(&raw[2 * i..2 * i + 2], 16)).collect::<Result<Vec<u8>, _>>().ok()
    } else {
        STANDARD.decode(raw).ok().or_else(|| URL_SAFE_NO_PAD.decode(raw.trim_end_matches('=')).ok())
    };
    let bytes = bytes
        .ok_or_else(|| "expected 32 bytes as 64 hex digits or base64 (e.g. `openssl rand -base64 32`)".to_owned())?;
    let key: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
        format!("expected 32 bytes, got {} (generate one with `openssl rand -base64 32`)", b.len())
    })?;
    Ok(SecretBox::new(Box::new(key)))
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
    let user_client_id =
        env.parse_with("AUTH_USER_CLIENT_ID", "web".to_owned(), |raw| parse_name(raw).map(str::to_owned));
    let default_audiences =
        vec![SERVICE_NAME.to_owned(), "orders-service".to_owned(), "notifications-service".to_owned()];
    let user_audiences = env.parse_with("AUTH_USER_AUDIENCES", default_audiences, |raw| {
        parse_list(raw, "audience", |a| parse_name(a).is_ok())
            .and_then(|list| if list.is_empty() { Err("expected at least one audience".to_owned()) } else { Ok(list) })
    });
    let default_scopes = vec!["orders:read".to_owned(), "orders:write".to_owned(), "notifications:read".to_owned()];
    let user_scopes =
        env.parse_with("AUTH_USER_SCOPES", default_scopes, |raw| parse_list(raw, "scope", is_scope_token));
    let admin_scopes = env
        .parse_with("AUTH_ADMIN_SCOPES", vec!["auth:admin".to_owned()], |raw| parse_list(raw, "scope", is_scope_token));
    let admin_emails = env.parse_with("AUTH_ADMIN_EMAILS", BTreeSet::new(), |raw| {
        raw.split([',', ' ', ';'])
            .filter(|s| !s.is_empty())
            .map(|e| {
                Email::parse(e)
                    .map(|e| e.as_ref().to_owned())
                    .map_err(|_| "contains an invalid email address".to_owned())
            })
            .collect()
    });
    TokenSettings {
        access_token_ttl,
        refresh_token_ttl,
        session_ttl,
        user_client_id,
        user_audiences,
        user_scopes,
        admin_scopes,
        admin_emails,
    }
}

fn read_clients(env: &mut Env, user_client_id: &str) -> Vec<ServiceClient> {
    let raw = match env.optional("AUTH_CLIENTS") {
        Some(raw) => raw,
        None => {
            env.note_dev_default("AUTH_CLIENTS");
            DEV_CLIENTS.to_owned()
        }
    };
    match parse_clients(&raw) {
        Ok(clients) => {
            if clients.iter().any(|c| c.id == user_client_id) {
                env.problem("AUTH_CLIENTS", format!("`{user_client_id}` is the login client id (AUTH_USER_CLIENT_ID)"));
            }
            clients
        }
        Err(message) => {
            env.problem("AUTH_CLIENTS", message);
            Vec::new()
        }
    }
}

/// Parses `AUTH_CLIENTS`: entries separated by `;` or new lines, each
/// `client_id|client_secret|scope scope…|audience audience…`.
///
/// # Errors
/// A malformed entry, named by its client id or position (never by its secret).
pub fn parse_clients(raw: &str) -> Result<Vec<ServiceClient>, String> {
    let mut clients: Vec<ServiceClient> = Vec::new();
    for (index, entry) in raw.split([';', '\n']).map(str::trim).filter(|e| !e.is_empty()).enumerate() {
        let fields: Vec<&str> = entry.split('|').map(str::trim).collect();
        let [id, secret, scopes, audiences] = fields[..] else {
            return Err(format!(
                "entry {} must have 4 `|`-separated fields: client_id|client_secret|scopes|audiences",
                index + 1
            ));
        };
        parse_name(id).map_err(|m| format!("entry {}: client id: {m}", index + 1))?;
        if secret.is_empty() {
            return Err(format!("client `{id}`: empty secret"));
        }
        let scopes = parse_list(scopes, "scope", is_scope_token).map_err(|m| format!("client `{id}`: {m}"))?;
        let audiences =
            parse_list(audiences, "audience", |a| parse_name(a).is_ok()).map_err(|m| format!("client `{id}`: {m}"))?;
        if audiences.is_empty() {
            return Err(format!("client `{id}`: needs at least one audience"));
        }
        if clients.iter().any(|c| c.id == id) {
            return Err(format!("client `{id}` is listed twice"));
        }
        clients.push(ServiceClient::new(id.to_owned(), &SecretString::from(secret.to_owned()), scopes, audiences));
    }
    Ok(clients)
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
    let login = LoginSettings {
        argon2_memory_kib: env.parse_with("AUTH_ARGON2_MEMORY_KIB", 19_456, positive),
        argon2_iterations: env.parse_with("AUTH_ARGON2_ITERATIONS", 2, positive),
        argon2_parallelism: env.parse_with("AUTH_ARGON2_PARALLELISM", 1, positive),
        max_failures_per_account: env.parse_with("AUTH_LOGIN_MAX_FAILURES_PER_ACCOUNT", 5, positive),
        max_failures_per_address: env.parse_with("AUTH_LOGIN_MAX_FAILURES_PER_ADDRESS", 20, positive),
        failure_window: env.duration("AUTH_LOGIN_FAILURE_WINDOW", Duration::from_secs(900)),
        trust_forwarded_for: env.bool("AUTH_TRUST_FORWARDED_FOR", false),
    };
    if let Err(error) =
        argon2::Params::new(login.argon2_memory_kib, login.argon2_iterations, login.argon2_parallelism, None)
    {
        env.problem("AUTH_ARGON2_MEMORY_KIB", format!("argon2 refuses these parameters: {error}"));
    }
    if login.failure_window < Duration::from_secs(1) {
        env.problem("AUTH_LOGIN_FAILURE_WINDOW", "must be at least 1s");
    }
    login
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_env(Env::from_pairs(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))))
    }

    #[test]
    fn defaults_are_valid_and_flag_the_dev_clients() {
        let settings = settings(&[]).unwrap();
        assert_eq!(settings.issuer, "http://127.0.0.1:8081");
        assert_eq!(settings.tokens.access_token_ttl, Duration::from_secs(600));
        assert_eq!(settings.tokens.user_audiences, ["auth-service", "orders-service", "notifications-service"]);
        assert!(settings.dev_defaults.contains(&"AUTH_CLIENTS".to_owned()));
        let client = settings.client("orders-service").unwrap();
        assert!(client.secret_matches("orders-dev-secret"));
        assert!(!client.secret_matches("orders-dev-secreT"));
        assert_eq!(client.scopes, ["notifications:write"]);
        assert_eq!(client.audiences, ["notifications-service"]);
        assert_eq!(settings.retire_hold(), Duration::from_secs(600 + 60 + 5));
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
    fn master_keys_parse_from_hex_and_base64() {
        let hex = "00".repeat(31) + "ff";
        assert_eq!(parse_master_key(&hex).unwrap().expose_secret()[31], 0xff);
        let b64 = STANDARD.encode([7u8; 32]);
        assert_eq!(*parse_master_key(&b64).unwrap().expose_secret(), [7u8; 32]);
        assert!(parse_master_key(&STANDARD.encode([7u8; 16])).is_err());
        assert!(parse_master_key("not a key").is_err());
    }

    #[test]
    fn clients_parse_with_scopes_and_audiences() {
        let clients =
            parse_clients("orders-service|s3cret|notifications:write|notifications-service; billing|x|a:b c:d|orders-service notifications-service")
                .unwrap();
        assert_eq!(clients.len(), 2);
        assert_eq!(clients[1].scopes, ["a:b", "c:d"]);
        assert_eq!(clients[1].audiences, ["orders-service", "notifications-service"]);
        assert!(parse_clients("a|b|c|").is_err(), "no audience");
        assert!(parse_clients("a||c|d").is_err(), "empty secret");
        assert!(parse_clients("a|b|c|d;a|b|c|d").is_err(), "duplicate");
        assert!(format!("{:?}", clients[0]).find("s3cret").is_none());
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
