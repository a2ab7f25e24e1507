//! The system as separate processes on this machine: every replica is the real service binary
//! on its own port, the replicas of a service share one database, and a gateway sits in front.
//!
//! Start order: the first auth replica (it creates the first signing key), then the other auth
//! replicas with the first replica of each verifying service, then the rest. Replicas of one
//! service never run their migrations at the same moment, and every verifier finds a key set
//! when it first asks.
//!
//! Wiring: `AUTH_ISSUER` is the gateway URL, the address clients see. Verifiers discover the
//! JWKS and the revocation feed (`security_event_feed_endpoint`, `GET /v1/security-events`)
//! through the issuer's metadata at that URL, so their key fetches and long polls are
//! load-balanced over the auth replicas and survive the loss of one. orders-service delivers
//! notifications through the gateway too.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
    time::Duration,
};

use anyhow::{Context, bail};
use base64::Engine;
use futures::future::{BoxFuture, try_join_all};
use tokio::sync::Mutex;
use url::Url;

use super::StackOptions;
use crate::{
    binaries::Binaries,
    control::{Control, ControlError, ControlResult, RogueIssuer, Which},
    database::Databases,
    gateway::{Gateway, GatewayKind, Upstreams, builtin::BuiltInGateway, nginx::NginxGateway},
    ports::free_port,
    process::{ReplicaProcess, ReplicaSpec},
    service::Service,
};

/// The id of orders-service's OAuth client (it asks auth-service for tokens to call
/// notifications-service).
pub const ORDERS_CLIENT_ID: &str = "orders-service";

/// A local stack; stops everything when dropped.
pub struct LocalStack {
    name: String,
    dir: PathBuf,
    temp_dir: std::sync::Mutex<Option<tempfile::TempDir>>,
    gateway: Mutex<Gateway>,
    gateway_url: Url,
    replicas: BTreeMap<Service, Vec<Mutex<ReplicaProcess>>>,
    extras: Mutex<Vec<ReplicaProcess>>,
    databases: Mutex<Databases>,
    binaries: Binaries,
    service_env: BTreeMap<Service, Vec<(String, String)>>,
    orders_client_secret: String,
    ready_timeout: Duration,
    client: reqwest::Client,
    stopped: AtomicBool,
    reported: AtomicBool,
    extra_count: AtomicUsize,
}

