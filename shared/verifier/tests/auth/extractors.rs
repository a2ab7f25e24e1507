//! The axum extractors on the wire: statuses, RFC 6750 challenges, the error envelope,
//! cookies and the CSRF guard. Router-level, no network (`oneshot`).

use std::{sync::Arc, time::Duration};

use axum::{
    Json, Router,
    body::Body,
    extract::FromRef,
    routing::{get, post},
};
use http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use jwt_verifier::{
    Authenticated, KeyLookup, KeySnapshot, KeyStore, MaybeAuthenticated, RequireScope, ServiceWithScope, Verifier,
    VerifierConfig,
    testkit::{service_claims, test_key},
};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::helpers::{AUDIENCE, ISSUER, claims, static_verifier};

jwt_verifier::scope!(OrdersWrite, "orders:write");
jwt_verifier::scope!(NotifySend, "notify:send");

#[derive(Clone)]
struct AppState {
    verifier: Verifier,
}

impl FromRef<AppState> for Verifier {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

async fn me(Authenticated(caller): Authenticated) -> Json<Value> {
    Json(json!({"sub": caller.subject}))
}

async fn maybe(MaybeAuthenticated(caller): MaybeAuthenticated) -> Json<Value> {
    Json(json!({"sub": caller.map(|c| c.subject.clone())}))
}

async fn write(RequireScope(caller, ..): RequireScope<OrdersWrite>) -> Json<Value> {
    Json(json!({"sub": caller.subject}))
}

async fn service(ServiceWithScope(caller, ..): ServiceWithScope<NotifySend>) -> Json<Value> {
    Json(json!({"sub": caller.subject}))
}

fn app(verifier: Verifier) -> Router {
    Router::new()
        .route("/me", get(me).post(me))
        .route("/maybe", get(maybe))
        .route("/orders", post(write))
        .route("/internal", post(service))
        .with_state(AppState { verifier })
}

fn default_app() -> Router {
    app(static_verifier(&[test_key(0)], true).0)
}

struct Answer {
    status: StatusCode,
    challenge: Option<String>,
    retry_after: Option<String>,
    body: Value,
}

async fn call(app: Router, request: Request<Body>) -> Answer {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let text = |name: header::HeaderName| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    let challenge = text(header::WWW_AUTHENTICATE);
    let retry_after = text(header::RETRY_AFTER);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer { status, challenge, retry_after, body }
}

fn get_with(path: &str, token: Option<&str>) -> Request<Body> {
    let mut builder = Request::get(path);
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    builder.body(Body::empty()).unwrap()
}

fn post_with(path: &str, token: &str) -> Request<Body> {
    Request::post(path).header(header::AUTHORIZATION, format!("Bearer {token}")).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn a_valid_token_reaches_the_handler() {
    let answer = call(default_app(), get_with("/me", Some(&test_key(0).mint(&claims())))).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, json!({"sub": "user-1"}));
}

#[tokio::test]
async fn a_missing_token_gets_401_with_a_bare_challenge() {
    let answer = call(default_app(), get_with("/me", None)).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.challenge.as_deref(), Some(r#"Bearer realm="orders-service""#));
    assert_eq!(answer.body, json!({"error": "unauthorized", "error_description": "a bearer token is required"}));
}

#[tokio::test]
async fn a_bad_token_gets_401_invalid_token_with_a_description() {
    let mut expired = claims();
    expired["iat"] = json!(1_000_000_000);
    expired["exp"] = json!(1_000_000_600);
    let answer = call(default_app(), get_with("/me", Some(&test_key(0).mint(&expired)))).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        answer.challenge.as_deref(),
        Some(r#"Bearer realm="orders-service", error="invalid_token", error_description="the token has expired""#)
    );
    assert_eq!(answer.body, json!({"error": "invalid_token", "error_description": "the token has expired"}));
}

#[tokio::test]
async fn a_malformed_authorization_header_gets_400_invalid_request() {
    let request = Request::get("/me").header(header::AUTHORIZATION, "Bearer two words").body(Body::empty()).unwrap();
    let answer = call(default_app(), request).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.challenge.unwrap().contains(r#"error="invalid_request""#));
    assert_eq!(answer.body["error"], "invalid_request");
}

#[tokio::test]
async fn a_missing_scope_gets_403_insufficient_scope() {
    let mut claims = claims();
    claims["scope"] = json!("orders:read");
    let answer = call(default_app(), post_with("/orders", &test_key(0).mint(&claims))).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(
        answer.challenge.as_deref(),
        Some(
            r#"Bearer realm="orders-service", error="insufficient_scope", error_description="the token lacks the scope orders:write", scope="orders:write""#
        )
    );
    assert_eq!(answer.body["error"], "insufficient_scope");
    let answer = call(default_app(), post_with("/orders", &test_key(0).mint(&crate::helpers::claims()))).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn service_endpoints_refuse_user_tokens_even_with_the_scope() {
    let mut user = claims();
    user["scope"] = json!("notify:send");
    let answer = call(default_app(), post_with("/internal", &test_key(0).mint(&user))).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.body["error_description"], "this endpoint accepts service tokens only");

    let without_scope = service_claims(ISSUER, &[AUDIENCE], "orders-service", "orders:read");
    let answer = call(default_app(), post_with("/internal", &test_key(0).mint(&without_scope))).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert!(answer.challenge.unwrap().contains(r#"scope="notify:send""#));

    let good = service_claims(ISSUER, &[AUDIENCE], "orders-service", "notify:send");
    let answer = call(default_app(), post_with("/internal", &test_key(0).mint(&good))).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, json!({"sub": "orders-service"}));
}

#[tokio::test]
async fn optional_authentication_allows_anonymous_but_not_bad_tokens() {
    let answer = call(default_app(), get_with("/maybe", None)).await;
    assert_eq!((answer.status, answer.body), (StatusCode::OK, json!({"sub": null})));
    let answer = call(default_app(), get_with("/maybe", Some(&test_key(0).mint(&claims())))).await;
    assert_eq!(answer.body, json!({"sub": "user-1"}));
    let answer = call(default_app(), get_with("/maybe", Some("not.a.token"))).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_cookie_works_for_safe_methods_and_needs_same_origin_for_unsafe_ones() {
    let token = test_key(0).mint(&claims());
    let cookie = format!("__Host-access_token={token}");
    let request = Request::get("/me").header(header::COOKIE, &cookie).body(Body::empty()).unwrap();
    assert_eq!(call(default_app(), request).await.status, StatusCode::OK);

    let request = Request::post("/me")
        .header(header::COOKIE, &cookie)
        .header("sec-fetch-site", "cross-site")
        .body(Body::empty())
        .unwrap();
    let answer = call(default_app(), request).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.body["error"], "cross_site_request");
    assert_eq!(answer.challenge, None);

    let request = Request::post("/me")
        .header(header::COOKIE, &cookie)
        .header(header::HOST, "api.example.com")
        .header(header::ORIGIN, "https://api.example.com")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(default_app(), request).await.status, StatusCode::OK);
}

#[tokio::test]
async fn cookies_are_ignored_when_turned_off() {
    let mut config = VerifierConfig::new(ISSUER, AUDIENCE);
    config.accept_cookie = false;
    let store = Arc::new(jwt_verifier::StaticKeyStore::new(jwt_verifier::testkit::key_set(&[test_key(0)])));
    let app = app(Verifier::with_key_store(config, store));
    let cookie = format!("__Host-access_token={}", test_key(0).mint(&claims()));
    let request = Request::get("/me").header(header::COOKIE, cookie).body(Body::empty()).unwrap();
    assert_eq!(call(app, request).await.status, StatusCode::UNAUTHORIZED);
}

/// A store whose keys are past `max_stale`.
struct Unavailable;

impl KeyStore for Unavailable {
    fn snapshot(&self) -> KeySnapshot {
        KeySnapshot::Unavailable { retry_after: Duration::from_secs(17) }
    }

    fn resolve_unknown<'a>(&'a self, _kid: &'a str) -> futures::future::BoxFuture<'a, KeyLookup> {
        Box::pin(std::future::ready(KeyLookup::Unavailable { retry_after: Duration::from_secs(17) }))
    }

    fn is_ready(&self) -> bool {
        false
    }
}

#[tokio::test]
async fn unavailable_keys_get_503_with_retry_after() {
    let verifier = Verifier::with_key_store(VerifierConfig::new(ISSUER, AUDIENCE), Arc::new(Unavailable));
    let answer = call(app(verifier), get_with("/me", Some(&test_key(0).mint(&claims())))).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.retry_after.as_deref(), Some("17"));
    assert_eq!(answer.challenge, None);
    assert_eq!(answer.body["error"], "temporarily_unavailable");
}

/// Captures values recorded into span fields named `user.id`.
#[derive(Clone, Default)]
struct UserIdRecorder(Arc<std::sync::Mutex<Vec<String>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for UserIdRecorder {
    fn on_record(
        &self,
        _span: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        struct Visit<'a>(&'a std::sync::Mutex<Vec<String>>);
        impl tracing::field::Visit for Visit<'_> {
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "user.id" {
                    self.0.lock().unwrap().push(value.to_owned());
                }
            }
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.record_str(field, &format!("{value:?}"));
            }
        }
        values.record(&mut Visit(&self.0));
    }
}

