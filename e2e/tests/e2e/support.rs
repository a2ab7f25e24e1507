//! Helpers every scenario uses: running a scenario on its own stack, users, polling with a
//! deadline, reaching every replica, background load, and saying why a part was skipped; and,
//! for the revocation scenarios, checking that tokens are accepted or refused on every
//! verifying replica and timing how long a revocation takes to reach the last one.

use std::{
    collections::{BTreeMap, BTreeSet},
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
    stack::Stack,
    tokens,
};
use http::StatusCode;
use tokio::{task::JoinHandle, time::Instant};

/// Password of every user the scenarios create (valid under auth-service's rules).
pub const PASSWORD: &str = "correct horse battery staple";

/// Runs a scenario on its own stack (see [`e2e::stack::scenario`]).
pub use e2e::stack::scenario;

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

/// `sid` (the session id) of an access token.
///
/// # Errors
/// Not a JWT with a `sid`.
pub fn session_id_of(token: &str) -> anyhow::Result<String> {
    let parts = tokens::decode(token)?;
    Ok(parts.claims.get("sid").and_then(|v| v.as_str()).context("token without sid")?.to_owned())
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

/// The verifying services and the path where each answers a user's token.
pub const VERIFIER_PATHS: [(Service, &str); 2] =
    [(Service::Orders, "/v1/orders"), (Service::Notifications, "/v1/notifications")];

/// The claim: a revocation reaches every verifier within this time of being acknowledged.
pub const REVOCATION_BOUND: Duration = Duration::from_secs(1);

/// How long [`refused_everywhere`] waits for a slow replica before it gives up, so that a
/// figure over [`REVOCATION_BOUND`] is still measured and printed.
const REVOCATION_GIVE_UP: Duration = Duration::from_secs(15);

/// Pause between two rounds of requests to one replica while waiting for a refusal.
const REVOCATION_POLL: Duration = Duration::from_millis(10);

/// Fails unless every orders and notifications replica accepts each of `tokens` (200).
///
/// # Errors
/// A replica refused a token, or could not be reached.
pub async fn accepted_everywhere(stack: &Stack, tokens: &[&str], what: &str) -> anyhow::Result<()> {
    for (service, path) in VERIFIER_PATHS {
        for (index, token) in tokens.iter().enumerate() {
            let replies = on_every_replica(stack, service, |replica| {
                let token = (*token).to_owned();
                async move { Ok(replica.get(path, Some(&token)).await?) }
            })
            .await?;
            for (replica, reply) in replies {
                anyhow::ensure!(
                    reply.status == StatusCode::OK,
                    "{what}: token {index} refused by {replica} at {path}: {} {}",
                    reply.status,
                    reply.text
                );
            }
        }
    }
    Ok(())
}

/// How long one revocation took to reach every verifying replica.
#[derive(Debug, Clone)]
pub struct Propagation {
    /// What was revoked, and how.
    pub case: String,
    /// Each replica (`X-Served-By`) with the time from the acknowledged revocation to the
    /// answer in which it refused the last of the tokens: an upper bound, since the replica
    /// decided a little before its answer arrived.
    pub replicas: BTreeMap<String, Duration>,
}

impl Propagation {
    /// The time until the last replica refused.
    #[must_use]
    pub fn slowest(&self) -> Duration {
        self.replicas.values().copied().max().unwrap_or_default()
    }

    /// One line: the case, the slowest figure and every replica's.
    #[must_use]
    pub fn summary(&self) -> String {
        let each: Vec<String> = self
            .replicas
            .iter()
            .map(|(replica, took)| format!("{} {:.3} s", short_replica(replica), took.as_secs_f64()))
            .collect();
        format!(
            "{}: revoked -> last of {} verifier replicas refusing in {:.3} s ({})",
            self.case,
            self.replicas.len(),
            self.slowest().as_secs_f64(),
            each.join(", ")
        )
    }
}

/// `orders-2` from `orders-service/orders-2` (under compose, the container id).
fn short_replica(served_by: &str) -> &str {
    served_by.rsplit_once('/').map_or(served_by, |(_, instance)| instance)
}

/// Prints every figure and fails unless each is within [`REVOCATION_BOUND`].
///
/// # Errors
/// A revocation took longer than the bound to reach its last replica.
pub fn ensure_within_bound(scenario: &str, figures: &[Propagation]) -> anyhow::Result<()> {
    ensure_within(scenario, figures, REVOCATION_BOUND)
}

/// Prints every figure and fails unless each is within `bound`.
///
/// # Errors
/// A revocation took longer than `bound` to reach its last replica.
pub fn ensure_within(scenario: &str, figures: &[Propagation], bound: Duration) -> anyhow::Result<()> {
    eprintln!("e2e[{scenario}]: revocation -> last verifier replica refusing (bound {bound:?}):");
    for figure in figures {
        eprintln!("e2e[{scenario}]:   {:<44} {:.3} s", figure.case, figure.slowest().as_secs_f64());
    }
    let late: Vec<String> = figures.iter().filter(|f| f.slowest() > bound).map(Propagation::summary).collect();
    anyhow::ensure!(late.is_empty(), "revocations slower than {bound:?}: {}", late.join("; "));
    Ok(())
}

/// Waits until every orders and notifications replica refuses each of `tokens` as revoked
/// (401 `invalid_token`, "revoked"), polling each replica directly from `acked`, the moment
/// the revocation was acknowledged, and returns the figures (also printed). Where replicas
/// cannot be reached directly, polls through the gateway until every replica the topology
/// promises has refused, told apart by `X-Served-By`.
///
/// # Errors
/// A replica answered anything but 200 or a revoked refusal, accepted a token again after it
/// had refused it, or still accepted one [`REVOCATION_GIVE_UP`] after the revocation.
pub async fn refused_everywhere(
    stack: &Stack,
    scenario: &str,
    case: &str,
    tokens: &[&str],
    acked: Instant,
) -> anyhow::Result<Propagation> {
    let gateway = Api::new(stack.gateway_url().clone());
    let tokens: Vec<String> = tokens.iter().map(|t| (*t).to_owned()).collect();
    let mut watches: Vec<futures::future::BoxFuture<'static, anyhow::Result<Vec<ReplicaFigure>>>> = Vec::new();
    for (service, path) in VERIFIER_PATHS {
        match stack.control().replica_urls(service).await {
            Ok(urls) => {
                for url in urls {
                    let (api, tokens) = (gateway.at(&url), tokens.clone());
                    watches.push(Box::pin(async move {
                        Ok(vec![
                            watch_replica(&api, path, &tokens, acked)
                                .await
                                .with_context(|| format!("{service} at {url}"))?,
                        ])
                    }));
                }
            }
            Err(ControlError::Unsupported(_)) => {
                let (api, tokens, expected) = (gateway.clone(), tokens.clone(), stack.topology().replicas(service));
                watches.push(Box::pin(async move {
                    watch_through_gateway(&api, service, path, expected, &tokens, acked).await
                }));
            }
            Err(ControlError::Failed(error)) => return Err(error),
        }
    }
    let replicas = futures::future::try_join_all(watches).await?.into_iter().flatten().collect();
    let figure = Propagation { case: case.to_owned(), replicas };
    eprintln!("e2e[{scenario}]: {}", figure.summary());
    Ok(figure)
}

/// A replica's name (`X-Served-By`) and the time until it refused every token.
type ReplicaFigure = (String, Duration);

/// What one answer says about a token that is being revoked.
fn classify(reply: &Reply, refused_before: bool, what: &str) -> anyhow::Result<bool> {
    if reply.is_revoked_refusal() {
        return Ok(true);
    }
    let replica = served_by(reply);
    anyhow::ensure!(
        reply.status == StatusCode::OK,
        "{what}: {replica} answered {} {} (expected 200 or 401 \"the token has been revoked\")",
        reply.status,
        reply.text
    );
    anyhow::ensure!(!refused_before, "{what}: {replica} accepted the token again after refusing it as revoked");
    Ok(false)
}

/// One replica, asked directly: the time until it refused every token.
async fn watch_replica(api: &Api, path: &str, tokens: &[String], acked: Instant) -> anyhow::Result<ReplicaFigure> {
    let mut refused: Vec<Option<Duration>> = vec![None; tokens.len()];
    let mut name = api.base().to_string();
    loop {
        for (index, token) in tokens.iter().enumerate() {
            let reply = api.get(path, Some(token)).await?;
            let took = Instant::now().saturating_duration_since(acked);
            name = served_by(&reply);
            if classify(&reply, refused[index].is_some(), &format!("{path}, token {index}"))? {
                refused[index].get_or_insert(took);
            }
        }
        if let Some(slowest) = refused.iter().copied().collect::<Option<Vec<_>>>().and_then(|t| t.into_iter().max()) {
            // Once more: a refusal that holds, also when the answer comes from the verified-token
            // cache the earlier requests filled.
            for (index, token) in tokens.iter().enumerate() {
                let reply = api.get(path, Some(token)).await?;
                classify(&reply, true, &format!("{path}, token {index}"))?;
            }
            return Ok((name, slowest));
        }
        anyhow::ensure!(
            acked.elapsed() < REVOCATION_GIVE_UP,
            "{name} still accepts {} of {} revoked tokens {REVOCATION_GIVE_UP:?} after the revocation",
            refused.iter().filter(|r| r.is_none()).count(),
            tokens.len()
        );
        tokio::time::sleep(REVOCATION_POLL).await;
    }
}

/// Every replica of `service` through the gateway: the time until each refused every token.
async fn watch_through_gateway(
    api: &Api,
    service: Service,
    path: &str,
    expected: usize,
    tokens: &[String],
    acked: Instant,
) -> anyhow::Result<Vec<ReplicaFigure>> {
    let mut refused: BTreeMap<String, Vec<Option<Duration>>> = BTreeMap::new();
    // Each token `expected` times in a row: with round robin, one token per request would
    // meet the same replica every time whenever the token count is a multiple of the
    // replica count, and no replica would ever be seen refusing them all.
    let requests: Vec<(usize, &String)> =
        tokens.iter().enumerate().flat_map(|(index, token)| std::iter::repeat_n((index, token), expected)).collect();
    loop {
        for &(index, token) in &requests {
            let reply = api.get(path, Some(token)).await?;
            let took = Instant::now().saturating_duration_since(acked);
            let name = served_by(&reply);
            anyhow::ensure!(
                name.starts_with(service.name()),
                "{path} through the gateway: {} {} from {name}",
                reply.status,
                reply.text
            );
            let slots = refused.entry(name).or_insert_with(|| vec![None; tokens.len()]);
            if classify(&reply, slots[index].is_some(), &format!("{path}, token {index}"))? {
                slots[index].get_or_insert(took);
            }
        }
        let done: Vec<ReplicaFigure> = refused
            .iter()
            .filter_map(|(name, slots)| {
                slots
                    .iter()
                    .copied()
                    .collect::<Option<Vec<_>>>()
                    .and_then(|t| t.into_iter().max())
                    .map(|d| (name.clone(), d))
            })
            .collect();
        if done.len() >= expected {
            return Ok(done);
        }
        anyhow::ensure!(
            acked.elapsed() < REVOCATION_GIVE_UP,
            "only {} of {expected} {service} replicas refused the revoked tokens {REVOCATION_GIVE_UP:?} after the \
             revocation (seen: {:?})",
            done.len(),
            refused.keys().collect::<Vec<_>>()
        );
        tokio::time::sleep(REVOCATION_POLL).await;
    }
}

/// Sends `request` until it is not answered 502, 503 or 504 and did not fail in transport:
/// what a client does while the gateway has not yet taken restarted replicas back. Only for
/// requests that are safe to repeat.
///
/// # Errors
/// No other answer within 30 s.
pub async fn until_served<F, Fut>(what: &str, request: F) -> anyhow::Result<Reply>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Reply, reqwest::Error>>,
{
    poll(what, Duration::from_secs(30), Duration::from_millis(50), || async {
        match request().await {
            Ok(reply) if matches!(reply.status.as_u16(), 502..=504) => Ok(None),
            Ok(reply) => Ok(Some(reply)),
            Err(error) if error.is_connect() || error.is_timeout() => Ok(None),
            Err(error) => Err(error.into()),
        }
    })
    .await
}

/// Waits out auth-service's default `AUTH_REFRESH_REUSE_GRACE` (2 s): a second use of a
/// refresh token within it is taken for two tabs refreshing together and raises no alarm,
/// so a scenario that replays a spent token on purpose waits first.
pub async fn past_refresh_reuse_grace() {
    tokio::time::sleep(std::time::Duration::from_millis(2_300)).await;
}
