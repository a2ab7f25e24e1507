//! Integration tests of `jwt_verifier`: one test binary (one link) for all of them.

mod cache_timing;
mod dpop;
mod extractors;
mod helpers;
mod ingest;
mod interop;
mod jwks_http;
mod rejections;
mod revocation;
mod revocation_timing;
mod rotation;
mod token_cache;
