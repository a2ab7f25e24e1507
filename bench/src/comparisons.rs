//! The five comparisons ([`Comparison`]). Each returns a serialisable result the report and
//! charts read.
//!
//! - [`verifier`]: verifier overhead and vs jwt-authorizer (the peer), one interleaved run.
//! - [`sessions`]: stateless vs stateful (local verification with and without the revocation
//!   feed vs RFC 7662 introspection: throughput, an issuer outage, revocation lag).
//! - [`minting`]: minting at the token endpoint vs raw signing; shares one real auth-service
//!   ([`auth_service`]) with stateless vs stateful.
//! - [`gateway`]: through the gateway (the whole stack with replicas behind nginx).

pub mod auth_service;
pub mod gateway;
pub mod minting;
pub mod sessions;
pub mod verifier;

use serde::Serialize;

/// One comparison, by what it compares. On the command line (`--only`) each goes by its
/// kebab-case name, or by its old number (kept as an alias).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Comparison {
    /// Verifier overhead (1): a trivial handler with and without the verifier.
    #[value(alias = "1")]
    VerifierOverhead,
    /// vs jwt-authorizer (2): the same handler behind the peer crate.
    #[value(aliases = ["2", "vs-jwt-authorizer"])]
    JwtAuthorizer,
    /// Stateless vs stateful (3): local verification (revocation feed on and off) vs
    /// introspection, an outage, revocation lag.
    #[value(aliases = ["3", "sessions"])]
    StatelessVsStateful,
    /// Through the gateway (4): the whole stack, replicas behind nginx.
    #[value(aliases = ["4", "through-the-gateway"])]
    Gateway,
    /// Minting (5): tokens per second at the token endpoint vs raw signing.
    #[value(alias = "5")]
    Minting,
}

impl Comparison {
    /// Every comparison, in the report's order.
    pub const ALL: [Self; 5] =
        [Self::VerifierOverhead, Self::JwtAuthorizer, Self::StatelessVsStateful, Self::Gateway, Self::Minting];

    /// Its name in prose: the report's headline, progress lines, error contexts.
    #[must_use]
    pub fn title(self) -> &'static str {
        match self {
            Self::VerifierOverhead => "verifier overhead",
            Self::JwtAuthorizer => "vs jwt-authorizer",
            Self::StatelessVsStateful => "stateless vs stateful",
            Self::Gateway => "through the gateway",
            Self::Minting => "minting",
        }
    }
}
