//! [`VerifierConfig`]: everything the verifier can be tuned with, its defaults, and reading
//! it from `AUTH_*` environment variables.
//!
//! The defaults and the reasons for them are listed on each field; `README-section.md` in
//! this crate repeats them as a table.

use std::{fmt, net::IpAddr, sync::Arc, time::Duration};

use url::Url;

use super::{
    clock::{Clock, SystemClock},
    jose::DEFAULT_MAX_TOKEN_BYTES,
    keys::JwksLimits,
};
use crate::config::{Env, parse_duration};

/// How [`Verifier::start`](super::Verifier::start) loads the first key set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupMode {
    /// Fetch nothing until the first token arrives; report ready at once.
    Lazy,
    /// Start fetching in the background and return immediately; not ready until keys arrive.
    /// A failing issuer delays readiness, never start-up.
    Warm,
    /// Wait up to the deadline for the first key set; fail start-up if it has not arrived.
    WarmWithDeadline(Duration),
}

impl StartupMode {
    /// Parses `lazy`, `warm`, or `warm:<duration>` (for example `warm:10s`).
    ///
    /// # Errors
    /// A message for anything else.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "lazy" => Ok(Self::Lazy),
            "warm" => Ok(Self::Warm),
            other => match other.strip_prefix("warm:") {
                Some(deadline) => parse_duration(deadline).map(Self::WarmWithDeadline),
                None => Err("expected lazy, warm or warm:<duration> (such as warm:10s)".to_owned()),
            },
        }
    }
}

/// Verifier settings. Build with [`VerifierConfig::new`] (defaults) or
/// [`VerifierConfig::from_env`], then adjust fields.
#[derive(Clone)]
pub struct VerifierConfig {
    /// The exact `iss` every token must carry (and, without `jwks_url`, the base URL of the
    /// issuer's `/.well-known/openid-configuration`).
    pub issuer: String,
    /// The audience this service is; tokens must list it in `aud`. Also the realm of the
    /// `WWW-Authenticate` challenge.
    pub audience: String,
    /// Where to fetch the JWKS. `None`: discover `jwks_uri` from the issuer's metadata.
    pub jwks_url: Option<Url>,
    /// Allow plain `http` to non-loopback hosts (a private compose network, the e2e suite).
    /// Default `false`: key sets fetched in clear text can be replaced in transit.
    pub allow_insecure_http: bool,

    /// Clock skew tolerated on `exp`, `nbf` and `iat`. Default 30 s: replicas and the issuer
    /// run NTP; more would extend every token's life for nothing.
    pub leeway: Duration,
    /// Tokens longer than this are refused before decoding. Default 8 KiB.
    pub max_token_bytes: usize,
    /// Largest `exp - iat` accepted. Default 24 h: our tokens live 15 min; a token minted for
    /// years is a leaked or forged signing capability, not an access token.
    pub max_token_lifetime: Duration,
    /// Verified tokens remembered (LRU); 0 turns the cache off. Default 10 000.
    pub token_cache_capacity: usize,
    /// Accept the token from the `__Host-access_token` cookie (browser clients), with the
    /// CSRF guard on unsafe methods. Default `true`.
    pub accept_cookie: bool,
    /// Extra origins (`https://app.example.com`) allowed to send cookie-authenticated unsafe
    /// requests, besides the request's own host.
    pub allowed_origins: Vec<String>,

