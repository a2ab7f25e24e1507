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
    /// In milliseconds: whole seconds would lose the fraction of the start second, and the
    /// clock would run up to a second behind the system clock it started from.
    base_unix_ms: i64,
    base: tokio::time::Instant,
}

impl TokioClock {
    /// Starts at the current system time.
    #[must_use]
    pub fn new() -> Self {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
        Self { base_unix_ms: i64::try_from(now_ms).unwrap_or(i64::MAX), base: tokio::time::Instant::now() }
    }

    /// Starts at `unix` seconds.
    #[must_use]
    pub fn starting_at(unix: i64) -> Self {
        Self { base_unix_ms: unix.saturating_mul(1000), base: tokio::time::Instant::now() }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now_unix(&self) -> i64 {
        let elapsed_ms = i64::try_from(self.base.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.base_unix_ms.saturating_add(elapsed_ms).div_euclid(1000)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_tokio_clock_keeps_the_fraction_of_its_start_second() {
        // Otherwise it lags the system clock by up to a second, and a token the system clock
        // issued "after" an event the tokio clock dated can be dated before it.
        let clock = TokioClock::new();
        let start_ms = clock.base_unix_ms;
        let to_next_second = u64::try_from(1000 - start_ms.rem_euclid(1000)).unwrap();

        tokio::time::advance(Duration::from_millis(to_next_second)).await;

        assert_eq!(clock.now_unix(), start_ms.div_euclid(1000) + 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_tokio_clock_started_at_a_second_counts_whole_seconds_from_it() {
        let clock = TokioClock::starting_at(1_000);
        tokio::time::advance(Duration::from_millis(1_999)).await;
        assert_eq!(clock.now_unix(), 1_001);
    }
}
