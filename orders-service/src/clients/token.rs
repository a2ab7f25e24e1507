//! orders-service's own access token (OAuth 2.0 client credentials, RFC 6749 §4.4).
//!
//! The dispatcher calls notifications-service as itself, not on behalf of a user, so it needs
//! its own token: `grant_type=client_credentials&scope=notifications:write&audience=
//! notifications-service`, authenticated with HTTP Basic (client id and secret, each
//! form-encoded first as RFC 6749 §2.3.1 asks). The audience parameter narrows the token to
//! the one service it is for; issuers that do not know it ignore it and apply the client's
//! registered audiences.
//!
//! The token is cached until shortly before it expires (a fifth of its lifetime, at most a
//! minute, before). Readers take a short synchronous lock and never wait on the network while
//! a cached token is fresh; when it is not, one caller fetches while the others wait for that
//! fetch instead of starting their own. If a refresh fails while the old token is still valid,
//! the old token is used. A token the resource server rejects (401) is dropped with
//! [`TokenClient::invalidate`].
//!
//! The token endpoint is `AUTH_TOKEN_URL` when set, else the `token_endpoint` of the issuer's
//! metadata (RFC 8414, then OpenID discovery), else `<issuer>/oauth/token`.

use std::{sync::Arc, time::Duration};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use http::{HeaderValue, header};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::{sync::OnceCell, time::Instant};
use url::Url;

use super::excerpt;
use shared::auth::config::check_fetch_url;

use crate::config::ClientSettings;

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The issuer or token endpoint could not be reached.
    #[error("token endpoint unreachable: {0}")]
    Unreachable(String),
    /// The token endpoint answered with an error.
    #[error("token endpoint answered {status}: {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// `error`/`error_description` of the answer, or an excerpt of it.
        message: String,
    },
    /// The answer was not a usable token response.
    #[error("invalid token response: {0}")]
    InvalidResponse(String),
    /// The discovered endpoint is not acceptable (plain http to a non-loopback host without
    /// `AUTH_ALLOW_INSECURE_HTTP`, or not http at all).
    #[error("token endpoint refused: {0}")]
    InsecureEndpoint(String),
}

/// A cached access token.
pub struct ServiceToken {
    value: SecretString,
    /// Past this, the next caller refreshes.
    refresh_at: Instant,
    /// Past this, the token is no longer used at all.
    expires_at: Instant,
}

impl ServiceToken {
    /// The bearer value.
    #[must_use]
    pub fn secret(&self) -> &SecretString {
        &self.value
    }
}

impl std::fmt::Debug for ServiceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceToken").field("refresh_at", &self.refresh_at).finish_non_exhaustive()
    }
}

/// Fetches and caches this service's access token. Share it behind an `Arc`.
pub struct TokenClient {
    http: reqwest::Client,
    issuer: Url,
    configured_endpoint: Option<Url>,
    /// The endpoint found by discovery, kept once found.
    discovered_endpoint: OnceCell<Url>,
    client_id: String,
    client_secret: SecretString,
    scope: String,
    /// The service the token is for; the issuer limits the token's `aud` to it.
    audience: String,
    allow_insecure_http: bool,
    current: parking_lot::Mutex<Option<Arc<ServiceToken>>>,
    /// Held by the one caller that is fetching; others queue on it and then find the fresh token.
    refresh: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for TokenClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenClient")
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// `{access_token, token_type, expires_in}` of RFC 6749 §5.1.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    expires_in: u64,
}

/// RFC 6749 §5.2 error body (also the workspace's error envelope).
#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    #[serde(default)]
    token_endpoint: Option<String>,
}

/// Longest lifetime believed; a longer `expires_in` is treated as this, so a bogus value cannot
/// pin a token in the cache for days.
const MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);

