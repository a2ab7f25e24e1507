//! The revocation feed's answer as it arrives: the strict answer parser (`sets`, `cursor`,
//! `reset`, `moreAvailable`), then each listed SET's compact form, header profile, claims
//! JSON and issuer, up to its signature. Reached through the public API (a `Verifier`
//! subscribed to an in-process feed, see `auth_fuzz::run_feed_answer`). Input: the body.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| auth_fuzz::run_feed_answer(data.to_vec()));
