//! Medians and spreads over rounds, ratios of paired measurements, and percentiles of
//! samples that may have missed their deadline.
//!
//! Every variant of a comparison is measured once per round, the rounds interleaved, so two
//! variants of one round saw the same machine. A ratio is therefore taken per round (paired)
//! and its median reported, with the smallest and largest round as the spread.

use serde::Serialize;

/// Median, smallest and largest of a set of values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Spread {
    /// The median (mean of the middle two for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; all zeros for an empty slice.
    #[must_use]
    pub fn of(values: &[f64]) -> Self {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        if sorted.is_empty() {
            return Self::default();
        }
        sorted.sort_by(f64::total_cmp);
        let middle = sorted.len() / 2;
        let median = if sorted.len().is_multiple_of(2) {
            f64::midpoint(sorted[middle - 1], sorted[middle])
        } else {
            sorted[middle]
        };
        Self { median, min: sorted[0], max: sorted[sorted.len() - 1] }
    }

    /// `max / min - 1`: how far apart the rounds were, as a fraction.
    #[must_use]
    pub fn relative_width(&self) -> f64 {
        if self.min > 0.0 { self.max / self.min - 1.0 } else { 0.0 }
    }
}

/// Per-round ratios `numerator[i] / denominator[i]` (rounds where both exist and the
/// denominator is positive), summarised.
#[must_use]
pub fn paired_ratio(numerator: &[f64], denominator: &[f64]) -> Spread {
    let ratios: Vec<f64> = numerator.iter().zip(denominator).filter(|(_, d)| **d > 0.0).map(|(n, d)| n / d).collect();
    Spread::of(&ratios)
}

/// The `p`-th percentile (0 < `p` ≤ 100, nearest rank) of `values`, where `None` stands for
/// a value larger than any measured (a sample that never arrived within its deadline).
/// `None` when the rank falls on such a sample, or there are no samples.
#[must_use]
pub fn percentile(values: &[Option<f64>], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted: Vec<f64> = values.iter().map(|v| v.filter(|v| v.is_finite()).unwrap_or(f64::INFINITY)).collect();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().clamp(1.0, sorted.len() as f64) as usize;
    Some(sorted[rank - 1]).filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(Spread::of(&[3.0, 1.0, 2.0]), Spread { median: 2.0, min: 1.0, max: 3.0 });
        assert_eq!(Spread::of(&[4.0, 1.0, 2.0, 3.0]), Spread { median: 2.5, min: 1.0, max: 4.0 });
        assert_eq!(Spread::of(&[]), Spread::default());
        assert_eq!(Spread::of(&[f64::NAN, 5.0]).median, 5.0);
    }

    #[test]
    fn ratios_are_paired_by_round() {
        let spread = paired_ratio(&[10.0, 20.0, 30.0], &[10.0, 10.0, 0.0]);
        assert_eq!(spread, Spread { median: 1.5, min: 1.0, max: 2.0 });
        assert!((Spread { median: 1.0, min: 2.0, max: 3.0 }.relative_width() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn percentiles_take_the_nearest_rank_and_count_misses_as_largest() {
        let values: Vec<Option<f64>> = (1..=30).map(|v| Some(f64::from(v))).collect();
        assert_eq!(percentile(&values, 50.0), Some(15.0));
        assert_eq!(percentile(&values, 99.0), Some(30.0));
        let mut missed = values.clone();
        missed[3] = None;
        assert_eq!(percentile(&missed, 50.0), Some(16.0));
        assert_eq!(percentile(&missed, 99.0), None);
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[Some(2.0)], 99.0), Some(2.0));
    }
}
