//! `spawn_app()`, typed request helpers, and starters for the other real services used by the
//! outbox tests.
//!
//! Databases are fresh SQLite files per test, or, when `TEST_DATABASE_URL` names a PostgreSQL
//! server, fresh databases with random names on it (nothing else is touched). Tokens are
//! minted with `jwt_verifier`'s fixed test keys and verified by the real verifier, which fetches the
//! JWKS over HTTP from a `TestIssuer`.

use jwt_verifier::{
    Verifier,
    testkit::{TestIssuer, test_key, user_claims},
};
use orders_service::{config::Settings, startup::Application};
use reqwest::Response;
use serde_json::{Value, json};
pub use service_kit::testing::{TestDatabase, detail_fields, error_body, eventually};
use service_kit::{config::Env, db::Pool, serve::Application as _, testing::RunningServer};
use sqlx::Row as _;

/// The audience tokens for this service carry.
pub const AUDIENCE: &str = "orders-service";
/// An address nothing listens on: outgoing calls fail at once.
pub const NOWHERE: &str = "http://127.0.0.1:1";

/// A service started in this process, stopped when dropped or by [`Running::stop`].
pub struct Running {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// The service's verifier (orders-service and notifications-service).
    pub verifier: Option<Verifier>,
    /// The service's pool.
    pub db: Pool,
    server: RunningServer,
}

impl Running {
    /// Stops the service and waits until it has released its port.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

fn env(pairs: Vec<(&str, String)>) -> Env {
    Env::from_pairs(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)))
}

/// Starts orders-service with `pairs` as its whole environment.
pub async fn start_orders(pairs: Vec<(&str, String)>) -> Running {
    service_kit::telemetry::init_for_tests();
    let mut env = env(pairs);
    let settings = Settings::from_env(&mut env);
    env.finish().expect("test settings are valid");
    let application = Application::build(settings).await.expect("orders-service starts");
    let address = format!("http://{}", application.address());
    let (verifier, db) = (Some(application.verifier().clone()), application.db().clone());
    Running { address, verifier, db, server: RunningServer::spawn(application) }
}

/// Starts notifications-service with `pairs` as its whole environment.
pub async fn start_notifications(pairs: Vec<(&str, String)>) -> Running {
    use notifications_service::{config::Settings, startup::Application};
    service_kit::telemetry::init_for_tests();
    let mut env = env(pairs);
    let settings = Settings::from_env(&mut env);
    env.finish().expect("test settings are valid");
    let application = Application::build(settings).await.expect("notifications-service starts");
    let address = format!("http://{}", application.address());
    let (verifier, db) = (Some(application.verifier().clone()), application.db().clone());
    Running { address, verifier, db, server: RunningServer::spawn(application) }
}

/// A fixed master key for test auth-service instances (PostgreSQL requires one; with SQLite
/// it keeps a restarted instance able to read its keys).
const TEST_MASTER_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// The secret orders-service's client has at the test auth-service: a private one, not the
/// public development secret, so these services start without `DEV_MODE`.
pub const ORDERS_CLIENT_SECRET: &str = "orders-test-secret";

/// Starts auth-service on `port` (its issuer URL must be known before it starts, so the port
/// is chosen by the caller) with orders-service's client registered ([`ORDERS_CLIENT_SECRET`]).
pub async fn start_auth(port: u16, database_url: &str) -> Running {
    start_auth_with(port, database_url, &[]).await
}

