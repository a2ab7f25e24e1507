//! orders-service's own access token (OAuth 2.0 client credentials, RFC 6749 §4.4), cached and
//! refreshed.
//!
//! The dispatcher calls notifications-service as itself, not on behalf of a user, so it needs
//! its own token: `scope=notifications:write`, `audience=notifications-service`. How one is
//! obtained (where the token endpoint is, the request, the error answers) is in
//! `token_endpoint` (private, beside this file); this module decides when to ask.
//!
//! The token is cached until shortly before it expires (a fifth of its lifetime, at most a
//! minute, before). Readers take a short synchronous lock and never wait on the network while
//! a cached token is fresh; when it is not, one caller fetches while the others wait for that
//! fetch instead of starting their own. If a refresh fails while the old token is still valid,
//! the old token is used. A token the resource server rejects (401) is dropped with
//! [`TokenClient::invalidate`].
//!
//! The token is DPoP-bound (RFC 9449) unless `ORDERS_SERVICE_TOKEN_DPOP=false`: the key pair
//! is generated when the client is built and lives in this process only, so a copy of the
//! token (from a log, a proxy, a heap dump of notifications-service) is refused without it.

use std::{sync::Arc, time::Duration};

use jwt_verifier::{DpopKey, ProofAlgorithm};
use secrecy::SecretString;
use tokio::{sync::OnceCell, time::Instant};
use url::Url;

use super::token_endpoint::TokenEndpoint;
pub use super::token_endpoint::TokenError;

/// The OAuth client orders-service acts as when it calls other services (read by
/// [`crate::config::Settings`]).
pub struct ClientSettings {
    /// `AUTH_ISSUER`: its metadata names the token endpoint.
    pub issuer: Url,
    /// `AUTH_TOKEN_URL`: overrides discovery.
    pub token_url: Option<Url>,
    /// `ORDERS_CLIENT_ID`.
    pub client_id: String,
    /// `ORDERS_CLIENT_SECRET`; never logged.
    pub client_secret: SecretString,
    /// `AUTH_ALLOW_INSECURE_HTTP`: plain `http` to non-loopback hosts is refused unless set,
    /// because the client secret and bearer tokens travel on these connections.
    pub allow_insecure_http: bool,
    /// `ORDERS_SERVICE_TOKEN_DPOP` (default true): bind the token to a key of this process.
    pub dpop: bool,
}

/// A cached access token.
pub struct ServiceToken {
    value: SecretString,
    /// Past this, the next caller refreshes.
    refresh_at: Instant,
    /// Past this, the token is no longer used at all.
    expires_at: Instant,
    /// The key it is bound to; `None` for a bearer token.
    dpop: Option<Arc<DpopKey>>,
}

impl ServiceToken {
    /// The token itself.
    #[must_use]
    pub fn secret(&self) -> &SecretString {
        &self.value
    }

    /// The key the token is bound to, if it is DPoP-bound: every request carries a proof.
    #[must_use]
    pub fn dpop_key(&self) -> Option<&DpopKey> {
        self.dpop.as_deref()
    }
}

impl std::fmt::Debug for ServiceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceToken").field("refresh_at", &self.refresh_at).finish_non_exhaustive()
    }
}

/// Fetches and caches this service's access token. Share it behind an `Arc`.
pub struct TokenClient {
    endpoint: TokenEndpoint,
    current: parking_lot::Mutex<Option<Arc<ServiceToken>>>,
    /// Held by the one caller that is fetching; others queue on it and then find the fresh token.
    refresh: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for TokenClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenClient")
            .field("client_id", &self.endpoint.client_id)
            .field("scope", &self.endpoint.scope)
            .finish_non_exhaustive()
    }
}

/// Longest lifetime believed; a longer `expires_in` is treated as this, so a bogus value cannot
/// pin a token in the cache for days.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

