//! A key-rotation conformance check, reusable by any issuer/verifier pair.
//!
//! A correct rotation is: publish the next key (not signing yet) → wait until every verifier
//! has it → switch the signer to it → wait → retire the old key once its tokens have expired.
//! Done in that order, no valid token is ever rejected. [`check_rotation`] drives the steps
//! through a [`RotationDriver`] (the test kit's [`TestIssuer`] has one,
//! [`TestIssuerRotation`]; auth-service and the e2e suite write their own) and verifies
//! tokens minted at every step with every [`TokenCheck`] (a [`Verifier`], or an HTTP call to
//! a service), reporting each rejection.

use std::{fmt, time::Duration};

use futures::future::BoxFuture;
use serde_json::Value;

use super::{TestIssuer, TestKey};
use crate::Verifier;

/// A step of the rotation, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RotationStep {
    /// Before anything changed.
    Initial,
    /// The next key is published; the old key still signs.
    NextPublished,
    /// The next key signs; the old key is still published.
    SignerSwitched,
    /// The old key is no longer published.
    OldRetired,
}

/// Drives an issuer through a rotation.
pub trait RotationDriver: Send {
    /// Publishes the next key without signing with it.
    fn publish_next_key(&mut self) -> BoxFuture<'_, Result<(), String>>;
    /// Makes the next key the signing key.
    fn switch_signer(&mut self) -> BoxFuture<'_, Result<(), String>>;
    /// Stops publishing the old key.
    fn retire_old_key(&mut self) -> BoxFuture<'_, Result<(), String>>;
    /// Issues a valid access token with the current signing key.
    fn mint(&mut self) -> BoxFuture<'_, Result<String, String>>;
    /// Waits until verifiers can have seen the step just taken (at least one key-set
    /// lifetime; paused-time tests simply sleep).
    fn settle(&mut self, after: RotationStep) -> BoxFuture<'_, ()>;
}

/// Something that accepts or rejects a token: a verifier, or a service endpoint.
pub trait TokenCheck: Send + Sync {
    /// `Ok` if the token is accepted, else a description of the rejection.
    fn check<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<(), String>>;
}

impl TokenCheck for Verifier {
    fn check<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move { self.verify(token).await.map(|_| ()).map_err(|e| format!("{e:?}")) })
    }
}

/// One valid token that was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The step during which it was checked.
    pub step: RotationStep,
    /// The step during which it was minted.
    pub minted_at: RotationStep,
    /// Which check (index into the checks given) rejected it.
    pub check: usize,
    /// The rejection.
    pub error: String,
}

/// What [`check_rotation`] saw.
#[derive(Debug, Clone, Default)]
pub struct RotationReport {
    /// Token checks made.
    pub checks: usize,
    /// Checks of valid tokens that failed.
    pub rejections: Vec<Rejection>,
    /// Driver errors (a step that could not be taken).
    pub driver_errors: Vec<String>,
}

impl RotationReport {
    /// Whether the rotation rejected nothing and every step could be taken.
    #[must_use]
    pub fn is_clean(&self) -> bool {
        self.rejections.is_empty() && self.driver_errors.is_empty() && self.checks > 0
    }

    /// Panics with the report unless [`RotationReport::is_clean`].
    ///
    /// # Panics
    /// When a valid token was rejected or a step failed.
    pub fn assert_clean(&self) {
        assert!(self.is_clean(), "key rotation was not seamless:\n{self}");
    }
}

impl fmt::Display for RotationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} token checks, {} rejections", self.checks, self.rejections.len())?;
        for rejection in &self.rejections {
            writeln!(
                f,
                "  during {:?}: token minted during {:?} rejected by check #{}: {}",
                rejection.step, rejection.minted_at, rejection.check, rejection.error
            )?;
        }
        for error in &self.driver_errors {
            writeln!(f, "  driver error: {error}")?;
        }
        Ok(())
    }
}

/// Runs the rotation, minting `tokens_per_step` tokens at each step and checking every token
/// that should still be valid with every check.
///
/// Tokens minted with the old key are not checked after the old key is retired: retiring a
/// key whose tokens are still alive is a bug of the issuer's schedule, not of the verifier,
/// and the issuer's own tests cover that schedule.
pub async fn check_rotation(
    driver: &mut dyn RotationDriver,
    checks: &[&dyn TokenCheck],
    tokens_per_step: usize,
) -> RotationReport {
    let mut report = RotationReport::default();
    let mut live: Vec<(RotationStep, String)> = Vec::new();
    let steps =
        [RotationStep::Initial, RotationStep::NextPublished, RotationStep::SignerSwitched, RotationStep::OldRetired];
    for step in steps {
        let taken = match step {
            RotationStep::Initial => Ok(()),
            RotationStep::NextPublished => driver.publish_next_key().await,
            RotationStep::SignerSwitched => driver.switch_signer().await,
            RotationStep::OldRetired => driver.retire_old_key().await,
        };
        if let Err(error) = taken {
            report.driver_errors.push(format!("{step:?}: {error}"));
            return report;
        }
        if step != RotationStep::Initial {
            driver.settle(step).await;
        }
        if step == RotationStep::OldRetired {
            live.retain(|(minted, _)| *minted == RotationStep::SignerSwitched);
        }
        for _ in 0..tokens_per_step {
            match driver.mint().await {
                Ok(token) => live.push((step, token)),
                Err(error) => report.driver_errors.push(format!("mint during {step:?}: {error}")),
            }
        }
        for (minted_at, token) in &live {
            for (index, check) in checks.iter().enumerate() {
                report.checks += 1;
                if let Err(error) = check.check(token).await {
                    report.rejections.push(Rejection { step, minted_at: *minted_at, check: index, error });
                }
            }
        }
    }
    report
}

/// A [`RotationDriver`] for a [`TestIssuer`]: rotates from `old` to `next`, minting tokens
/// from `claims()`, and settles by sleeping `settle` (tokio time).
pub struct TestIssuerRotation<'a, F> {
    issuer: &'a TestIssuer,
    old: TestKey,
    next: TestKey,
    signer: TestKey,
    claims: F,
    settle: Duration,
}

impl<'a, F> TestIssuerRotation<'a, F>
where
    F: FnMut() -> Value + Send,
{
    /// A driver for `issuer`, which must currently publish `old` (and only it).
    pub fn new(issuer: &'a TestIssuer, old: TestKey, next: TestKey, claims: F, settle: Duration) -> Self {
        Self { issuer, signer: old.clone(), old, next, claims, settle }
    }
}

impl<F> RotationDriver for TestIssuerRotation<'_, F>
where
    F: FnMut() -> Value + Send,
{
    fn publish_next_key(&mut self) -> BoxFuture<'_, Result<(), String>> {
        self.issuer.set_keys(vec![self.old.clone(), self.next.clone()]);
        Box::pin(std::future::ready(Ok(())))
    }

    fn switch_signer(&mut self) -> BoxFuture<'_, Result<(), String>> {
        self.signer = self.next.clone();
        Box::pin(std::future::ready(Ok(())))
    }

    fn retire_old_key(&mut self) -> BoxFuture<'_, Result<(), String>> {
        self.issuer.set_keys(vec![self.next.clone()]);
        Box::pin(std::future::ready(Ok(())))
    }

    fn mint(&mut self) -> BoxFuture<'_, Result<String, String>> {
        let token = self.signer.mint(&(self.claims)());
        Box::pin(std::future::ready(Ok(token)))
    }

    fn settle(&mut self, _after: RotationStep) -> BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(self.settle))
    }
}
