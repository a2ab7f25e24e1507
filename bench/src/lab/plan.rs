//! The plan of a run: full or smoke, how hard each measured run loads, and which
//! comparisons run.

use std::time::Duration;

use e2e::service::Topology;
use serde::Serialize;

use crate::{comparisons::Comparison, wrk::Load};

/// How long and how hard a run measures.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// `smoke` or `full`.
    pub mode: &'static str,
    /// Measured rounds per variant.
    pub rounds: u32,
    /// The wrk load of every measured run.
    pub load: Load,
    /// Unrecorded run per variant before the rounds (0: none).
    pub warmup: Duration,
    /// Distinct tokens the cold runs rotate through.
    pub cold_tokens: usize,
    /// The verifier target's token-cache capacity (well below `cold_tokens`, so cold runs
    /// miss).
    pub cache_capacity: usize,
    /// Users (one session each) whose tokens the orders runs rotate through.
    pub users: usize,
    /// auth-service's access-token lifetime for the revocation lag of stateless vs stateful
    /// (bounds that lag).
    pub access_ttl: Duration,
    /// The orders target's leeway on token dates.
    pub leeway: Duration,
    /// Length of each outage run.
    pub outage_run: Duration,
    /// Poll interval of the revocation-lag measurement.
    pub revocation_poll: Duration,
    /// Logouts whose revocation lag is measured with the feed and by introspection (p50 and
    /// p99 are taken over them).
    pub revocations: usize,
    /// How long each of those logouts is polled before it counts as not revoked.
    pub revocation_deadline: Duration,
    /// Replicas of the gateway stack (through the gateway).
    #[serde(skip)]
    pub topology: Topology,
    /// `auth=…, orders=…, notifications=…` for the report.
    pub topology_text: String,
    /// Length of each raw signing measurement.
    pub signing_run: Duration,
    /// Comparisons to run.
    pub only: Vec<Comparison>,
}

impl Plan {
    /// The full plan: minutes.
    #[must_use]
    pub fn full() -> Self {
        Self {
            mode: "full",
            rounds: 5,
            load: Load { threads: 2, connections: 32, duration: Duration::from_secs(8) },
            warmup: Duration::from_secs(2),
            cold_tokens: 25_000,
            cache_capacity: 1_000,
            users: 8,
            access_ttl: Duration::from_secs(30),
            leeway: Duration::from_secs(30),
            outage_run: Duration::from_secs(12),
            revocation_poll: Duration::from_millis(10),
            revocations: 30,
            revocation_deadline: Duration::from_secs(10),
            topology: Topology::default(),
            topology_text: String::new(),
            signing_run: Duration::from_secs(2),
            only: Comparison::ALL.to_vec(),
        }
        .with_topology_text()
    }

    /// The smoke plan: every comparison for about a second, so the runner cannot rot.
    #[must_use]
    pub fn smoke() -> Self {
        Self {
            mode: "smoke",
            rounds: 1,
            load: Load { threads: 2, connections: 8, duration: Duration::from_secs(1) },
            warmup: Duration::ZERO,
            cold_tokens: 600,
            cache_capacity: 100,
            users: 2,
            access_ttl: Duration::from_secs(2),
            leeway: Duration::from_secs(1),
            outage_run: Duration::from_secs(3),
            revocation_poll: Duration::from_millis(10),
            revocations: 5,
            revocation_deadline: Duration::from_secs(5),
            topology: Topology { auth: 1, orders: 2, notifications: 1 },
            topology_text: String::new(),
            signing_run: Duration::from_millis(300),
            only: Comparison::ALL.to_vec(),
        }
        .with_topology_text()
    }

    fn with_topology_text(mut self) -> Self {
        let t = self.topology;
        self.topology_text = format!("auth={}, orders={}, notifications={}", t.auth, t.orders, t.notifications);
        self
    }

    /// Sets the replica counts.
    #[must_use]
    pub fn with_topology(mut self, topology: Topology) -> Self {
        self.topology = topology;
        self.with_topology_text()
    }

    /// Whether `comparison` is selected.
    #[must_use]
    pub fn runs(&self, comparison: Comparison) -> bool {
        self.only.contains(&comparison)
    }

    /// Whether any of `comparisons` is selected.
    #[must_use]
    pub fn runs_any(&self, comparisons: &[Comparison]) -> bool {
        comparisons.iter().any(|c| self.runs(*c))
    }
}