#[tokio::test]
async fn the_caller_is_recorded_on_the_request_span() {
    use tracing::Instrument;
    use tracing_subscriber::layer::SubscriberExt;

    let recorder = UserIdRecorder::default();
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(recorder.clone()));
    let span = tracing::info_span!("http_request", user.id = tracing::field::Empty);
    let answer = call(default_app(), get_with("/me", Some(&test_key(0).mint(&claims())))).instrument(span).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(*recorder.0.lock().unwrap(), vec!["user-1".to_owned()]);
}

#[tokio::test]
async fn a_cached_token_is_answered_by_the_cache_and_anything_else_is_still_checked_for_syntax() {
    // Hits skip the byte-by-byte b64token check: only a credential byte-equal to a verified
    // token may, so a cached token with anything added is checked, and refused, as before.
    let (verifier, _) = static_verifier(&[test_key(0)], true);
    let app = app(verifier.clone());
    let token = test_key(0).mint(&claims());
    for _ in 0..2 {
        assert_eq!(call(app.clone(), get_with("/me", Some(&token))).await.status, StatusCode::OK);
    }
    assert_eq!(verifier.stats().token_cache_hits, 1);
    for suffix in [" trailing", "\u{e9}"] {
        let answer = call(app.clone(), get_with("/me", Some(&format!("{token}{suffix}")))).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{suffix:?}");
        assert_eq!(answer.body["error"], "invalid_request");
    }
    let answer = call(app, get_with("/me", Some(&format!("{token}~")))).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "b64token syntax, but not a token that verified");
    assert_eq!(verifier.stats().token_cache_hits, 1);
}
