//! The verifier's settings from the `AUTH_*` environment variables.
//!
//! `jwt-verifier` reads no environment itself (a library should not); this is the workspace's
//! loader for it. The table of variables lives in `shared/verifier/README.md`.

use std::time::Duration;

use jwt_verifier::{
    NonceKey, Origin, ProofSettings, RevocationFeed, StartupMode, VerifierConfig, config::check_fetch_url,
};
use url::Url;

use super::{Env, parse_duration, parse_secret_32};

/// Issuer of local development: auth-service's default listen address. The one place this
/// default is written; a service that falls back to it records a development default.
pub const DEV_ISSUER: &str = "http://127.0.0.1:8081";

/// Parses `lazy`, `warm`, or `warm:<duration>` (for example `warm:10s`).
///
/// # Errors
/// A message for anything else.
pub fn parse_startup_mode(raw: &str) -> Result<StartupMode, String> {
    match raw.trim() {
        "lazy" => Ok(StartupMode::Lazy),
        "warm" => Ok(StartupMode::Warm),
        other => match other.strip_prefix("warm:") {
            Some(deadline) => parse_duration(deadline).map(StartupMode::WarmWithDeadline),
            None => Err("expected lazy, warm or warm:<duration> (such as warm:10s)".to_owned()),
        },
    }
}

/// Reads the `AUTH_*` variables into a [`VerifierConfig`] for `audience`, recording every
/// problem (and the fields' own consistency checks) in `env`.
pub fn verifier_config(env: &mut Env, audience: &str) -> VerifierConfig {
    let issuer = match env.raw("AUTH_ISSUER") {
        Some(issuer) => issuer.to_owned(),
        None => {
            let advice = format!(
                "unset, which trusts a development auth-service at {DEV_ISSUER}; set AUTH_ISSUER to the issuer's `iss`"
            );
            env.note_dev_value("AUTH_ISSUER", advice);
            DEV_ISSUER.to_owned()
        }
    };
    let mut config = VerifierConfig::new(issuer, audience);
    config.jwks_url = env
        .optional("AUTH_JWKS_URL")
        .and_then(|raw| Url::parse(&raw).map_err(|e| env.problem("AUTH_JWKS_URL", format!("not a URL: {e}"))).ok());
    config.allow_insecure_http = env.bool("AUTH_ALLOW_INSECURE_HTTP", false);
    config.leeway = env.duration("AUTH_LEEWAY", config.leeway);
    config.max_token_bytes = env.parse("AUTH_MAX_TOKEN_BYTES", config.max_token_bytes);
    config.max_token_lifetime = env.duration("AUTH_MAX_TOKEN_LIFETIME", config.max_token_lifetime);
    config.token_cache_capacity = env.parse("AUTH_TOKEN_CACHE_SIZE", config.token_cache_capacity);
    config.accept_cookie = env.bool("AUTH_ACCEPT_COOKIE", config.accept_cookie);
    config.allowed_origins = allowed_origins(env);
    config.startup = env.parse_with("AUTH_JWKS_STARTUP", config.startup, parse_startup_mode);
    config.min_refresh = env.duration("AUTH_JWKS_MIN_REFRESH", config.min_refresh);
    config.max_refresh = env.duration("AUTH_JWKS_MAX_REFRESH", config.max_refresh);
    config.default_refresh = env.duration("AUTH_JWKS_DEFAULT_REFRESH", config.default_refresh);
    config.unknown_kid_cooldown = env.duration("AUTH_JWKS_COOLDOWN", config.unknown_kid_cooldown);
    config.unknown_kid_wait = env.duration("AUTH_JWKS_WAIT", config.unknown_kid_wait);
    config.max_stale = env.duration("AUTH_JWKS_MAX_STALE", config.max_stale);
    config.fetch_timeout = env.duration("AUTH_JWKS_TIMEOUT", config.fetch_timeout);
    config.connect_timeout = env.duration("AUTH_JWKS_CONNECT_TIMEOUT", config.connect_timeout);
    config.revocation_feed = revocation_feed(env, config.allow_insecure_http);
    config.revocation_wait = env.duration("AUTH_REVOCATION_WAIT", config.revocation_wait);
    config.revocation_max_entries = env.parse("AUTH_REVOCATION_MAX_ENTRIES", config.revocation_max_entries);
    let dpop = dpop_settings(env);
    config.dpop_trust_forwarded = dpop.trust_forwarded;
    config.dpop_nonces = dpop.nonces;
    config.dpop = dpop.proofs;
    for (name, message) in config.problems() {
        env.problem(name, message);
    }
    config
}

