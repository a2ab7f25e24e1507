//! `GET /.well-known/oauth-protected-resource`: a resource server's RFC 9728 metadata.
//!
//! Served at the bare well-known path (the service reached directly) and at the path RFC 9728
//! §3.1 derives from the resource identifier (`/.well-known/oauth-protected-resource/v1/orders`),
//! which is what a gateway in front of several resources routes to each of them, and what
//! the verifier's challenges name in `resource_metadata`. Both are in the OpenAPI document.

use axum::{
    Extension,
    body::Bytes,
    response::{IntoResponse, Response},
    routing::get,
};
use http::{HeaderValue, header};
use jwt_verifier::{
    VerifierConfig,
    resource::{ResourceMetadata, WELL_KNOWN_PATH, metadata_url},
};
use url::Url;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::openapi::OPERATIONS_TAG;

/// The document changes only with the configuration: clients may keep it for a while.
const CACHE_CONTROL: &str = "public, max-age=300";

/// The serialised document, handed to the handler as a request extension.
#[derive(Clone)]
struct Document(Bytes);

/// `GET /.well-known/oauth-protected-resource`: who issues this resource's tokens, which
/// scopes it takes, how to present them.
#[utoipa::path(
    get,
    path = "/.well-known/oauth-protected-resource",
    tag = OPERATIONS_TAG,
    responses((status = 200,
        description = "RFC 9728 protected resource metadata: the resource identifier, its authorization server, \
                       scopes and token presentation methods.",
        content_type = "application/json", body = Object,
        headers(("Cache-Control" = String, description = "`public, max-age=300`")),
        example = json!({
            "resource": "http://localhost:8080/v1/orders",
            "authorization_servers": ["http://localhost:8080"],
            "scopes_supported": ["orders:read", "orders:write"],
            "bearer_methods_supported": ["header"],
            "resource_name": "orders-service",
            "dpop_signing_alg_values_supported": ["ES256", "EdDSA"],
            "dpop_bound_access_tokens_required": false
        })))
)]
async fn get_resource_metadata(Extension(Document(body)): Extension<Document>) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL)),
        ],
        body,
    )
        .into_response()
}

/// The documented metadata routes of a resource server named `name` whose verifier has
/// `config` and whose endpoints ask for `scopes`; none without `config.resource`.
pub fn openapi_router<S>(config: &VerifierConfig, name: &str, scopes: &[&str]) -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    match &config.resource {
        Some(resource) => routes(resource, &ResourceMetadata::for_resource(config, resource, name, scopes)),
        None => OpenApiRouter::new(),
    }
}

/// The routes serving `document`, the metadata of `resource`.
fn routes<S>(resource: &Url, document: &ResourceMetadata) -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    // Serialising our own struct of strings and booleans cannot fail.
    let body = Bytes::from(serde_json::to_vec(document).unwrap_or_default());
    let mut routes = OpenApiRouter::new().routes(routes!(get_resource_metadata));
    let derived = metadata_url(resource).path().to_owned();
    if derived != WELL_KNOWN_PATH {
        // Same handler and operation at a path known only from the configuration, which
        // `#[utoipa::path]` cannot name.
        let paths = &mut routes.get_openapi_mut().paths.paths;
        if let Some(item) = paths.get(WELL_KNOWN_PATH).cloned() {
            let mut item = item;
            if let Some(operation) = item.get.as_mut() {
                operation.operation_id = Some("get_resource_metadata_for_path".to_owned());
            }
            paths.insert(derived.clone(), item);
        }
        routes = routes.route(&derived, get(get_resource_metadata));
    }
    routes.layer(Extension(Document(body)))
}
