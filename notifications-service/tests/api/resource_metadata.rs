//! RFC 9728: the protected resource metadata document, and challenges that point at it.

use serde_json::json;

use crate::helpers::{notification, spawn_app};

/// The `resource_metadata` parameter of a `WWW-Authenticate` value.
fn resource_metadata(challenge: &str) -> &str {
    challenge
        .split("resource_metadata=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no resource_metadata in {challenge}"))
}

#[tokio::test]
async fn a_403_challenge_points_at_the_metadata_which_names_the_issuer_and_scopes() {
    let app = spawn_app().await;

    // Arrange: a user token where a service token is needed, and no token at all.
    let user = app.user_token("alice", "notifications:read notifications:write");
    let forbidden = app.post_notification(Some(&user), &notification("e-1", "alice", "hi")).await;
    let anonymous = app.list_notifications(None, "").await;
    assert_eq!((forbidden.status().as_u16(), anonymous.status().as_u16()), (403, 401));

    // Act: both challenges name the same metadata; fetch it from this service.
    let expected = format!("{}/.well-known/oauth-protected-resource/v1/notifications", app.issuer.issuer());
    for response in [&forbidden, &anonymous] {
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert_eq!(resource_metadata(challenge), expected, "{challenge}");
    }
    let path = expected.strip_prefix(&app.issuer.issuer()).unwrap();
    let document = app.client.get(format!("{}{path}", app.address)).send().await.unwrap();

    // Assert
    assert_eq!(document.status(), 200);
    let document: serde_json::Value = document.json().await.unwrap();
    assert_eq!(document["resource"], format!("{}/v1/notifications", app.issuer.issuer()));
    assert_eq!(document["authorization_servers"], json!([app.issuer.issuer()]));
    let scopes = document["scopes_supported"].as_array().unwrap();
    assert!(scopes.contains(&"notifications:read".into()), "{scopes:?}");
    assert!(scopes.contains(&"notifications:write".into()), "{scopes:?}");
    assert_eq!(document["dpop_signing_alg_values_supported"], json!(["ES256", "EdDSA"]));
}
