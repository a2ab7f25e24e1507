//! The CSRF guard in a real browser: a page on another origin of the same site posts a form
//! to the API. Chromium attaches the `SameSite=Strict` cookie (same site: only the port
//! differs), so only the guard stands between that form and the user's session.

use anyhow::{Context, ensure};
use axum::{Router, response::Html, routing::get};
use tokio::net::TcpListener;

use crate::browser::{browser_test, unique_email};

/// An attacker's page: one button that posts a logout form to the API.
fn attacker_page(api: &str) -> String {
    format!(
        "<!doctype html><html lang=en><title>Free prize</title>\
         <form method=post action='{api}v1/logout'><button id=claim type=submit>Claim your prize</button></form></html>"
    )
}

#[tokio::test]
async fn a_form_posted_from_another_origin_is_refused_by_the_csrf_guard() {
    browser_test("cross_site", async |browser, stack| {
        let page = browser.open(stack).await?;
        page.sign_up_and_in(&unique_email(), "cookie").await?;

        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let html = attacker_page(&page.base);
        let server = tokio::spawn(async move {
            let router = Router::new().route("/", get(move || async move { Html(html) }));
            let _ = axum::serve(listener, router).await;
        });
        let host = stack.gateway_url().host_str().context("the gateway URL has no host")?.to_owned();
        page.client.goto(&format!("http://{host}:{port}/")).await?;
        page.click("#claim").await?;

        // The browser now shows the API's answer to the forged request.
        let deadline = std::time::Instant::now() + crate::browser::PATIENCE;
        let answer = loop {
            let text = page.run("return document.body ? document.body.innerText : ''").await?;
            let text = text.as_str().unwrap_or_default().to_owned();
            if text.contains("error") || std::time::Instant::now() > deadline {
                break text;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        ensure!(answer.contains("cross_site_request"), "the forged logout was not refused by the guard: {answer}");
        browser.screenshot(&page, "body", "cross-site-form-refused").await?;
        server.abort();

        // The session survived: back on the page, still signed in.
        page.client.goto(&page.base).await?;
        page.wait_for_text("#auth-status", "signed in").await?;
        let answer = page.place_order("AFTER-CSRF", 1).await?;
        ensure!(answer.attr("data-status").await?.as_deref() == Some("201"), "{}", answer.text().await?);
        page.close().await;
        Ok(())
    })
    .await;
}
