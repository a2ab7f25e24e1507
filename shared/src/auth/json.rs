//! Strict JSON parsing for untrusted JOSE input.
//!
//! `serde_json::Value` silently keeps the last of two members with the same name, so
//! `{"alg":"RS256","alg":"none"}` means different things to different parsers. RFC 7515 §5.2
//! and RFC 8725 §3.2 let us reject such input; [`parse_object`] does, at every depth, and also
//! refuses anything but a single object with no trailing data.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Why a JSON document was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonProblem {
    /// Not valid UTF-8 JSON, trailing data, or not an object at the top level.
    Invalid,
    /// An object has two members with the same name.
    DuplicateMember,
    /// Nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

/// Objects and arrays nested deeper than this are refused (no JOSE structure needs more than
/// three or four levels; `serde_json`'s own limit is 128).
pub const MAX_DEPTH: usize = 16;

/// Parses `bytes` as one JSON object, rejecting duplicate member names at any depth.
///
/// # Errors
/// [`JsonProblem`] saying what was wrong.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, JsonProblem> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = StrictSeed { depth: 0 }.deserialize(&mut deserializer).map_err(|error| classify(&error))?;
    deserializer.end().map_err(|_| JsonProblem::Invalid)?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(JsonProblem::Invalid),
    }
}

// serde_json wraps custom errors in its own type; the message is the only way back to the
// reason, and it is our own fixed text.
fn classify(error: &serde_json::Error) -> JsonProblem {
    let text = error.to_string();
    if text.starts_with(DUPLICATE) {
        JsonProblem::DuplicateMember
    } else if text.starts_with(TOO_DEEP) {
        JsonProblem::TooDeep
    } else {
        JsonProblem::Invalid
    }
}

const DUPLICATE: &str = "duplicate member";
const TOO_DEEP: &str = "nested too deep";

#[derive(Clone, Copy)]
struct StrictSeed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for StrictSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictSeed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.deeper::<A::Error>()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.deeper::<A::Error>()?;
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(inner)?;
            if members.insert(key, value).is_some() {
                return Err(de::Error::custom(DUPLICATE));
            }
        }
        Ok(Value::Object(members))
    }
}

impl StrictSeed {
    fn deeper<E: de::Error>(self) -> Result<Self, E> {
        if self.depth >= MAX_DEPTH { Err(E::custom(TOO_DEEP)) } else { Ok(Self { depth: self.depth + 1 }) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused_at_any_depth() {
        assert_eq!(parse_object(br#"{"a":1,"a":2}"#), Err(JsonProblem::DuplicateMember));
        assert_eq!(parse_object(br#"{"a":{"b":1,"b":1}}"#), Err(JsonProblem::DuplicateMember));
        assert_eq!(parse_object(br#"{"a":[{"b":1,"b":1}]}"#), Err(JsonProblem::DuplicateMember));
        // Escapes are decoded before comparing: "\u0061" is "a".
        assert_eq!(parse_object(br#"{"a":1,"\u0061":2}"#), Err(JsonProblem::DuplicateMember));
    }

    #[test]
    fn only_a_single_object_is_accepted() {
        assert_eq!(parse_object(b"[1]"), Err(JsonProblem::Invalid));
        assert_eq!(parse_object(b"\"x\""), Err(JsonProblem::Invalid));
        assert_eq!(parse_object(br#"{"a":1} {"b":2}"#), Err(JsonProblem::Invalid));
        assert_eq!(parse_object(b"{\"a\":\"\xff\"}"), Err(JsonProblem::Invalid));
        assert_eq!(parse_object(br#"{"a":"\ud800"}"#), Err(JsonProblem::Invalid));
        assert!(parse_object(b" {\"a\" : 1}\n").is_ok());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = format!("{}{}", "{\"a\":".repeat(20), "1".to_owned() + &"}".repeat(20));
        assert_eq!(parse_object(deep.as_bytes()), Err(JsonProblem::TooDeep));
    }
}
