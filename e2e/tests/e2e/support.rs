//! Helpers every scenario uses: running a scenario on its own stack, users, polling with a
//! deadline, reaching every replica, background load, and saying why a part was skipped.

use std::{
    collections::BTreeSet,
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use anyhow::{Context, bail};
use e2e::{
    api::{Api, Reply, Tokens},
    control::ControlError,
    service::Service,
    stack::{Stack, StackOptions},
    tokens,
};
use http::StatusCode;
use tokio::{task::JoinHandle, time::Instant};

/// Password of every user the scenarios create (valid under auth-service's rules).
pub const PASSWORD: &str = "correct horse battery staple";

/// Runs `body` against the stack for scenario `name`: a fresh local stack configured by
/// `configure`, or the black-box system at `E2E_BASE_URL`. On failure the replicas' logs are
/// printed and the stack's directory kept.
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

/// Prints that part of a scenario did not run, and why (it never fails silently).
pub fn skipped(scenario: &str, part: &str, reason: &str) {
    eprintln!("e2e[{scenario}]: SKIPPED {part}: {reason}");
}

/// A fresh address nobody registered.
#[must_use]
pub fn unique_email() -> String {
    format!("e2e-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// A registered, logged-in user.
#[derive(Debug, Clone)]
pub struct User {
    /// Login name.
    pub email: String,
    /// `sub` of its tokens.
    pub subject: String,
    /// Tokens from its login.
    pub tokens: Tokens,
}

impl User {
    /// Its access token.
    #[must_use]
    pub fn token(&self) -> &str {
        &self.tokens.access_token
    }
}

/// Registers a new user and logs it in through `api`.
///
/// # Errors
/// Registration or login did not succeed.
pub async fn new_user(api: &Api) -> anyhow::Result<User> {
    let email = unique_email();
    api.register(&email, PASSWORD).await?.expect(StatusCode::CREATED, "POST /v1/users")?;
    let tokens = login(api, &email).await?;
    let subject = subject_of(&tokens.access_token)?;
    Ok(User { email, subject, tokens })
}

/// Logs `email` in through `api`.
///
/// # Errors
/// Login did not answer 200 with tokens.
pub async fn login(api: &Api, email: &str) -> anyhow::Result<Tokens> {
    let reply = api.login(email, PASSWORD).await?.expect(StatusCode::OK, "POST /v1/login")?;
    Tokens::from_reply(&reply)
}

/// `sub` of a JWT (decoded without verification: the services do the verifying).
///
/// # Errors
/// Not a JWT with a `sub`.
pub fn subject_of(token: &str) -> anyhow::Result<String> {
    let parts = tokens::decode(token)?;
    Ok(parts.claims.get("sub").and_then(|v| v.as_str()).context("token without sub")?.to_owned())
}

/// `kid` of a JWT.
///
/// # Errors
/// Not a JWT with a `kid`.
pub fn kid_of(token: &str) -> anyhow::Result<String> {
    let parts = tokens::decode(token)?;
    Ok(parts.header.get("kid").and_then(|v| v.as_str()).context("token without kid")?.to_owned())
}

/// Calls `check` until it returns `Some`, at most until `timeout`, pausing `interval`
/// between calls. Errors from `check` end the polling at once.
///
/// # Errors
/// `check` failed, or the deadline passed (the message names `what`).
pub async fn poll<T, F, Fut>(what: &str, timeout: Duration, interval: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(interval).await;
    }
}

/// The service and instance of a reply's `X-Served-By` (`orders-service/orders-2`).
#[must_use]
pub fn served_by(reply: &Reply) -> String {
    reply.served_by().unwrap_or("(no X-Served-By)").to_owned()
}

/// Sends `request` to every replica of `service` and returns each reply with the replica's
/// name. Locally (or with a hook that lists replicas) each replica is called directly;
/// otherwise the request goes through the gateway until every replica the topology promises
/// has answered (told apart by `X-Served-By`), so every reply must be checked by the caller.
///
/// # Errors
/// Transport failures, or replicas that never answer through the gateway.
pub async fn on_every_replica<F, Fut>(
    stack: &Stack,
    service: Service,
    request: F,
) -> anyhow::Result<Vec<(String, Reply)>>
where
    F: Fn(Api) -> Fut,
    Fut: Future<Output = anyhow::Result<Reply>>,
{
    let gateway = Api::new(stack.gateway_url().clone());
    match stack.control().replica_urls(service).await {
        Ok(urls) => {
            let mut replies = Vec::new();
            for url in urls {
                let reply = request(gateway.at(&url)).await.with_context(|| format!("{service} at {url}"))?;
                replies.push((served_by(&reply), reply));
            }
            Ok(replies)
        }
        Err(ControlError::Unsupported(_)) => {
            let expected = stack.topology().replicas(service);
            let mut seen = BTreeSet::new();
            let mut replies = Vec::new();
            for _ in 0..expected * 20 {
                let reply = request(gateway.clone()).await?;
                let name = served_by(&reply);
                if name.starts_with(service.name()) {
                    seen.insert(name.clone());
                }
                replies.push((name, reply));
                if seen.len() >= expected {
                    return Ok(replies);
                }
            }
            bail!("only {} of {expected} {service} replicas answered through the gateway: {seen:?}", seen.len())
        }
        Err(ControlError::Failed(error)) => Err(error),
    }
}

/// Workers calling a closure in a loop until stopped; collects every result.
pub struct Load<T> {
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<Vec<T>>>,
}

/// Starts `workers` tasks that each call `step(worker, iteration)` repeatedly, pausing
/// `pace` between calls so a 2-core machine keeps up.
pub fn start_load<T, F, Fut>(workers: usize, pace: Duration, step: F) -> Load<T>
where
    T: Send + 'static,
    F: Fn(usize, usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let workers = (0..workers)
        .map(|worker| {
            let stop = Arc::clone(&stop);
            let step = step.clone();
            tokio::spawn(async move {
                let mut results = Vec::new();
                let mut iteration = 0;
                while !stop.load(Ordering::Relaxed) {
                    results.push(step(worker, iteration).await);
                    iteration += 1;
                    tokio::time::sleep(pace).await;
                }
                results
            })
        })
        .collect();
    Load { stop, workers }
}

impl<T> Load<T> {
    /// Stops the workers (each finishes its current call) and returns all results.
    ///
    /// # Errors
    /// A worker panicked.
    pub async fn stop(self) -> anyhow::Result<Vec<T>> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for worker in self.workers {
            all.extend(worker.await.context("load worker panicked")?);
        }
        Ok(all)
    }
}

/// `/metrics` of every replica of `service` (reached directly), by replica URL.
///
/// # Errors
/// The replicas cannot be reached directly, or a replica's metrics cannot be read.
pub async fn replica_metrics(stack: &Stack, service: Service) -> anyhow::Result<Vec<(String, String)>> {
    let api = Api::new(stack.gateway_url().clone());
    let urls = stack.control().replica_urls(service).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut all = Vec::new();
    for url in urls {
        let text = api.at(&url).metrics().await?;
        all.push((url.to_string(), text));
    }
    Ok(all)
}
