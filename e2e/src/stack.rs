//! A running system: the gateway URL every request goes through, plus the [`Control`] that
//! scenarios use to reach replicas directly and inject faults.
//!
//! [`Stack::for_test`] starts a [`LocalStack`] (the real binaries as separate processes:
//! 2 auth, 3 orders and 2 notifications replicas behind a gateway), or, when `E2E_BASE_URL`
//! is set, attaches to a system started elsewhere (black-box mode, for example docker compose)
//! and controls it through [`HookControl`].

pub mod local;

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use url::Url;

use crate::{
    binaries::Binaries,
    control::{Control, HookControl},
    database::DatabaseChoice,
    gateway::GatewayKind,
    service::{Service, Topology},
};
pub use local::LocalStack;

/// Runs test `name` against its own stack.
///
/// A fresh local stack configured by `configure`, or the black-box system at `E2E_BASE_URL`.
/// Prints `e2e[<name>]: passed in …`; on failure prints the replicas' logs, keeps the stack's
/// directory and panics with the error.
///
/// # Panics
/// When the stack cannot start or `body` fails: the test fails.
pub async fn scenario(
    name: &str,
    configure: impl FnOnce(StackOptions) -> StackOptions,
    body: impl AsyncFnOnce(&Stack) -> anyhow::Result<()>,
) {
    let started = std::time::Instant::now();
    let stack = match Stack::for_test(name, configure).await {
        Ok(stack) => stack,
        Err(error) => panic!("{name}: cannot start the stack: {error:#}"),
    };
    match body(&stack).await {
        Ok(()) => {
            stack.shutdown().await;
            eprintln!("e2e[{name}]: passed in {:.1}s", started.elapsed().as_secs_f64());
        }
        Err(error) => {
            if let Some(local) = stack.local() {
                local.report_failure();
            }
            panic!("{name}: {error:#}");
        }
    }
}

/// How to start a local stack. [`StackOptions::from_env`] gives the defaults; scenarios adjust
/// fields (extra environment, the database proxy) before starting.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Used in log lines and database names.
    pub name: String,
    /// Replicas per service.
    pub topology: Topology,
    /// SQLite or fresh PostgreSQL databases.
    pub database: DatabaseChoice,
    /// nginx or the built-in gateway.
    pub gateway: GatewayKind,
    /// The gateway's port on 127.0.0.1; `None` or `Some(0)` picks a free one.
    pub gateway_port: Option<u16>,
    /// Where databases, logs and the gateway's files go; `None` for a temporary directory
    /// removed at the end (kept, and its path printed, when a test fails or `E2E_KEEP=1`).
    pub dir: Option<PathBuf>,
    /// Route PostgreSQL traffic through a proxy a scenario can switch off (database outage).
    pub database_proxy: bool,
    /// More OAuth clients for auth-service, each `id|secret|scopes|audiences` (orders-service's
    /// own client is always registered).
    pub extra_auth_clients: Vec<String>,
    /// Extra environment: `(None, k, v)` for every service, `(Some(s), k, v)` for one.
    pub env: Vec<(Option<Service>, String, String)>,
    /// How long every replica has to become ready.
    pub ready_timeout: Duration,
    /// The service binaries.
    pub binaries: Binaries,
    /// `RUST_LOG` of the replicas (`E2E_RUST_LOG`, default `info`).
    pub rust_log: String,
}

impl StackOptions {
    /// Defaults, with the database, gateway, topology (`E2E_TOPOLOGY`, such as
    /// `auth=2,orders=3,notifications=2`) and log level taken from the environment.
    ///
    /// # Errors
    /// A bad `E2E_GATEWAY` or `E2E_TOPOLOGY`.
    pub fn from_env(name: &str, binaries: Binaries) -> anyhow::Result<Self> {
        let topology = match std::env::var("E2E_TOPOLOGY") {
            Ok(raw) if !raw.trim().is_empty() => {
                Topology::parse(&raw).map_err(anyhow::Error::msg).context("E2E_TOPOLOGY")?
            }
            _ => Topology::default(),
        };
        Ok(Self {
            name: name.to_owned(),
            topology,
            database: DatabaseChoice::from_env(),
            gateway: GatewayKind::detect()?,
            gateway_port: None,
            dir: None,
            database_proxy: false,
            extra_auth_clients: Vec::new(),
            env: Vec::new(),
            ready_timeout: Duration::from_secs(120),
            binaries,
            rust_log: std::env::var("E2E_RUST_LOG")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| "info".to_owned()),
        })
    }

    /// Adds `key=value` to the environment of `service` (`None`: every service).
    #[must_use]
    pub fn with_env(mut self, service: Option<Service>, key: &str, value: &str) -> Self {
        self.env.push((service, key.to_owned(), value.to_owned()));
        self
    }
}

