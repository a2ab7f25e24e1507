//! Bearer mode: the token is held by script and sent in `Authorization`, so the page can, and
//! does, decode it: anyone holding it can read it, and it carries no personal data.

use anyhow::ensure;
use serde_json::Value;

use crate::browser::{browser_test, unique_email};

#[tokio::test]
async fn bearer_mode_decodes_the_token_and_shows_it_holds_no_personal_data() {
    browser_test("bearer_mode", async |browser, stack| {
        let page = browser.open(stack).await?;
        let email = unique_email();
        page.sign_up_and_in(&email, "bearer").await?;

        let header: Value = serde_json::from_str(&page.wait_for_text("#token-header", "RS256").await?)?;
        ensure!(header["typ"] == "at+jwt" && header["alg"] == "RS256", "{header}");
        let payload_text = page.wait_for_text("#token-payload", "\"sub\"").await?;
        let payload: Value = serde_json::from_str(&payload_text)?;
        ensure!(payload["sub"].as_str().is_some_and(|s| !s.is_empty()), "{payload}");
        ensure!(payload["sid"].is_string() && payload["jti"].is_string(), "{payload}");
        ensure!(!payload_text.contains(&email), "the token carries the email: {payload_text}");

        // Nothing in cookies: the token travels in the header, and the server says so.
        let cookies: Vec<String> = page.client.get_all_cookies().await?.iter().map(|c| c.name().to_owned()).collect();
        ensure!(!cookies.iter().any(|n| n.contains("token")), "cookies in bearer mode: {cookies:?}");
        page.wait_for("#whoami[data-credential='header']").await?;

        // The kid that verified an order is the kid in the token's header.
        let answer = page.place_order("BEARER-1", 3).await?;
        ensure!(answer.attr("data-status").await?.as_deref() == Some("201"), "{}", answer.text().await?);
        ensure!(answer.attr("data-kid").await?.as_deref() == header["kid"].as_str(), "{}", answer.text().await?);
        browser.screenshot(&page, "#token-payload", "bearer-mode-decoded-token").await?;
        page.close().await;
        Ok(())
    })
    .await;
}
