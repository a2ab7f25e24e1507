//! What a scenario may do to the system besides sending it requests: reach replicas directly,
//! kill and restart them, take the database away, rotate keys.
//!
//! Scenarios only talk to the [`Control`] trait, so the same tests run against the local stack
//! (this crate starts the processes, [`crate::stack::LocalStack`]) and against a system someone
//! else started, such as docker compose, through a hook program ([`HookControl`], enabled with
//! `E2E_FAULT_HOOK`). A control that cannot do something answers
//! [`ControlError::Unsupported`] with the reason, and the scenario prints that it skipped
//! that part and why.

use std::{path::PathBuf, time::Duration};

use futures::future::BoxFuture;
use url::Url;

use crate::service::Service;

/// Which replicas an action applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Every replica of the service.
    All,
    /// One replica, numbered from 1.
    Replica(usize),
}

impl std::fmt::Display for Which {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Which::All => f.write_str("all"),
            Which::Replica(n) => write!(f, "{n}"),
        }
    }
}

/// Why a control action did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// This control cannot do it at all; the scenario skips the part that needs it.
    #[error("not supported here: {0}")]
    Unsupported(String),
    /// It tried and failed; the scenario fails.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Result of a control action.
pub type ControlResult<T> = Result<T, ControlError>;

/// Actions on the system under test.
pub trait Control: Send + Sync {
    /// One line describing the system, for the test output.
    fn describe(&self) -> String;

    /// Base URLs of every replica of `service`, reachable directly (not through the gateway).
    fn replica_urls(&self, service: Service) -> BoxFuture<'_, ControlResult<Vec<Url>>>;

    /// SIGKILL (no graceful shutdown) of the chosen replicas; returns once they are gone.
    fn kill(&self, service: Service, which: Which) -> BoxFuture<'_, ControlResult<()>>;

    /// Starts the chosen replicas again (same address, same configuration) and returns once
    /// each answers `/readyz` with 200.
    fn restart(&self, service: Service, which: Which) -> BoxFuture<'_, ControlResult<()>>;

    /// Takes the database away from every service (`false`) or gives it back (`true`).
    fn set_database_available(&self, available: bool) -> BoxFuture<'_, ControlResult<()>>;

    /// Starts a key rotation on the issuer (a new key is published now and signs once every
    /// verifier can have fetched it).
    fn rotate_keys(&self) -> BoxFuture<'_, ControlResult<()>>;

    /// Provisions an administrator account the way an operator does (`auth-service
    /// create-admin`); self-registration never makes one.
    fn create_admin<'a>(&'a self, email: &'a str, password: &'a str) -> BoxFuture<'a, ControlResult<()>>;

    /// Starts one extra auth-service replica on the shared database, so it signs with the real
    /// keys, but misconfigured as `rogue` says (a skewed clock, another issuer name); it is
    /// reachable only directly, and its URL is returned. It mints tokens that are validly
    /// signed yet must be refused, the way a broken replica's would be.
    fn start_rogue_issuer(&self, rogue: RogueIssuer) -> BoxFuture<'_, ControlResult<Url>>;
}

/// How a rogue auth-service replica ([`Control::start_rogue_issuer`]) is misconfigured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RogueIssuer {
    /// Its wall clock runs this many seconds ahead (positive) or behind (negative); needs
    /// libfaketime.
    pub clock_skew_secs: i64,
    /// Its `AUTH_ISSUER`, when not the real one.
    pub issuer: Option<String>,
}

/// A [`Control`] for a system started elsewhere, driven by the program `E2E_FAULT_HOOK`.
///
/// Every action runs that program with arguments, and its exit code says what happened (0 done,
/// 3 not supported, anything else failed):
///
/// ```text
/// $E2E_FAULT_HOOK replicas <service>          # prints one base URL per line
/// $E2E_FAULT_HOOK kill <service> <n|all>      # SIGKILL
/// $E2E_FAULT_HOOK restart <service> <n|all>   # returns once ready
/// $E2E_FAULT_HOOK database <down|up>
/// $E2E_FAULT_HOOK rotate-keys
/// ```
///
/// `<service>` is `auth-service`, `orders-service` or `notifications-service`. A compose
/// runner implements it with `docker kill`, `docker compose start`, `docker compose exec`.
#[derive(Debug, Clone)]
pub struct HookControl {
    base_url: Url,
    hook: Option<PathBuf>,
}

