//! The strict `application/x-www-form-urlencoded` parser (`service_kit::http::form`): each
//! name at most once, a bounded number of parameters.

#![no_main]

use libfuzzer_sys::fuzz_target;
use service_kit::http::form;

const MAX_PARAMS: usize = 16;

fuzz_target!(|data: &[u8]| {
    let Ok(params) = form::parse_unique(data, MAX_PARAMS) else { return };
    assert!(params.len() <= MAX_PARAMS, "{} parameters accepted", params.len());
    for (index, (name, _)) in params.iter().enumerate() {
        assert!(!params[..index].iter().any(|(seen, _)| seen == name), "repeated parameter {name:?} accepted");
    }
});
