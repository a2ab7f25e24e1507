//! A verified Security Event Token's content: the input is a SET's claims, signed here with
//! the published test key and listed under its own `jti`, so the subscriber verifies it and
//! reads its events (`jti`, dates, `events`, the `sub_id` forms) into revocations.

#![no_main]

use auth_fuzz::SIGNER;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

fuzz_target!(|data: &[u8]| {
    let header = format!(r#"{{"alg":"RS256","typ":"secevent+jwt","kid":"{}"}}"#, SIGNER.kid());
    let set = SIGNER.sign_raw(header.as_bytes(), data);
    // Listed under the jti it claims when it has one, so the content checks are reached.
    let jti = serde_json::from_slice::<Value>(data)
        .ok()
        .and_then(|claims| claims.get("jti").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| "fuzz".to_owned());
    let mut sets = Map::new();
    sets.insert(jti, Value::String(set));
    let answer = json!({ "sets": sets, "cursor": "1" });
    auth_fuzz::run_feed_answer(answer.to_string().into_bytes());
});
