//! Wall-clock time for token date checks, injectable so tests can move it.
//!
//! Token dates (`exp`, `nbf`, `iat`) are Unix seconds and need the wall clock; the key cache's
//! own timers (refresh, cooldown, staleness) use `tokio::time`, which tests pause and advance.
//! [`TokioClock`] ties the two together: a wall clock that moves with tokio's (possibly
//! paused) clock, so one `tokio::time::advance` moves both.

use std::{
    fmt,
    time::{SystemTime, UNIX_EPOCH},
};

/// A source of the current Unix time in seconds.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Seconds since the Unix epoch.
    fn now_unix(&self) -> i64;
}

/// The system wall clock (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        system_now_unix()
    }
}

/// The system clock's Unix seconds (0 if the clock is before 1970).
#[must_use]
pub fn system_now_unix() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A wall clock that follows `tokio::time`: the Unix time when it was created plus the tokio
/// time elapsed since. Under `tokio::time::pause` it stands still until advanced.
#[derive(Debug, Clone)]
pub struct TokioClock {
    base_unix: i64,
    base: tokio::time::Instant,
}

impl TokioClock {
    /// Starts at the current system time.
    #[must_use]
    pub fn new() -> Self {
        Self::starting_at(system_now_unix())
    }

    /// Starts at `unix` seconds.
    #[must_use]
    pub fn starting_at(unix: i64) -> Self {
        Self { base_unix: unix, base: tokio::time::Instant::now() }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now_unix(&self) -> i64 {
        let elapsed = i64::try_from(self.base.elapsed().as_secs()).unwrap_or(i64::MAX);
        self.base_unix.saturating_add(elapsed)
    }
}
