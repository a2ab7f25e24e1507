//! The issuer's token endpoint: where it is, and one client-credentials request to it
//! (RFC 6749 §4.4). [`super::token::TokenClient`] decides when to ask and caches the answer.
//!
//! The request is `grant_type=client_credentials&scope=…&audience=…`, authenticated with HTTP
//! Basic (client id and secret, each form-encoded first as RFC 6749 §2.3.1 asks). The audience
//! parameter narrows the token to the one service it is for; issuers that do not know it ignore
//! it and apply the client's registered audiences.
//!
//! The endpoint is `AUTH_TOKEN_URL` when set, else the `token_endpoint` of the issuer's
//! metadata (RFC 8414, then OpenID discovery), else `<issuer>/oauth/token`.
//!
//! With a DPoP key the request carries a proof (RFC 9449 §5), and the token comes back bound
//! to the key (`token_type: DPoP`); an issuer that asks for a nonce (`use_dpop_nonce`) is
//! asked once more with it. An issuer that does not do DPoP answers `Bearer`, and the token
//! is used as one.
//!
//! Each request is a client span whose context goes out as `traceparent`.

use std::{sync::Arc, time::Duration};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use http::{HeaderValue, header};
use jwt_verifier::{DPOP_HEADER, DPOP_NONCE_HEADER, DpopKey, clock::system_now_unix, config::check_fetch_url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use service_kit::telemetry::client;
use tokio::{sync::OnceCell, time::Instant};
use url::Url;

use super::excerpt;

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

/// A token as the endpoint issued it.
pub(super) struct Issued {
    /// The bearer value.
    pub access_token: SecretString,
    /// `expires_in`, as the issuer said it (never zero).
    pub expires_in: Duration,
    /// When the request was sent: the lifetime counts from here.
    pub requested_at: Instant,
    /// The key the token is bound to (`token_type: DPoP`); `None` for a bearer token.
    pub dpop: Option<Arc<DpopKey>>,
}

/// One try at the endpoint.
enum Attempt {
    /// It answered `use_dpop_nonce` with this nonce.
    NonceWanted(String),
    /// Any other outcome but a token.
    Failed(TokenError),
}

impl From<TokenError> for Attempt {
    fn from(error: TokenError) -> Self {
        Self::Failed(error)
    }
}

/// One client's grant at one issuer's token endpoint.
pub(super) struct TokenEndpoint {
    pub http: reqwest::Client,
    pub issuer: Url,
    pub configured: Option<Url>,
    /// The endpoint found by discovery, kept once found.
    pub discovered: OnceCell<Url>,
    pub client_id: String,
    pub client_secret: SecretString,
    pub scope: String,
    /// The service the token is for; the issuer limits the token's `aud` to it.
    pub audience: String,
    pub allow_insecure_http: bool,
    /// The key the token is asked to be bound to.
    pub dpop: Option<Arc<DpopKey>>,
}

impl TokenEndpoint {
    /// Asks for a token (finding the endpoint first, the first time), once more with the
    /// issuer's DPoP nonce if it wants one.
    pub(super) async fn request(&self) -> Result<Issued, TokenError> {
        let endpoint = self.endpoint().await?;
        match self.request_at(&endpoint, None).await {
            Err(Attempt::NonceWanted(nonce)) => self.request_at(&endpoint, Some(&nonce)).await,
            other => other,
        }
        .map_err(|attempt| match attempt {
            Attempt::Failed(error) => error,
            Attempt::NonceWanted(_) => {
                TokenError::Refused { status: 400, message: "use_dpop_nonce, even with the nonce it gave".to_owned() }
            }
        })
    }

    async fn request_at(&self, endpoint: &Url, nonce: Option<&str>) -> Result<Issued, Attempt> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("scope", &self.scope)
            .append_pair("audience", &self.audience)
            .finish();
        let requested_at = Instant::now();
        let mut request = self
            .http
            .post(endpoint.clone())
            .header(header::AUTHORIZATION, self.basic_credentials()?)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json");
        if let Some(key) = &self.dpop {
            request = request.header(DPOP_HEADER, key.proof("POST", endpoint.as_str(), None, nonce, system_now_unix()));
        }
        let response = client::send(request.body(body), "POST", endpoint)
            .await
            .map_err(|e| TokenError::Unreachable(format!("{endpoint}: {e}")))?;
        let status = response.status();
        let offered_nonce = response.headers().get(DPOP_NONCE_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let text = response.text().await.map_err(|e| TokenError::Unreachable(e.to_string()))?;
        if !status.is_success() {
            let wants_nonce = serde_json::from_str::<OAuthError>(&text).is_ok_and(|e| e.error == "use_dpop_nonce");
            if let (true, Some(nonce), None) = (wants_nonce, offered_nonce, nonce) {
                return Err(Attempt::NonceWanted(nonce));
            }
            let message = match serde_json::from_str::<OAuthError>(&text) {
                Ok(error) => match error.error_description {
                    Some(description) => format!("{}: {description}", error.error),
                    None => error.error,
                },
                Err(_) => excerpt(&text, 200),
            };
            return Err(TokenError::Refused { status: status.as_u16(), message }.into());
        }
        let token: TokenResponse =
            serde_json::from_str(&text).map_err(|e| TokenError::InvalidResponse(e.to_string()))?;
        let dpop = match (&self.dpop, token.token_type.to_ascii_lowercase().as_str()) {
            (_, "bearer") => None,
            (Some(key), "dpop") => Some(Arc::clone(key)),
            (_, other) => {
                let expected = if self.dpop.is_some() { "DPoP or Bearer" } else { "Bearer" };
                return Err(TokenError::InvalidResponse(format!("token_type is {other}, expected {expected}")).into());
            }
        };
        if token.expires_in == 0 || token.access_token.is_empty() {
            return Err(TokenError::InvalidResponse("empty token or zero lifetime".to_owned()).into());
        }
        Ok(Issued {
            access_token: SecretString::from(token.access_token),
            expires_in: Duration::from_secs(token.expires_in),
            requested_at,
            dpop,
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
        if let Some(configured) = &self.configured {
            return Ok(configured.clone());
        }
        let endpoint = self.discovered.get_or_try_init(|| self.discover()).await?.clone();
        check_fetch_url(&endpoint, self.allow_insecure_http).map_err(TokenError::InsecureEndpoint)?;
        Ok(endpoint)
    }

    /// Reads the issuer's metadata for `token_endpoint`. Only an unreachable issuer is an error
    /// (and is retried on the next call); metadata without the field, or none at all, means
    /// the conventional `<issuer>/oauth/token`.
    async fn discover(&self) -> Result<Url, TokenError> {
        let issuer = self.issuer.as_str().trim_end_matches('/');
        let candidates = jwt_verifier::metadata::metadata_urls(issuer).map_err(TokenError::InvalidResponse)?;
        for candidate in candidates {
            let request = self.http.get(candidate.clone()).header(header::ACCEPT, "application/json");
            let response = client::send(request, "GET", &candidate)
                .await
                .map_err(|e| TokenError::Unreachable(format!("{candidate}: {e}")))?;
            if !response.status().is_success() {
                continue;
            }
            let Ok(metadata) = response.json::<serde_json::Map<String, serde_json::Value>>().await else { continue };
            if !jwt_verifier::metadata::names_issuer(&metadata, issuer) {
                tracing::warn!(metadata.url = %candidate, "issuer metadata names a different issuer, ignoring it");
                continue;
            }
            let endpoint = metadata.get("token_endpoint").and_then(serde_json::Value::as_str);
            if let Some(endpoint) = endpoint.and_then(|e| Url::parse(e).ok()) {
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