impl std::fmt::Debug for LocalStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStack").field("name", &self.name).field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl LocalStack {
    /// Creates the databases, starts the gateway and every replica, and returns once each
    /// replica answers `/readyz` with 200 and the gateway routes to auth-service.
    ///
    /// # Errors
    /// A database, port, process or readiness failure; the message carries the end of the
    /// failing replica's log.
    pub async fn start(options: StackOptions) -> anyhow::Result<Self> {
        let started = std::time::Instant::now();
        let (dir, temp_dir) = match &options.dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
                (dir.canonicalize().unwrap_or_else(|_| dir.clone()), None)
            }
            None => {
                let temp = tempfile::Builder::new().prefix(&format!("e2e-{}-", options.name)).tempdir()?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs)?;
        let run_id = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
        let databases = Databases::create(&options.database, &dir, &run_id, options.database_proxy).await?;

        let gateway_port = match options.gateway_port {
            Some(0) | None => free_port()?,
            Some(port) => port,
        };
        let gateway_url = Url::parse(&format!("http://127.0.0.1:{gateway_port}"))?;
        let master_key_file = master_key_file(&dir)?;
        let orders_client_secret = uuid::Uuid::new_v4().simple().to_string();
        let service_env = service_env(&options, &databases, &gateway_url, &master_key_file, &orders_client_secret);

        let mut replicas: BTreeMap<Service, Vec<Mutex<ReplicaProcess>>> = BTreeMap::new();
        let mut upstreams = Upstreams::new();
        for service in Service::ALL {
            for index in 1..=options.topology.replicas(service) {
                let port = free_port()?;
                let spec = replica_spec(&options.binaries, &service_env, &logs, service, index, port);
                upstreams.entry(service).or_default().push(port);
                replicas.entry(service).or_default().push(Mutex::new(ReplicaProcess::new(spec)));
            }
        }

        // The gateway goes first: it holds its port from now on, and verifiers reach the issuer
        // through it.
        let gateway = match &options.gateway {
            GatewayKind::Nginx(binary) => Gateway::Nginx(Box::new(
                NginxGateway::start(binary, &dir.join("gateway"), gateway_port, &upstreams).await?,
            )),
            GatewayKind::BuiltIn => Gateway::BuiltIn(BuiltInGateway::start(gateway_port, &upstreams).await?),
        };
        let client = reqwest::Client::builder().no_proxy().build()?;
        let stack = Self {
            name: options.name.clone(),
            dir,
            temp_dir: std::sync::Mutex::new(temp_dir),
            gateway: Mutex::new(gateway),
            gateway_url,
            replicas,
            extras: Mutex::new(Vec::new()),
            databases: Mutex::new(databases),
            binaries: options.binaries.clone(),
            service_env,
            orders_client_secret,
            ready_timeout: options.ready_timeout,
            client,
            stopped: AtomicBool::new(false),
            reported: AtomicBool::new(false),
            extra_count: AtomicUsize::new(0),
        };

        let first = |s: Service| (s, 1..=1);
        let rest = |s: Service, from: usize| (s, from..=options.topology.replicas(s));
        let phases = [
            vec![first(Service::Auth)],
            vec![rest(Service::Auth, 2), first(Service::Orders), first(Service::Notifications)],
            vec![rest(Service::Orders, 2), rest(Service::Notifications, 2)],
        ];
        for phase in phases {
            let mut starting = Vec::new();
            for (service, range) in phase {
                for index in range {
                    starting.push((service, index));
                }
            }
            try_join_all(starting.into_iter().map(|(service, index)| stack.start_replica(service, index))).await?;
        }
        stack.check_gateway().await?;
        let description = stack.gateway.lock().await.describe();
        eprintln!(
            "e2e[{}]: stack ready in {:.1}s: {} auth, {} orders, {} notifications replicas on {}; gateway: {description}; files in {}",
            stack.name,
            started.elapsed().as_secs_f64(),
            options.topology.auth,
            options.topology.orders,
            options.topology.notifications,
            if stack.is_postgres() { "PostgreSQL" } else { "SQLite" },
            stack.dir.display(),
        );
        Ok(stack)
    }

    async fn start_replica(&self, service: Service, index: usize) -> anyhow::Result<()> {
        let Some(replica) = self.replicas.get(&service).and_then(|r| r.get(index - 1)) else {
            bail!("{service} has no replica {index}");
        };
        let mut replica = replica.lock().await;
        replica.spawn()?;
        replica.wait_ready(&self.client, self.ready_timeout).await
    }

    /// The gateway answers, and routes to auth-service (which also proves the discovery path
    /// every verifier uses).
    async fn check_gateway(&self) -> anyhow::Result<()> {
        let url = self.gateway_url.join("/.well-known/openid-configuration")?;
        let response =
            self.client.get(url.clone()).send().await.with_context(|| format!("gateway at {url} does not answer"))?;
        if !response.status().is_success() {
            bail!("gateway answered {} for {url}", response.status());
        }
        Ok(())
    }

    /// The gateway's base URL.
    #[must_use]
    pub fn gateway_url(&self) -> Url {
        self.gateway_url.clone()
    }

    /// `true` on PostgreSQL.
    #[must_use]
    pub fn is_postgres(&self) -> bool {
        self.databases.try_lock().map(|d| d.is_postgres()).unwrap_or(false)
    }

    /// The stack's directory (databases, logs, gateway files).
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The secret of orders-service's OAuth client in this stack (scenarios use it to get a
    /// service token, as orders-service itself does).
    #[must_use]
    pub fn orders_client_secret(&self) -> &str {
        &self.orders_client_secret
    }

    /// What one line of this stack's description says about the gateway.
    pub async fn gateway_description(&self) -> String {
        self.gateway.lock().await.describe()
    }

    /// Stops the gateway and every replica gracefully (SIGTERM, then SIGKILL after 10 s) and
    /// drops the stack's PostgreSQL databases.
    pub async fn shutdown(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        self.gateway.lock().await.stop().await;
        let mut stopping = Vec::new();
        for replicas in self.replicas.values() {
            for replica in replicas {
                stopping.push(async move { replica.lock().await.stop(Duration::from_secs(10)).await });
            }
        }
        futures::future::join_all(stopping).await;
        for extra in self.extras.lock().await.iter_mut() {
            extra.kill().await;
        }
        if let Err(error) = self.databases.lock().await.drop_all().await {
            eprintln!("e2e[{}]: {error:#}", self.name);
        }
        if keep_files() {
            self.keep_dir();
        }
    }

    /// For a failed scenario: prints the end of every replica's log and of the gateway's error
    /// log, and keeps the stack's directory (its path is printed). Only the first call prints.
    pub fn report_failure(&self) {
        if self.reported.swap(true, Ordering::SeqCst) {
            return;
        }
        for replicas in self.replicas.values() {
            for replica in replicas {
                if let Ok(replica) = replica.try_lock() {
                    eprintln!(
                        "---- e2e[{}]: last lines of {} ----\n{}",
                        self.name,
                        replica.spec().instance_id(),
                        replica.log_tail(25)
                    );
                }
            }
        }
        if let Ok(extras) = self.extras.try_lock() {
            for extra in extras.iter() {
                eprintln!(
                    "---- e2e[{}]: last lines of {} ----\n{}",
                    self.name,
                    extra.spec().instance_id(),
                    extra.log_tail(15)
                );
            }
        }
        let gateway_errors = self.dir.join("gateway/logs/error.log");
        if gateway_errors.exists() {
            eprintln!("---- e2e[{}]: nginx error log ----\n{}", self.name, crate::process::tail(&gateway_errors, 25));
        }
        self.keep_dir();
    }

    fn keep_dir(&self) {
        if let Ok(mut temp) = self.temp_dir.lock()
            && let Some(temp) = temp.take()
        {
            let path = temp.keep();
            eprintln!("e2e[{}]: kept the stack's files (logs, databases) in {}", self.name, path.display());
        }
    }

    fn selected(&self, service: Service, which: Which) -> ControlResult<Vec<&Mutex<ReplicaProcess>>> {
        let all = self.replicas.get(&service).map(Vec::as_slice).unwrap_or_default();
        match which {
            Which::All => Ok(all.iter().collect()),
            Which::Replica(n) if (1..=all.len()).contains(&n) => Ok(vec![&all[n - 1]]),
            Which::Replica(n) => Err(ControlError::Failed(anyhow::anyhow!("{service} has no replica {n}"))),
        }
    }

    /// Runs an operator subcommand of auth-service (`rotate-keys`, `create-admin`) with the
    /// stack's configuration, `input` on its standard input, and fails with its output.
    async fn run_auth_subcommand(&self, args: &[&str], input: Option<&str>) -> ControlResult<()> {
        use tokio::io::AsyncWriteExt as _;

        let mut command = tokio::process::Command::new(self.binaries.path(Service::Auth));
        command.args(args).env_clear();
        for name in ["PATH", "HOME", "TMPDIR"] {
            if let Ok(value) = std::env::var(name) {
                command.env(name, value);
            }
        }
        command.envs(self.service_env(Service::Auth).iter().map(|(k, v)| (k.as_str(), v.as_str())));
        command.env("LISTEN_ADDR", "127.0.0.1:0");
        command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let what = format!("auth-service {}", args.first().copied().unwrap_or_default());
        let mut child = command.spawn().with_context(|| format!("cannot run {what}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            if let Some(input) = input {
                stdin.write_all(format!("{input}\n").as_bytes()).await.with_context(|| format!("{what}: stdin"))?;
            }
            drop(stdin);
        }
        let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .map_err(|_| anyhow::anyhow!("{what} took longer than 60s"))?
            .with_context(|| format!("cannot run {what}"))?;
        if !output.status.success() {
            return Err(ControlError::Failed(anyhow::anyhow!(
                "{what} failed ({}):\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        Ok(())
    }

    /// The environment replicas of `service` run with (without the per-replica variables).
    #[must_use]
    pub fn service_env(&self, service: Service) -> &[(String, String)] {
        self.service_env.get(&service).map(Vec::as_slice).unwrap_or_default()
    }
}

impl Control for LocalStack {
    fn describe(&self) -> String {
        format!("local stack `{}` behind {}", self.name, self.gateway_url)
    }

    fn replica_urls(&self, service: Service) -> BoxFuture<'_, ControlResult<Vec<Url>>> {
        Box::pin(async move {
            let mut urls = Vec::new();
            for replica in self.replicas.get(&service).map(Vec::as_slice).unwrap_or_default() {
                urls.push(replica.lock().await.url());
            }
            Ok(urls)
        })
    }

    fn kill(&self, service: Service, which: Which) -> BoxFuture<'_, ControlResult<()>> {
        Box::pin(async move {
            for replica in self.selected(service, which)? {
                replica.lock().await.kill().await;
            }
            Ok(())
        })
    }

    fn restart(&self, service: Service, which: Which) -> BoxFuture<'_, ControlResult<()>> {
        Box::pin(async move {
            let selected = self.selected(service, which)?;
            try_join_all(selected.into_iter().map(|replica| async move {
                let mut replica = replica.lock().await;
                replica.spawn()?;
                replica.wait_ready(&self.client, self.ready_timeout).await
            }))
            .await?;
            Ok(())
        })
    }

    fn set_database_available(&self, available: bool) -> BoxFuture<'_, ControlResult<()>> {
        Box::pin(async move {
            let databases = self.databases.lock().await;
            match databases.proxy() {
                Some(proxy) => {
                    proxy.set_up(available);
                    Ok(())
                }
                None if databases.is_postgres() => Err(ControlError::Unsupported(
                    "this stack was started without the database proxy (StackOptions::database_proxy)".to_owned(),
                )),
                None => Err(ControlError::Unsupported(
                    "the stack runs on SQLite, an embedded file each replica opens itself, so there is no database \
                     server to lose; set E2E_DATABASE_URL (or TEST_DATABASE_URL) to a PostgreSQL server to run this"
                        .to_owned(),
                )),
            }
        })
    }

    fn rotate_keys(&self) -> BoxFuture<'_, ControlResult<()>> {
        // The same subcommand an operator runs: it works on the shared database, and every
        // replica picks the new key up on its next key-table refresh.
        Box::pin(async move { self.run_auth_subcommand(&["rotate-keys"], None).await })
    }

    fn create_admin<'a>(&'a self, email: &'a str, password: &'a str) -> BoxFuture<'a, ControlResult<()>> {
        Box::pin(async move { self.run_auth_subcommand(&["create-admin", "--email", email], Some(password)).await })
    }

    fn start_rogue_issuer(&self, rogue: RogueIssuer) -> BoxFuture<'_, ControlResult<Url>> {
        Box::pin(async move {
            let number = self.extra_count.fetch_add(1, Ordering::Relaxed) + 1;
            let port = free_port().map_err(anyhow::Error::from)?;
            let mut spec = replica_spec(
                &self.binaries,
                &self.service_env,
                &self.dir.join("logs"),
                Service::Auth,
                100 + number,
                port,
            );
            let mut set = |key: &str, value: String| {
                spec.env.retain(|(k, _)| k != key);
                spec.env.push((key.to_owned(), value));
            };
            set("INSTANCE_ID", format!("auth-rogue-{number}"));
            if let Some(issuer) = rogue.issuer {
                set("AUTH_ISSUER", issuer);
            }
            if rogue.clock_skew_secs != 0 {
                let Some(library) = faketime_library() else {
                    return Err(ControlError::Unsupported(
                        "libfaketime is not installed (Debian package `faketime`), so no replica can run with a \
                         skewed clock"
                            .to_owned(),
                    ));
                };
                set("LD_PRELOAD", library.display().to_string());
                set("FAKETIME", format!("{:+}", rogue.clock_skew_secs));
                // Timers and timeouts keep real time; only the wall clock is off.
                set("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_owned());
                set("FAKETIME_NO_CACHE", "1".to_owned());
            }
            let mut replica = ReplicaProcess::new(spec);
            replica.spawn()?;
            replica.wait_ready(&self.client, self.ready_timeout).await?;
            let url = replica.url();
            self.extras.lock().await.push(replica);
            Ok(url)
        })
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.stopped.load(Ordering::SeqCst) {
            self.report_failure();
        }
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        // Not shut down properly (a failed test): kill everything now, then drop the databases
        // from a thread of its own, since no runtime may be available here.
        for replicas in self.replicas.values_mut() {
            for replica in replicas {
                replica.get_mut().kill_now();
            }
        }
        for extra in self.extras.get_mut() {
            extra.kill_now();
        }
        if self.databases.get_mut().is_postgres() {
            let databases = std::mem::replace(self.databases.get_mut(), Databases::empty());
            let name = self.name.clone();
            let dropper = std::thread::spawn(move || {
                let mut databases = databases;
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                    return;
                };
                if let Err(error) = runtime.block_on(databases.drop_all()) {
                    eprintln!("e2e[{name}]: {error:#}");
                }
            });
            let _ = dropper.join();
        }
    }
}

