//! DPoP mode: the token is bound to a key the page generated and cannot export, and every
//! request carries a proof signed with it, so the token alone, replayed as a bearer token or
//! with a proof from another key, is refused while the page's own requests go through.

use anyhow::{Context, ensure};
use serde_json::Value;

use crate::browser::{browser_test, unique_email};

#[tokio::test]
async fn dpop_mode_binds_the_token_to_the_page_key_and_refuses_it_without_that_key() {
    browser_test("dpop_mode", async |browser, stack| {
        let page = browser.open(stack).await?;
        page.sign_up_and_in(&unique_email(), "dpop").await?;

        // A DPoP token, whose cnf.jkt is the thumbprint of the page's own key.
        page.wait_for_text("#token-type", "DPoP").await?;
        let payload: Value = serde_json::from_str(&page.wait_for_text("#token-payload", "\"cnf\"").await?)?;
        page.wait_for("#dpop-key[data-bound='true']").await?;
        let thumbprint = page.text("#dpop-jkt").await?;
        ensure!(payload["cnf"]["jkt"] == thumbprint.as_str(), "cnf {} is not the key {thumbprint}", payload["cnf"]);

        // The page's own requests, each with a fresh proof, work.
        let answer = page.place_order("DPOP-1", 2).await?;
        ensure!(answer.attr("data-status").await?.as_deref() == Some("201"), "{}", answer.text().await?);

        // The same token without its key: as Bearer with no proof, and as DPoP with a proof
        // signed by another key. Both are refused with a challenge; the page's request is not.
        page.click("#dpop-replay").await?;
        let result = page.wait_for("#dpop-replay-result[data-outcome]").await?;
        for (attempt, status) in [("owner", "200"), ("bearer", "401"), ("other-key", "401")] {
            let row = page.wait_for(&format!("#dpop-replay-result li[data-attempt='{attempt}']")).await?;
            let text = row.text().await?;
            ensure!(row.attr("data-status").await?.as_deref() == Some(status), "{attempt}: {text}");
            if status == "401" {
                let challenge = row.attr("data-challenge").await?.context("no challenge attribute")?;
                ensure!(challenge.starts_with("DPoP ") || challenge.starts_with("Bearer "), "{attempt}: {challenge:?}");
                ensure!(text.contains(&challenge), "{attempt}: the page does not show {challenge:?}: {text}");
            }
        }
        ensure!(result.attr("data-outcome").await?.as_deref() == Some("refused"), "{}", result.text().await?);
        page.wait_for_text("#auth-status", "signed in").await?;
        browser.screenshot(&page, "#dpop-replay-result", "dpop-replay-refused").await?;
        page.close().await;
        Ok(())
    })
    .await;
}
