//! [`VerifierConfig`]: everything the verifier can be tuned with, and its defaults.
//!
//! The defaults and the reasons for them are listed on each field; [`RevocationFeed`] says
//! where the revocation feed is found. This crate reads no
//! environment variables itself: an application builds the config in code, or with a loader
//! of its own (the workspace's services use `service_kit::config::verifier_config`, which
//! reads the `AUTH_*` variables listed in this crate's README).

use std::{fmt, net::IpAddr, sync::Arc, time::Duration};

use url::Url;

use super::{
    clock::{Clock, SystemClock},
    dpop::{ProofSettings, nonce::NonceKey},
    jose::DEFAULT_MAX_TOKEN_BYTES,
    keys::JwksLimits,
    origin::Origin,
};

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

/// Where the revocation feed ([`revocation`](super::revocation)) is found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RevocationFeed {
    /// The `security_event_feed_endpoint` member of the issuer's metadata (RFC 8414, then
    /// OpenID: [`metadata`](super::metadata)). An issuer that advertises none has no feed:
    /// the subscriber does not run and the verifier behaves as without one. The metadata is
    /// asked again every few minutes, so a feed the issuer adds later is picked up.
    #[default]
    Discover,
    /// This URL (the internal address when it differs from the issuer's, as for `jwks_url`).
    Url(Url),
    /// No subscriber: revoked sessions stay usable until their access tokens expire.
    Off,
}

