//! The OpenAPI document at `/openapi.json` against the router that serves it.

use serde_json::Value;
use service_kit::testing::openapi::{assert_secured_operations, assert_served_document, paths};

use crate::helpers::spawn_app;

/// Every path auth-service serves. A route added outside `routes!` is missing from the
/// document, so adding it here (as every new route must be) fails the first test below.
const EXPECTED_PATHS: [&str; 21] = [
    "/.well-known/jwks.json",
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
    "/healthz",
    "/metrics",
    "/oauth/introspect",
    "/oauth/revoke",
    "/oauth/token",
    "/openapi.json",
    "/readyz",
    "/v1/admin/keys",
    "/v1/admin/keys/rotate",
    "/v1/admin/users/{user_id}/sessions",
    "/v1/keys",
    "/v1/login",
    "/v1/logout",
    "/v1/security-events",
    "/v1/sessions",
    "/v1/sessions/current",
    "/v1/sessions/{id}",
    "/v1/users",
];

fn document() -> Value {
    serde_json::to_value(auth_service::http::openapi_document()).unwrap()
}

#[test]
fn the_document_lists_exactly_the_expected_paths() {
    let expected = EXPECTED_PATHS.iter().map(ToString::to_string).collect();
    assert_eq!(paths(&document()), expected);
}

#[tokio::test]
async fn the_served_document_is_openapi_3_1_and_matches_the_router() {
    let app = spawn_app().await;
    assert_served_document(&app.client, &app.address, &document(), "auth-service", env!("CARGO_PKG_VERSION")).await;
}

#[test]
fn authenticated_operations_require_bearer_auth_and_document_their_errors() {
    let document = document();
    let session = &["200", "400", "401", "403", "500", "503"][..];
    let ended = &["204", "400", "401", "403", "500", "503"][..];
    assert_secured_operations(
        &document,
        &[
            ("/v1/sessions", "get", session),
            ("/v1/sessions", "delete", ended),
            ("/v1/sessions/current", "get", session),
            ("/v1/sessions/{id}", "delete", &["204", "400", "401", "403", "404", "500", "503"][..]),
            ("/v1/logout", "post", ended),
            ("/v1/admin/keys", "get", session),
            ("/v1/admin/keys/rotate", "post", &["200", "400", "401", "403", "409", "500", "503"][..]),
            ("/v1/admin/users/{user_id}/sessions", "delete", &["204", "400", "401", "403", "404", "500", "503"][..]),
        ],
    );
}

#[test]
fn oauth_endpoints_take_forms_and_client_authentication() {
    let document = document();
    assert_eq!(document["components"]["securitySchemes"]["clientBasic"]["scheme"], "basic");
    let flow = &document["components"]["securitySchemes"]["serviceClient"]["flows"]["clientCredentials"];
    assert_eq!(flow["tokenUrl"], "/oauth/token");
    for path in ["/oauth/token", "/oauth/revoke", "/oauth/introspect"] {
        let operation = &document["paths"][path]["post"];
        assert!(operation["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object(), "{path}");
        let unauthorized = &operation["responses"]["401"];
        assert!(unauthorized["headers"]["WWW-Authenticate"].is_object(), "{path}");
        let examples = &operation["responses"]["400"]["content"]["application/json"]["examples"];
        assert!(examples["invalid_request"].is_object() && examples["not_a_form"].is_object(), "{path}");
    }
    // Other parameters are ignored, each at most once: one string, never a repeated one.
    for form in auth_service::http::openapi::FORMS {
        let schema = &document["components"]["schemas"][form];
        assert_eq!(schema["additionalProperties"]["type"], "string", "{form}");
    }
    let login = &document["paths"]["/v1/login"]["post"]["responses"];
    assert!(login["401"]["headers"]["WWW-Authenticate"].is_object());
    assert!(login["429"]["headers"]["Retry-After"].is_object());
}

/// The email pattern clients and schemathesis generate from is what [`Email::parse`] accepts:
/// both agree on every sample. The pattern is stricter only where it cannot count (more than
/// three dot-separated atoms in the local part) and in the top-level label (a letter first),
/// so whatever matches it is accepted.
#[test]
fn the_email_pattern_agrees_with_the_validator() {
    use auth_service::domain::Email;
    let document = document();
    let pattern = document["components"]["schemas"]["CreateUser"]["properties"]["email"]["pattern"]
        .as_str()
        .expect("the email has a pattern");
    let pattern = regex::Regex::new(pattern).expect("the pattern compiles");
    let max_local = format!("{}.{}.{}@example.com", "a".repeat(32), "b".repeat(15), "c".repeat(15));
    let long_atom = format!("{}@example.com", "a".repeat(33));
    let samples: [(&str, bool); 23] = [
        ("ann@example.com", true),
        ("  Ann.Lee+tag@Mail.Example.ORG ", true),
        ("o'neil!#$%&*/=?^_`{|}~-@a1.b2c", true),
        ("x@sub-domain.example.io", true),
        (&max_local, true),
        ("", false),
        ("   ", false),
        ("ann", false),
        ("ann@", false),
        ("@example.com", false),
        ("ann@example", false),
        (".ann@example.com", false),
        ("ann.@example.com", false),
        ("a..b@example.com", false),
        ("ann@-example.com", false),
        ("ann@example-.com", false),
        ("ann@example..com", false),
        ("ann@example.123", false),
        ("an n@example.com", false),
        ("ann@exa_mple.com", false),
        ("ann@example.com\u{0}", false),
        ("änn@example.com", false),
        ("a@b@example.com", false),
    ];
    for (sample, valid) in samples {
        assert_eq!(pattern.is_match(sample), valid, "pattern on {sample:?}");
        assert_eq!(Email::parse(sample).is_ok(), valid, "Email::parse on {sample:?}");
    }
    // Where the pattern is stricter: refused by it, accepted by the validator.
    for stricter in [long_atom.as_str(), "a.b.c.d@example.com", "ann@example.xn--p1ai"] {
        assert!(!pattern.is_match(stricter) && Email::parse(stricter).is_ok(), "{stricter:?}");
    }
}