/// Exit code of a hook that does not support an action.
pub const HOOK_UNSUPPORTED: i32 = 3;

/// How long a hook action may take (a restart includes waiting for readiness).
const HOOK_TIMEOUT: Duration = Duration::from_secs(180);

impl HookControl {
    /// Control of the system behind `base_url`, through `hook` when given.
    #[must_use]
    pub fn new(base_url: Url, hook: Option<PathBuf>) -> Self {
        Self { base_url, hook }
    }

    async fn run(&self, args: &[&str]) -> ControlResult<String> {
        let Some(hook) = &self.hook else {
            return Err(ControlError::Unsupported(format!(
                "black-box run against {} without E2E_FAULT_HOOK, so `{}` cannot be done",
                self.base_url,
                args.join(" ")
            )));
        };
        let output = tokio::time::timeout(
            HOOK_TIMEOUT,
            tokio::process::Command::new(hook).args(args).stdin(std::process::Stdio::null()).output(),
        )
        .await
        .map_err(|_| anyhow::anyhow!("{} {} took longer than {HOOK_TIMEOUT:?}", hook.display(), args.join(" ")))?
        .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", hook.display()))?;
        match output.status.code() {
            Some(0) => Ok(String::from_utf8_lossy(&output.stdout).into_owned()),
            Some(HOOK_UNSUPPORTED) => Err(ControlError::Unsupported(format!(
                "{} does not support `{}`: {}",
                hook.display(),
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ))),
            _ => Err(ControlError::Failed(anyhow::anyhow!(
                "{} {} failed ({}): {}",
                hook.display(),
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ))),
        }
    }
}

impl Control for HookControl {
    fn describe(&self) -> String {
        match &self.hook {
            Some(hook) => format!("black-box system at {} (fault hook {})", self.base_url, hook.display()),
            None => format!("black-box system at {} (no fault hook)", self.base_url),
        }
    }

    fn replica_urls(&self, service: Service) -> BoxFuture<'_, ControlResult<Vec<Url>>> {
        Box::pin(async move {
            let out = self.run(&["replicas", service.name()]).await?;
            let urls = out
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| Url::parse(l).map_err(|e| anyhow::anyhow!("hook printed `{l}`, not a URL: {e}")))
                .collect::<Result<Vec<_>, _>>()?;
            if urls.is_empty() {
                return Err(ControlError::Failed(anyhow::anyhow!("hook listed no replica of {service}")));
            }
            Ok(urls)
        })
    }

    fn kill(&self, service: Service, which: Which) -> BoxFuture<'_, ControlResult<()>> {
        Box::pin(async move { self.run(&["kill", service.name(), &which.to_string()]).await.map(drop) })
    }

    fn restart(&self, service: Service, which: Which) -> BoxFuture<'_, ControlResult<()>> {
        Box::pin(async move { self.run(&["restart", service.name(), &which.to_string()]).await.map(drop) })
    }

    fn set_database_available(&self, available: bool) -> BoxFuture<'_, ControlResult<()>> {
        Box::pin(async move { self.run(&["database", if available { "up" } else { "down" }]).await.map(drop) })
    }

    fn rotate_keys(&self) -> BoxFuture<'_, ControlResult<()>> {
        Box::pin(async move { self.run(&["rotate-keys"]).await.map(drop) })
    }

    fn create_admin<'a>(&'a self, _email: &'a str, _password: &'a str) -> BoxFuture<'a, ControlResult<()>> {
        Box::pin(async move {
            Err(ControlError::Unsupported(
                "administrators are provisioned inside the deployment (`auth-service create-admin`), not through \
                 the hook"
                    .to_owned(),
            ))
        })
    }

    fn start_rogue_issuer(&self, _rogue: RogueIssuer) -> BoxFuture<'_, ControlResult<Url>> {
        Box::pin(async move {
            Err(ControlError::Unsupported(
                "a misconfigured extra auth-service replica can only be started by the local harness".to_owned(),
            ))
        })
    }
}
