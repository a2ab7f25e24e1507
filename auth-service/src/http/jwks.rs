//! Publishing: `GET /.well-known/jwks.json`, the metadata documents, and `GET /v1/keys`.
//!
//! `/v1/keys` gives the published keys' states and schedule, what the JWKS cannot say: which
//! key signs now, which one will, which one only verifies what is still in flight.
//!
//! `/.well-known/oauth-authorization-server` is RFC 8414's; the same document is served at
//! `/.well-known/openid-configuration` for clients that only know OIDC discovery.
//!
//! The JWKS carries `Cache-Control: public, max-age=N` with N from the rotation schedule
//! (see [`crate::keys::lifecycle::jwks_max_age`]), and a strong `ETag` over bytes that are
//! identical on every replica, so a verifier's conditional refetch gets 304 from any of them.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use jwt_verifier::ProofAlgorithm;
use serde_json::json;
use service_kit::db::now_millis;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{
    admin::{KeyView, KeysReport},
    rfc3339,
};
use crate::{keys::lifecycle, state::AppState};

/// Tag of the public key and discovery documents.
const TAG: &str = "keys";

/// Routes of this module, each with its OpenAPI operation.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_jwks))
        .routes(routes!(get_metadata))
        .routes(routes!(get_openid_configuration))
        .routes(routes!(get_key_states))
}

/// The published keys with their states, from the replica's key ring: no database read, so
/// an anonymous endpoint costs what the JWKS costs. Nothing here is secret: the keys are
/// public and the schedule is what any verifier can watch happen.
#[utoipa::path(
    get,
    path = "/v1/keys",
    tag = TAG,
    responses((status = 200, description = "The published keys with their states, and the schedule.", body = KeysReport))
)]
async fn get_key_states(State(state): State<AppState>) -> Response {
    let ring = state.keys.ring();
    let now = now_millis();
    let document = KeysReport {
        keys: ring.keys.iter().map(KeyView::from).collect(),
        jwks_max_age: state.keys.jwks_max_age(now),
        next_rotation_at: lifecycle::next_rotation_at(&ring.keys, state.keys.schedule()).map(rfc3339),
    };
    let mut response = Json(document).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `true` when `If-None-Match` lists `etag` (weak comparison, RFC 9110 §13.1.2) or is `*`.
fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == etag)
}

/// The published keys: 200 with the JWKS, or 304 when the client's copy is current.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = TAG,
    params(("If-None-Match" = Option<String>, Header, description = "The `ETag` of the copy the client holds.")),
    responses(
        (status = 200, description = "The JWK Set (RFC 7517) of every published public key.", body = Object,
            headers(("ETag" = String, description = "Identical on every replica for the same keys."),
                ("Cache-Control" = String, description = "`public, max-age=N`, N from the rotation schedule."))),
        (status = 304, description = "The client's copy is current.",
            headers(("ETag" = String), ("Cache-Control" = String))),
    )
)]
async fn get_jwks(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let ring = state.keys.ring();
    let max_age = state.keys.jwks_max_age(now_millis());
    let cache_control =
        HeaderValue::from_str(&format!("public, max-age={max_age}")).unwrap_or(HeaderValue::from_static("no-cache"));
    let etag = HeaderValue::from_str(&ring.etag).unwrap_or(HeaderValue::from_static("\"\""));
    let mut response = if none_match(&headers, &ring.etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], ring.jwks.to_vec()).into_response()
    };
    let response_headers = response.headers_mut();
    response_headers.insert(header::CACHE_CONTROL, cache_control);
    response_headers.insert(header::ETAG, etag);
    response
}

/// RFC 8414 authorization server metadata. Every URL is built from `AUTH_ISSUER`, the
/// externally visible address, never from the request's `Host`.
#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    tag = TAG,
    responses((status = 200, description = "RFC 8414 authorization server metadata.", body = Object))
)]
async fn get_metadata(State(state): State<AppState>) -> Response {
    let issuer = &state.settings.issuer;
    let document = json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        // Not registered by RFC 8414: the revocation feed's address, named in its
        // `_endpoint` style, so verifiers can discover it like `jwks_uri`.
        "security_event_feed_endpoint": format!("{issuer}/v1/security-events"),
        "grant_types_supported": ["refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic"],
        "scopes_supported": state.settings.scopes_supported(),
        // RFC 9449 §5.1: the proof algorithms the token endpoint (and every verifier) takes.
        "dpop_signing_alg_values_supported": ProofAlgorithm::ALL.map(ProofAlgorithm::name),
        // REQUIRED by RFC 8414; empty because there is no authorization endpoint (users log in
        // through /v1/login, services use client_credentials).
        "response_types_supported": [],
    });
    let mut response = Json(document).into_response();
    // Changes only with configuration, i.e. with a redeploy.
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

/// The same document for clients that only know OpenID Connect discovery.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = TAG,
    responses((status = 200, description = "The RFC 8414 metadata, at OIDC discovery's path.", body = Object))
)]
async fn get_openid_configuration(state: State<AppState>) -> Response {
    get_metadata(state).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_uses_weak_comparison_and_lists() {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static(r#""old", W/"abc""#));
        assert!(none_match(&headers, r#""abc""#));
        assert!(!none_match(&headers, r#""xyz""#));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(none_match(&headers, r#""xyz""#));
        assert!(!none_match(&HeaderMap::new(), r#""abc""#));
    }
}
