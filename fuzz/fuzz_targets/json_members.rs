//! The strict JSON parsers every header, claims set, key set and SET goes through
//! (`json::parse_members`, `json::parse_object`), checked against each other and against
//! plain `serde_json`: strict may refuse more, never accept something else.

#![no_main]

use jwt_verifier::json;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let object = json::parse_object(data);
    let members = json::parse_members(data);
    // Both document the same strictness (the reason may differ: `[{"a":1,"a":1}]` is a
    // duplicate to one and not an object to the other), so they accept the same documents.
    match (&object, &members) {
        (Ok(map), Ok(members)) => {
            for name in map.keys() {
                assert!(members.contains(name), "member {name:?} lost by parse_members");
            }
        }
        (Err(_), Err(_)) => {}
        _ => panic!(
            "parse_object {:?} but parse_members {:?}",
            object.as_ref().map(|_| ()),
            members.as_ref().map(|_| ())
        ),
    }
    if let Ok(map) = object {
        match serde_json::from_slice::<Value>(data) {
            Ok(Value::Object(lenient)) => assert_eq!(lenient, map, "strict and lenient parses differ"),
            other => panic!("strict accepted what serde_json reads as {other:?}"),
        }
    }
});