/// `AUTH_RESOURCE_URL`: the URL clients reach this resource server at.
///
/// It is the RFC 9728 resource identifier. Unset: the issuer's origin followed by `path` (`/v1/orders`), right wherever
/// one gateway serves the issuer and the resources under one origin, as compose and
/// Kubernetes do. It must be `https` (plain `http` only to loopback or with
/// `AUTH_ALLOW_INSECURE_HTTP`, as for key fetches: metadata fetched in clear text can name
/// another authorization server), with no credentials, query or fragment (RFC 9728 §1.2), and
/// a path of `A-Z a-z 0-9 . _ ~ / -` only, since the service routes it.
pub fn resource_url(env: &mut Env, verifier: &VerifierConfig, path: &str) -> Option<Url> {
    let issuer = verifier.issuer.as_str();
    let parsed = match env.optional("AUTH_RESOURCE_URL") {
        Some(raw) => Url::parse(&raw).map_err(|e| format!("not a URL: {e}")),
        // A bad issuer is reported under AUTH_ISSUER already.
        None => Url::parse(issuer).and_then(|origin| origin.join(path)).ok().map(Ok)?,
    };
    let checked = parsed.and_then(|url| {
        let routable = url.path().bytes().all(|b| b.is_ascii_alphanumeric() || b"._~/-".contains(&b));
        if !matches!(url.scheme(), "http" | "https") || url.query().is_some() || url.fragment().is_some() {
            Err("must be an http(s) URL without query or fragment".to_owned())
        } else if !url.username().is_empty() || url.password().is_some() {
            Err("must not carry credentials".to_owned())
        } else if !routable {
            Err("its path may hold only A-Z, a-z, 0-9, '.', '_', '~', '/' and '-'".to_owned())
        } else {
            check_fetch_url(&url, verifier.allow_insecure_http).map(|()| url)
        }
    });
    checked.map_err(|message| env.problem("AUTH_RESOURCE_URL", message)).ok()
}

/// How a service rebuilds and checks DPoP proofs: the same two variables for the resource
/// servers and for auth-service's token endpoints.
#[derive(Debug, Default)]
pub struct DpopSettings {
    /// `AUTH_DPOP_TRUST_FORWARDED` (default false): the proof's `htu` is checked against the
    /// scheme and host of `X-Forwarded-Proto` / `X-Forwarded-Host`.
    pub trust_forwarded: bool,
    /// `AUTH_DPOP_NONCE_SECRET` (32 bytes, hex or base64; unset: no nonces): every proof
    /// must carry a server nonce sealed with it. Give all replicas of a service the same one.
    pub nonces: Option<NonceKey>,
    /// `AUTH_DPOP_MAX_AGE` (1 s to 10 min) and `AUTH_DPOP_REPLAY_CACHE_SIZE` (at least 1).
    pub proofs: ProofSettings,
}

/// Reads [`DpopSettings`].
pub fn dpop_settings(env: &mut Env) -> DpopSettings {
    let trust_forwarded = env.bool("AUTH_DPOP_TRUST_FORWARDED", false);
    let nonces = env.raw("AUTH_DPOP_NONCE_SECRET").map(str::to_owned).and_then(|raw| match parse_secret_32(&raw) {
        Ok(secret) => Some(NonceKey::new(&secret)),
        Err(message) => {
            env.problem("AUTH_DPOP_NONCE_SECRET", message);
            None
        }
    });
    let mut proofs = ProofSettings::default();
    proofs.max_age = env.duration("AUTH_DPOP_MAX_AGE", proofs.max_age);
    if !(Duration::from_secs(1)..=Duration::from_secs(600)).contains(&proofs.max_age) {
        env.problem("AUTH_DPOP_MAX_AGE", "must be between 1s and 10m: a proof is made for one request");
    }
    proofs.replay_capacity = env.parse("AUTH_DPOP_REPLAY_CACHE_SIZE", proofs.replay_capacity);
    if proofs.replay_capacity == 0 {
        env.problem("AUTH_DPOP_REPLAY_CACHE_SIZE", "must be at least 1: a full cache refuses every proof");
    }
    DpopSettings { trust_forwarded, nonces, proofs }
}

/// `AUTH_ALLOWED_ORIGINS`: comma-separated origins, each parsed now so that a typo stops the
/// service instead of never matching a request.
fn allowed_origins(env: &mut Env) -> Vec<Origin> {
    let Some(raw) = env.optional("AUTH_ALLOWED_ORIGINS") else { return Vec::new() };
    let mut origins = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|entry| !entry.is_empty()) {
        match Origin::parse(entry) {
            Ok(origin) => origins.push(origin),
            Err(error) => env.problem("AUTH_ALLOWED_ORIGINS", format!("`{entry}` is not an origin: {error}")),
        }
    }
    origins
}