impl TokenClient {
    /// A client for `settings` asking for `scope` on `audience`.
    #[must_use]
    pub fn new(http: reqwest::Client, settings: &ClientSettings, scope: &str, audience: &str) -> Self {
        let dpop = settings.dpop.then(|| DpopKey::generate(ProofAlgorithm::Es256)).and_then(|key| match key {
            Ok(key) => Some(Arc::new(key)),
            Err(error) => {
                tracing::error!(%error, "no DPoP key: the service token will be a bearer token");
                None
            }
        });
        let endpoint = TokenEndpoint {
            http,
            issuer: settings.issuer.clone(),
            configured: settings.token_url.clone(),
            discovered: OnceCell::new(),
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            scope: scope.to_owned(),
            audience: audience.to_owned(),
            allow_insecure_http: settings.allow_insecure_http,
            dpop,
        };
        Self { endpoint, current: parking_lot::Mutex::new(None), refresh: tokio::sync::Mutex::new(()) }
    }

    /// A token that is valid now, from the cache or freshly fetched.
    ///
    /// # Errors
    /// No valid cached token and the fetch failed.
    pub async fn token(&self) -> Result<Arc<ServiceToken>, TokenError> {
        if let Some(token) = self.cached(|t| Instant::now() < t.refresh_at) {
            return Ok(token);
        }
        let _refreshing = self.refresh.lock().await;
        // Whoever held the lock before may have refreshed already.
        if let Some(token) = self.cached(|t| Instant::now() < t.refresh_at) {
            return Ok(token);
        }
        match self.fetch().await {
            Ok(token) => {
                let token = Arc::new(token);
                *self.current.lock() = Some(Arc::clone(&token));
                metrics::counter!("service_token_fetches_total", "result" => "ok").increment(1);
                Ok(token)
            }
            Err(error) => {
                metrics::counter!("service_token_fetches_total", "result" => "error").increment(1);
                match self.cached(|t| Instant::now() < t.expires_at) {
                    Some(still_valid) => {
                        tracing::warn!(error = %error, "service token refresh failed, using the current token until it expires");
                        Ok(still_valid)
                    }
                    None => Err(error),
                }
            }
        }
    }

