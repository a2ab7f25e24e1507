//! Drift checks between a service's served OpenAPI document and the router serving it.
//!
//! The services build their router and their document from one registration
//! (`utoipa_axum::routes!`), so they agree by construction; these checks catch what the
//! construction cannot: a method added beside it (`Router::route`) on a documented path, a
//! method the document claims but the router lacks, or a documented operation that is not
//! protected as documented. A route on an undocumented path is invisible from here: each
//! service's test compares the document's paths with an explicit list for that.

use std::collections::BTreeSet;

use crate::http::openapi::BEARER_AUTH;
use http::{Method, StatusCode};
use serde_json::Value;

/// Every method probed on a documented path. `CONNECT` is left out: it asks for a tunnel,
/// which no HTTP client sends to an origin path.
const METHODS: [Method; 8] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
    Method::TRACE,
];

/// Stands in for every `{parameter}` of a documented path (a well-formed UUID v7, so a path
/// parameter is never what makes the router miss).
const PATH_PARAMETER: &str = "0192f1c4-0000-7000-8000-000000000000";

/// The document's paths, sorted.
///
/// # Panics
/// When the document has no `paths` object.
#[must_use]
pub fn paths(document: &Value) -> BTreeSet<String> {
    document["paths"].as_object().expect("the document has paths").keys().cloned().collect()
}

/// The verifier settings of a test resource server for `audience` at `path`.
///
/// Its resource is the default one, the issuer's origin plus `path` (what the services' test
/// harnesses run), so the document built from them is the one the test servers serve.
///
/// # Panics
/// When `path` cannot follow an origin.
#[must_use]
pub fn resource_server_config(audience: &str, path: &str) -> jwt_verifier::VerifierConfig {
    let mut config = jwt_verifier::VerifierConfig::new("http://127.0.0.1:1", audience);
    config.resource = Some(url::Url::parse("http://127.0.0.1:1").and_then(|o| o.join(path)).expect("a path"));
    config
}

/// Asserts that each `(path, method, statuses)` operation is secured and documents its errors.
///
/// The document must have the `bearerAuth` scheme, and each operation must require it and
/// answer exactly `statuses`, each error with the `ErrorBody` schema and examples, and 401
/// and 403 with `WWW-Authenticate`.
///
/// # Panics
/// On the first operation that does not.
pub fn assert_secured_operations(document: &Value, operations: &[(&str, &str, &[&str])]) {
    let scheme = &document["components"]["securitySchemes"]["bearerAuth"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    assert_eq!(scheme["bearerFormat"], "JWT");
    for (path, method, statuses) in operations {
        let operation = &document["paths"][path][method];
        assert!(operation["security"][0]["bearerAuth"].is_array(), "{method} {path}");
        let responses = operation["responses"].as_object().expect("responses");
        assert_eq!(responses.keys().map(String::as_str).collect::<Vec<_>>(), *statuses, "{method} {path}");
        for (status, response) in responses.iter().filter(|(status, _)| !status.starts_with('2')) {
            let content = &response["content"]["application/json"];
            assert_eq!(content["schema"]["$ref"], "#/components/schemas/ErrorBody", "{method} {path} {status}");
            assert!(content["examples"].as_object().is_some_and(|e| !e.is_empty()), "{method} {path} {status}");
        }
        for status in ["401", "403"] {
            assert!(responses[status]["headers"]["WWW-Authenticate"].is_object(), "{method} {path} {status}");
        }
    }
}

/// Fetches `/openapi.json` from the service at `address` and checks it against `expected`.
///
/// It must be served as JSON, be OpenAPI 3.1 naming `title` and `version`, equal `expected`
/// (the document the service builds) and match the router ([`assert_router_matches`]).
///
/// # Panics
/// On the first mismatch.
pub async fn assert_served_document(
    client: &reqwest::Client,
    address: &str,
    expected: &Value,
    title: &str,
    version: &str,
) {
    let response = client.get(format!("{address}/openapi.json")).send().await.expect("GET /openapi.json");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let document: Value = serde_json::from_str(&response.text().await.expect("a body")).expect("the document is JSON");
    assert_is_openapi_3_1(&document, title, version);
    assert_eq!(&document, expected);
    assert_router_matches(client, address, &document).await;
}

/// Asserts that `document` is OpenAPI 3.1 and names `title` and `version` in `info`.
///
/// # Panics
/// When it does not.
pub fn assert_is_openapi_3_1(document: &Value, title: &str, version: &str) {
    let openapi = document["openapi"].as_str().expect("an `openapi` version string");
    assert!(openapi.starts_with("3.1"), "openapi is {openapi}, not 3.1");
    assert_eq!(document["info"]["title"], title);
    assert_eq!(document["info"]["version"], version);
}

/// Sends every method to every documented path of the service at `address`, without a
/// token, and asserts that
///
/// - a documented operation is routed: neither 404 nor 405 (`HEAD` counts as documented
///   wherever `GET` is, since HTTP serves `HEAD` wherever it serves `GET`);
/// - a documented operation that requires `bearerAuth` (in every one of its alternatives)
///   answers 401 without a token;
/// - every other method on a documented path answers 405: the router has nothing on that
///   path that the document lacks.
///
/// # Panics
/// On the first mismatch, naming the method, path and status.
pub async fn assert_router_matches(client: &reqwest::Client, address: &str, document: &Value) {
    let needs_bearer = |requirements: &Vec<Value>| {
        !requirements.is_empty() && requirements.iter().all(|requirement| requirement.get(BEARER_AUTH).is_some())
    };
    let global_security = document.get("security").and_then(Value::as_array).is_some_and(needs_bearer);
    for (path, item) in document["paths"].as_object().expect("the document has paths") {
        let url = format!("{address}{}", fill_parameters(path));
        for method in METHODS {
            let key = method.as_str().to_ascii_lowercase();
            let operation = item.get(&key).or_else(|| (method == Method::HEAD).then(|| item.get("get")).flatten());
            let status = client.request(method.clone(), &url).send().await.expect("request sent").status();
            let Some(operation) = operation else {
                assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path} is not documented but answered");
                continue;
            };
            assert!(
                status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but not routed: {status}"
            );
            let secured = operation.get("security").and_then(Value::as_array).map_or(global_security, needs_bearer);
            if secured {
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} is documented as authenticated");
            }
        }
    }
}

/// `path` with each `{parameter}` replaced by [`PATH_PARAMETER`].
fn fill_parameters(path: &str) -> String {
    path.split('/')
        .map(|segment| if segment.starts_with('{') && segment.ends_with('}') { PATH_PARAMETER } else { segment })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_filled_in() {
        assert_eq!(fill_parameters("/v1/orders/{id}"), format!("/v1/orders/{PATH_PARAMETER}"));
        assert_eq!(fill_parameters("/v1/n/{id}/read"), format!("/v1/n/{PATH_PARAMETER}/read"));
        assert_eq!(fill_parameters("/healthz"), "/healthz");
    }
}
