//! Exponential backoff between failed polls.

use std::time::Duration;

use rand::Rng;

/// Exponential backoff: `min`, doubling to `max`, each pause jittered to 50–100 % so
/// replicas that lost the issuer together do not come back together.
pub(super) struct Backoff {
    pub(super) min: Duration,
    max: Duration,
    next: Duration,
    /// Failures in a row.
    pub(super) failures: u32,
}

impl Backoff {
    pub(super) fn new(min: Duration, max: Duration) -> Self {
        Self { min, max, next: min, failures: 0 }
    }

    /// The pause before the next retry. The first failure after a success is most often a
    /// held poll whose replica went away while others still answer, so it is retried almost
    /// at once (0–20 % of `min`, still jittered so replicas do not arrive together); from the
    /// second failure in a row the issuer looks down, and the pauses grow from `min`.
    pub(super) fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        if self.failures == 1 {
            return self.min.mul_f64(rand::rng().random_range(0.0..=0.2));
        }
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay.mul_f64(rand::rng().random_range(0.5..=1.0))
    }

    pub(super) fn reset(&mut self) {
        self.next = self.min;
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_maximum_with_jitter_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
        let delays: Vec<Duration> = (0..9).map(|_| backoff.next_delay()).collect();
        assert!(delays[0] <= Duration::from_millis(50), "the first retry is almost immediate: {delays:?}");
        assert!((Duration::from_millis(125)..=Duration::from_millis(250)).contains(&delays[1]));
        assert!((Duration::from_secs(5)..=Duration::from_secs(10)).contains(&delays[8]));
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(50));
        assert!((Duration::from_millis(125)..=Duration::from_millis(250)).contains(&backoff.next_delay()));
    }
}