    /// Drops `token` from the cache (a resource server rejected it), unless it was already
    /// replaced by a newer one.
    pub fn invalidate(&self, token: &Arc<ServiceToken>) {
        let mut current = self.current.lock();
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, token)) {
            *current = None;
        }
    }

    fn cached(&self, usable: impl Fn(&ServiceToken) -> bool) -> Option<Arc<ServiceToken>> {
        self.current.lock().as_ref().filter(|t| usable(t)).cloned()
    }

    async fn fetch(&self) -> Result<ServiceToken, TokenError> {
        let issued = self.endpoint.request().await?;
        let lifetime = issued.expires_in.min(MAX_LIFETIME);
        let margin = (lifetime / 5).min(Duration::from_secs(60));
        tracing::debug!(lifetime_secs = lifetime.as_secs(), "service token fetched");
        Ok(ServiceToken {
            value: issued.access_token,
            refresh_at: issued.requested_at + lifetime - margin,
            expires_at: issued.requested_at + lifetime,
            dpop: issued.dpop,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use axum::{Json, Router, extract::State, routing::get, routing::post};
    use base64::{Engine as _, engine::general_purpose::STANDARD};
    use http::{HeaderMap, StatusCode, header};
    use secrecy::ExposeSecret as _;
    use serde_json::{Value, json};

    use super::*;

    /// A token endpoint that counts requests and checks the client's credentials and body.
    #[derive(Clone, Default)]
    struct FakeIssuer {
        base: Arc<parking_lot::Mutex<String>>,
        fetches: Arc<AtomicUsize>,
        down: Arc<AtomicBool>,
    }

    async fn issue(State(issuer): State<FakeIssuer>, headers: HeaderMap, body: String) -> (StatusCode, Json<Value>) {
        let n = issuer.fetches.fetch_add(1, Ordering::SeqCst) + 1;
        if issuer.down.load(Ordering::SeqCst) {
            return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "temporarily_unavailable"})));
        }
        // "s:cret" form-encodes to "s%3Acret" before base64 (RFC 6749 §2.3.1).
        let expected = format!("Basic {}", STANDARD.encode("orders-service:s%3Acret"));
        if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
            return (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "invalid_client", "error_description": "bad credentials"})),
            );
        }
        assert_eq!(body, "grant_type=client_credentials&scope=notifications%3Awrite&audience=notifications-service");
        (StatusCode::OK, Json(json!({"access_token": format!("token-{n}"), "token_type": "Bearer", "expires_in": 600})))
    }

    async fn metadata(State(issuer): State<FakeIssuer>) -> Json<Value> {
        let base = issuer.base.lock().clone();
        Json(json!({"issuer": base, "token_endpoint": format!("{base}/custom/token")}))
    }

    /// Starts the fake issuer; with `discovery`, metadata points at `/custom/token` and the
    /// conventional `/oauth/token` does not exist.
    async fn start(discovery: bool) -> (Url, FakeIssuer) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let issuer = FakeIssuer::default();
        *issuer.base.lock() = base.clone();
        let router = if discovery {
            Router::new()
                .route("/.well-known/oauth-authorization-server", get(metadata))
                .route("/custom/token", post(issue))
        } else {
            Router::new().route("/oauth/token", post(issue))
        };
        let router = router.with_state(issuer.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (Url::parse(&base).unwrap(), issuer)
    }

    fn client(issuer: &Url, secret: &str) -> TokenClient {
        let settings = ClientSettings {
            issuer: issuer.clone(),
            token_url: None,
            client_id: "orders-service".to_owned(),
            client_secret: SecretString::from(secret),
            allow_insecure_http: false,
            dpop: false,
        };
        let http = crate::clients::http_client(Duration::from_secs(5)).unwrap();
        TokenClient::new(http, &settings, "notifications:write", "notifications-service")
    }

    fn value(token: &ServiceToken) -> &str {
        token.secret().expose_secret()
    }

    /// Puts `token` back in `client`'s cache, due for refresh now and expiring after
    /// `valid_for`.
    fn age(client: &TokenClient, token: &ServiceToken, valid_for: Duration) {
        let now = Instant::now();
        *client.current.lock() = Some(Arc::new(ServiceToken {
            value: token.value.clone(),
            refresh_at: now,
            expires_at: now + valid_for,
            dpop: None,
        }));
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch() {
        let (base, issuer) = start(false).await;
        let client = client(&base, "s:cret");
        let tokens = futures::future::join_all((0..16).map(|_| client.token())).await;
        assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);
        for token in tokens {
            assert_eq!(value(&token.unwrap()), "token-1");
        }
        // Cached: no further fetch.
        assert_eq!(value(&client.token().await.unwrap()), "token-1");
        assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn the_token_endpoint_is_discovered_from_the_issuer_metadata() {
        let (base, issuer) = start(true).await;
        let client = client(&base, "s:cret");
        assert_eq!(value(&client.token().await.unwrap()), "token-1");
        assert_eq!(issuer.fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn refused_credentials_report_the_oauth_error() {
        let (base, _issuer) = start(false).await;
        let error = client(&base, "wrong").token().await.unwrap_err();
        match error {
            TokenError::Refused { status, message } => {
                assert_eq!(status, 401);
                assert_eq!(message, "invalid_client: bad credentials");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_token_due_for_refresh_is_replaced_or_kept_while_the_issuer_is_down() {
        let (base, issuer) = start(false).await;
        let client = client(&base, "s:cret");
        let first = client.token().await.unwrap();
        // Make the cached token due for refresh but still valid.
        age(&client, &first, Duration::from_secs(60));
        issuer.down.store(true, Ordering::SeqCst);
        assert_eq!(value(&client.token().await.unwrap()), "token-1", "a failed refresh keeps the valid token");
        issuer.down.store(false, Ordering::SeqCst);
        assert_eq!(value(&client.token().await.unwrap()), "token-3");
        assert_eq!(issuer.fetches.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn an_expired_token_is_never_used() {
        let (base, issuer) = start(false).await;
        let client = client(&base, "s:cret");
        let first = client.token().await.unwrap();
        age(&client, &first, Duration::ZERO);
        issuer.down.store(true, Ordering::SeqCst);
        assert!(matches!(client.token().await, Err(TokenError::Refused { status: 503, .. })));
    }

    #[tokio::test]
    async fn an_invalidated_token_is_fetched_again() {
        let (base, issuer) = start(false).await;
        let client = client(&base, "s:cret");
        let first = client.token().await.unwrap();
        client.invalidate(&first);
        let second = client.token().await.unwrap();
        assert_eq!(value(&second), "token-2");
        // Invalidating a token that was already replaced keeps the newer one.
        client.invalidate(&first);
        assert_eq!(value(&client.token().await.unwrap()), "token-2");
        assert_eq!(issuer.fetches.load(Ordering::SeqCst), 2);
    }
}
