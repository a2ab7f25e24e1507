//! Test harness: `spawn_app()` starts the real service on `127.0.0.1:0` with a fresh
//! database (a temporary `SQLite` file, or a new database on `TEST_DATABASE_URL`'s `PostgreSQL`
//! server), and typed helpers drive it over HTTP.

use std::{sync::Arc, time::Duration};

use auth_service::{config::Settings, startup::Application, state::AppState};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use shared::{config::Env, db::Pool};
use tokio::{sync::oneshot, task::JoinHandle};

/// Issuer of every test app (`iss`); deliberately not the bound address, which is random.
pub const ISSUER: &str = "http://auth.test";
/// Password used by the helpers.
pub const PASSWORD: &str = "correct horse battery";
/// A registered service client with one scope and one audience.
pub const ORDERS_CLIENT: (&str, &str) = ("orders-service", "orders-secret");
/// A registered service client with two scopes and two audiences.
pub const REPORTING_CLIENT: (&str, &str) = ("reporting", "reporting-secret");
/// Email that `AUTH_ADMIN_EMAILS` lists.
pub const ADMIN_EMAIL: &str = "admin@example.com";

/// A database for one test: the URL, and (for `SQLite`) the directory that holds the file.
#[derive(Clone)]
pub struct TestDb {
    /// `DATABASE_URL` for the app.
    pub url: String,
    _dir: Option<Arc<tempfile::TempDir>>,
}

/// Prefix of the `PostgreSQL` databases this suite creates.
const PG_PREFIX: &str = "auth_test_";
/// Test databases older than this are dropped by later runs.
const PG_STALE_AFTER_SECS: u64 = 3600;

impl TestDb {
    /// A fresh database: a new `PostgreSQL` database named `auth_test_<unix secs>_<uuid>` when
    /// `TEST_DATABASE_URL` is set, else a new `SQLite` file in a temporary directory.
    ///
    /// `PostgreSQL` databases are not dropped when the test ends: the app's pool may be half-way
    /// through a connection handshake then, and `DROP DATABASE … WITH (FORCE)` waits for such a
    /// backend until `authentication_timeout` (a minute). Instead each test drops this suite's
    /// databases that are more than an hour old, which no running test can still be using;
    /// nothing else on the server is touched.
    pub async fn fresh() -> Self {
        shared::telemetry::init_for_tests();
        match std::env::var("TEST_DATABASE_URL") {
            Ok(server) if !server.trim().is_empty() => {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
                let name = format!("{PG_PREFIX}{now}_{}", uuid::Uuid::new_v4().simple());
                let admin = shared::db::connect(&server, 1).await.expect("connect to TEST_DATABASE_URL");
                drop_stale_databases(&admin, now).await;
                sqlx::query(&format!("CREATE DATABASE {name}"))
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
                let url = format!("sqlite://{}/auth.db", dir.path().display());
                Self { url, _dir: Some(Arc::new(dir)) }
            }
        }
    }
}

async fn drop_stale_databases(admin: &Pool, now: u64) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT CAST(datname AS TEXT) FROM pg_database WHERE datname LIKE 'auth\\_test\\_%'")
            .fetch_all(admin)
            .await
            .unwrap_or_default();
    for name in names {
        let created = name
            .strip_prefix(PG_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|created| now.saturating_sub(created) > PG_STALE_AFTER_SECS) {
            // Another run may be dropping it too; either way it goes.
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(admin).await;
        }
    }
}

