//! The three services of the system and how many replicas of each a stack runs.

use std::fmt;

/// One of the workspace's services; the name matches its binary, its package and the service
/// part of the `X-Served-By` header it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// The issuer: users, sessions, tokens, keys.
    Auth,
    /// Orders; verifies tokens locally and sends notifications through its outbox.
    Orders,
    /// Notifications; verifies tokens locally.
    Notifications,
}

impl Service {
    /// Every service, in start order (the issuer first: the others fetch its keys).
    pub const ALL: [Service; 3] = [Service::Auth, Service::Orders, Service::Notifications];

    /// The services that verify tokens they did not issue.
    pub const VERIFIERS: [Service; 2] = [Service::Orders, Service::Notifications];

    /// Package, binary and `X-Served-By` name: `auth-service`…
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Service::Auth => "auth-service",
            Service::Orders => "orders-service",
            Service::Notifications => "notifications-service",
        }
    }

    /// Short name used in instance ids (`orders-2`), database names and log files.
    #[must_use]
    pub fn short(self) -> &'static str {
        match self {
            Service::Auth => "auth",
            Service::Orders => "orders",
            Service::Notifications => "notifications",
        }
    }

    /// Parses [`Service::name`] or [`Service::short`].
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == raw || s.short() == raw)
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How many replicas of each service a stack runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topology {
    /// auth-service replicas.
    pub auth: usize,
    /// orders-service replicas.
    pub orders: usize,
    /// notifications-service replicas.
    pub notifications: usize,
}

impl Default for Topology {
    /// Two auth, three orders and two notifications replicas: enough to show that any replica
    /// verifies any token and that one can die without a failed request.
    fn default() -> Self {
        Self { auth: 2, orders: 3, notifications: 2 }
    }
}

impl Topology {
    /// Replica count of `service`.
    #[must_use]
    pub fn replicas(&self, service: Service) -> usize {
        match service {
            Service::Auth => self.auth,
            Service::Orders => self.orders,
            Service::Notifications => self.notifications,
        }
    }

    /// Parses `auth=2,orders=3,notifications=2` (any subset; the rest keep their defaults).
    ///
    /// # Errors
    /// An unknown service name or a count that is not a positive number.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut topology = Self::default();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, count) = part.split_once('=').ok_or_else(|| format!("expected service=count, got `{part}`"))?;
            let service = Service::parse(name.trim()).ok_or_else(|| format!("unknown service `{name}`"))?;
            let count: usize = count
                .trim()
                .parse()
                .ok()
                .filter(|c| (1..=16).contains(c))
                .ok_or_else(|| format!("expected a replica count between 1 and 16, got `{count}`"))?;
            match service {
                Service::Auth => topology.auth = count,
                Service::Orders => topology.orders = count,
                Service::Notifications => topology.notifications = count,
            }
        }
        Ok(topology)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topology_parses_a_subset_and_keeps_defaults() {
        let topology = Topology::parse("orders=4, auth-service=1").unwrap();
        assert_eq!(topology, Topology { auth: 1, orders: 4, notifications: 2 });
        assert!(Topology::parse("billing=2").is_err());
        assert!(Topology::parse("orders=0").is_err());
        assert!(Topology::parse("orders").is_err());
    }
}
