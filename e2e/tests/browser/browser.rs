//! Headless Chromium over WebDriver: finding the browser, one chromedriver per test, one
//! browser (its own profile, so its own cookie jar) per [`Page`], the page's elements, and
//! screenshots under `target/browser-screenshots/`.

use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use e2e::{ports::free_port, stack::Stack};
use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

/// How long any one wait for the page lasts.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Password of every user the browser tests register.
pub const PASSWORD: &str = "correct horse battery staple";

/// Chromium and its driver, as installed by Debian's `chromium` and `chromium-driver`
/// (`CHROME_BIN` and `CHROMEDRIVER` override the paths).
struct Installed {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

fn find(variable: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(variable) {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let dirs: Vec<PathBuf> = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    dirs.iter()
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/lib/chromium")].iter())
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|p| p.is_file())
}

fn installed() -> Result<Installed, String> {
    let chromium = find("CHROME_BIN", &["chromium", "chromium-browser", "google-chrome"])
        .ok_or("no Chromium (install Debian's `chromium`, or set CHROME_BIN)")?;
    let chromedriver = find("CHROMEDRIVER", &["chromedriver"])
        .ok_or("no chromedriver (install Debian's `chromium-driver`, or set CHROMEDRIVER)")?;
    Ok(Installed { chromium, chromedriver })
}

/// One test's browser session: chromedriver, the stack, and a name for screenshots.
pub struct Browser {
    name: &'static str,
    chromium: PathBuf,
    driver: Child,
    driver_url: String,
    screenshots: u32,
}

impl Browser {
    /// Starts chromedriver for test `name`; `None` (after printing why) when no browser is
    /// installed and `BROWSER_TESTS` is not `required`.
    pub async fn start(name: &'static str) -> Option<Self> {
        let installed = match installed() {
            Ok(installed) => installed,
            Err(reason) if std::env::var("BROWSER_TESTS").as_deref() == Ok("required") => {
                panic!("browser[{name}]: BROWSER_TESTS=required but {reason}")
            }
            Err(reason) => {
                eprintln!("browser[{name}]: SKIPPED {name}: {reason}");
                return None;
            }
        };
        match Self::launch(name, installed).await {
            Ok(browser) => Some(browser),
            Err(error) => panic!("browser[{name}]: cannot start chromedriver: {error:#}"),
        }
    }

    async fn launch(name: &'static str, installed: Installed) -> anyhow::Result<Self> {
        let port = free_port()?;
        let driver = Command::new(&installed.chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot run {}", installed.chromedriver.display()))?;
        let driver_url = format!("http://127.0.0.1:{port}");
        let status = format!("{driver_url}/status");
        let deadline = Instant::now() + PATIENCE;
        loop {
            if reqwest::get(&status).await.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            if Instant::now() > deadline {
                bail!("chromedriver did not answer {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Self { name, chromium: installed.chromium, driver, driver_url, screenshots: 0 })
    }

    /// A new browser with an empty profile, at the page of `stack`.
    pub async fn open(&self, stack: &Stack) -> anyhow::Result<Page> {
        let profile = tempfile::tempdir().context("cannot create a browser profile")?;
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": self.chromium,
                "args": [
                    "--headless=new",
                    // Containers and CI run as root, where Chromium's sandbox cannot start.
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    "--no-first-run",
                    "--window-size=1280,1800",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        });
        let Value::Object(capabilities) = capabilities else { unreachable!("an object literal") };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.driver_url)
            .await
            .context("cannot open a Chromium session")?;
        let page = Page { client, base: stack.gateway_url().to_string(), _profile: profile };
        page.client.goto(&page.base).await.context("cannot load the page")?;
        page.wait_for("#login-form").await?;
        Ok(page)
    }

    /// Saves a screenshot of `page`, scrolled to the section holding `css`, as
    /// `target/browser-screenshots/<test>-<n>-<step>.png`.
    pub async fn screenshot(&mut self, page: &Page, css: &str, step: &str) -> anyhow::Result<PathBuf> {
        let element = page.wait_for(css).await?;
        page.client
            .execute(
                "(arguments[0].closest('section') || arguments[0]).scrollIntoView({block: 'start'})",
                vec![serde_json::to_value(&element)?],
            )
            .await?;
        self.screenshots += 1;
        // CARGO_TARGET_TMPDIR is `target/tmp`.
        let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).parent().context("no target directory")?;
        let dir = target.join("browser-screenshots");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{}-{:02}-{step}.png", self.name, self.screenshots));
        std::fs::write(&path, page.client.screenshot().await?)?;
        eprintln!("browser[{}]: screenshot {}", self.name, path.display());
        Ok(path)
    }

    /// Stops chromedriver.
    pub async fn stop(mut self) {
        let _ = self.driver.kill().await;
    }
}

/// One browser window on the page.
pub struct Page {
    /// The WebDriver session.
    pub client: Client,
    /// The gateway's URL, where the page is.
    pub base: String,
    _profile: tempfile::TempDir,
}

impl Page {
    /// The element matching `css`, once it exists.
    pub async fn wait_for(&self, css: &str) -> anyhow::Result<Element> {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("no element {css}"))
    }

