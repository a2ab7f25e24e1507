//! Driving wrk: the Lua scripts, the command line, and parsing what the scripts print.
//!
//! wrk is an established closed-loop HTTP load generator (Debian package `wrk`): a fixed
//! number of connections, each sending its next request as soon as the previous answer
//! arrived. Its latency percentiles are therefore service times under that concurrency, not
//! open-loop response times.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use tokio::process::Command;

/// The scripts, written next to the run's other files.
const SCRIPTS: [(&str, &str); 3] = [
    ("tokens.lua", include_str!("../lua/tokens.lua")),
    ("timeline.lua", include_str!("../lua/timeline.lua")),
    ("token_endpoint.lua", include_str!("../lua/token_endpoint.lua")),
];

/// How to install wrk, for the error message when it is missing.
pub const INSTALL_HINT: &str = "wrk is not installed: `sudo apt-get install -y wrk` (Debian/Ubuntu), \
     `brew install wrk` (macOS), or build it from https://github.com/wg/wrk";

/// wrk's version line, or an error saying how to install it.
///
/// # Errors
/// wrk is not on `PATH`.
pub async fn check_installed() -> anyhow::Result<String> {
    // `wrk -v` prints its version and exits 1; success means "it ran".
    let output = Command::new("wrk").arg("-v").output().await.map_err(|_| anyhow::anyhow!(INSTALL_HINT))?;
    let text = String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr);
    Ok(text.lines().next().unwrap_or("wrk").trim().to_owned())
}

/// Writes the Lua scripts into `dir` and returns it.
///
/// # Errors
/// The files cannot be written.
pub fn write_scripts(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in SCRIPTS {
        std::fs::write(dir.join(name), text).with_context(|| format!("cannot write {name}"))?;
    }
    Ok(dir.to_path_buf())
}

/// Load shape shared by every run of a comparison.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Load {
    /// wrk threads.
    pub threads: u32,
    /// Open connections (at least `threads`).
    pub connections: u32,
    /// Length of one measured run.
    pub duration: Duration,
}

/// One wrk run: which script, which URL, what arguments.
#[derive(Debug, Clone)]
pub struct Run {
    /// Script file name in the scripts directory.
    pub script: &'static str,
    /// `http://127.0.0.1:port` (the script sets the path).
    pub url: String,
    /// Arguments after `--`.
    pub args: Vec<String>,
    /// Positions in `args` that hold secrets: shown as `<secret>` in the report.
    pub secret_args: Vec<usize>,
}

