//! A typed client for the system's public HTTP API, aimed at the gateway or at one replica.
//!
//! Every call returns a [`Reply`] (status, headers, JSON body, and the replica that answered,
//! from `X-Served-By`) rather than failing on non-2xx statuses, because the scenarios assert
//! on error answers as much as on successes. Only transport failures are errors.

use std::time::Duration;

use anyhow::{Context, bail};
use http::{HeaderMap, StatusCode};
use jwt_verifier::{DPOP_HEADER, DpopKey, clock::system_now_unix};
use reqwest::Method;
use serde_json::{Value, json};
use url::Url;

/// `X-Served-By`: `<service>/<instance>` of the replica that answered.
pub const SERVED_BY: &str = "x-served-by";

/// An answer from the system.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body parsed as JSON (`Value::Null` when empty or not JSON).
    pub body: Value,
    /// The raw body, for messages when it is not JSON.
    pub text: String,
}

impl Reply {
    /// `X-Served-By`, when present.
    #[must_use]
    pub fn served_by(&self) -> Option<&str> {
        self.headers.get(SERVED_BY).and_then(|v| v.to_str().ok())
    }

    /// A header as text.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A string member of the JSON body.
    #[must_use]
    pub fn str(&self, member: &str) -> Option<&str> {
        self.body.get(member).and_then(Value::as_str)
    }

    /// The `error` code of the workspace's error envelope.
    #[must_use]
    pub fn error_code(&self) -> Option<&str> {
        self.str("error")
    }

    /// Fails unless the status is `expected`, quoting the body.
    ///
    /// # Errors
    /// Any other status.
    pub fn expect(self, expected: StatusCode, what: &str) -> anyhow::Result<Reply> {
        if self.status != expected {
            bail!(
                "{what}: expected {expected}, got {} from {}: {}",
                self.status,
                self.served_by().unwrap_or("?"),
                self.text
            );
        }
        Ok(self)
    }

    /// `true` when this is a verifier's refusal of a revoked token: 401 `invalid_token` in the
    /// error envelope, with a description that says the token was revoked.
    #[must_use]
    pub fn is_revoked_refusal(&self) -> bool {
        self.status == StatusCode::UNAUTHORIZED
            && self.error_code() == Some("invalid_token")
            && self.str("error_description").is_some_and(|d| d.contains("revoked"))
    }

    /// `true` when the body is the workspace's error envelope: `error` is a `snake_case` code
    /// and `error_description` is a non-empty string.
    #[must_use]
    pub fn is_error_envelope(&self) -> bool {
        let code_ok =
            self.error_code().is_some_and(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        let description_ok = self.str("error_description").is_some_and(|d| !d.trim().is_empty());
        code_ok && description_ok
    }
}

/// Tokens from a login or a refresh.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// The access token (a JWT).
    pub access_token: String,
    /// The refresh token (opaque).
    pub refresh_token: String,
    /// Which auth replica issued them.
    pub issued_by: String,
}

impl Tokens {
    /// Reads a token response.
    ///
    /// # Errors
    /// A member is missing.
    pub fn from_reply(reply: &Reply) -> anyhow::Result<Self> {
        Ok(Self {
            access_token: reply.str("access_token").context("token response without access_token")?.to_owned(),
            refresh_token: reply.str("refresh_token").unwrap_or_default().to_owned(),
            issued_by: reply.served_by().unwrap_or_default().to_owned(),
        })
    }
}

/// A client bound to one base URL.
#[derive(Debug, Clone)]
pub struct Api {
    base: Url,
    http: reqwest::Client,
}

