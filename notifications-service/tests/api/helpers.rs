//! `spawn_app()` and typed request helpers.
//!
//! The database is a fresh SQLite file per test, or, when `TEST_DATABASE_URL` names a
//! PostgreSQL server, a fresh database with a random name on it (nothing else is touched).
//! Tokens are minted with `jwt_verifier`'s fixed test keys; the service fetches the matching JWKS
//! over HTTP from the `TestIssuer`, exactly as it would from auth-service.

use jwt_verifier::{
    Verifier,
    testkit::{TestIssuer, service_claims, test_key, user_claims},
};
use notifications_service::{config::Settings, startup::Application};
use reqwest::Response;
use serde_json::{Value, json};
pub use service_kit::testing::{detail_fields, error_body};
use service_kit::{
    config::Env,
    db::Pool,
    serve::Application as _,
    testing::{RunningServer, TestDatabase},
};

/// The audience tokens for this service carry.
pub const AUDIENCE: &str = "notifications-service";
/// The client id orders-service uses.
pub const ORDERS_CLIENT: &str = "orders-service";

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
    _server: RunningServer,
    _database: TestDatabase,
}

/// Starts the service with a fresh database, trusting a fresh `TestIssuer` that publishes
/// test key 0.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(TestIssuer::start(vec![test_key(0)]).await).await
}

/// Starts the service trusting `issuer`.
pub async fn spawn_app_with(issuer: TestIssuer) -> TestApp {
    let database = TestDatabase::create("notifications").await;
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
    let server = RunningServer::spawn(application);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    TestApp { address, client, issuer, verifier, db, _server: server, _database: database }
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