    /// Waits until the text of `css` contains `needle`, and returns it.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> anyhow::Result<String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let text = self.text(css).await.unwrap_or_default();
            if text.contains(needle) {
                return Ok(text);
            }
            if Instant::now() > deadline {
                bail!("{css} never contained {needle:?}; it says {text:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The text of `css`.
    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        Ok(self.client.find(Locator::Css(css)).await?.text().await?)
    }

    /// Types `text` into the input `css`, replacing what it held.
    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let input = self.wait_for(css).await?;
        input.clear().await?;
        input.send_keys(text).await.with_context(|| format!("cannot type into {css}"))?;
        Ok(())
    }

    /// Clicks `css`.
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        self.wait_for(css).await?.click().await.with_context(|| format!("cannot click {css}"))?;
        Ok(())
    }

    /// Runs `script` in the page (a function body; `return` gives the value).
    pub async fn run(&self, script: &str) -> anyhow::Result<Value> {
        Ok(self.client.execute(script, Vec::new()).await?)
    }

    /// Registers `email` and logs in, in cookie or bearer `mode`.
    pub async fn sign_up_and_in(&self, email: &str, mode: &str) -> anyhow::Result<()> {
        self.fill("#register-email", email).await?;
        self.fill("#register-password", PASSWORD).await?;
        self.click("#register-form [type=submit]").await?;
        self.wait_for_text("#register-result", "Account created").await?;
        self.click(&format!("#mode-{mode}")).await?;
        self.fill("#login-email", email).await?;
        self.fill("#login-password", PASSWORD).await?;
        self.click("#login-form [type=submit]").await?;
        self.wait_for_text("#auth-status", &format!("{mode} mode")).await?;
        self.wait_for_text("#auth-status", "signed in").await?;
        Ok(())
    }

    /// Places an order through the page's form; the answer's `li` in the order log.
    pub async fn place_order(&self, sku: &str, quantity: u32) -> anyhow::Result<Element> {
        let before = self.client.find_all(Locator::Css("#order-log li")).await?.len();
        self.fill("#order-sku", sku).await?;
        self.fill("#order-quantity", &quantity.to_string()).await?;
        self.click("#order-form [type=submit]").await?;
        let deadline = Instant::now() + PATIENCE;
        loop {
            let entries = self.client.find_all(Locator::Css("#order-log li")).await?;
            if entries.len() > before {
                return Ok(entries.into_iter().next().unwrap_or_else(|| unreachable!("more than before")));
            }
            if Instant::now() > deadline {
                bail!("the order log never showed the answer");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ends the WebDriver session (and its browser).
    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}

/// A fresh address nobody registered.
#[must_use]
pub fn unique_email() -> String {
    format!("browser-{}@example.com", uuid::Uuid::new_v4().simple())
}

/// Runs `body` for browser test `name` against its stack ([`e2e::stack::scenario`]); skips
/// when no browser is installed.
pub async fn browser_test(name: &'static str, body: impl AsyncFnOnce(&mut Browser, &Stack) -> anyhow::Result<()>) {
    let Some(mut browser) = Browser::start(name).await else { return };
    e2e::stack::scenario(name, |options| options, async |stack| body(&mut browser, stack).await).await;
    // On a failure chromedriver goes with the panic (`kill_on_drop`).
    browser.stop().await;
}
