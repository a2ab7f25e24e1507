//! The key lifecycle as pure functions of the key table and the clock.
//!
//! ```text
//!   (none) ──first key──▶ active
//!   pending ──published ≥ prepublish──▶ active ──successor activates──▶ retired
//!   retired ──published ≥ token lifetime + leeway──▶ removed (private half destroyed)
//! ```
//!
//! [`due_steps`] says which transitions are due; the manager applies them with conditional
//! statements, so a step planned from a stale read does nothing. [`jwks_max_age`] derives the
//! JWKS `Cache-Control: max-age` from the same schedule.
//!
//! Timing rules and why they hold:
//! - A successor is published for at least `prepublish` ≥ the largest `max-age` ever served
//!   before it signs, so every verifier's cached JWKS has expired by its first token.
//! - A retired key stays published for the access-token lifetime + leeway + the replicas'
//!   refresh interval, so every token it signed has expired before verifiers lose it.
//! - `max-age` shrinks towards the next change (successor publication or removal) so
//!   verifiers pick changes up promptly, but never below a floor, so a change that is due but
//!   not yet applied cannot make verifiers refetch in a loop.

use std::time::Duration;

use super::store::{KeyRow, KeyState};

/// Durations of the schedule, in milliseconds like the stored timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// How long a key signs before its successor activates.
    pub rotation_interval_ms: i64,
    /// How long a successor is published before it signs.
    pub prepublish_ms: i64,
    /// How long a retired key stays published.
    pub retire_hold_ms: i64,
    /// Largest JWKS `max-age`.
    pub max_age_cap: Duration,
    /// Smallest JWKS `max-age`.
    pub max_age_floor: Duration,
}

/// Saturating conversion for durations that come from validated configuration.
#[must_use]
pub fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// One lifecycle transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// No key signs and none waits: create one that signs at once (the very first key, or
    /// recovery after every key was removed).
    CreateActive,
    /// `active` has signed long enough that its successor must be published now.
    CreatePending {
        /// The active key the decision was based on; the insert only happens while it is
        /// still the active key.
        active: String,
    },
    /// Promote `pending`, retiring `retiring` in the same transaction.
    Activate {
        /// The key to promote.
        pending: String,
        /// The key that stops signing (`None` when no key was active).
        retiring: Option<String>,
        /// `false` when no key is active: waiting out the publication time would leave the
        /// service unable to sign, and verifiers recover by refetching on the unknown `kid`.
        wait_for_publication: bool,
    },
    /// Unpublish `kid` and destroy its private half.
    Remove {
        /// The retired key.
        kid: String,
    },
}

/// The transitions due at `now`, in the order they must be applied.
#[must_use]
pub fn due_steps(keys: &[KeyRow], now: i64, schedule: &Schedule) -> Vec<Step> {
    let mut steps = Vec::new();
    let active = keys.iter().find(|k| k.state == KeyState::Active);
    let pending = keys.iter().find(|k| k.state == KeyState::Pending);
    match (active, pending) {
        (None, None) => steps.push(Step::CreateActive),
        (None, Some(pending)) => {
            steps.push(Step::Activate { pending: pending.kid.clone(), retiring: None, wait_for_publication: false })
        }
        (Some(active), Some(pending)) => {
            if now >= pending.activate_after {
                steps.push(Step::Activate {
                    pending: pending.kid.clone(),
                    retiring: Some(active.kid.clone()),
                    wait_for_publication: true,
                });
            }
        }
        (Some(active), None) => {
            if now >= successor_publication_at(active, schedule) {
                steps.push(Step::CreatePending { active: active.kid.clone() });
            }
        }
    }
    for retired in keys.iter().filter(|k| k.state == KeyState::Retired) {
        if retired.remove_after.is_some_and(|at| now >= at) {
            steps.push(Step::Remove { kid: retired.kid.clone() });
        }
    }
    steps
}

/// When the successor of `active` is due to be published.
fn successor_publication_at(active: &KeyRow, schedule: &Schedule) -> i64 {
    let activated = active.activated_at.unwrap_or(active.created_at);
    activated.saturating_add(schedule.rotation_interval_ms).saturating_sub(schedule.prepublish_ms)
}

/// The next instant the published key set changes on schedule (a successor appears or a
/// retired key disappears). Activation does not change the published set.
#[must_use]
pub fn next_jwks_change(keys: &[KeyRow], schedule: &Schedule) -> Option<i64> {
    let has_pending = keys.iter().any(|k| k.state == KeyState::Pending);
    let publication = keys
        .iter()
        .find(|k| k.state == KeyState::Active)
        .filter(|_| !has_pending)
        .map(|active| successor_publication_at(active, schedule));
    let removal = keys.iter().filter(|k| k.state == KeyState::Retired).filter_map(|k| k.remove_after).min();
    [publication, removal].into_iter().flatten().min()
}