/// `AUTH_REVOCATION_FEED` (`on`/`off`, default on) and `AUTH_EVENTS_URL` (optional; else
/// discovered from the issuer's metadata). The URL obeys the same https rule as
/// `AUTH_JWKS_URL`; `off` wins over a URL.
fn revocation_feed(env: &mut Env, allow_insecure_http: bool) -> RevocationFeed {
    let on = env.bool("AUTH_REVOCATION_FEED", true);
    let url = env.optional("AUTH_EVENTS_URL").and_then(|raw| match Url::parse(&raw) {
        Ok(url) => match check_fetch_url(&url, allow_insecure_http) {
            Ok(()) => Some(url),
            Err(message) => {
                env.problem("AUTH_EVENTS_URL", message);
                None
            }
        },
        Err(e) => {
            env.problem("AUTH_EVENTS_URL", format!("not a URL: {e}"));
            None
        }
    });
    match (on, url) {
        (false, _) => RevocationFeed::Off,
        (true, Some(url)) => RevocationFeed::Url(url),
        (true, None) => RevocationFeed::Discover,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_resource_defaults_to_the_issuer_origin_and_must_be_a_plain_http_url() {
        let mut env = Env::from_pairs::<&str, &str>([]);
        let gateway = VerifierConfig::new("https://gateway.example/auth", "orders-service");
        let url = resource_url(&mut env, &gateway, "/v1/orders").unwrap();
        assert_eq!(url.as_str(), "https://gateway.example/v1/orders");
        let mut env = Env::from_pairs([("AUTH_RESOURCE_URL", "https://api.example/orders")]);
        assert_eq!(resource_url(&mut env, &gateway, "/v1/orders").unwrap().as_str(), "https://api.example/orders");
        let mut env = Env::from_pairs([("AUTH_RESOURCE_URL", "http://127.0.0.1:8082/v1/orders")]);
        assert!(resource_url(&mut env, &gateway, "/v1/orders").is_some(), "loopback may be plain http");
        for bad in [
            "ftp://api.example/orders",
            "https://api.example/orders?x=1",
            "not a url",
            "https://user:pw@api.example/orders",
            "https://api.example/:id",
            "https://api.example/{id}",
            "http://api.example/orders",
        ] {
            let mut env = Env::from_pairs([("AUTH_RESOURCE_URL", bad)]);
            assert!(resource_url(&mut env, &gateway, "/v1/orders").is_none(), "{bad}");
            assert!(env.finish().unwrap_err().to_string().contains("AUTH_RESOURCE_URL"), "{bad}");
        }
        let mut insecure = gateway.clone();
        insecure.allow_insecure_http = true;
        let mut env = Env::from_pairs([("AUTH_RESOURCE_URL", "http://api.example/orders")]);
        assert!(resource_url(&mut env, &insecure, "/v1/orders").is_some());
    }

    #[test]
    fn reads_variables_and_reports_problems() {
        let mut env = Env::from_pairs([
            ("AUTH_ISSUER", "http://auth-service:8080"),
            ("AUTH_JWKS_COOLDOWN", "10s"),
            ("AUTH_JWKS_STARTUP", "warm:3s"),
            ("AUTH_TOKEN_CACHE_SIZE", "0"),
        ]);
        let config = verifier_config(&mut env, "orders-service");
        assert_eq!(config.unknown_kid_cooldown, Duration::from_secs(10));
        assert_eq!(config.startup, StartupMode::WarmWithDeadline(Duration::from_secs(3)));
        assert_eq!(config.token_cache_capacity, 0);
        let problems = env.finish().unwrap_err();
        assert_eq!(problems.0.len(), 1, "{problems}");
        assert!(problems.0[0].starts_with("AUTH_ISSUER:"), "{problems}");

        let mut env =
            Env::from_pairs([("AUTH_ISSUER", "http://auth-service:8080"), ("AUTH_ALLOW_INSECURE_HTTP", "true")]);
        let _ = verifier_config(&mut env, "orders-service");
        assert!(env.finish().is_ok());

        // The development issuer is refused by name, unless DEV_MODE allows it.
        let mut env = Env::from_pairs(Vec::<(String, String)>::new());
        let config = verifier_config(&mut env, "orders-service");
        assert_eq!(config.issuer, DEV_ISSUER);
        let problems = env.finish().unwrap_err().0;
        assert!(problems[0].starts_with("AUTH_ISSUER: unset"), "{problems:?}");
        let mut env = Env::from_pairs([("DEV_MODE", "true")]);
        let _ = verifier_config(&mut env, "orders-service");
        assert_eq!(env.finish().unwrap(), vec!["AUTH_ISSUER".to_owned()]);
    }

    #[test]
    fn reads_the_revocation_feed_settings() {
        let mut env = Env::from_pairs([
            ("AUTH_ISSUER", "https://auth.example.com"),
            ("AUTH_EVENTS_URL", "https://auth.internal/v1/security-events"),
            ("AUTH_REVOCATION_WAIT", "15s"),
            ("AUTH_REVOCATION_MAX_ENTRIES", "5000"),
        ]);
        let config = verifier_config(&mut env, "orders-service");
        let url = Url::parse("https://auth.internal/v1/security-events").unwrap();
        assert_eq!(config.revocation_feed, RevocationFeed::Url(url));
        assert_eq!(config.revocation_wait, Duration::from_secs(15));
        assert_eq!(config.revocation_max_entries, 5000);
        assert!(env.finish().is_ok());

        // Defaults: on, discovered from the issuer.
        let mut env = Env::from_pairs([("AUTH_ISSUER", "https://auth.example.com")]);
        let config = verifier_config(&mut env, "orders-service");
        assert_eq!(config.revocation_feed, RevocationFeed::Discover);
        assert_eq!((config.revocation_wait, config.revocation_max_entries), (Duration::from_secs(20), 100_000));

        // Off wins over a URL.
        let mut env = Env::from_pairs([
            ("AUTH_ISSUER", "https://auth.example.com"),
            ("AUTH_REVOCATION_FEED", "off"),
            ("AUTH_EVENTS_URL", "https://auth.internal/v1/security-events"),
        ]);
        assert_eq!(verifier_config(&mut env, "orders-service").revocation_feed, RevocationFeed::Off);

        // Every bad value at once: the https rule, a bad switch, a zero cap, a busy loop, and
        // discovery from an issuer that cannot be fetched when only the JWKS URL is set.
        let mut env = Env::from_pairs([
            ("AUTH_ISSUER", "https://auth.example.com"),
            ("AUTH_EVENTS_URL", "http://auth-service:8080/v1/security-events"),
            ("AUTH_REVOCATION_FEED", "maybe"),
            ("AUTH_REVOCATION_MAX_ENTRIES", "0"),
            ("AUTH_REVOCATION_WAIT", "0s"),
        ]);
        let _ = verifier_config(&mut env, "orders-service");
        let problems = env.finish().unwrap_err().0;
        for name in ["AUTH_EVENTS_URL", "AUTH_REVOCATION_FEED", "AUTH_REVOCATION_MAX_ENTRIES", "AUTH_REVOCATION_WAIT"] {
            assert!(problems.iter().any(|p| p.starts_with(name)), "{name}: {problems:?}");
        }
        let mut env = Env::from_pairs([
            ("AUTH_ISSUER", "http://auth.test"),
            ("AUTH_JWKS_URL", "http://127.0.0.1:8081/.well-known/jwks.json"),
        ]);
        let _ = verifier_config(&mut env, "orders-service");
        let problems = env.finish().unwrap_err().0;
        assert!(problems.len() == 1 && problems[0].starts_with("AUTH_EVENTS_URL:"), "{problems:?}");
    }

    #[test]
    fn allowed_origins_are_parsed_at_start_and_a_bad_one_stops_the_service() {
        let mut env = Env::from_pairs([
            ("AUTH_ISSUER", "https://auth.example.com"),
            ("AUTH_ALLOWED_ORIGINS", "https://app.example.com, https://admin.example.com:8443/,,"),
        ]);
        let config = verifier_config(&mut env, "orders-service");
        let expected: Vec<Origin> = ["https://app.example.com", "https://admin.example.com:8443"]
            .iter()
            .map(|o| Origin::parse(o).unwrap())
            .collect();
        assert_eq!(config.allowed_origins, expected);
        assert!(env.finish().is_ok());

        // Each bad entry is named: a path, plain http on a public host, a bare host name.
        let mut env = Env::from_pairs([
            ("AUTH_ISSUER", "https://auth.example.com"),
            ("AUTH_ALLOWED_ORIGINS", "https://app.example.com/login,http://app.example.com,app.example.com"),
        ]);
        let _ = verifier_config(&mut env, "orders-service");
        let problems = env.finish().unwrap_err().0;
        assert_eq!(problems.len(), 3, "{problems:?}");
        for entry in ["`https://app.example.com/login`", "`http://app.example.com`", "`app.example.com`"] {
            assert!(
                problems.iter().any(|p| p.starts_with("AUTH_ALLOWED_ORIGINS:") && p.contains(entry)),
                "{problems:?}"
            );
        }
    }

    #[test]
    fn startup_modes_parse() {
        assert_eq!(parse_startup_mode("lazy"), Ok(StartupMode::Lazy));
        assert_eq!(parse_startup_mode("warm:10s"), Ok(StartupMode::WarmWithDeadline(Duration::from_secs(10))));
        assert!(parse_startup_mode("eager").is_err());
    }
}