impl Run {
    /// A `tokens.lua` or `timeline.lua` run: `GET path` at `url`, each request with the next
    /// bearer token of `tokens` (one a line), each of wrk's `threads` starting at its own
    /// offset in the list.
    #[must_use]
    pub fn tokens(script: &'static str, url: &str, path: &str, tokens: &Path, threads: u32) -> Self {
        Self {
            script,
            url: url.to_owned(),
            args: vec![path.to_owned(), tokens.display().to_string(), threads.to_string()],
            secret_args: Vec::new(),
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Outcome {
    /// Responses received.
    pub requests: u64,
    /// Run length in microseconds.
    pub duration_us: u64,
    /// Socket connect errors.
    pub connect_errors: u64,
    /// Socket read errors.
    pub read_errors: u64,
    /// Socket write errors.
    pub write_errors: u64,
    /// Responses with a status of 400 or more.
    pub status_errors: u64,
    /// Requests that timed out.
    pub timeouts: u64,
    /// Latency percentiles and maximum in microseconds.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Largest latency.
    pub max_us: u64,
    /// Refresh-grant runs only: requests sent without an unused refresh token.
    #[serde(default)]
    pub starved: u64,
}

impl Outcome {
    /// Responses per second (all statuses).
    #[must_use]
    pub fn rps(&self) -> f64 {
        if self.duration_us == 0 { 0.0 } else { self.requests as f64 * 1e6 / self.duration_us as f64 }
    }

    /// Successful (status below 400) responses per second.
    #[must_use]
    pub fn ok_rps(&self) -> f64 {
        if self.duration_us == 0 {
            0.0
        } else {
            self.requests.saturating_sub(self.status_errors) as f64 * 1e6 / self.duration_us as f64
        }
    }

    /// Socket-level failures of any kind.
    #[must_use]
    pub fn socket_errors(&self) -> u64 {
        self.connect_errors + self.read_errors + self.write_errors + self.timeouts
    }
}

/// Requests answered in one wall-clock second of a timeline run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Second {
    /// Unix time.
    pub unix: i64,
    /// 2xx answers.
    pub ok: u64,
    /// Other answers.
    pub failed: u64,
}

/// The wrk command line for `run` (also printed in the report).
#[must_use]
pub fn command_line(scripts: &Path, load: &Load, run: &Run) -> Vec<String> {
    let mut args = vec![
        "wrk".to_owned(),
        format!("-t{}", load.threads),
        format!("-c{}", load.connections.max(load.threads)),
        format!("-d{}s", load.duration.as_secs().max(1)),
        "--timeout".to_owned(),
        "5s".to_owned(),
        "-s".to_owned(),
        scripts.join(run.script).display().to_string(),
        run.url.clone(),
    ];
    if !run.args.is_empty() {
        args.push("--".to_owned());
        args.extend(run.args.iter().cloned());
    }
    args
}

/// Runs wrk and parses its output.
///
/// # Errors
/// wrk cannot start, fails, or prints no result line.
pub async fn run(prefix: &[String], scripts: &Path, load: &Load, run: &Run) -> anyhow::Result<(Outcome, Vec<Second>)> {
    let mut line = prefix.to_vec();
    line.extend(command_line(scripts, load, run));
    let output = Command::new(&line[0])
        .args(&line[1..])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|_| anyhow::anyhow!(INSTALL_HINT))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("wrk failed ({}): {}{}", output.status, stdout, String::from_utf8_lossy(&output.stderr));
    }
    parse(&stdout).with_context(|| format!("unexpected wrk output:\n{stdout}"))
}

/// Reads the `WRK_JSON` and `WRK_SECOND` lines the scripts print.
///
/// # Errors
/// No `WRK_JSON` line, or one that does not parse.
pub fn parse(stdout: &str) -> anyhow::Result<(Outcome, Vec<Second>)> {
    let mut outcome = None;
    let mut seconds = Vec::new();
    for line in stdout.lines() {
        if let Some(json) = line.strip_prefix("WRK_JSON ") {
            outcome = Some(serde_json::from_str::<Outcome>(json).context("WRK_JSON line")?);
        } else if let Some(rest) = line.strip_prefix("WRK_SECOND ") {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if let [unix, ok, failed] = fields[..] {
                seconds.push(Second { unix: unix.parse()?, ok: ok.parse()?, failed: failed.parse()? });
            }
        }
    }
    Ok((outcome.context("no WRK_JSON line")?, seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_and_timeline_lines_parse() {
        let text = "Running 1s test\nWRK_JSON {\"requests\":200,\"duration_us\":2000000,\"connect_errors\":0,\
            \"read_errors\":0,\"write_errors\":0,\"status_errors\":50,\"timeouts\":0,\"p50_us\":100,\
            \"p90_us\":150,\"p99_us\":300,\"max_us\":900}\nWRK_SECOND 1700000000 10 2\n";
        let (outcome, seconds) = parse(text).unwrap();
        assert!((outcome.rps() - 100.0).abs() < 1e-9);
        assert!((outcome.ok_rps() - 75.0).abs() < 1e-9);
        assert_eq!(seconds.len(), 1);
        assert_eq!((seconds[0].ok, seconds[0].failed), (10, 2));
        assert!(parse("nothing").is_err());
    }
}
