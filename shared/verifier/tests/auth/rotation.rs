//! The rotation conformance check, against our own verifier: a correct rotation rejects
//! nothing, and an out-of-order one is caught.

use std::time::Duration;

use jwt_verifier::{
    clock::Clock,
    testkit::{
        rotation::{RotationStep, TestIssuerRotation, check_rotation},
        test_key, user_claims_at,
    },
};

use crate::helpers::{AUDIENCE, Paused};

#[tokio::test(start_paused = true)]
async fn a_publish_switch_retire_rotation_rejects_no_valid_token() {
    let setup = Paused::start(vec![test_key(0)], |_| {}).await;
    let (issuer, clock) = (setup.issuer.issuer(), setup.clock.clone());
    let claims = move || user_claims_at(clock.now_unix(), &issuer, &[AUDIENCE], "user-1", "orders:read");
    // Settling for one default key-set lifetime (5 min) lets the background refresh run.
    let mut driver = TestIssuerRotation::new(&setup.issuer, test_key(0), test_key(1), claims, Duration::from_secs(300));
    let report = check_rotation(&mut driver, &[&setup.verifier], 5).await;
    report.assert_clean();
    // Old-key tokens are not checked once the old key is retired.
    assert_eq!(report.checks, 5 + 10 + 15 + 10);
    // The new key arrived by refresh, not by an unknown-kid fetch.
    assert_eq!(setup.verifier.stats().store.unknown_kid_found, 0);
}

#[tokio::test(start_paused = true)]
async fn signing_with_an_unpublished_key_is_caught() {
    let setup = Paused::start(vec![test_key(0)], |c| c.unknown_kid_cooldown = Duration::from_secs(3600)).await;
    let (issuer, clock) = (setup.issuer.issuer(), setup.clock.clone());
    let claims = move || user_claims_at(clock.now_unix(), &issuer, &[AUDIENCE], "user-1", "orders:read");
    // Wrong order: the next key is never published before it signs.
    let driver = TestIssuerRotation::new(&setup.issuer, test_key(0), test_key(1), claims, Duration::ZERO);
    struct Broken<'a, F>(TestIssuerRotation<'a, F>);
    impl<F: FnMut() -> serde_json::Value + Send> jwt_verifier::testkit::rotation::RotationDriver for Broken<'_, F> {
        fn publish_next_key(&mut self) -> futures::future::BoxFuture<'_, Result<(), String>> {
            Box::pin(std::future::ready(Ok(())))
        }
        fn switch_signer(&mut self) -> futures::future::BoxFuture<'_, Result<(), String>> {
            self.0.switch_signer()
        }
        fn retire_old_key(&mut self) -> futures::future::BoxFuture<'_, Result<(), String>> {
            self.0.retire_old_key()
        }
        fn mint(&mut self) -> futures::future::BoxFuture<'_, Result<String, String>> {
            self.0.mint()
        }
        fn settle(&mut self, after: RotationStep) -> futures::future::BoxFuture<'_, ()> {
            self.0.settle(after)
        }
    }
    let mut broken = Broken(driver);
    let report = check_rotation(&mut broken, &[&setup.verifier], 2).await;
    assert!(!report.is_clean());
    assert!(report.rejections.iter().all(|r| r.step >= RotationStep::SignerSwitched), "{report}");
    assert!(report.rejections.iter().any(|r| r.step == RotationStep::SignerSwitched && r.error.contains("UnknownKey")));
}
