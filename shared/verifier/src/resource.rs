//! OAuth 2.0 Protected Resource Metadata (RFC 9728).
//!
//! What a resource server publishes so a client that got a 401 can find out which
//! authorization server issues its tokens, which scopes it takes and how to present them.
//!
//! A resource is named by a URL ([`VerifierConfig::resource`]). Its metadata lives at that
//! URL's origin with `/.well-known/oauth-protected-resource` inserted before the path
//! (§3.1), so that several resources behind one gateway each have their own document; every
//! `WWW-Authenticate` challenge the verifier sends then carries `resource_metadata="<that URL>"`
//! (§5.1). Serving the document is the service's job; [`ResourceMetadata::for_resource`] builds
//! it from the same settings the verifier enforces, so the two cannot disagree.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::{config::VerifierConfig, dpop::jwk::ProofAlgorithm};

/// The well-known path of the metadata (RFC 9728 §3).
pub const WELL_KNOWN_PATH: &str = "/.well-known/oauth-protected-resource";

/// The URL of `resource`'s metadata (RFC 9728 §3.1).
///
/// Its origin, the well-known path, then the resource's own path when it has one (`https://api.example/v1/orders` →
/// `https://api.example/.well-known/oauth-protected-resource/v1/orders`). Query and fragment
/// are not part of a resource identifier and are dropped.
#[must_use]
pub fn metadata_url(resource: &Url) -> Url {
    let mut url = resource.clone();
    url.set_query(None);
    url.set_fragment(None);
    let path = resource.path().trim_end_matches('/');
    url.set_path(&format!("{WELL_KNOWN_PATH}{path}"));
    url
}

/// The metadata document (RFC 9728 §2), as served with `Content-Type: application/json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceMetadata {
    /// The resource identifier: the URL clients use, which the client must check equals the
    /// one it derived the metadata URL from (§3.3).
    pub resource: String,
    /// The issuers whose tokens this resource accepts: exactly the verifier's `iss`.
    pub authorization_servers: Vec<String>,
    /// The scopes this resource's endpoints ask for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// How a token may be presented: the `Authorization` header (RFC 6750 §2.1). The browser
    /// cookie the verifier also reads is not a method RFC 6750 registers.
    pub bearer_methods_supported: Vec<String>,
    /// A name for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// The algorithms DPoP proofs may be signed with (RFC 9449 §5.1 via RFC 9728 §2).
    pub dpop_signing_alg_values_supported: Vec<String>,
    /// Whether only DPoP-bound tokens are accepted. `false` here: a bound token must come with
    /// its proof, but unbound bearer tokens are accepted too.
    pub dpop_bound_access_tokens_required: bool,
}

impl ResourceMetadata {
    /// The document for `resource`, protected by a verifier with `config`, whose endpoints
    /// ask for `scopes`.
    #[must_use]
    pub fn for_resource(config: &VerifierConfig, resource: &Url, name: &str, scopes: &[&str]) -> Self {
        Self {
            resource: resource.as_str().to_owned(),
            authorization_servers: vec![config.issuer.clone()],
            scopes_supported: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
            bearer_methods_supported: vec!["header".to_owned()],
            resource_name: Some(name.to_owned()),
            dpop_signing_alg_values_supported: ProofAlgorithm::ALL.map(|alg| alg.name().to_owned()).to_vec(),
            dpop_bound_access_tokens_required: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_url_inserts_the_well_known_path_before_the_resource_path() {
        let url = |raw: &str| metadata_url(&Url::parse(raw).unwrap()).to_string();
        assert_eq!(
            url("https://api.example/v1/orders"),
            "https://api.example/.well-known/oauth-protected-resource/v1/orders"
        );
        assert_eq!(
            url("https://api.example/v1/orders/"),
            "https://api.example/.well-known/oauth-protected-resource/v1/orders"
        );
        assert_eq!(url("https://api.example"), "https://api.example/.well-known/oauth-protected-resource");
        assert_eq!(url("http://127.0.0.1:8082/?x=1#f"), "http://127.0.0.1:8082/.well-known/oauth-protected-resource");
    }

    #[test]
    fn the_document_names_the_issuer_the_scopes_and_the_dpop_algorithms() {
        let config = VerifierConfig::new("https://auth.example", "orders-service");
        let resource = Url::parse("https://api.example/v1/orders").unwrap();
        let document = ResourceMetadata::for_resource(&config, &resource, "orders-service", &["orders:read"]);
        let json = serde_json::to_value(&document).unwrap();
        assert_eq!(json["resource"], "https://api.example/v1/orders");
        assert_eq!(json["authorization_servers"], serde_json::json!(["https://auth.example"]));
        assert_eq!(json["scopes_supported"], serde_json::json!(["orders:read"]));
        assert_eq!(json["bearer_methods_supported"], serde_json::json!(["header"]));
        assert_eq!(json["dpop_signing_alg_values_supported"], serde_json::json!(["ES256", "EdDSA"]));
        assert_eq!(json["dpop_bound_access_tokens_required"], false);
    }
}
