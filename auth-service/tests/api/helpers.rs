//! Test harness: `spawn_app()` starts the real service on `127.0.0.1:0` with a fresh
//! database (a temporary `SQLite` file, or a new database on `TEST_DATABASE_URL`'s `PostgreSQL`
//! server), and typed helpers drive it over HTTP.

use auth_service::{config::Settings, events::store::EventRow, startup::Application, state::AppState};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use service_kit::{config::Env, db::Pool, serve::Application as _, testing::RunningServer};

/// Issuer of every test app (`iss`); deliberately not the bound address, which is random.
pub const ISSUER: &str = "http://auth.test";
/// Password used by the helpers.
pub const PASSWORD: &str = "correct horse battery";
/// A registered service client with one scope and one audience.
pub const ORDERS_CLIENT: (&str, &str) = ("orders-service", "orders-secret");
/// A registered service client with two scopes and two audiences.
pub const REPORTING_CLIENT: (&str, &str) = ("reporting", "reporting-secret");
/// Email of the administrator [`TestApp::login_admin`] provisions.
pub const ADMIN_EMAIL: &str = "admin@example.com";

/// A database for one test (the kit's), named `auth_test_…` on PostgreSQL.
pub use service_kit::testing::TestDatabase as TestDb;
pub use service_kit::testing::{assert_error, wait_until};

/// A fresh test database.
pub async fn fresh_db() -> TestDb {
    TestDb::create("auth").await
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
        // Replays in tests come at once; the two-tab grace has its own tests.
        ("AUTH_REFRESH_REUSE_GRACE", "0s"),
        // Every test client is 127.0.0.1; the throttling tests set their own limits.
        ("AUTH_REGISTER_MAX_PER_ADDRESS", "10000"),
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
    server: RunningServer,
}

/// The app with the default test settings and a fresh database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// The app with `overrides` and a fresh database.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    spawn_app_on(fresh_db().await, overrides).await
}

/// The app on an existing database (several instances can share one).
pub async fn spawn_app_on(db: TestDb, overrides: &[(&str, &str)]) -> TestApp {
    let application = Application::build(settings(&db, overrides)).await.expect("the application builds");
    let address = format!("http://{}", application.address());
    let state = application.state().clone();
    let server = RunningServer::spawn(application);
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("reqwest client");
    TestApp { address, db, state, client, server }
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
    pub async fn stop(self) {
        self.server.stop().await;
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
        let status = response.status();
        let body: Value = response.json().await.expect("login body");
        assert_eq!(status, StatusCode::OK, "{body}");
        Tokens {
            access_token: body["access_token"].as_str().expect("access_token").to_owned(),
            refresh_token: body["refresh_token"].as_str().expect("refresh_token").to_owned(),
        }
    }

    /// Provisions the administrator [`ADMIN_EMAIL`] (as `auth-service create-admin` does) if
    /// it does not exist yet, and logs in as it.
    pub async fn login_admin(&self) -> Tokens {
        match auth_service::provisioning::create_admin(
            self.pool(),
            &self.state.passwords,
            ADMIN_EMAIL,
            PASSWORD.to_owned(),
        )
        .await
        {
            Ok(_) | Err(auth_service::provisioning::ProvisionError::EmailTaken) => {}
            Err(error) => panic!("cannot provision the administrator: {error}"),
        }
        let response = self.login(ADMIN_EMAIL, PASSWORD).await;
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

    /// `POST /v1/logout` with `token`.
    pub async fn logout(&self, token: &str) -> Response {
        self.client.post(self.url("/v1/logout")).bearer_auth(token).send().await.expect("request sent")
    }

    /// `GET /v1/security-events?{query}`.
    pub async fn feed_raw(&self, query: &str) -> Response {
        self.client.get(self.url(&format!("/v1/security-events?{query}"))).send().await.expect("request sent")
    }

    /// `GET /v1/security-events` after `after` (none: the whole state), waiting up to `wait`
    /// seconds; asserts a 200 and returns the body.
    pub async fn feed(&self, after: Option<&str>, wait: u64) -> Value {
        let query = match after {
            Some(after) => format!("after={after}&wait={wait}"),
            None => format!("wait={wait}"),
        };
        let response = self.feed_raw(&query).await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("feed body")
    }

    /// Every stored security event, in sequence order.
    pub async fn events(&self) -> Vec<EventRow> {
        auth_service::events::store::all(self.pool()).await.expect("read the events")
    }

    /// GET the JWKS.
    pub async fn jwks(&self) -> Value {
        let response = self.client.get(self.url("/.well-known/jwks.json")).send().await.expect("request sent");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("JWKS body")
    }
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
