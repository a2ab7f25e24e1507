//! Test support for the services' integration tests (feature `test-support`).
//!
//! A throw-away database on SQLite or PostgreSQL, a handle on a service running in the test's
//! process, checks of the JSON error envelope, and polling with a deadline.
//!
//! Only test code enables the feature (in `[dev-dependencies]`), so nothing here ships.
//!
//! - [`openapi`]: drift checks between a served OpenAPI document and its router.

pub mod openapi;

use std::{future::Future, sync::Arc, time::Duration};

use http::StatusCode;
use serde_json::Value;
use tokio::{sync::oneshot, task::JoinHandle};

use crate::serve::Application;

/// Test databases older than this are dropped by later runs.
const PG_STALE_AFTER_SECS: u64 = 3600;

/// A database for one test: a new file in a temporary directory, or, when `TEST_DATABASE_URL`
/// names a PostgreSQL server, a new database on it (nothing else on the server is touched).
#[derive(Debug, Clone)]
pub struct TestDatabase {
    /// `DATABASE_URL` for a service.
    pub url: String,
    _dir: Option<Arc<tempfile::TempDir>>,
}

impl TestDatabase {
    /// A new empty database; `prefix` (`orders`, `auth`) names the file or the PostgreSQL
    /// database (`<prefix>_test_<unix secs>_<uuid>`).
    ///
    /// PostgreSQL databases are not dropped when the test ends: the service's pool may be
    /// half-way through a connection handshake then, and `DROP DATABASE … WITH (FORCE)` waits
    /// for such a backend until `authentication_timeout` (a minute). Instead each new database
    /// drops this prefix's databases more than an hour old, which no running test still uses.
    ///
    /// # Panics
    /// When `TEST_DATABASE_URL` is set but unusable: a test must not silently fall back.
    pub async fn create(prefix: &str) -> Self {
        crate::telemetry::init_for_tests();
        match std::env::var("TEST_DATABASE_URL") {
            Ok(server) if !server.trim().is_empty() => {
                let now =
                    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
                let name = format!("{prefix}_test_{now}_{}", uuid::Uuid::new_v4().simple());
                let admin = crate::db::connect(&server, 1).await.expect("connect to TEST_DATABASE_URL");
                drop_stale_databases(&admin, prefix, now).await;
                sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&admin)
                    .await
                    .expect("create the test database");
                admin.close().await;
                let mut url = url::Url::parse(&server).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&format!("/{name}"));
                Self { url: url.to_string(), _dir: None }
            }
            _ => {
                let dir = tempfile::tempdir().expect("create a temporary directory");
                let url = format!("sqlite://{}/{prefix}.db", dir.path().display());
                Self { url, _dir: Some(Arc::new(dir)) }
            }
        }
    }
}

async fn drop_stale_databases(admin: &crate::db::Pool, prefix: &str, now: u64) {
    let pattern = format!("{prefix}\\_test\\_%");
    let names: Vec<String> = sqlx::query_scalar("SELECT CAST(datname AS TEXT) FROM pg_database WHERE datname LIKE $1")
        .bind(pattern)
        .fetch_all(admin)
        .await
        .unwrap_or_default();
    let stem = format!("{prefix}_test_");
    for name in names {
        let created =
            name.strip_prefix(&stem).and_then(|rest| rest.split('_').next()).and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|created| now.saturating_sub(created) > PG_STALE_AFTER_SECS) {
            // Another run may be dropping it too; either way it goes.
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\"")).execute(admin).await;
        }
    }
}

/// A service running in the test's process, stopped when dropped or by
/// [`RunningServer::stop`].
#[derive(Debug)]
pub struct RunningServer {
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl RunningServer {
    /// Runs a built `application` until the handle is stopped or dropped.
    pub fn spawn<A: Application>(application: A) -> Self {
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(application.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        Self { shutdown: Some(shutdown), task: Some(task) }
    }

    /// Stops the service and waits (up to 15 s) until it has drained and released its port.
    ///
    /// # Panics
    /// When the service does not stop in time or stopped with an error.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let result = tokio::time::timeout(Duration::from_secs(15), task).await.expect("the service stops in time");
            result.expect("the server task").expect("the service stopped cleanly");
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Reads an error response and checks the workspace envelope (`error`, `error_description`).
///
/// # Panics
/// When the body is not the envelope.
pub async fn error_body(response: reqwest::Response) -> Value {
    let body: Value = response.json().await.expect("error bodies are JSON");
    assert!(body["error"].is_string(), "no `error` in {body}");
    assert!(body["error_description"].is_string(), "no `error_description` in {body}");
    body
}

/// Asserts `response` has `status`, a JSON envelope with `error == code` and a non-empty
/// description; returns the body.
///
/// # Panics
/// When any of that does not hold.
pub async fn assert_error(response: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "unexpected status");
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(content_type.starts_with("application/json"), "content type {content_type}");
    let body = error_body(response).await;
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    body
}

/// The `field` of every entry of an error body's `details`.
#[must_use]
pub fn detail_fields(body: &Value) -> Vec<String> {
    body["details"]
        .as_array()
        .map(|details| details.iter().filter_map(|d| d["field"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Polls `check` every 25 ms until it returns `Some`, failing the test after `timeout`.
///
/// # Panics
/// When `timeout` passes first.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Polls `condition` until it holds, failing the test after `timeout`.
///
/// # Panics
/// When `timeout` passes first.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually(timeout, what, || {
        let holds = condition();
        async move { holds.await.then_some(()) }
    })
    .await;
}
