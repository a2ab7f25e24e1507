//! Delivery of one notification to notifications-service (`POST /v1/notifications`).
//!
//! The request carries the dispatcher's own token and the request id of the request that
//! placed the order (stored in the outbox), so one request id covers the order and its
//! notification in both services' logs even though delivery happens later. Each attempt is a
//! client span (`service_kit::telemetry::client`) whose context goes out as `traceparent`, so
//! notifications-service's server span is its child, in the delivery's trace (see
//! [`crate::outbox`]). Answers are classified so the dispatcher knows whether to retry.
//!
//! A DPoP-bound token goes as `Authorization: DPoP` with a fresh proof for this request
//! (RFC 9449 §7). When notifications-service requires nonces it answers `use_dpop_nonce` with
//! one: the request is sent once more with it, and the nonce is kept for the next requests
//! (every replica of the service accepts it while it lives).

use std::sync::Arc;

use http::{HeaderValue, StatusCode, header};
use jwt_verifier::{DPOP_HEADER, DPOP_NONCE_HEADER, clock::system_now_unix};
use secrecy::ExposeSecret;
use service_kit::{http::context::RequestContext, telemetry::client};
use url::Url;

use super::{excerpt, token::ServiceToken};

/// What a successful delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// 201: stored now.
    Created,
    /// 200: notifications-service already had this event (an earlier attempt got through).
    AlreadyStored,
}

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// No answer: connection refused, reset or timed out. Retry.
    #[error("notifications-service unreachable: {0}")]
    Unreachable(String),
    /// 401: the token was rejected (expired, or keys rotated). Retry with a new token.
    #[error("notifications-service rejected the service token: {0}")]
    TokenRejected(String),
    /// The payload itself was refused (400, 409, 413, 422); no retry can fix it.
    #[error("notifications-service refused the notification with {status}: {body}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Excerpt of the answer.
        body: String,
    },
    /// Any other answer (403, 404, 429, 5xx…): retry later.
    #[error("notifications-service answered {status}: {body}")]
    Failed {
        /// HTTP status.
        status: u16,
        /// Excerpt of the answer.
        body: String,
    },
}

/// Client for notifications-service. Cheap to clone.
#[derive(Debug, Clone)]
pub struct NotificationsClient {
    http: reqwest::Client,
    endpoint: Url,
    /// The last `DPoP-Nonce` notifications-service gave.
    nonce: Arc<parking_lot::Mutex<Option<String>>>,
}

impl NotificationsClient {
    /// A client for the service at `base_url` (which may carry a path prefix, such as a load
    /// balancer's `/notifications`).
    ///
    /// # Errors
    /// `base_url` cannot be a base URL.
    pub fn new(http: reqwest::Client, base_url: &Url) -> anyhow::Result<Self> {
        let mut base = base_url.clone();
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let endpoint = base.join("v1/notifications")?;
        Ok(Self { http, endpoint, nonce: Arc::default() })
    }

    /// The URL notifications are posted to.
    #[must_use]
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// Posts one notification (`payload` is its JSON body).
    ///
    /// # Errors
    /// See [`DeliveryError`] for how failures are classified.
    pub async fn deliver(
        &self,
        payload: &str,
        context: &RequestContext,
        token: &ServiceToken,
    ) -> Result<Delivered, DeliveryError> {
        let nonce = self.nonce.lock().clone();
        let response = self.send(payload, context, token, nonce.as_deref()).await?;
        let response = match self.fresh_nonce(&response) {
            // A nonce comes with a 401 only as `use_dpop_nonce`, refused before the handler ran:
            // the request did nothing, so it is sent again, once.
            Some(nonce) if response.status() == StatusCode::UNAUTHORIZED && token.dpop_key().is_some() => {
                let retried = self.send(payload, context, token, Some(&nonce)).await?;
                self.fresh_nonce(&retried);
                retried
            }
            _ => response,
        };
        let status = response.status();
        match status {
            StatusCode::CREATED => Ok(Delivered::Created),
            StatusCode::OK => Ok(Delivered::AlreadyStored),
            _ => {
                let body = excerpt(&response.text().await.unwrap_or_default(), 300);
                Err(match status {
                    StatusCode::UNAUTHORIZED => DeliveryError::TokenRejected(body),
                    StatusCode::BAD_REQUEST
                    | StatusCode::CONFLICT
                    | StatusCode::PAYLOAD_TOO_LARGE
                    | StatusCode::UNPROCESSABLE_ENTITY => DeliveryError::Refused { status: status.as_u16(), body },
                    _ => DeliveryError::Failed { status: status.as_u16(), body },
                })
            }
        }
    }

    async fn send(
        &self,
        payload: &str,
        context: &RequestContext,
        token: &ServiceToken,
        nonce: Option<&str>,
    ) -> Result<reqwest::Response, DeliveryError> {
        let secret = token.secret().expose_secret();
        let scheme = if token.dpop_key().is_some() { "DPoP" } else { "Bearer" };
        let mut authorization = HeaderValue::from_str(&format!("{scheme} {secret}"))
            .map_err(|_| DeliveryError::TokenRejected("the token is not a valid header value".to_owned()))?;
        authorization.set_sensitive(true);
        let mut request = self
            .http
            .post(self.endpoint.clone())
            .headers(context.outgoing_headers())
            .header(header::AUTHORIZATION, authorization)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(key) = token.dpop_key() {
            let proof = key.proof("POST", self.endpoint.as_str(), Some(secret), nonce, system_now_unix());
            request = request.header(DPOP_HEADER, proof);
        }
        client::send(request.body(payload.to_owned()), "POST", &self.endpoint)
            .await
            .map_err(|e| DeliveryError::Unreachable(e.to_string()))
    }

    /// Keeps a `DPoP-Nonce` the answer carries, and returns it.
    fn fresh_nonce(&self, response: &reqwest::Response) -> Option<String> {
        let nonce = response.headers().get(DPOP_NONCE_HEADER)?.to_str().ok()?.to_owned();
        *self.nonce.lock() = Some(nonce.clone());
        Some(nonce)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_keeps_a_path_prefix() {
        let http = reqwest::Client::new();
        let plain = NotificationsClient::new(http.clone(), &Url::parse("http://127.0.0.1:8083").unwrap()).unwrap();
        assert_eq!(plain.endpoint().as_str(), "http://127.0.0.1:8083/v1/notifications");
        let prefixed = NotificationsClient::new(http, &Url::parse("http://lb:8080/notifications").unwrap()).unwrap();
        assert_eq!(prefixed.endpoint().as_str(), "http://lb:8080/notifications/v1/notifications");
    }
}
