//! The browser page (`deploy/gateway/www`) in headless Chromium, driven over WebDriver,
//! against the real stack behind the gateway: what a browser stores, what script can read,
//! what the server takes back, and what the CSRF guard refuses. See `e2e/README.md`.
//!
//! Without Chromium and chromedriver every test prints `SKIPPED` with the reason and passes,
//! so `cargo test --workspace` runs anywhere; `BROWSER_TESTS=required` (CI) makes a missing
//! browser a failure.

mod bearer_mode;
mod browser;
mod cookie_mode;
mod cross_site;
mod dpop_mode;
mod keys;