    /// How the first key set is loaded. Default [`StartupMode::Warm`].
    pub startup: StartupMode,
    /// Shortest key-set lifetime honoured from `Cache-Control`/`Expires`. Default 60 s: a
    /// shorter one would turn every replica into a polling client of the issuer.
    pub min_refresh: Duration,
    /// Longest key-set lifetime honoured. Default 1 h: bounds how long a removed key keeps
    /// verifying if the issuer over-promises.
    pub max_refresh: Duration,
    /// Lifetime when the issuer sends no caching headers. Default 5 min.
    pub default_refresh: Duration,
    /// Minimum time between two fetches triggered by unknown `kid`s, counted from the last
    /// fetch attempt of any kind. Default 30 s: bounds what random `kid`s can cost the issuer.
    pub unknown_kid_cooldown: Duration,
    /// How long a verification waits for an in-flight fetch. Default 2 s.
    pub unknown_kid_wait: Duration,
    /// `kid`s the issuer did not have are remembered (at most this many) until the next
    /// successful fetch, or `negative_cache_ttl`. Default 1 024.
    pub negative_cache_capacity: usize,
    /// How long a `kid` stays in the negative cache. Default 5 min.
    pub negative_cache_ttl: Duration,
    /// How long past its freshness a key set is still used while the issuer is unreachable.
    /// Default 24 h: an issuer outage must not become an outage of every service, but keys
    /// cannot be trusted forever either.
    pub max_stale: Duration,
    /// JWKS connect timeout. Default 2 s.
    pub connect_timeout: Duration,
    /// JWKS request timeout, body included. Default 5 s.
    pub fetch_timeout: Duration,
    /// JWKS document limits. Default 64 KiB and 32 keys.
    pub jwks_limits: JwksLimits,
    /// Source of the current time for token dates. Default the system clock.
    pub clock: Arc<dyn Clock>,
}

impl fmt::Debug for VerifierConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierConfig")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("jwks_url", &self.jwks_url.as_ref().map(Url::as_str))
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("leeway", &self.leeway)
            .field("max_token_bytes", &self.max_token_bytes)
            .field("max_token_lifetime", &self.max_token_lifetime)
            .field("token_cache_capacity", &self.token_cache_capacity)
            .field("startup", &self.startup)
            .field("unknown_kid_cooldown", &self.unknown_kid_cooldown)
            .field("max_stale", &self.max_stale)
            .finish_non_exhaustive()
    }
}

/// Default issuer for local development (auth-service's default listen address).
pub const DEV_ISSUER: &str = "http://127.0.0.1:8081";

