//! CPU time of processes and threads, and finding a child process, from Linux `/proc`.

use std::{path::Path, time::Instant};

/// The fields of a `/proc/…/stat` line after the command name (which may contain spaces, so
/// they start after the last `)`): the state is field 0, the parent 1, utime 11, stime 12.
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    Some(stat.rsplit_once(')')?.1.split_whitespace().collect())
}

/// User plus system CPU time in seconds from the `stat` file at `path`.
fn stat_cpu_seconds(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    let fields = stat_fields(&stat)?;
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// User plus system CPU time of process `pid` so far, in seconds.
#[must_use]
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    stat_cpu_seconds(&format!("/proc/{pid}/stat"))
}

/// User plus system CPU time of the calling thread so far, in seconds: timings taken in the
/// runner count the CPU they used, not the wall time a busy machine stretched them to.
#[must_use]
pub fn thread_cpu_seconds() -> Option<f64> {
    stat_cpu_seconds("/proc/thread-self/stat")
}

/// Runs `work` and returns its value with the CPU seconds the calling thread spent on it (the
/// wall time when `/proc` is not there).
pub fn on_thread_cpu<T>(work: impl FnOnce() -> T) -> (T, f64) {
    let (cpu0, wall0) = (thread_cpu_seconds(), Instant::now());
    let value = work();
    let seconds = match (cpu0, thread_cpu_seconds()) {
        (Some(a), Some(b)) => b - a,
        _ => wall0.elapsed().as_secs_f64(),
    };
    (value, seconds)
}

/// The process id of this process's child running `binary`.
#[must_use]
pub fn child_running(binary: &Path) -> Option<u32> {
    let me = std::process::id().to_string();
    let wanted = binary.canonicalize().ok()?;
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
        let parent = (*stat_fields(&stat)?.get(1)?).to_owned();
        let exe = std::fs::read_link(entry.path().join("exe")).ok()?;
        (parent == me && exe == wanted).then_some(pid)
    })
}

/// `USER_HZ`: 100 on every mainstream Linux; `getconf CLK_TCK` would say otherwise.
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|t: &f64| *t > 0.0)
            .unwrap_or(100.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_start_after_the_command_name() {
        let stat = "42 (a (b) c) S 7 42 42 0 -1 0 0 0 0 0 150 25 0 0";
        let fields = stat_fields(stat).unwrap();
        assert_eq!((fields[0], fields[1], fields[11], fields[12]), ("S", "7", "150", "25"));
    }
}