/// `E2E_KEEP=1`: keep every stack's directory.
fn keep_files() -> bool {
    std::env::var("E2E_KEEP").is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes"))
}

/// The file holding auth-service's master key in `dir`, created (mode 0600) on first use, so
/// every auth replica, the `rotate-keys` subcommand and later runs of the `stack` binary on the
/// same directory share one key.
fn master_key_file(dir: &Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("auth-master.key");
    if !path.exists() {
        let key: [u8; 32] = rand::random();
        let encoded = base64::engine::general_purpose::STANDARD.encode(key);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        use std::io::Write as _;
        options.open(&path).and_then(|mut f| f.write_all(encoded.as_bytes())).context("cannot write the master key")?;
    }
    Ok(path)
}

/// The environment of each service's replicas, before the per-replica variables. Every
/// secret is the stack's own (a master key file, a random client secret) and the issuer is
/// the gateway, so no development default is used and the services start without `DEV_MODE`.
fn service_env(
    options: &StackOptions,
    databases: &Databases,
    gateway: &Url,
    master_key_file: &Path,
    orders_client_secret: &str,
) -> BTreeMap<Service, Vec<(String, String)>> {
    let issuer = gateway.as_str().trim_end_matches('/').to_owned();
    let pair = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    let mut all = BTreeMap::new();
    for service in Service::ALL {
        let mut env = vec![
            pair("DATABASE_URL", databases.url(service)),
            pair("RUST_LOG", &options.rust_log),
            // Log files, not terminals: no colour codes.
            pair("NO_COLOR", "1"),
            pair("AUTH_ISSUER", &issuer),
        ];
        match service {
            Service::Auth => env.extend([
                pair("AUTH_MASTER_KEY_FILE", &master_key_file.display().to_string()),
                pair("AUTH_CLIENTS", &{
                    let mut clients = vec![format!(
                        "{ORDERS_CLIENT_ID}|{orders_client_secret}|notifications:write|notifications-service"
                    )];
                    clients.extend(options.extra_auth_clients.iter().cloned());
                    clients.join(";")
                }),
                // The gateway appends the client's address to X-Forwarded-For.
                pair("AUTH_TRUST_FORWARDED_FOR", "true"),
                // Small pools: with PostgreSQL, every replica of every stack shares one server.
                pair("AUTH_DB_MAX_CONNECTIONS", "4"),
            ]),
            Service::Orders => env.extend([
                pair("AUTH_ALLOW_INSECURE_HTTP", "true"),
                // On by default; said here because the revocation scenarios depend on it. The
                // feed's URL is discovered like the JWKS (no AUTH_EVENTS_URL), through the
                // gateway.
                pair("AUTH_REVOCATION_FEED", "on"),
                pair("DATABASE_MAX_CONNECTIONS", "4"),
                pair("NOTIFICATIONS_URL", &issuer),
                pair("ORDERS_CLIENT_ID", ORDERS_CLIENT_ID),
                pair("ORDERS_CLIENT_SECRET", orders_client_secret),
                // Quick redelivery so scenarios that stop notifications-service finish quickly.
                pair("OUTBOX_POLL_INTERVAL", "500ms"),
                pair("OUTBOX_INITIAL_BACKOFF", "250ms"),
                pair("OUTBOX_MAX_BACKOFF", "2s"),
                pair("NOTIFICATIONS_TIMEOUT", "2s"),
                pair("OUTBOX_CLAIM_LEASE", "15s"),
            ]),
            Service::Notifications => env.extend([
                pair("AUTH_ALLOW_INSECURE_HTTP", "true"),
                pair("AUTH_REVOCATION_FEED", "on"),
                pair("DATABASE_MAX_CONNECTIONS", "4"),
            ]),
        }
        for (only, key, value) in &options.env {
            if only.is_none_or(|s| s == service) {
                env.retain(|(k, _)| k != key);
                env.push((key.clone(), value.clone()));
            }
        }
        all.insert(service, env);
    }
    all
}

fn replica_spec(
    binaries: &Binaries,
    service_env: &BTreeMap<Service, Vec<(String, String)>>,
    logs: &Path,
    service: Service,
    index: usize,
    port: u16,
) -> ReplicaSpec {
    let mut spec = ReplicaSpec {
        service,
        index,
        port,
        binary: binaries.path(service),
        env: service_env.get(&service).cloned().unwrap_or_default(),
        log_path: PathBuf::new(),
    };
    spec.log_path = logs.join(format!("{}.log", spec.instance_id()));
    spec.env.push(("LISTEN_ADDR".to_owned(), format!("127.0.0.1:{port}")));
    spec.env.push(("INSTANCE_ID".to_owned(), spec.instance_id()));
    spec
}

/// libfaketime's preload library, when the `faketime` package is installed.
#[must_use]
pub fn faketime_library() -> Option<PathBuf> {
    let mut candidates = vec![
        PathBuf::from("/usr/lib/faketime/libfaketime.so.1"),
        PathBuf::from("/usr/local/lib/faketime/libfaketime.so.1"),
    ];
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        for entry in entries.flatten() {
            candidates.push(entry.path().join("faketime/libfaketime.so.1"));
        }
    }
    candidates.into_iter().find(|p| p.is_file())
}
