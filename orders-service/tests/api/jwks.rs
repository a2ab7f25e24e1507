//! Local verification: once the keys are cached, requests cost the issuer nothing.

use futures::StreamExt as _;

use crate::helpers::spawn_app;

#[tokio::test]
async fn after_warm_up_1000_authenticated_requests_fetch_no_keys() {
    // Arrange: one request warms the key cache.
    let app = spawn_app().await;
    let warm_up = app.list_orders(Some(&app.token("warm-up")), "").await;
    assert_eq!(warm_up.status(), 200);
    let fetches_before = app.issuer.jwks_fetches();
    let verifier_fetches_before = app.app.verifier.as_ref().unwrap().stats().jwks_fetches();
    // Distinct tokens (each has its own jti), so every request is a full signature
    // verification, not a hit in the verified-token cache.
    let tokens: Vec<String> = (0..1000).map(|i| app.token(&format!("user-{}", i % 10))).collect();

    // Act
    let statuses: Vec<u16> = futures::stream::iter(tokens.iter())
        .map(|token| async { app.list_orders(Some(token), "limit=1").await.status().as_u16() })
        .buffer_unordered(16)
        .collect()
        .await;

    // Assert
    assert_eq!(statuses.len(), 1000);
    assert!(
        statuses.iter().all(|s| *s == 200),
        "not all 200: {:?}",
        statuses.iter().filter(|s| **s != 200).collect::<Vec<_>>()
    );
    assert_eq!(app.issuer.jwks_fetches(), fetches_before, "the issuer saw JWKS requests");
    assert_eq!(
        app.app.verifier.as_ref().unwrap().stats().jwks_fetches(),
        verifier_fetches_before,
        "the verifier fetched keys"
    );
}
