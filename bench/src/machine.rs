//! What the numbers were measured on: CPU, cores, memory, kernel, tool versions, the load
//! average (the machine may be shared), and OpenSSL's RSA-2048 rates as the physical limit.

use std::process::Stdio;

use serde::Serialize;
use tokio::process::Command;

/// A description of the machine, taken at the start of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Machine {
    /// `model name` from `/proc/cpuinfo`.
    pub cpu: String,
    /// Logical CPUs available to this process.
    pub cores: usize,
    /// `MemTotal` in GiB.
    pub memory_gib: f64,
    /// `uname -sr`.
    pub kernel: String,
    /// `rustc -V`.
    pub rustc: String,
    /// `wrk -v`, first line.
    pub wrk: String,
    /// `nginx -v`.
    pub nginx: String,
    /// `openssl version`.
    pub openssl: String,
    /// `/proc/loadavg` (1, 5, 15 minutes) at the start.
    pub load_start: String,
    /// ... and at the end.
    pub load_end: String,
}

/// OpenSSL's RSA-2048 rates (`openssl speed -seconds 1 rsa2048`).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct OpenSslSpeed {
    /// Signatures per second, one process.
    pub sign_per_s: f64,
    /// Verifications per second, one process.
    pub verify_per_s: f64,
    /// Signatures per second, one process per core (`-multi <cores>`), summed.
    pub sign_per_s_all_cores: f64,
    /// Verifications per second, all cores, summed.
    pub verify_per_s_all_cores: f64,
}

async fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).stdin(Stdio::null()).output().await.ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    Some(text.trim().to_owned())
}

fn first_line(text: Option<String>) -> String {
    text.and_then(|t| t.lines().next().map(str::to_owned)).unwrap_or_else(|| "not found".to_owned())
}

/// The current load average.
#[must_use]
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// Describes this machine.
pub async fn describe(wrk: String) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name").and_then(|rest| rest.split_once(':')).map(|(_, v)| v.trim()))
        .unwrap_or("unknown")
        .to_owned();
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemTotal:").and_then(|v| v.split_whitespace().next()?.parse().ok()))
        })
        .map_or(0.0, |kib: f64| kib / 1024.0 / 1024.0);
    Machine {
        cpu,
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        memory_gib,
        kernel: first_line(output("uname", &["-sr"]).await),
        rustc: first_line(output("rustc", &["-V"]).await),
        wrk,
        nginx: first_line(output("nginx", &["-v"]).await.or(output("/usr/sbin/nginx", &["-v"]).await)),
        openssl: first_line(output("openssl", &["version"]).await),
        load_start: load_average(),
        load_end: String::new(),
    }
}

/// Runs `openssl speed` for RSA-2048, on one core and on all of them.
pub async fn openssl_speed(cores: usize) -> Option<OpenSslSpeed> {
    let single = output("openssl", &["speed", "-seconds", "1", "rsa2048"]).await?;
    let (sign_per_s, verify_per_s) = parse_speed(&single)?;
    let cores_arg = cores.to_string();
    let multi = output("openssl", &["speed", "-seconds", "1", "-multi", &cores_arg, "rsa2048"]).await;
    let (sign_all, verify_all) = multi.as_deref().and_then(parse_speed).unwrap_or((0.0, 0.0));
    Some(OpenSslSpeed { sign_per_s, verify_per_s, sign_per_s_all_cores: sign_all, verify_per_s_all_cores: verify_all })
}

/// `(sign/s, verify/s)` from `openssl speed`'s RSA table (the column positions come from the
/// header, which differs between OpenSSL versions).
fn parse_speed(text: &str) -> Option<(f64, f64)> {
    let header: Vec<&str> = text.lines().rev().find(|l| l.contains("sign/s"))?.split_whitespace().collect();
    let row = text.lines().rev().find(|l| l.trim_start().starts_with("rsa") && l.contains("2048 bits"))?;
    let values: Vec<f64> =
        row.split_whitespace().skip(3).filter_map(|v| v.trim_end_matches('s').parse().ok()).collect();
    let sign = header.iter().position(|h| *h == "sign/s")?;
    let verify = header.iter().position(|h| *h == "verify/s")?;
    Some((*values.get(sign)?, *values.get(verify)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_3_and_1_tables_parse() {
        let v3 = "                  sign    verify    sign/s verify/s\nrsa 2048 bits 0.000638s 0.000018s   1568.4  54232.7\n";
        assert_eq!(parse_speed(v3), Some((1568.4, 54232.7)));
        let v35 = "                   sign    verify    encrypt   decrypt   sign/s verify/s  encr./s  decr./s\n\
                   rsa  2048 bits 0.000620s 0.000018s 0.000019s 0.000610s   1613.0  55000.1  52000.0   1639.3\n";
        assert_eq!(parse_speed(v35), Some((1613.0, 55000.1)));
        assert_eq!(parse_speed("garbage"), None);
    }
}
