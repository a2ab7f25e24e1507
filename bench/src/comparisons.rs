//! The five comparisons. Each returns a serialisable result the report and charts read.
//!
//! - [`verifier`]: 1 (verifier overhead) and 2 (the peer, jwt-authorizer), one interleaved run.
//! - [`sessions`]: 3 (local verification vs RFC 7662 introspection: throughput, an issuer
//!   outage, revocation lag) and 5 (minting at the token endpoint vs raw signing), which share
//!   one real auth-service.
//! - [`gateway`]: 4 (the whole stack with replicas behind nginx).

pub mod gateway;
pub mod minting;
pub mod sessions;
pub mod verifier;