impl Api {
    /// A client for `base` (the gateway, or one replica).
    ///
    /// # Panics
    /// Never in practice: building a plain reqwest client only fails without a TLS backend.
    #[must_use]
    pub fn new(base: Url) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(40))
            .connect_timeout(Duration::from_secs(5))
            .pool_max_idle_per_host(32)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self { base, http }
    }

    /// The same client aimed at another base URL (a replica).
    #[must_use]
    pub fn at(&self, base: &Url) -> Self {
        Self { base: base.clone(), http: self.http.clone() }
    }

    /// Its base URL.
    #[must_use]
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Sends a request and reads the whole answer.
    ///
    /// # Errors
    /// Transport failures only (connection refused, reset, timeout).
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<Reply, reqwest::Error> {
        let response = request.send().await?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Reply { status, headers, body, text })
    }

    /// A request to `path` (with query) on the base URL.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = self.base.join(path).unwrap_or_else(|_| self.base.clone());
        self.http.request(method, url)
    }

    /// `GET path` with an optional bearer token.
    ///
    /// # Errors
    /// Transport failures.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Result<Reply, reqwest::Error> {
        let mut request = self.request(Method::GET, path);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.send(request).await
    }

    /// `POST /v1/users`.
    ///
    /// # Errors
    /// Transport failures.
    pub async fn register(&self, email: &str, password: &str) -> Result<Reply, reqwest::Error> {
        self.send(self.request(Method::POST, "/v1/users").json(&json!({"email": email, "password": password}))).await
    }

    /// `POST /v1/login`.
    ///
    /// # Errors
    /// Transport failures.
    pub async fn login(&self, email: &str, password: &str) -> Result<Reply, reqwest::Error> {
        self.send(self.request(Method::POST, "/v1/login").json(&json!({"email": email, "password": password}))).await
    }

    /// `POST /v1/login` with a DPoP proof by `key` for this base URL (the answer's tokens are
    /// bound to it).
    ///
    /// # Errors
    /// Transport failures.
    pub async fn login_dpop(&self, email: &str, password: &str, key: &DpopKey) -> Result<Reply, reqwest::Error> {
        let request = self.request(Method::POST, "/v1/login").json(&json!({"email": email, "password": password}));
        self.send(request.header(DPOP_HEADER, self.proof(key, Method::POST, "/v1/login", None))).await
    }

    /// `GET path` with a DPoP-bound `token` and `proof` (see [`Api::proof`]).
    ///
    /// # Errors
    /// Transport failures.
    pub async fn get_dpop(&self, path: &str, token: &str, proof: &str) -> Result<Reply, reqwest::Error> {
        let request = self.request(Method::GET, path).header(http::header::AUTHORIZATION, format!("DPoP {token}"));
        self.send(request.header(DPOP_HEADER, proof)).await
    }

    /// A fresh proof by `key` for `method path` on this base URL, with `token`'s hash.
    #[must_use]
    pub fn proof(&self, key: &DpopKey, method: Method, path: &str, token: Option<&str>) -> String {
        let mut url = self.base.join(path).unwrap_or_else(|_| self.base.clone());
        url.set_query(None);
        key.proof(method.as_str(), url.as_str(), token, None, system_now_unix())
    }

    /// `POST /oauth/token` with `grant_type=refresh_token`.
    ///
    /// # Errors
    /// Transport failures.
    pub async fn refresh(&self, refresh_token: &str) -> Result<Reply, reqwest::Error> {
        let form = [("grant_type", "refresh_token"), ("refresh_token", refresh_token)];
        self.send(self.request(Method::POST, "/oauth/token").form(&form)).await
    }

    /// `POST /oauth/token` with `grant_type=client_credentials` and HTTP Basic client
    /// authentication.
    ///
    /// # Errors
    /// Transport failures.
    pub async fn client_credentials(
        &self,
        client_id: &str,
        secret: &str,
        scope: &str,
        audience: Option<&str>,
    ) -> Result<Reply, reqwest::Error> {
        let mut form = vec![("grant_type", "client_credentials"), ("scope", scope)];
        if let Some(audience) = audience {
            form.push(("audience", audience));
        }
        self.send(self.request(Method::POST, "/oauth/token").basic_auth(client_id, Some(secret)).form(&form)).await
    }

    /// `POST /v1/logout` for the session of `access_token`.
    ///
    /// # Errors
    /// Transport failures.
    pub async fn logout(&self, access_token: &str) -> Result<Reply, reqwest::Error> {
        self.send(self.request(Method::POST, "/v1/logout").bearer_auth(access_token)).await
    }

    /// `DELETE /v1/sessions`: log out everywhere (every session of the caller, this one too).
    ///
    /// # Errors
    /// Transport failures.
    pub async fn logout_everywhere(&self, access_token: &str) -> Result<Reply, reqwest::Error> {
        self.send(self.request(Method::DELETE, "/v1/sessions").bearer_auth(access_token)).await
    }

    /// `DELETE /v1/sessions/{id}`: ends one of the caller's sessions.
    ///
    /// # Errors
    /// Transport failures.
    pub async fn end_session(&self, access_token: &str, session_id: &str) -> Result<Reply, reqwest::Error> {
        self.send(self.request(Method::DELETE, &format!("/v1/sessions/{session_id}")).bearer_auth(access_token)).await
    }

    /// `DELETE /v1/admin/users/{user_id}/sessions`: an administrator ends every session of a
    /// user (`user_id` is the `sub` of the user's tokens).
    ///
    /// # Errors
    /// Transport failures.
    pub async fn end_user_sessions(&self, admin_token: &str, user_id: &str) -> Result<Reply, reqwest::Error> {
        let path = format!("/v1/admin/users/{user_id}/sessions");
        self.send(self.request(Method::DELETE, &path).bearer_auth(admin_token)).await
    }

    /// `POST /oauth/revoke` (RFC 7009) without client authentication, with an optional
    /// `token_type_hint`.
    ///
    /// # Errors
    /// Transport failures.
    pub async fn revoke(&self, token: &str, hint: Option<&str>) -> Result<Reply, reqwest::Error> {
        let mut form = vec![("token", token)];
        if let Some(hint) = hint {
            form.push(("token_type_hint", hint));
        }
        self.send(self.request(Method::POST, "/oauth/revoke").form(&form)).await
    }

    /// `GET /v1/security-events?after=…&wait=…`: the revocation feed (signed security events).
    ///
    /// # Errors
    /// Transport failures.
    pub async fn security_events(&self, after: Option<&str>, wait_secs: u32) -> Result<Reply, reqwest::Error> {
        let mut request = self.request(Method::GET, "/v1/security-events").query(&[("wait", wait_secs.to_string())]);
        if let Some(after) = after {
            request = request.query(&[("after", after)]);
        }
        self.send(request).await
    }

    /// `GET /.well-known/oauth-authorization-server` (RFC 8414 metadata).
    ///
    /// # Errors
    /// Transport failures.
    pub async fn metadata(&self) -> Result<Reply, reqwest::Error> {
        self.get("/.well-known/oauth-authorization-server", None).await
    }

    /// `GET /v1/sessions`.
    ///
    /// # Errors
    /// Transport failures.
    pub async fn sessions(&self, access_token: &str) -> Result<Reply, reqwest::Error> {
        self.get("/v1/sessions", Some(access_token)).await
    }

    /// `GET /.well-known/jwks.json`.
    ///
    /// # Errors
    /// Transport failures.
    pub async fn jwks(&self) -> Result<Reply, reqwest::Error> {
        self.get("/.well-known/jwks.json", None).await
    }

    /// `POST /v1/orders` with one item per `(sku, quantity)` and an optional `Idempotency-Key`.
    ///
    /// # Errors
    /// Transport failures.
    pub async fn create_order(
        &self,
        token: &str,
        items: &[(&str, u32)],
        idempotency_key: Option<&str>,
    ) -> Result<Reply, reqwest::Error> {
        let items: Vec<Value> = items.iter().map(|(sku, quantity)| json!({"sku": sku, "quantity": quantity})).collect();
        let mut request = self.request(Method::POST, "/v1/orders").bearer_auth(token).json(&json!({"items": items}));
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        self.send(request).await
    }

    /// `GET /v1/orders/{id}`.
    ///
    /// # Errors
    /// Transport failures.
    pub async fn get_order(&self, token: &str, id: &str) -> Result<Reply, reqwest::Error> {
        self.get(&format!("/v1/orders/{id}"), Some(token)).await
    }

    /// Every item of a paginated list (`/v1/orders` or `/v1/notifications`), following
    /// `next_cursor`.
    ///
    /// # Errors
    /// Transport failures, or a page that is not 200 with an `items` array.
    pub async fn list_all(&self, path: &str, token: &str) -> anyhow::Result<Vec<Value>> {
        match self.list_all_if_available(path, token).await? {
            Some(items) => Ok(items),
            None => bail!("{path}: the service is unavailable (502/503/504)"),
        }
    }

    /// Like [`Api::list_all`], but `None` when a page answers 502, 503 or 504: what a poll
    /// right after a restart sees while the gateway has not yet taken the replicas back.
    ///
    /// # Errors
    /// Transport failures, or a page that is neither 200 with an `items` array nor one of
    /// those statuses.
    pub async fn list_all_if_available(&self, path: &str, token: &str) -> anyhow::Result<Option<Vec<Value>>> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1_000 {
            let mut url = self.base.join(path)?;
            url.query_pairs_mut().append_pair("limit", "100");
            if let Some(cursor) = &cursor {
                url.query_pairs_mut().append_pair("cursor", cursor);
            }
            let reply = self.send(self.http.get(url).bearer_auth(token)).await?;
            if matches!(reply.status.as_u16(), 502..=504) {
                return Ok(None);
            }
            let reply = reply.expect(StatusCode::OK, path)?;
            let page = reply.body.get("items").and_then(Value::as_array).context("page without items")?;
            items.extend(page.iter().cloned());
            match reply.str("next_cursor") {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(Some(items)),
            }
        }
        bail!("{path}: more than 1000 pages")
    }

    /// `GET /metrics` (a replica's Prometheus text; the gateway does not route it).
    ///
    /// # Errors
    /// Transport failures or a non-200 answer.
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let reply = self.get("/metrics", None).await?.expect(StatusCode::OK, "GET /metrics")?;
        Ok(reply.text)
    }
}

