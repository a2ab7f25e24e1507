//! The single entry point in front of the replicas.
//!
//! nginx when it is installed (on `PATH` or at `/usr/sbin/nginx`), configured from
//! `deploy/gateway/nginx.conf.template`. Without nginx the harness routes and spreads requests
//! over the replicas itself with [`builtin::BuiltInGateway`] (round robin, retry of idempotent
//! requests on the next replica, passive health checks), and says so when it starts. Both
//! route the same paths, defined once in [`route`] (and [`rewrite`] for the paths a service
//! knows by another name).

pub mod builtin;
pub mod nginx;
pub mod page;

use std::{collections::BTreeMap, path::PathBuf};

use url::Url;

use crate::service::Service;

/// Which gateway to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayKind {
    /// nginx at this path.
    Nginx(PathBuf),
    /// The harness's own router.
    BuiltIn,
}

impl GatewayKind {
    /// nginx when found, else the built-in gateway. `E2E_GATEWAY=builtin` forces the built-in
    /// one; `E2E_GATEWAY=nginx` makes a missing nginx an error.
    ///
    /// # Errors
    /// `E2E_GATEWAY=nginx` without nginx, or an unknown `E2E_GATEWAY` value.
    pub fn detect() -> anyhow::Result<Self> {
        let wanted = std::env::var("E2E_GATEWAY").unwrap_or_default();
        match wanted.trim() {
            "builtin" | "built-in" => Ok(GatewayKind::BuiltIn),
            "nginx" => nginx::find().map(GatewayKind::Nginx).ok_or_else(|| {
                anyhow::anyhow!("E2E_GATEWAY=nginx but nginx is neither on PATH nor at /usr/sbin/nginx")
            }),
            "" | "auto" => Ok(nginx::find().map_or(GatewayKind::BuiltIn, GatewayKind::Nginx)),
            other => anyhow::bail!("E2E_GATEWAY must be nginx, builtin or auto, not `{other}`"),
        }
    }
}

/// Ports of each service's replicas on 127.0.0.1.
pub type Upstreams = BTreeMap<Service, Vec<u16>>;

/// A running gateway.
#[derive(Debug)]
pub enum Gateway {
    /// nginx as a child process.
    Nginx(Box<nginx::NginxGateway>),
    /// The in-process router.
    BuiltIn(builtin::BuiltInGateway),
}

impl Gateway {
    /// Its base URL.
    #[must_use]
    pub fn url(&self) -> Url {
        match self {
            Gateway::Nginx(g) => g.url(),
            Gateway::BuiltIn(g) => g.url(),
        }
    }

    /// One line saying what it is, for the test output.
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Gateway::Nginx(g) => format!("nginx ({}) at {}", g.binary().display(), g.url()),
            Gateway::BuiltIn(g) => format!(
                "built-in gateway at {} (no nginx in use: the harness spreads requests over the replicas itself, \
                 round robin, retrying idempotent requests on the next replica)",
                g.url()
            ),
        }
    }

    /// Stops it.
    pub async fn stop(&mut self) {
        match self {
            Gateway::Nginx(g) => g.stop().await,
            Gateway::BuiltIn(g) => g.stop(),
        }
    }
}

/// The service a request path goes to; `None` for paths the gateway does not route.
///
/// The same table as the `location` blocks of the nginx template (a unit test checks that
/// they agree).
#[must_use]
pub fn route(path: &str) -> Option<Service> {
    let under = |prefix: &str| path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'));
    // RFC 9728 §3.1: each resource's metadata sits under the shared well-known prefix.
    let metadata = |resource: &str| path.strip_prefix("/.well-known/oauth-protected-resource") == Some(resource);
    if under("/v1/orders") || metadata("/v1/orders") || path == "/openapi/orders.json" {
        Some(Service::Orders)
    } else if under("/v1/notifications") || metadata("/v1/notifications") || path == "/openapi/notifications.json" {
        Some(Service::Notifications)
    } else if under("/v1/users")
        || path == "/v1/login"
        || path == "/v1/logout"
        || under("/v1/sessions")
        || path == "/v1/security-events"
        || path == "/v1/keys"
        || path.starts_with("/v1/admin/")
        || path.starts_with("/oauth/")
        || path.starts_with("/.well-known/")
        || path == "/openapi/auth.json"
    {
        Some(Service::Auth)
    } else {
        None
    }
}

/// The path the service is asked for, where it differs from the gateway's.
///
/// Each service's OpenAPI document is `/openapi.json` on the service and
/// `/openapi/<service>.json` on the gateway (nginx: a URI in `proxy_pass`).
#[must_use]
pub fn rewrite(path: &str) -> Option<&'static str> {
    matches!(path, "/openapi/orders.json" | "/openapi/notifications.json" | "/openapi/auth.json")
        .then_some("/openapi.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_route_to_their_service() {
        assert_eq!(route("/v1/orders"), Some(Service::Orders));
        assert_eq!(route("/v1/orders/0192"), Some(Service::Orders));
        assert_eq!(route("/v1/ordersx"), None);
        assert_eq!(route("/v1/notifications/abc/read"), Some(Service::Notifications));
        assert_eq!(route("/v1/users"), Some(Service::Auth));
        assert_eq!(route("/v1/login"), Some(Service::Auth));
        assert_eq!(route("/v1/logout"), Some(Service::Auth));
        assert_eq!(route("/v1/sessions/123"), Some(Service::Auth));
        assert_eq!(route("/v1/security-events"), Some(Service::Auth));
        assert_eq!(route("/v1/security-eventsx"), None);
        assert_eq!(route("/v1/keys"), Some(Service::Auth));
        assert_eq!(route("/v1/admin/keys/rotate"), Some(Service::Auth));
        assert_eq!(route("/oauth/token"), Some(Service::Auth));
        assert_eq!(route("/.well-known/jwks.json"), Some(Service::Auth));
        assert_eq!(route("/.well-known/oauth-protected-resource/v1/orders"), Some(Service::Orders));
        assert_eq!(route("/.well-known/oauth-protected-resource/v1/notifications"), Some(Service::Notifications));
        assert_eq!(route("/.well-known/oauth-protected-resource/v1/orders/x"), Some(Service::Auth));
        assert_eq!(route("/openapi/orders.json"), Some(Service::Orders));
        assert_eq!(route("/openapi/notifications.json"), Some(Service::Notifications));
        assert_eq!(route("/openapi/auth.json"), Some(Service::Auth));
        assert_eq!(rewrite("/openapi/auth.json"), Some("/openapi.json"));
        assert_eq!(rewrite("/openapi/orders.json"), Some("/openapi.json"));
        assert_eq!(rewrite("/v1/orders"), None);
        assert_eq!(route("/openapi.json"), None);
        assert_eq!(route("/metrics"), None);
        assert_eq!(route("/"), None);
    }
}