impl VerifierConfig {
    /// Settings with every default (see the field docs).
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            jwks_url: None,
            allow_insecure_http: false,
            leeway: Duration::from_secs(30),
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            max_token_lifetime: Duration::from_secs(24 * 3600),
            token_cache_capacity: 10_000,
            accept_cookie: true,
            allowed_origins: Vec::new(),
            startup: StartupMode::Warm,
            min_refresh: Duration::from_secs(60),
            max_refresh: Duration::from_secs(3600),
            default_refresh: Duration::from_secs(300),
            unknown_kid_cooldown: Duration::from_secs(30),
            unknown_kid_wait: Duration::from_secs(2),
            negative_cache_capacity: 1024,
            negative_cache_ttl: Duration::from_secs(300),
            max_stale: Duration::from_secs(24 * 3600),
            connect_timeout: Duration::from_secs(2),
            fetch_timeout: Duration::from_secs(5),
            jwks_limits: JwksLimits::default(),
            clock: Arc::new(SystemClock),
        }
    }

    /// Reads the `AUTH_*` variables, recording every problem in `env`:
    ///
    /// | variable | default |
    /// |---|---|
    /// | `AUTH_ISSUER` | `http://127.0.0.1:8081` (development only) |
    /// | `AUTH_JWKS_URL` | discovered from the issuer |
    /// | `AUTH_ALLOW_INSECURE_HTTP` | `false` |
    /// | `AUTH_LEEWAY` | `30s` |
    /// | `AUTH_MAX_TOKEN_BYTES` | `8192` |
    /// | `AUTH_MAX_TOKEN_LIFETIME` | `24h` |
    /// | `AUTH_TOKEN_CACHE_SIZE` | `10000` (0 = off) |
    /// | `AUTH_ACCEPT_COOKIE` | `true` |
    /// | `AUTH_ALLOWED_ORIGINS` | none (comma-separated) |
    /// | `AUTH_JWKS_STARTUP` | `warm` (`lazy`, `warm`, `warm:<duration>`) |
    /// | `AUTH_JWKS_MIN_REFRESH` / `AUTH_JWKS_MAX_REFRESH` / `AUTH_JWKS_DEFAULT_REFRESH` | `60s` / `1h` / `5m` |
    /// | `AUTH_JWKS_COOLDOWN` | `30s` |
    /// | `AUTH_JWKS_WAIT` | `2s` |
    /// | `AUTH_JWKS_MAX_STALE` | `24h` |
    /// | `AUTH_JWKS_TIMEOUT` / `AUTH_JWKS_CONNECT_TIMEOUT` | `5s` / `2s` |
    pub fn from_env(env: &mut Env, audience: &str) -> Self {
        let issuer = match env.raw("AUTH_ISSUER") {
            Some(issuer) => issuer.to_owned(),
            None => {
                env.note_dev_default("AUTH_ISSUER");
                DEV_ISSUER.to_owned()
            }
        };
        let mut config = Self::new(issuer, audience);
        config.jwks_url = env
            .optional("AUTH_JWKS_URL")
            .and_then(|raw| Url::parse(&raw).map_err(|e| env.problem("AUTH_JWKS_URL", format!("not a URL: {e}"))).ok());
        config.allow_insecure_http = env.bool("AUTH_ALLOW_INSECURE_HTTP", false);
        config.leeway = env.duration("AUTH_LEEWAY", config.leeway);
        config.max_token_bytes = env.parse("AUTH_MAX_TOKEN_BYTES", config.max_token_bytes);
        config.max_token_lifetime = env.duration("AUTH_MAX_TOKEN_LIFETIME", config.max_token_lifetime);
        config.token_cache_capacity = env.parse("AUTH_TOKEN_CACHE_SIZE", config.token_cache_capacity);
        config.accept_cookie = env.bool("AUTH_ACCEPT_COOKIE", config.accept_cookie);
        config.allowed_origins = env
            .optional("AUTH_ALLOWED_ORIGINS")
            .map(|raw| {
                raw.split(',').map(|o| o.trim().trim_end_matches('/').to_owned()).filter(|o| !o.is_empty()).collect()
            })
            .unwrap_or_default();
        config.startup = env.parse_with("AUTH_JWKS_STARTUP", config.startup, StartupMode::parse);
        config.min_refresh = env.duration("AUTH_JWKS_MIN_REFRESH", config.min_refresh);
        config.max_refresh = env.duration("AUTH_JWKS_MAX_REFRESH", config.max_refresh);
        config.default_refresh = env.duration("AUTH_JWKS_DEFAULT_REFRESH", config.default_refresh);
        config.unknown_kid_cooldown = env.duration("AUTH_JWKS_COOLDOWN", config.unknown_kid_cooldown);
        config.unknown_kid_wait = env.duration("AUTH_JWKS_WAIT", config.unknown_kid_wait);
        config.max_stale = env.duration("AUTH_JWKS_MAX_STALE", config.max_stale);
        config.fetch_timeout = env.duration("AUTH_JWKS_TIMEOUT", config.fetch_timeout);
        config.connect_timeout = env.duration("AUTH_JWKS_CONNECT_TIMEOUT", config.connect_timeout);
        for problem in config.problems() {
            let (name, message) = problem;
            env.problem(name, message);
        }
        config
    }

    /// Inconsistencies between fields, as `(variable, message)` pairs.
    #[must_use]
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        match &self.jwks_url {
            Some(url) => {
                if let Err(message) = check_fetch_url(url, self.allow_insecure_http) {
                    problems.push(("AUTH_JWKS_URL", message));
                }
            }
            None => match Url::parse(&self.issuer) {
                Ok(url) => {
                    if let Err(message) = check_fetch_url(&url, self.allow_insecure_http) {
                        problems.push(("AUTH_ISSUER", message));
                    }
                }
                Err(e) => {
                    problems.push(("AUTH_ISSUER", format!("not a URL ({e}); set AUTH_JWKS_URL or use a URL issuer")))
                }
            },
        }
        if self.audience.trim().is_empty() {
            problems.push(("audience", "must not be empty".to_owned()));
        }
        if self.min_refresh > self.max_refresh {
            problems.push(("AUTH_JWKS_MIN_REFRESH", "must not exceed AUTH_JWKS_MAX_REFRESH".to_owned()));
        }
        if self.min_refresh.is_zero() {
            problems.push(("AUTH_JWKS_MIN_REFRESH", "must be positive".to_owned()));
        }
        if self.max_token_bytes < 64 {
            problems.push(("AUTH_MAX_TOKEN_BYTES", "must be at least 64".to_owned()));
        }
        problems
    }
}

