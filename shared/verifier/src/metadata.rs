//! Finding an authorization server's metadata: where it lives and which documents to trust.
//!
//! One rule for every client in the workspace (the key-set cache here, orders-service's
//! token client): try RFC 8414's `/.well-known/oauth-authorization-server` first (inserted
//! before the issuer's path, §3.1), then OpenID Connect Discovery's
//! `<issuer>/.well-known/openid-configuration`, and use a document only when its `issuer` is
//! the one asked for (RFC 8414 §3.3), so one issuer's metadata can never point a client at
//! another's keys or endpoints.

use serde_json::{Map, Value};
use url::Url;

/// Where to look for `issuer`'s metadata, in the order to try them.
///
/// # Errors
/// A message when `issuer` is not a URL.
pub fn metadata_urls(issuer: &str) -> Result<Vec<Url>, String> {
    let parsed = Url::parse(issuer).map_err(|e| format!("issuer is not a URL: {e}"))?;
    let path = parsed.path().trim_end_matches('/').to_owned();
    let mut origin = parsed.clone();
    origin.set_path("");
    origin.set_query(None);
    let origin = origin.as_str().trim_end_matches('/').to_owned();
    let base = issuer.trim_end_matches('/');
    [
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{base}/.well-known/openid-configuration"),
    ]
    .iter()
    .map(|candidate| Url::parse(candidate).map_err(|e| format!("cannot build a metadata URL: {e}")))
    .collect()
}

/// `true` when a metadata document's `issuer` names `expected` (a trailing `/` aside, which
/// URL parsers add or drop on their own).
#[must_use]
pub fn names_issuer(document: &Map<String, Value>, expected: &str) -> bool {
    document
        .get("issuer")
        .and_then(Value::as_str)
        .is_some_and(|issuer| issuer.trim_end_matches('/') == expected.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn rfc8414_comes_first_and_keeps_the_issuer_path() {
        let urls = metadata_urls("https://auth.example.com/tenant1").unwrap();
        assert_eq!(urls[0].as_str(), "https://auth.example.com/.well-known/oauth-authorization-server/tenant1");
        assert_eq!(urls[1].as_str(), "https://auth.example.com/tenant1/.well-known/openid-configuration");
        let urls = metadata_urls("http://127.0.0.1:8081").unwrap();
        assert_eq!(urls[0].as_str(), "http://127.0.0.1:8081/.well-known/oauth-authorization-server");
        assert_eq!(urls[1].as_str(), "http://127.0.0.1:8081/.well-known/openid-configuration");
        assert!(metadata_urls("not a url").is_err());
    }

    #[test]
    fn only_the_asked_issuer_is_trusted() {
        let document = json!({"issuer": "https://auth.example.com/"});
        let document = document.as_object().unwrap();
        assert!(names_issuer(document, "https://auth.example.com"));
        assert!(!names_issuer(document, "https://evil.example.com"));
        assert!(!names_issuer(&Map::new(), "https://auth.example.com"));
    }
}
