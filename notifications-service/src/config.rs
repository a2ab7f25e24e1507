//! notifications-service settings, read once at start from environment variables.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `LISTEN_ADDR` | `127.0.0.1:8083` | address to bind (port 0 picks a free port) |
//! | `DATABASE_URL` | `sqlite://data/notifications.db` | SQLite file or `postgres://…` |
//! | `DATABASE_MAX_CONNECTIONS` | `10` | pool size per replica |
//! | `LOG_FORMAT`, `RUST_LOG` | human, `info` | logging |
//! | `AUTH_ISSUER`, `AUTH_JWKS_URL`, `AUTH_ALLOW_INSECURE_HTTP`, … | see `jwt_verifier` | the trusted issuer |
//! | `AUTH_RESOURCE_URL` | issuer origin + `/v1/notifications` | this resource's RFC 9728 identifier, published at `/.well-known/oauth-protected-resource` and named in challenges |
//!
//! The audience this service accepts is fixed: `notifications-service`. An unset
//! `AUTH_ISSUER` falls back to the development issuer, which is refused unless
//! `DEV_MODE=true` (`service_kit::config::dev_mode`).

use std::net::SocketAddr;

use jwt_verifier::VerifierConfig;
use service_kit::config::{CommonSettings, ConfigError, Env};

/// Name used in `X-Served-By`, logs and metrics.
pub const SERVICE_NAME: &str = "notifications-service";
/// The `aud` value tokens must carry to be accepted here.
pub const AUDIENCE: &str = "notifications-service";

/// Where the API lives under the resource's origin: the default RFC 9728 resource identifier
/// is the issuer's origin plus this path (`AUTH_RESOURCE_URL` overrides it).
pub const RESOURCE_PATH: &str = "/v1/notifications";
/// `LISTEN_ADDR` when unset.
pub const DEFAULT_LISTEN_ADDR: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8083);

/// Everything the service needs to start.
pub struct Settings {
    /// Listen address, database URL, log format.
    pub common: CommonSettings,
    /// `DATABASE_MAX_CONNECTIONS`: the pool size of this replica. With PostgreSQL, replicas ×
    /// this must stay under the server's `max_connections`.
    pub database_max_connections: u32,
    /// The issuer this service trusts and how its keys are fetched and cached.
    pub verifier: VerifierConfig,
}

impl Settings {
    /// Reads every variable, recording each bad value in `env`.
    pub fn from_env(env: &mut Env) -> Self {
        let common = CommonSettings::read(env, DEFAULT_LISTEN_ADDR, "notifications.db");
        let database_max_connections =
            env.parse_with("DATABASE_MAX_CONNECTIONS", 10, service_kit::config::parse_pool_size);
        let mut verifier = service_kit::config::verifier_config(env, AUDIENCE);
        verifier.resource = service_kit::config::resource_url(env, &verifier, RESOURCE_PATH);
        Self { common, database_max_connections, verifier }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_configuration_but_dev_mode() {
        let mut env = Env::from_pairs([("DEV_MODE", "true")]);
        let settings = Settings::from_env(&mut env);
        assert_eq!(settings.common.listen_addr, DEFAULT_LISTEN_ADDR);
        assert_eq!(settings.common.database_url, "sqlite://data/notifications.db");
        assert_eq!(settings.database_max_connections, 10);
        assert_eq!(env.finish().unwrap(), ["AUTH_ISSUER"]);

        let mut env = Env::from_pairs(Vec::<(String, String)>::new());
        let _ = Settings::from_env(&mut env);
        let problems = env.finish().unwrap_err().0;
        assert!(problems[0].starts_with("AUTH_ISSUER: unset"), "{problems:?}");
    }

    #[test]
    fn a_bad_pool_size_is_reported() {
        let mut env = Env::from_pairs([("DATABASE_MAX_CONNECTIONS", "0")]);
        let _ = Settings::from_env(&mut env);
        let error = env.finish().unwrap_err();
        assert!(error.0[0].starts_with("DATABASE_MAX_CONNECTIONS:"), "{error}");
    }
}