/// Checks a URL the verifier will fetch: `https`, or `http` to a loopback host, or `http`
/// anywhere when `allow_insecure_http` is set.
///
/// # Errors
/// A message saying what is wrong.
pub fn check_fetch_url(url: &Url, allow_insecure_http: bool) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_insecure_http || is_loopback(url) => Ok(()),
        "http" => Err(format!(
            "{url} uses plain http to a non-loopback host; use https or set AUTH_ALLOW_INSECURE_HTTP=true on a private network"
        )),
        other => Err(format!("{url}: unsupported scheme `{other}`")),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_required_except_for_loopback_or_when_allowed() {
        let url = |s: &str| Url::parse(s).unwrap();
        assert!(check_fetch_url(&url("https://auth.example.com/jwks"), false).is_ok());
        assert!(check_fetch_url(&url("http://127.0.0.1:8081/jwks"), false).is_ok());
        assert!(check_fetch_url(&url("http://[::1]:8081/jwks"), false).is_ok());
        assert!(check_fetch_url(&url("http://localhost/jwks"), false).is_ok());
        assert!(check_fetch_url(&url("http://auth-service:8080/jwks"), false).is_err());
        assert!(check_fetch_url(&url("http://auth-service:8080/jwks"), true).is_ok());
        assert!(check_fetch_url(&url("ftp://auth/jwks"), true).is_err());
    }

    #[test]
    fn from_env_reads_variables_and_reports_problems() {
        let mut env = Env::from_pairs([
            ("AUTH_ISSUER", "http://auth-service:8080"),
            ("AUTH_JWKS_COOLDOWN", "10s"),
            ("AUTH_JWKS_STARTUP", "warm:3s"),
            ("AUTH_TOKEN_CACHE_SIZE", "0"),
        ]);
        let config = VerifierConfig::from_env(&mut env, "orders-service");
        assert_eq!(config.unknown_kid_cooldown, Duration::from_secs(10));
        assert_eq!(config.startup, StartupMode::WarmWithDeadline(Duration::from_secs(3)));
        assert_eq!(config.token_cache_capacity, 0);
        let problems = env.finish().unwrap_err();
        assert_eq!(problems.0.len(), 1, "{problems}");
        assert!(problems.0[0].starts_with("AUTH_ISSUER:"), "{problems}");

        let mut env =
            Env::from_pairs([("AUTH_ISSUER", "http://auth-service:8080"), ("AUTH_ALLOW_INSECURE_HTTP", "true")]);
        let _ = VerifierConfig::from_env(&mut env, "orders-service");
        assert!(env.finish().is_ok());

        let mut env = Env::from_pairs(Vec::<(String, String)>::new());
        let config = VerifierConfig::from_env(&mut env, "orders-service");
        assert_eq!(config.issuer, DEV_ISSUER);
        assert_eq!(env.finish().unwrap(), vec!["AUTH_ISSUER".to_owned()]);
    }
}