/// When the next key starts signing: the pending key's activation, or the active key's
/// scheduled end when no successor exists yet.
#[must_use]
pub fn next_rotation_at(keys: &[KeyRow], schedule: &Schedule) -> Option<i64> {
    if let Some(pending) = keys.iter().find(|k| k.state == KeyState::Pending) {
        return Some(pending.activate_after);
    }
    keys.iter()
        .find(|k| k.state == KeyState::Active)
        .map(|a| a.activated_at.unwrap_or(a.created_at).saturating_add(schedule.rotation_interval_ms))
}

/// The JWKS `max-age` in whole seconds at `now`: the time to the next scheduled change,
/// clamped to `[floor, cap]`.
#[must_use]
pub fn jwks_max_age(keys: &[KeyRow], now: i64, schedule: &Schedule) -> u64 {
    let cap = schedule.max_age_cap.as_secs();
    let floor = schedule.max_age_floor.as_secs().min(cap);
    match next_jwks_change(keys, schedule) {
        Some(at) => {
            let remaining_secs = u64::try_from(at.saturating_sub(now).max(0) / 1000).unwrap_or(0);
            remaining_secs.clamp(floor, cap)
        }
        None => cap,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn schedule() -> Schedule {
        Schedule {
            rotation_interval_ms: 600 * MIN,
            prepublish_ms: 60 * MIN,
            retire_hold_ms: 11 * MIN,
            max_age_cap: Duration::from_secs(15 * 60),
            max_age_floor: Duration::from_secs(60),
        }
    }

    fn key(kid: &str, state: KeyState, created_at: i64) -> KeyRow {
        KeyRow {
            kid: kid.to_owned(),
            state,
            n: String::new(),
            e: String::new(),
            bits: 2048,
            private_key: None,
            created_at,
            activate_after: created_at,
            activated_at: (state != KeyState::Pending).then_some(created_at),
            retired_at: None,
            remove_after: None,
            removed_at: None,
        }
    }

    #[test]
    fn an_empty_table_gets_an_active_key_at_once() {
        assert_eq!(due_steps(&[], 0, &schedule()), [Step::CreateActive]);
    }

    #[test]
    fn successor_is_published_prepublish_before_the_interval_ends() {
        let keys = [key("a", KeyState::Active, 0)];
        assert!(due_steps(&keys, 540 * MIN - 1, &schedule()).is_empty());
        assert_eq!(due_steps(&keys, 540 * MIN, &schedule()), [Step::CreatePending { active: "a".into() }]);
    }

    #[test]
    fn pending_activates_only_after_its_publication_time() {
        let mut pending = key("b", KeyState::Pending, 540 * MIN);
        pending.activate_after = 600 * MIN;
        let keys = [key("a", KeyState::Active, 0), pending];
        assert!(due_steps(&keys, 600 * MIN - 1, &schedule()).is_empty());
        assert_eq!(
            due_steps(&keys, 600 * MIN, &schedule()),
            [Step::Activate { pending: "b".into(), retiring: Some("a".into()), wait_for_publication: true }]
        );
    }

    #[test]
    fn a_lone_pending_key_is_promoted_without_waiting() {
        let mut pending = key("b", KeyState::Pending, 0);
        pending.activate_after = 60 * MIN;
        assert_eq!(
            due_steps(&[pending], 1, &schedule()),
            [Step::Activate { pending: "b".into(), retiring: None, wait_for_publication: false }]
        );
    }

    #[test]
    fn retired_keys_are_removed_after_the_hold() {
        let mut retired = key("a", KeyState::Retired, 0);
        retired.remove_after = Some(100 * MIN);
        let keys = [retired, key("b", KeyState::Active, 90 * MIN)];
        assert!(due_steps(&keys, 100 * MIN - 1, &schedule()).is_empty());
        assert_eq!(due_steps(&keys, 100 * MIN, &schedule()), [Step::Remove { kid: "a".into() }]);
    }

    #[test]
    fn max_age_shrinks_towards_the_next_change_within_floor_and_cap() {
        let keys = [key("a", KeyState::Active, 0)];
        // Successor publication is due at 540 min.
        assert_eq!(jwks_max_age(&keys, 0, &schedule()), 15 * 60, "capped");
        assert_eq!(jwks_max_age(&keys, 535 * MIN, &schedule()), 5 * 60, "shrinks");
        assert_eq!(jwks_max_age(&keys, 540 * MIN - 10_000, &schedule()), 60, "floored");
        assert_eq!(jwks_max_age(&keys, 541 * MIN, &schedule()), 60, "overdue change: floor, not zero");

        let mut retired = key("old", KeyState::Retired, 0);
        retired.remove_after = Some(3 * MIN);
        let keys = [key("a", KeyState::Active, 0), retired];
        assert_eq!(jwks_max_age(&keys, MIN, &schedule()), 2 * 60, "removal counts as a change");
    }

    #[test]
    fn next_rotation_is_the_pending_activation_or_the_interval_end() {
        let keys = [key("a", KeyState::Active, 0)];
        assert_eq!(next_rotation_at(&keys, &schedule()), Some(600 * MIN));
        let mut pending = key("b", KeyState::Pending, 0);
        pending.activate_after = 42;
        assert_eq!(next_rotation_at(&[key("a", KeyState::Active, 0), pending], &schedule()), Some(42));
    }
}