impl TokenClient {
    /// A client for `settings` asking for `scope` on `audience`.
    #[must_use]
    pub fn new(http: reqwest::Client, settings: &ClientSettings, scope: &str, audience: &str) -> Self {
        Self {
            http,
            issuer: settings.issuer.clone(),
            configured_endpoint: settings.token_url.clone(),
            discovered_endpoint: OnceCell::new(),
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            scope: scope.to_owned(),
            audience: audience.to_owned(),
            allow_insecure_http: settings.allow_insecure_http,
            current: parking_lot::Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
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
        let endpoint = self.endpoint().await?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("scope", &self.scope)
            .append_pair("audience", &self.audience)
            .finish();
        let started = Instant::now();
        let response = self
            .http
            .post(endpoint.clone())
            .header(header::AUTHORIZATION, self.basic_credentials()?)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| TokenError::Unreachable(format!("{endpoint}: {e}")))?;
        let status = response.status();
        let text = response.text().await.map_err(|e| TokenError::Unreachable(e.to_string()))?;
        if !status.is_success() {
            let message = match serde_json::from_str::<OAuthError>(&text) {
                Ok(error) => match error.error_description {
                    Some(description) => format!("{}: {description}", error.error),
                    None => error.error,
                },
                Err(_) => excerpt(&text, 200),
            };
            return Err(TokenError::Refused { status: status.as_u16(), message });
        }
        let token: TokenResponse =
            serde_json::from_str(&text).map_err(|e| TokenError::InvalidResponse(e.to_string()))?;
        if !token.token_type.eq_ignore_ascii_case("bearer") {
            return Err(TokenError::InvalidResponse(format!("token_type is {}, expected Bearer", token.token_type)));
        }
        if token.expires_in == 0 || token.access_token.is_empty() {
            return Err(TokenError::InvalidResponse("empty token or zero lifetime".to_owned()));
        }
        let lifetime = Duration::from_secs(token.expires_in).min(MAX_LIFETIME);
        let margin = (lifetime / 5).min(Duration::from_secs(60));
        tracing::debug!(lifetime_secs = lifetime.as_secs(), "service token fetched");
        Ok(ServiceToken {
            value: SecretString::from(token.access_token),
            refresh_at: started + lifetime - margin,
            expires_at: started + lifetime,
        })
    }

    /// `Basic base64(urlencode(id):urlencode(secret))`.
    fn basic_credentials(&self) -> Result<HeaderValue, TokenError> {
        let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let pair = format!("{}:{}", encode(&self.client_id), encode(self.client_secret.expose_secret()));
        let mut value = HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(pair)))
            .map_err(|_| TokenError::InvalidResponse("client credentials do not form a header".to_owned()))?;
        value.set_sensitive(true);
        Ok(value)
    }

    async fn endpoint(&self) -> Result<Url, TokenError> {
        if let Some(configured) = &self.configured_endpoint {
            return Ok(configured.clone());
        }
        let endpoint = self.discovered_endpoint.get_or_try_init(|| self.discover()).await?.clone();
        check_fetch_url(&endpoint, self.allow_insecure_http).map_err(TokenError::InsecureEndpoint)?;
        Ok(endpoint)
    }

    /// Reads the issuer's metadata for `token_endpoint`. Only an unreachable issuer is an error
    /// (and is retried on the next call); metadata without the field, or none at all, means
    /// the conventional `<issuer>/oauth/token`.
    async fn discover(&self) -> Result<Url, TokenError> {
        let issuer = self.issuer.as_str().trim_end_matches('/');
        let path = self.issuer.path().trim_end_matches('/');
        let mut origin = self.issuer.clone();
        origin.set_path("");
        let origin = origin.as_str().trim_end_matches('/').to_owned();
        let candidates = [
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{issuer}/.well-known/openid-configuration"),
        ];
        for candidate in candidates {
            let response = self
                .http
                .get(&candidate)
                .header(header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| TokenError::Unreachable(format!("{candidate}: {e}")))?;
            if !response.status().is_success() {
                continue;
            }
            let Ok(metadata) = response.json::<Metadata>().await else { continue };
            // RFC 8414 §3.3: metadata for another issuer must not be used.
            if metadata.issuer.trim_end_matches('/') != issuer {
                tracing::warn!(metadata.url = %candidate, "issuer metadata names a different issuer, ignoring it");
                continue;
            }
            if let Some(endpoint) = metadata.token_endpoint.and_then(|e| Url::parse(&e).ok()) {
                tracing::info!(token_endpoint = %endpoint, "token endpoint discovered");
                return Ok(endpoint);
            }
        }
        let fallback = Url::parse(&format!("{issuer}/oauth/token"))
            .map_err(|e| TokenError::InvalidResponse(format!("cannot build the token URL: {e}")))?;
        tracing::info!(token_endpoint = %fallback, "issuer metadata has no token endpoint, using the conventional one");
        Ok(fallback)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use axum::{Json, Router, extract::State, routing::get, routing::post};
    use http::{HeaderMap, StatusCode};
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
        };
        let http = crate::clients::http_client(Duration::from_secs(5)).unwrap();
        TokenClient::new(http, &settings, "notifications:write", "notifications-service")
    }

    fn value(token: &ServiceToken) -> &str {
        token.secret().expose_secret()
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
        *client.current.lock() = Some(Arc::new(ServiceToken {
            value: first.value.clone(),
            refresh_at: Instant::now(),
            expires_at: Instant::now() + Duration::from_secs(60),
        }));
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
        *client.current.lock() = Some(Arc::new(ServiceToken {
            value: first.value.clone(),
            refresh_at: Instant::now(),
            expires_at: Instant::now(),
        }));
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