/// The system under test.
pub struct Stack {
    gateway: Url,
    control: Arc<dyn Control>,
    local: Option<Arc<LocalStack>>,
    topology: Topology,
    database_is_postgres: Option<bool>,
}

impl std::fmt::Debug for Stack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stack")
            .field("gateway", &self.gateway.as_str())
            .field("topology", &self.topology)
            .finish_non_exhaustive()
    }
}

impl Stack {
    /// The system a test runs against: the one at `E2E_BASE_URL` when set (black-box mode;
    /// `configure` is not applied), else a new local stack built with the test process's
    /// binaries and `configure`d options.
    ///
    /// # Errors
    /// Building the binaries or starting any process failed.
    pub async fn for_test(name: &str, configure: impl FnOnce(StackOptions) -> StackOptions) -> anyhow::Result<Stack> {
        if let Some(stack) = Self::black_box()? {
            eprintln!("e2e[{name}]: {}", stack.control.describe());
            return Ok(stack);
        }
        let binaries = tokio::task::spawn_blocking(Binaries::for_tests).await.context("build task panicked")??;
        let options = configure(StackOptions::from_env(name, binaries)?);
        Self::start(options).await
    }

    /// Starts a local stack.
    ///
    /// # Errors
    /// Any process failed to start or to become ready in time.
    pub async fn start(options: StackOptions) -> anyhow::Result<Stack> {
        let topology = options.topology;
        let local = Arc::new(LocalStack::start(options).await?);
        Ok(Stack {
            gateway: local.gateway_url(),
            control: Arc::clone(&local) as Arc<dyn Control>,
            database_is_postgres: Some(local.is_postgres()),
            local: Some(local),
            topology,
        })
    }

    /// The system at `E2E_BASE_URL`, when that is set. `E2E_FAULT_HOOK` names the program
    /// that kills and restarts its replicas; `E2E_TOPOLOGY` says how many replicas it runs.
    ///
    /// # Errors
    /// A malformed `E2E_BASE_URL` or `E2E_TOPOLOGY`.
    pub fn black_box() -> anyhow::Result<Option<Stack>> {
        let Some(raw) = std::env::var("E2E_BASE_URL").ok().filter(|v| !v.trim().is_empty()) else {
            return Ok(None);
        };
        let gateway = Url::parse(raw.trim()).context("E2E_BASE_URL is not a URL")?;
        let hook = std::env::var_os("E2E_FAULT_HOOK").filter(|v| !v.is_empty()).map(PathBuf::from);
        let topology = match std::env::var("E2E_TOPOLOGY") {
            Ok(raw) if !raw.trim().is_empty() => {
                Topology::parse(&raw).map_err(anyhow::Error::msg).context("E2E_TOPOLOGY")?
            }
            _ => Topology::default(),
        };
        let database_is_postgres = std::env::var("E2E_DATABASE_KIND").ok().map(|k| k.trim() == "postgres");
        Ok(Some(Stack {
            control: Arc::new(HookControl::new(gateway.clone(), hook)),
            gateway,
            local: None,
            topology,
            database_is_postgres,
        }))
    }

    /// The gateway every request goes through.
    #[must_use]
    pub fn gateway_url(&self) -> &Url {
        &self.gateway
    }

    /// Replica counts (known exactly locally; from `E2E_TOPOLOGY` in black-box mode).
    #[must_use]
    pub fn topology(&self) -> Topology {
        self.topology
    }

    /// Kill, restart, and the rest of what scenarios do besides requests.
    #[must_use]
    pub fn control(&self) -> &dyn Control {
        self.control.as_ref()
    }

    /// The local stack, when this is one.
    #[must_use]
    pub fn local(&self) -> Option<&LocalStack> {
        self.local.as_deref()
    }

    /// `Some(true)` on PostgreSQL, `Some(false)` on SQLite, `None` when unknown (black-box
    /// mode without `E2E_DATABASE_KIND`).
    #[must_use]
    pub fn database_is_postgres(&self) -> Option<bool> {
        self.database_is_postgres
    }

    /// Stops every process gracefully and drops the stack's PostgreSQL databases (local
    /// stacks; a no-op in black-box mode).
    pub async fn shutdown(self) {
        if let Some(local) = self.local {
            local.shutdown().await;
        }
    }
}
