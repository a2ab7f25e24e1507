//! nginx as the gateway: config rendered from `deploy/gateway/nginx.conf.template`, run as an
//! ordinary child process with its own prefix directory.
//!
//! It runs with `master_process off`: a single process, so a SIGKILL of the harness's child
//! (a test that panicked) leaves no orphaned worker holding the port.

use std::{
    fs::OpenOptions,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context, bail};
use tokio::{
    process::{Child, Command},
    time::Instant,
};
use url::Url;

use super::Upstreams;
use crate::service::Service;

/// The template, compiled in so the `stack` binary runs from anywhere.
pub const TEMPLATE: &str = include_str!("../../../deploy/gateway/nginx.conf.template");

/// Passive health check: failures before a replica is skipped.
const MAX_FAILS: u32 = 1;
/// Passive health check: how long a failed replica is skipped.
const FAIL_TIMEOUT: &str = "2s";

/// nginx on `PATH` or at `/usr/sbin/nginx`.
#[must_use]
pub fn find() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("nginx"));
    on_path.chain([PathBuf::from("/usr/sbin/nginx")]).find(|p| p.is_file())
}

/// Fills the template's placeholders; the page is served from `page_root`.
#[must_use]
pub fn render(listen_port: u16, upstreams: &Upstreams, page_root: &Path) -> String {
    let servers = |service: Service| {
        upstreams
            .get(&service)
            .map(|ports| {
                ports
                    .iter()
                    .map(|port| {
                        format!("        server 127.0.0.1:{port} max_fails={MAX_FAILS} fail_timeout={FAIL_TIMEOUT};")
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    };
    TEMPLATE
        .replace("{{LISTEN}}", &format!("127.0.0.1:{listen_port}"))
        .replace("{{PAGE_ROOT}}", &page_root.display().to_string())
        .replace("{{AUTH_SERVERS}}", &servers(Service::Auth))
        .replace("{{ORDERS_SERVERS}}", &servers(Service::Orders))
        .replace("{{NOTIFICATIONS_SERVERS}}", &servers(Service::Notifications))
}

/// A running nginx.
#[derive(Debug)]
pub struct NginxGateway {
    binary: PathBuf,
    port: u16,
    prefix: PathBuf,
    child: Option<Child>,
}

impl NginxGateway {
    /// Writes the config under `prefix`, starts nginx and waits until `/healthz` answers.
    ///
    /// # Errors
    /// nginx exits (a config error: its error log is in the message) or does not answer in
    /// time.
    pub async fn start(binary: &Path, prefix: &Path, port: u16, upstreams: &Upstreams) -> anyhow::Result<Self> {
        for dir in ["logs", "tmp"] {
            std::fs::create_dir_all(prefix.join(dir)).with_context(|| format!("cannot create {dir} for nginx"))?;
        }
        let page_root = prefix.join("www");
        super::page::write_to(&page_root)?;
        let conf = prefix.join("nginx.conf");
        std::fs::write(&conf, render(port, upstreams, &page_root)).context("cannot write nginx.conf")?;
        let error_log = prefix.join("logs/error.log");
        let output = OpenOptions::new().create(true).append(true).open(prefix.join("logs/stdout.log"))?;
        let mut prefix_arg = prefix.as_os_str().to_owned();
        prefix_arg.push("/");
        let child = Command::new(binary)
            .arg("-p")
            .arg(&prefix_arg)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(&error_log)
            .arg("-g")
            .arg("daemon off; master_process off; pid logs/nginx.pid;")
            .stdin(Stdio::null())
            .stdout(Stdio::from(output.try_clone()?))
            .stderr(Stdio::from(output))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut gateway = Self { binary: binary.to_path_buf(), port, prefix: prefix.to_path_buf(), child: Some(child) };
        gateway.wait_ready(Duration::from_secs(30)).await?;
        Ok(gateway)
    }

    async fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let client = reqwest::Client::builder().no_proxy().build()?;
        let url = self.url().join("/healthz")?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(child) = &mut self.child
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!(
                    "nginx exited ({status}) at start; its error log ends with:\n{}\n{}",
                    crate::process::tail(&self.prefix.join("logs/error.log"), 20),
                    crate::process::tail(&self.prefix.join("logs/stdout.log"), 20)
                );
            }
            if let Ok(response) = client.get(url.clone()).timeout(Duration::from_secs(1)).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("nginx did not answer {url} within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Its base URL.
    #[must_use]
    pub fn url(&self) -> Url {
        Url::parse(&format!("http://127.0.0.1:{}", self.port)).unwrap_or_else(|_| unreachable!("numeric URL parses"))
    }

    /// The nginx binary in use.
    #[must_use]
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The access log (one line per request, with the upstream tried and its status).
    #[must_use]
    pub fn access_log(&self) -> PathBuf {
        self.prefix.join("logs/access.log")
    }

    /// SIGQUIT (finish requests in flight), SIGKILL after five seconds.
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id().and_then(|id| i32::try_from(id).ok()).and_then(rustix::process::Pid::from_raw);
        if let Some(pid) = pid {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::QUIT);
            if tokio::time::timeout(Duration::from_secs(5), child.wait()).await.is_ok() {
                return;
            }
        }
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_fills_every_placeholder() {
        let upstreams = Upstreams::from([
            (Service::Auth, vec![1001, 1002]),
            (Service::Orders, vec![2001, 2002, 2003]),
            (Service::Notifications, vec![3001]),
        ]);
        let conf = render(9999, &upstreams, Path::new("/srv/www"));
        assert!(!conf.contains("{{"), "unfilled placeholder left");
        assert!(conf.contains("listen 127.0.0.1:9999;"));
        assert!(conf.contains("root /srv/www;"));
        assert_eq!(conf.matches("server 127.0.0.1:").count(), 6);
        assert!(conf.contains("server 127.0.0.1:2003 max_fails=1 fail_timeout=2s;"));
    }

    /// The template's `location` blocks and [`super::super::route`] must send the same paths
    /// to the same service.
    #[test]
    fn template_locations_agree_with_the_route_table() {
        let mut checked = 0;
        for line in TEMPLATE.lines().map(str::trim).filter(|l| l.starts_with("location ") && l.contains("proxy_pass")) {
            let mut words = line.split_whitespace().skip(1);
            let first = words.next().unwrap_or_default();
            let path = if first == "=" { words.next().unwrap_or_default() } else { first };
            let target = line.split("proxy_pass http://").nth(1).and_then(|r| r.split(';').next()).unwrap_or_default();
            // `upstream/uri`: nginx sends `/uri` instead of the request's path.
            let (upstream, uri) = target.split_once('/').map_or((target, None), |(u, rest)| (u, Some(rest)));
            assert_eq!(super::super::rewrite(path), uri.map(|rest| format!("/{rest}")).as_deref(), "{line}");
            let expected = match upstream {
                "auth_service" => Service::Auth,
                "orders_service" => Service::Orders,
                "notifications_service" => Service::Notifications,
                other => panic!("unknown upstream {other}"),
            };
            let probe = if path.ends_with('/') { format!("{path}x") } else { path.to_owned() };
            assert_eq!(super::super::route(&probe), Some(expected), "{line}");
            checked += 1;
        }
        assert_eq!(checked, 20);
    }
}
