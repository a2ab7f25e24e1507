//! `spawn_app()` and typed request helpers.
//!
//! The database is a fresh SQLite file per test, or, when `TEST_DATABASE_URL` names a
//! PostgreSQL server, a fresh database with a random name on it (nothing else is touched).
//! Tokens are minted with `shared`'s fixed test keys; the service fetches the matching JWKS
//! over HTTP from the `TestIssuer`, exactly as it would from auth-service.

use notifications_service::{config::Settings, startup::Application};
use reqwest::Response;
use serde_json::{Value, json};
use shared::{
    auth::{
        Verifier,
        testkit::{TestIssuer, service_claims, test_key, user_claims},
    },
    config::Env,
    db::Pool,
};
use sqlx::{AnyConnection, Connection as _};
use tokio::sync::oneshot;

/// The audience tokens for this service carry.
pub const AUDIENCE: &str = "notifications-service";
/// The client id orders-service uses.
pub const ORDERS_CLIENT: &str = "orders-service";

/// A database for one test, removed with it (SQLite) or left with a unique name (PostgreSQL).
pub struct TestDatabase {
    /// `DATABASE_URL` for the service.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// A new empty database.
    pub async fn create() -> Self {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(server) if !server.trim().is_empty() => {
                sqlx::any::install_default_drivers();
                let name = format!("notifications_test_{}", uuid::Uuid::new_v4().simple());
                let mut connection = AnyConnection::connect(&server).await.expect("TEST_DATABASE_URL is reachable");
                sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut connection)
                    .await
                    .expect("can create a test database");
                let mut url = url::Url::parse(&server).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&name);
                Self { url: url.to_string(), _dir: None }
            }
            _ => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/notifications.db", dir.path().display());
                Self { url, _dir: Some(dir) }
            }
        }
    }
}

/// A running service and what tests need to talk to it.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// Client without cookies or redirects.
    pub client: reqwest::Client,
    /// The trusted issuer; its JWKS fetches are counted.
    pub issuer: TestIssuer,
    /// The service's verifier (per-instance statistics).
    pub verifier: Verifier,
    /// The service's pool.
    pub db: Pool,
    shutdown: Option<oneshot::Sender<()>>,
    _database: TestDatabase,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Starts the service with a fresh database, trusting a fresh `TestIssuer` that publishes
/// test key 0.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(TestIssuer::start(vec![test_key(0)]).await).await
}

/// Starts the service trusting `issuer`.
pub async fn spawn_app_with(issuer: TestIssuer) -> TestApp {
    shared::telemetry::init_for_tests();
    let database = TestDatabase::create().await;
    let mut env = Env::from_pairs([
        ("LISTEN_ADDR", "127.0.0.1:0".to_owned()),
        ("DATABASE_URL", database.url.clone()),
        ("DATABASE_MAX_CONNECTIONS", "5".to_owned()),
        ("AUTH_ISSUER", issuer.issuer()),
    ]);
    let settings = Settings::from_env(&mut env);
    env.finish().expect("test settings are valid");
    let application = Application::build(settings).await.expect("the service starts");
    let address = format!("http://{}", application.address());
    let verifier = application.verifier().clone();
    let db = application.db().clone();
    let (shutdown, stopped) = oneshot::channel::<()>();
    tokio::spawn(application.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    TestApp { address, client, issuer, verifier, db, shutdown: Some(shutdown), _database: database }
}

impl TestApp {
    /// A user's token for this service.
    pub fn user_token(&self, sub: &str, scope: &str) -> String {
        test_key(0).mint(&user_claims(&self.issuer.issuer(), &[AUDIENCE], sub, scope))
    }

    /// A service (client-credentials) token for this service.
    pub fn service_token(&self, client_id: &str, scope: &str) -> String {
        test_key(0).mint(&service_claims(&self.issuer.issuer(), &[AUDIENCE], client_id, scope))
    }

    /// orders-service's token with `notifications:write`.
    pub fn sender_token(&self) -> String {
        self.service_token(ORDERS_CLIENT, "notifications:write")
    }

    /// `POST /v1/notifications` with a JSON body.
    pub async fn post_notification(&self, token: Option<&str>, body: &Value) -> Response {
        let mut request = self.client.post(format!("{}/v1/notifications", self.address)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    /// `GET /v1/notifications?<query>`.
    pub async fn list_notifications(&self, token: Option<&str>, query: &str) -> Response {
        let mut request = self.client.get(format!("{}/v1/notifications?{query}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    /// `POST /v1/notifications/{id}/read`.
    pub async fn mark_read(&self, token: Option<&str>, id: &str) -> Response {
        let mut request = self.client.post(format!("{}/v1/notifications/{id}/read", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request sent")
    }

    /// Delivers a notification for `recipient` as orders-service and returns the stored one.
    pub async fn deliver(&self, recipient: &str, message: &str) -> Value {
        let body = notification(&uuid::Uuid::now_v7().to_string(), recipient, message);
        let response = self.post_notification(Some(&self.sender_token()), &body).await;
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }
}

/// A valid notification body.
pub fn notification(event_id: &str, recipient: &str, message: &str) -> Value {
    json!({
        "event_id": event_id,
        "recipient": recipient,
        "kind": "order.placed",
        "message": message,
        "data": {"order_id": "0190", "item_count": 1},
    })
}

/// Reads an error response and checks the workspace envelope.
pub async fn error_body(response: Response) -> Value {
    let body: Value = response.json().await.expect("error bodies are JSON");
    assert!(body["error"].is_string(), "no `error` in {body}");
    assert!(body["error_description"].is_string(), "no `error_description` in {body}");
    body
}

/// The `field` of every entry of `details`.
pub fn detail_fields(body: &Value) -> Vec<String> {
    body["details"]
        .as_array()
        .map(|details| details.iter().filter_map(|d| d["field"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}