/// Variables every test app gets; tests override any of them.
pub fn base_env(db: &TestDb) -> Vec<(String, String)> {
    [
        ("LISTEN_ADDR", "127.0.0.1:0"),
        ("DATABASE_URL", db.url.as_str()),
        ("AUTH_DB_MAX_CONNECTIONS", "4"),
        ("AUTH_ISSUER", ISSUER),
        ("AUTH_MASTER_KEY", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
        // Far below OWASP's minimum, to keep the suite fast; production uses the defaults.
        ("AUTH_ARGON2_MEMORY_KIB", "256"),
        ("AUTH_ARGON2_ITERATIONS", "1"),
        (
            "AUTH_CLIENTS",
            "orders-service|orders-secret|notifications:write|notifications-service;\
             reporting|reporting-secret|orders:read notifications:read|orders-service notifications-service",
        ),
        ("AUTH_ADMIN_EMAILS", ADMIN_EMAIL),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Settings from the base variables plus `overrides`.
pub fn settings(db: &TestDb, overrides: &[(&str, &str)]) -> Settings {
    let mut vars = base_env(db);
    for (name, value) in overrides {
        vars.retain(|(k, _)| k != name);
        vars.push(((*name).to_owned(), (*value).to_owned()));
    }
    Settings::from_env(Env::from_pairs(vars)).expect("test settings are valid")
}

/// A running service.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// The database it uses.
    pub db: TestDb,
    /// Its state (keys, pool, settings).
    pub state: AppState,
    /// A client that follows no redirects and keeps no cookies.
    pub client: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// The app with the default test settings and a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// The app with `overrides` and a fresh database.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    spawn_app_on(TestDb::fresh().await, overrides).await
}

/// The app on an existing database (several instances can share one).
pub async fn spawn_app_on(db: TestDb, overrides: &[(&str, &str)]) -> TestApp {
    let application = Application::build(settings(&db, overrides)).await.expect("the application builds");
    let address = format!("http://{}", application.address());
    let state = application.state().clone();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(application.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("reqwest client");
    TestApp { address, db, state, client, shutdown: Some(shutdown), server: Some(server) }
}

/// Tokens from a login or refresh.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
}

impl TestApp {
    /// The pool the app uses.
    pub fn pool(&self) -> &Pool {
        &self.state.db
    }

    /// `{address}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Stops the server and waits until it has drained.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server stopped cleanly");
        }
    }

    /// POST a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.url(path)).json(body).send().await.expect("request sent")
    }

    /// `POST /v1/users`.
    pub async fn register(&self, email: &str, password: &str) -> Response {
        self.post_json("/v1/users", &json!({"email": email, "password": password})).await
    }

    /// `POST /v1/login`.
    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json("/v1/login", &json!({"email": email, "password": password})).await
    }

    /// Registers `email` (if new) and logs in, asserting success.
    pub async fn login_new_user(&self, email: &str) -> Tokens {
        let registered = self.register(email, PASSWORD).await;
        assert!(matches!(registered.status(), StatusCode::CREATED | StatusCode::CONFLICT), "{}", registered.status());
        let response = self.login(email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("login body");
        Tokens {
            access_token: body["access_token"].as_str().expect("access_token").to_owned(),
            refresh_token: body["refresh_token"].as_str().expect("refresh_token").to_owned(),
        }
    }

    /// `POST /oauth/<endpoint>` with a form body and optional Basic client credentials.
    pub async fn oauth(&self, endpoint: &str, form: &[(&str, &str)], client: Option<(&str, &str)>) -> Response {
        let mut request = self.client.post(self.url(&format!("/oauth/{endpoint}"))).form(form);
        if let Some((id, secret)) = client {
            request = request.basic_auth(id, Some(secret));
        }
        request.send().await.expect("request sent")
    }

    /// A client-credentials token for `client`, asserting success.
    pub async fn service_token(&self, client: (&str, &str)) -> String {
        let response = self.oauth("token", &[("grant_type", "client_credentials")], Some(client)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.expect("token body");
        body["access_token"].as_str().expect("access_token").to_owned()
    }

    /// GET with a bearer token.
    pub async fn get_with(&self, path: &str, token: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.expect("request sent")
    }

    /// GET the JWKS.
    pub async fn jwks(&self) -> Value {
        let response = self.client.get(self.url("/.well-known/jwks.json")).send().await.expect("request sent");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("JWKS body")
    }
}

/// Asserts `response` has `status`, a JSON envelope with `error == code`, and a description;
/// returns the body.
pub async fn assert_error(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "unexpected status");
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(content_type.starts_with("application/json"), "content type {content_type}");
    let body: Value = response.json().await.expect("JSON error body");
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    body
}

/// The decoded header and claims of a JWT (no verification).
pub fn decode_jwt(token: &str) -> (Value, Value) {
    let mut parts = token.split('.');
    let mut next = || -> Value {
        let part = parts.next().expect("JWT part");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
    };
    (next(), next())
}

/// Polls `condition` every 25 ms until it holds or `timeout` passes.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if condition().await {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
