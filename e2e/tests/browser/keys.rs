//! The keys panel: the published keys and their states for anyone, and a rotation for an
//! administrator, through the gateway, visible in the same panel.

use anyhow::{Context, ensure};
use e2e::control::ControlError;
use fantoccini::Locator;

use crate::browser::{PASSWORD, browser_test, unique_email};

#[tokio::test]
async fn an_administrator_rotates_the_keys_from_the_page() {
    browser_test("keys", async |browser, stack| {
        let page = browser.open(stack).await?;
        // Anyone sees the states: exactly one key signs.
        page.wait_for("#keys tr[data-state='active']").await?;
        let active = page.client.find_all(Locator::Css("#keys tr[data-state='active']")).await?;
        ensure!(active.len() == 1, "{} active keys", active.len());
        page.wait_for_text("#jwks-cache-control", "max-age=").await?;

        let email = unique_email();
        match stack.control().create_admin(&email, PASSWORD).await {
            Ok(()) => {}
            Err(ControlError::Unsupported(reason)) => {
                eprintln!("browser[keys]: SKIPPED the administrator's rotation: {reason}");
                page.close().await;
                return Ok(());
            }
            Err(error) => return Err(error).context("cannot provision an administrator"),
        }
        page.click("#mode-bearer").await?;
        page.fill("#login-email", &email).await?;
        page.fill("#login-password", PASSWORD).await?;
        page.click("#login-form [type=submit]").await?;
        page.wait_for_text("#auth-status", "signed in").await?;

        // The button appears for an administrator only, and a normal rotation publishes a
        // successor that waits (pending) while the current key keeps signing.
        page.wait_for("#rotate-keys:not([hidden])").await?;
        page.click("#rotate-keys").await?;
        page.wait_for_text("#rotate-result", "Rotated").await?;
        // Each auth replica answers from its own key ring, which it rereads on an interval:
        // refresh the panel until the one that answers has seen the new key.
        let deadline = std::time::Instant::now() + crate::browser::PATIENCE;
        while page.client.find_all(Locator::Css("#keys tr[data-state='pending']")).await?.is_empty() {
            ensure!(std::time::Instant::now() < deadline, "no pending key shown after the rotation");
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            page.click("#refresh-keys").await?;
        }
        let active = page.client.find_all(Locator::Css("#keys tr[data-state='active']")).await?;
        ensure!(active.len() == 1, "the current key keeps signing: {} active", active.len());
        browser.screenshot(&page, "#keys", "rotation-pending-key").await?;
        page.close().await;
        Ok(())
    })
    .await;
}