/// [`start_auth`] with `overrides` of its variables.
pub async fn start_auth_with(port: u16, database_url: &str, overrides: &[(&str, &str)]) -> Running {
    service_kit::telemetry::init_for_tests();
    let address = format!("http://127.0.0.1:{port}");
    let mut vars: Vec<(String, String)> = [
        ("LISTEN_ADDR", format!("127.0.0.1:{port}")),
        ("DATABASE_URL", database_url.to_owned()),
        ("AUTH_ISSUER", address.clone()),
        ("AUTH_MASTER_KEY", TEST_MASTER_KEY.to_owned()),
        ("AUTH_CLIENTS", format!("orders-service|{ORDERS_CLIENT_SECRET}|notifications:write|notifications-service")),
        // Cheap password hashing: these tests are about orders, not about argon2.
        ("AUTH_ARGON2_MEMORY_KIB", "1024".to_owned()),
        ("AUTH_ARGON2_ITERATIONS", "1".to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    for (name, value) in overrides {
        vars.retain(|(existing, _)| existing != name);
        vars.push(((*name).to_owned(), (*value).to_owned()));
    }
    let settings = auth_service::config::Settings::from_env(Env::from_pairs(vars)).expect("test settings are valid");
    let application = auth_service::startup::Application::build(settings).await.expect("auth-service starts");
    let db = application.state().db.clone();
    Running { address, verifier: None, db, server: RunningServer::spawn(application) }
}

/// A port that was free a moment ago, for a service whose address must be known before it
/// starts (an issuer URL, or a service started later).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// Registers a user at auth-service and logs in; returns the access token.
pub async fn register_and_login(client: &reqwest::Client, auth: &str, email: &str) -> String {
    let credentials = json!({"email": email, "password": "correct horse battery staple"});
    let created = client.post(format!("{auth}/v1/users")).json(&credentials).send().await.unwrap();
    assert_eq!(created.status(), 201, "registration");
    let login = client.post(format!("{auth}/v1/login")).json(&credentials).send().await.unwrap();
    assert_eq!(login.status(), 200, "login");
    let body: Value = login.json().await.unwrap();
    body["access_token"].as_str().expect("an access token").to_owned()
}

/// orders-service trusting a `TestIssuer`, with nowhere to deliver notifications.
pub struct TestApp {
    /// The running service.
    pub app: Running,
    /// `app.address`, for brevity.
    pub address: String,
    /// Client without cookies or redirects.
    pub client: reqwest::Client,
    /// The trusted issuer; its JWKS fetches are counted.
    pub issuer: TestIssuer,
    database: TestDatabase,
}

/// Starts orders-service with a fresh database, trusting a fresh `TestIssuer` that publishes
/// test key 0. Notifications and service tokens point nowhere, so outbox records stay pending
/// and tests can inspect them.
pub async fn spawn_app() -> TestApp {
    let issuer = TestIssuer::start(vec![test_key(0)]).await;
    let database = TestDatabase::create("orders").await;
    let app = start_orders(isolated_env(&issuer.issuer(), &database.url)).await;
    TestApp { address: app.address.clone(), app, client: client(), issuer, database }
}

/// The environment of an orders replica trusting `issuer`, on `database_url`, whose
/// notifications and service tokens point nowhere (outbox records stay pending).
pub fn isolated_env(issuer: &str, database_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("LISTEN_ADDR", "127.0.0.1:0".to_owned()),
        ("DATABASE_URL", database_url.to_owned()),
        ("DATABASE_MAX_CONNECTIONS", "5".to_owned()),
        ("AUTH_ISSUER", issuer.to_owned()),
        ("AUTH_TOKEN_URL", format!("{NOWHERE}/oauth/token")),
        ("ORDERS_CLIENT_SECRET", "unused".to_owned()),
        ("NOTIFICATIONS_URL", NOWHERE.to_owned()),
        // Keep the failing dispatcher quiet while the test runs.
        ("OUTBOX_INITIAL_BACKOFF", "60s".to_owned()),
        ("OUTBOX_MAX_BACKOFF", "60s".to_owned()),
    ]
}

/// A client without redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

impl TestApp {
    /// The database URL, for a second replica.
    pub fn database_url(&self) -> &str {
        &self.database.url
    }

    /// A user's token for this service.
    pub fn user_token(&self, sub: &str, scope: &str) -> String {
        test_key(0).mint(&user_claims(&self.issuer.issuer(), &[AUDIENCE], sub, scope))
    }

    /// A token for `sub` with `orders:read orders:write`.
    pub fn token(&self, sub: &str) -> String {
        self.user_token(sub, "orders:read orders:write")
    }

    /// An administrator's token.
    pub fn admin_token(&self, sub: &str) -> String {
        let mut claims = user_claims(&self.issuer.issuer(), &[AUDIENCE], sub, "orders:read orders:write");
        claims["role"] = json!("admin");
        test_key(0).mint(&claims)
    }

    /// `POST /v1/orders`.
    pub async fn post_order(&self, token: Option<&str>, body: &Value) -> Response {
        self.post_order_with(token, body, &[]).await
    }

    /// `POST /v1/orders` with extra headers.
    pub async fn post_order_with(&self, token: Option<&str>, body: &Value, headers: &[(&str, &str)]) -> Response {
        let mut request = self.client.post(format!("{}/v1/orders", self.address)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("request sent")
    }

    /// `GET /v1/orders?<query>`.
    pub async fn list_orders(&self, token: Option<&str>, query: &str) -> Response {
        let mut request = self.client.get(format!("{}/v1/orders?{query}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    /// `GET /v1/orders/{id}`.
    pub async fn get_order(&self, token: Option<&str>, id: &str) -> Response {
        let mut request = self.client.get(format!("{}/v1/orders/{id}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    /// Places a valid order for `sub` and returns it.
    pub async fn place_order(&self, sub: &str) -> Value {
        let response = self.post_order(Some(&self.token(sub)), &order_body(&[("ABC-1", 2)])).await;
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    /// Rows in `table`.
    pub async fn count(&self, table: &str) -> i64 {
        count(&self.app.db, table).await
    }
}

/// Rows in `table` of `db`.
pub async fn count(db: &Pool, table: &str) -> i64 {
    sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}")).fetch_one(db).await.unwrap().get::<i64, _>("n")
}

/// `{"items": [{"sku", "quantity"}…]}`.
pub fn order_body(items: &[(&str, i64)]) -> Value {
    json!({"items": items.iter().map(|(sku, quantity)| json!({"sku": sku, "quantity": quantity})).collect::<Vec<_>>()})
}