/// Verifier settings. Build with [`VerifierConfig::new`] (defaults) or
/// an environment loader, then adjust fields.
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
    /// Verified tokens remembered; 0 turns the cache off. Default 10 000. Each entry keeps its
    /// token for the exact comparison of a hit (up to 1 KiB more each for our tokens). After
    /// this many admissions, a token is admitted on its second verification, so tokens
    /// presented once do not push out the ones in use.
    pub token_cache_capacity: usize,
    /// Accept the token from the `__Host-access_token` cookie (browser clients), with the
    /// CSRF guard on unsafe methods. Default `true`.
    pub accept_cookie: bool,
    /// Extra origins (`https://app.example.com`) allowed to send cookie-authenticated unsafe
    /// requests, besides the request's own host.
    pub allowed_origins: Vec<Origin>,

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
    /// Default 1 h. An issuer outage must not become an outage of every service, but a
    /// verifier cut off from its issuer cannot learn of an emergency rotation either: for
    /// this long it keeps trusting a key the issuer removed because it leaked. Tokens the
    /// issuer signed before an outage live minutes (10 by default), so an hour already
    /// covers them six times over, and bounds the trust in a removed key to an hour past the
    /// set's freshness instead of a day.
    pub max_stale: Duration,
    /// JWKS connect timeout. Default 2 s.
    pub connect_timeout: Duration,
    /// JWKS request timeout, body included. Default 5 s.
    pub fetch_timeout: Duration,
    /// JWKS document limits. Default 64 KiB and 32 keys.
    pub jwks_limits: JwksLimits,
    /// Source of the current time for token dates. Default the system clock.
    pub clock: Arc<dyn Clock>,

    /// Where the revocation feed is. Default [`RevocationFeed::Discover`].
    pub revocation_feed: RevocationFeed,
    /// Long-poll wait asked of the feed (`wait`). Default 20 s: under the issuer's 25 s
    /// maximum and gateways' read timeouts, long enough that an idle replica costs the
    /// issuer one request per 20 s. The request's own timeout is this plus `fetch_timeout`.
    pub revocation_wait: Duration,
    /// First pause after a failed poll; it doubles (jittered to 50–100 %) up to
    /// `revocation_backoff_max`. Default 250 ms: a replica of the issuer that died mid-poll
    /// is replaced by another at once, a failing issuer is not hammered.
    pub revocation_backoff_min: Duration,
    /// Longest pause between failed polls. Default 1 s: bounds how late revocations arrive
    /// once the issuer is back (the goal is about a second); a failed poll against a down
    /// issuer is a refused connection, so one per second per replica costs it nothing.
    pub revocation_backoff_max: Duration,
    /// Revocations held at most (sessions and tokens together). Default 100 000, about 12 MB.
    /// At the cap new revocations are not forgotten: the verifier refuses every token issued
    /// up to the newest one it could not hold, until those could no longer matter.
    pub revocation_max_entries: usize,

    /// DPoP proof limits (RFC 9449): the `iat` window, the size of the `jti` replay cache,
    /// the lifetime of a server nonce. Used only for DPoP-bound tokens.
    pub dpop: ProofSettings,
    /// Require a server nonce, sealed with this key, in every DPoP proof. Give every replica
    /// of one service the same key: then a nonce one replica issued is good at all of them,
    /// and a captured proof can be replayed at another replica only while its nonce lives.
    /// Default `None`: no nonce, and each replica's own `jti` cache is the only replay guard.
    pub dpop_nonces: Option<NonceKey>,
    /// Rebuild the URI a DPoP proof must name (`htu`) with the scheme of `X-Forwarded-Proto`
    /// and the host of `X-Forwarded-Host`, as the gateway received the request. Default
    /// `false`: `http://` plus the `Host` header, what a service reached directly sees. Turn
    /// it on only when every request reaches the service through a proxy that sets both
    /// headers itself, or anyone could name the URI their proof was made for.
    pub dpop_trust_forwarded: bool,

    /// This resource server's identifier (RFC 9728 `resource`), the URL clients reach it at.
    /// When set, every `WWW-Authenticate` challenge names its metadata URL in
    /// `resource_metadata`, and [`ResourceMetadata`](crate::resource::ResourceMetadata) is the
    /// document to serve there. Default `None`: challenges name only the realm.
    pub resource: Option<Url>,
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
            .field("revocation_feed", &self.revocation_feed)
            .field("revocation_max_entries", &self.revocation_max_entries)
            .field("dpop", &self.dpop)
            .field("dpop_nonces", &self.dpop_nonces.is_some())
            .field("dpop_trust_forwarded", &self.dpop_trust_forwarded)
            .field("resource", &self.resource.as_ref().map(Url::as_str))
            .finish_non_exhaustive()
    }
}

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
            max_stale: Duration::from_secs(3600),
            connect_timeout: Duration::from_secs(2),
            fetch_timeout: Duration::from_secs(5),
            jwks_limits: JwksLimits::default(),
            clock: Arc::new(SystemClock),
            revocation_feed: RevocationFeed::Discover,
            revocation_wait: Duration::from_secs(20),
            revocation_backoff_min: Duration::from_millis(250),
            revocation_backoff_max: Duration::from_secs(1),
            revocation_max_entries: 100_000,
            dpop: ProofSettings::default(),
            dpop_nonces: None,
            dpop_trust_forwarded: false,
            resource: None,
        }
    }

    /// Inconsistencies between fields, as `(variable, message)` pairs: those of the key set
    /// and those of the revocation feed.
    #[must_use]
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = self.key_problems();
        problems.extend(self.feed_problems());
        problems
    }

    /// The problems that make the key cache unusable ([`JwksCache`](super::JwksCache) refuses
    /// to start with any of them).
    pub(crate) fn key_problems(&self) -> Vec<(&'static str, String)> {
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

    /// The revocation feed's problems. Only a bad configured URL stops
    /// [`Verifier::start`](super::Verifier::start); the others leave the subscriber unable to
    /// work as configured, which the loader reports and the subscriber logs.
    pub(crate) fn feed_problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        match &self.revocation_feed {
            RevocationFeed::Off => return problems,
            RevocationFeed::Url(_) => {
                if let Some(message) = self.feed_url_problem() {
                    problems.push(("AUTH_EVENTS_URL", message));
                }
            }
            // Without a JWKS URL the issuer is checked above already.
            RevocationFeed::Discover if self.jwks_url.is_some() => {
                let fetchable = Url::parse(&self.issuer)
                    .map_err(|e| e.to_string())
                    .and_then(|url| check_fetch_url(&url, self.allow_insecure_http));
                if let Err(message) = fetchable {
                    problems.push((
                        "AUTH_EVENTS_URL",
                        format!(
                            "the revocation feed is discovered from AUTH_ISSUER's metadata, which cannot be fetched ({message}); set AUTH_EVENTS_URL, or AUTH_REVOCATION_FEED=off"
                        ),
                    ));
                }
            }
            RevocationFeed::Discover => {}
        }
        if self.revocation_wait < Duration::from_secs(1) {
            problems
                .push(("AUTH_REVOCATION_WAIT", "must be at least 1s (a shorter long poll is a busy loop)".to_owned()));
        }
        if self.revocation_max_entries == 0 {
            problems.push(("AUTH_REVOCATION_MAX_ENTRIES", "must be positive".to_owned()));
        }
        if self.revocation_backoff_min.is_zero() || self.revocation_backoff_min > self.revocation_backoff_max {
            problems
                .push(("revocation_backoff_min", "must be positive and not exceed revocation_backoff_max".to_owned()));
        }
        problems
    }

    /// What is wrong with a configured feed URL, if anything.
    pub(crate) fn feed_url_problem(&self) -> Option<String> {
        match &self.revocation_feed {
            RevocationFeed::Url(url) => check_fetch_url(url, self.allow_insecure_http).err(),
            RevocationFeed::Discover | RevocationFeed::Off => None,
        }
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
    fn feed_problems_are_reported_apart_from_the_key_cache_ones() {
        let mut config = VerifierConfig::new("https://auth.example.com", "orders");
        assert!(config.problems().is_empty());
        config.revocation_feed =
            RevocationFeed::Url(Url::parse("http://auth-service:8080/v1/security-events").unwrap());
        config.revocation_wait = Duration::ZERO;
        let names: Vec<&str> = config.problems().into_iter().map(|(name, _)| name).collect();
        assert_eq!(names, ["AUTH_EVENTS_URL", "AUTH_REVOCATION_WAIT"]);
        assert!(config.key_problems().is_empty());
        assert!(config.feed_url_problem().is_some());

        // Discovery from an issuer id that cannot be fetched, with only the JWKS URL set.
        let mut config = VerifierConfig::new("http://auth.test", "orders");
        config.jwks_url = Some(Url::parse("http://127.0.0.1:8081/.well-known/jwks.json").unwrap());
        assert_eq!(config.problems().len(), 1);
        assert!(config.key_problems().is_empty() && config.feed_url_problem().is_none());
        config.revocation_feed = RevocationFeed::Off;
        assert!(config.problems().is_empty());
    }
}
