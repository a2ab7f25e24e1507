//! `GET /.well-known/jwks.json` and the discovery documents, and verification of freshly
//! minted tokens with keys fetched over HTTP (by `shared`'s verifier and by `jsonwebtoken`).

use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jwt_verifier::{StartupMode, Verifier, VerifierConfig};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{ISSUER, ORDERS_CLIENT, spawn_app, spawn_app_with};

fn max_age(response: &reqwest::Response) -> u64 {
    let cache_control = response.headers()["cache-control"].to_str().unwrap();
    assert!(cache_control.starts_with("public, max-age="), "{cache_control}");
    cache_control.trim_start_matches("public, max-age=").parse().unwrap()
}

#[tokio::test]
async fn jwks_publishes_public_members_only_with_a_thumbprint_kid() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let response = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap();

    // Assert
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(max_age(&response), 900, "the next change is weeks away: the cap applies");
    assert!(response.headers()["etag"].to_str().unwrap().starts_with('"'));
    let jwks: Value = response.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = keys[0].as_object().unwrap();
    let mut members: Vec<&str> = key.keys().map(String::as_str).collect();
    members.sort_unstable();
    assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"]);
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["use"], "sig");
    assert_eq!(URL_SAFE_NO_PAD.decode(key["n"].as_str().unwrap()).unwrap().len(), 256, "RSA-2048");
    let n = URL_SAFE_NO_PAD.decode(key["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(key["e"].as_str().unwrap()).unwrap();
    assert_eq!(key["kid"], jwt_verifier::testkit::rfc7638_thumbprint(&n, &e));
}

#[tokio::test]
async fn a_matching_if_none_match_gets_304() {
    let app = spawn_app().await;
    let first = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();

    let second = app.client.get(app.url("/.well-known/jwks.json")).header("if-none-match", &etag).send().await.unwrap();

    assert_eq!(second.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(second.headers()["etag"], etag.as_str());
    assert!(max_age(&second) > 0);
    assert!(second.bytes().await.unwrap().is_empty());
    let stale =
        app.client.get(app.url("/.well-known/jwks.json")).header("if-none-match", "\"old\"").send().await.unwrap();
    assert_eq!(stale.status(), StatusCode::OK);
}

#[tokio::test]
async fn max_age_shrinks_as_the_next_key_publication_approaches() {
    // The successor is due 10 minutes after the first key activates (1h interval, published
    // 50 min ahead): below the 15-minute cap, so max-age follows the schedule.
    let app = spawn_app_with(&[("AUTH_KEY_ROTATION_INTERVAL", "1h"), ("AUTH_KEY_PREPUBLISH", "50m")]).await;

    let response = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap();

    let max_age = max_age(&response);
    assert!((590..=600).contains(&max_age), "{max_age}");
}

#[tokio::test]
async fn freshly_minted_tokens_verify_with_the_jwks_fetched_over_http() {
    // Arrange
    let app = spawn_app().await;
    let user_token = app.login_new_user("ann@example.com").await.access_token;
    let service_token = app.service_token(ORDERS_CLIENT).await;
    let jwks_url = url::Url::parse(&app.url("/.well-known/jwks.json")).unwrap();

    // Act: shared's verifier, configured like a resource service, loads the JWKS over HTTP.
    let mut config = VerifierConfig::new(ISSUER, "orders-service");
    config.jwks_url = Some(jwks_url.clone());
    config.startup = StartupMode::WarmWithDeadline(Duration::from_secs(5));
    let verifier = Verifier::start(config).await.expect("the JWKS loads over HTTP");
    let caller = verifier.verify(&user_token).await;

    // Assert
    let caller = caller.expect("a fresh user token verifies");
    assert!(verifier.stats().jwks_fetches() >= 1, "keys came over HTTP");
    assert_eq!(caller.client_id, "web");
    assert!(caller.session_id.is_some());
    assert!(caller.has_scope("orders:write"));
    assert_eq!(caller.key_id, app.state.keys.signer().unwrap().kid());
    // The service token is for notifications-service only: orders-service must refuse it.
    assert!(verifier.verify(&service_token).await.is_err());

    // And a third-party library agrees, from the same HTTP JWKS.
    let jwks: jsonwebtoken::jwk::JwkSet = app.client.get(jwks_url).send().await.unwrap().json().await.unwrap();
    let kid = jsonwebtoken::decode_header(&service_token).unwrap().kid.unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find(&kid).expect("kid published")).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&["notifications-service"]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let decoded = jsonwebtoken::decode::<Value>(&service_token, &key, &validation).expect("jsonwebtoken verifies it");
    assert_eq!(decoded.claims["sub"], "orders-service");
    validation.set_audience(&["orders-service"]);
    assert!(jsonwebtoken::decode::<Value>(&service_token, &key, &validation).is_err(), "audience is enforced");
}

#[tokio::test]
async fn discovery_documents_describe_the_issuer() {
    let app = spawn_app().await;

    let oauth: Value =
        app.client.get(app.url("/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();
    let oidc: Value =
        app.client.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();

    assert_eq!(oauth, oidc);
    assert_eq!(oauth["issuer"], ISSUER);
    assert_eq!(oauth["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
    assert_eq!(oauth["token_endpoint"], format!("{ISSUER}/oauth/token"));
    assert_eq!(oauth["revocation_endpoint"], format!("{ISSUER}/oauth/revoke"));
    assert_eq!(oauth["introspection_endpoint"], format!("{ISSUER}/oauth/introspect"));
    assert_eq!(oauth["grant_types_supported"], serde_json::json!(["refresh_token", "client_credentials"]));
    assert!(oauth["token_endpoint_auth_methods_supported"].as_array().unwrap().contains(&"client_secret_basic".into()));
    let scopes = oauth["scopes_supported"].as_array().unwrap();
    for scope in ["orders:read", "orders:write", "notifications:read", "notifications:write", "auth:admin"] {
        assert!(scopes.contains(&scope.into()), "{scope}");
    }
}

#[tokio::test]
async fn key_states_are_public_and_name_the_key_that_signs() {
    let app = spawn_app().await;
    let signing_kid = app.state.keys.signer().unwrap().kid().to_owned();

    let response = app.client.get(app.url("/v1/keys")).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let keys = body["keys"].as_array().unwrap();
    let jwks = app.jwks().await;
    let published: Vec<&Value> = jwks["keys"].as_array().unwrap().iter().map(|k| &k["kid"]).collect();
    let listed: Vec<&Value> = keys.iter().map(|k| &k["kid"]).collect();
    assert_eq!(listed, published, "the same keys as the JWKS, in the same order");
    let active: Vec<&Value> = keys.iter().filter(|k| k["state"] == "active").collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["kid"], signing_kid.as_str());
    assert!(body["jwks_max_age"].as_u64().is_some());
    for key in keys {
        for secret in ["private_key", "n", "e", "d"] {
            assert!(key.get(secret).is_none(), "{key}");
        }
    }
}