/// Sum of every sample of the metric `name` whose labels include all of `labels`, in
/// Prometheus text format (0 when none matches).
#[must_use]
pub fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, label_text) = match series.split_once('{') {
                Some((metric, rest)) => (metric, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let all_match =
                labels.iter().all(|(k, v)| label_text.split(',').any(|pair| pair == format!("{k}=\"{v}\"")));
            all_match.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_sums_filter_by_name_and_labels() {
        let text = "# HELP x\n\
                    jwks_fetches_total{result=\"ok\",issuer=\"a\"} 3\n\
                    jwks_fetches_total{result=\"error\",issuer=\"a\"} 2\n\
                    jwks_fetches_total_other 9\n\
                    plain 4\n";
        assert!((metric_sum(text, "jwks_fetches_total", &[]) - 5.0).abs() < f64::EPSILON);
        assert!((metric_sum(text, "jwks_fetches_total", &[("result", "ok")]) - 3.0).abs() < f64::EPSILON);
        assert!((metric_sum(text, "plain", &[]) - 4.0).abs() < f64::EPSILON);
        assert!(metric_sum(text, "missing", &[]).abs() < f64::EPSILON);
    }

    #[test]
    fn error_envelopes_are_recognised() {
        let reply = |body: Value| Reply {
            status: StatusCode::UNAUTHORIZED,
            headers: HeaderMap::new(),
            text: body.to_string(),
            body,
        };
        assert!(reply(json!({"error": "invalid_token", "error_description": "expired"})).is_error_envelope());
        assert!(!reply(json!({"error": "Invalid", "error_description": "x"})).is_error_envelope());
        assert!(!reply(json!({"error": "invalid_token"})).is_error_envelope());
        assert!(!reply(Value::Null).is_error_envelope());
    }

    #[test]
    fn revoked_refusals_are_told_apart_from_other_401s() {
        let reply = |body: Value| Reply {
            status: StatusCode::UNAUTHORIZED,
            headers: HeaderMap::new(),
            text: body.to_string(),
            body,
        };
        let revoked = json!({"error": "invalid_token", "error_description": "the token has been revoked"});
        assert!(reply(revoked.clone()).is_revoked_refusal());
        assert!(
            !reply(json!({"error": "invalid_token", "error_description": "the token has expired"}))
                .is_revoked_refusal()
        );
        assert!(!reply(json!({"error": "invalid_request", "error_description": "revoked"})).is_revoked_refusal());
        let mut ok = reply(revoked);
        ok.status = StatusCode::OK;
        assert!(!ok.is_revoked_refusal());
    }
}
