//! Strict JSON parsing for untrusted JOSE input.
//!
//! `serde_json::Value` silently keeps the last of two members with the same name, so
//! `{"alg":"RS256","alg":"none"}` means different things to different parsers. RFC 7515 §5.2
//! and RFC 8725 §3.2 let us reject such input; [`parse_object`] does, at every depth, and also
//! refuses anything but a single object with no trailing data.

use std::{borrow::Cow, fmt};

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
    /// More than [`MAX_MEMBERS`] top-level members, or an array of more than
    /// [`MAX_ARRAY_ITEMS`] items, in a JOSE header or claims object.
    TooMany,
}

/// Objects and arrays nested deeper than this are refused (no JOSE structure needs more than
/// three or four levels; `serde_json`'s own limit is 128).
pub const MAX_DEPTH: usize = 16;

/// Most top-level members [`parse_members`] accepts.
///
/// A JOSE header has a handful and an access token a dozen; the cap keeps the duplicate check (a scan of the names seen so far)
/// bounded by a constant, so a payload of thousands of tiny members costs no more per byte
/// than a benign one.
pub const MAX_MEMBERS: usize = 64;

/// Most items [`parse_members`] accepts in one array (an `aud` list, for instance).
pub const MAX_ARRAY_ITEMS: usize = 64;

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
    } else if text.starts_with(TOO_MANY) {
        JsonProblem::TooMany
    } else {
        JsonProblem::Invalid
    }
}

const DUPLICATE: &str = "duplicate member";
const TOO_DEEP: &str = "nested too deep";
const TOO_MANY: &str = "too many members or items";

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

/// One member value of a JOSE header or claims object, kept as cheaply as possible.
///
/// Strings borrow from the input unless they contain escapes; booleans and null are walked
/// and dropped, since no claim we read is one.
#[derive(Debug, Clone, PartialEq)]
pub enum Member<'a> {
    /// A string.
    Str(Cow<'a, str>),
    /// An integer that fits `i64`.
    Int(i64),
    /// Any other number (large unsigned or fractional).
    Float(f64),
    /// An array.
    Array(Vec<Member<'a>>),
    /// An object (the `cnf` claim, RFC 7800), with the same limits as the top level.
    Object(Members<'a>),
    /// A boolean or null.
    Other,
}

impl Member<'_> {
    /// The string, if this is one.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(text) => Some(text),
            _ => None,
        }
    }
}

/// The members of one JSON object (the top level, or a nested one), in document order,
/// duplicates refused.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Members<'a>(Vec<(Cow<'a, str>, Member<'a>)>);

impl<'a> Members<'a> {
    /// The member called `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Member<'a>> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value)
    }

    /// Removes and returns the member called `name`.
    pub fn take(&mut self, name: &str) -> Option<Member<'a>> {
        let index = self.0.iter().position(|(key, _)| key == name)?;
        Some(self.0.swap_remove(index).1)
    }

    /// Whether a member called `name` exists.
    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

impl<'a> IntoIterator for Members<'a> {
    type Item = (Cow<'a, str>, Member<'a>);
    type IntoIter = std::vec::IntoIter<(Cow<'a, str>, Member<'a>)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// Parses `bytes` as one JSON object into its top-level [`Members`] (the verifier's hot
/// path: no map, no copies of unescaped strings). Same strictness as [`parse_object`].
///
/// # Errors
/// [`JsonProblem`] saying what was wrong.
pub fn parse_members(bytes: &[u8]) -> Result<Members<'_>, JsonProblem> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let members = deserializer.deserialize_map(MembersVisitor { depth: 0 }).map_err(|error| classify(&error))?;
    deserializer.end().map_err(|_| JsonProblem::Invalid)?;
    Ok(members)
}

/// The members of an object found at `depth` (0: the top level).
struct MembersVisitor {
    depth: usize,
}

impl<'de> Visitor<'de> for MembersVisitor {
    type Value = Members<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
        let mut members: Vec<(Cow<'de, str>, Member<'de>)> = Vec::with_capacity(16);
        // Duplicate check on a length-and-prefix fingerprint first; names are compared in
        // full only when fingerprints collide.
        let mut fingerprints: Vec<u64> = Vec::with_capacity(16);
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if members.len() == MAX_MEMBERS {
                return Err(de::Error::custom(TOO_MANY));
            }
            let print = fingerprint(&key);
            if fingerprints.iter().zip(&members).any(|(seen_print, (seen, _))| *seen_print == print && *seen == key) {
                return Err(de::Error::custom(DUPLICATE));
            }
            let value = map.next_value_seed(MemberSeed { depth: self.depth + 1 })?;
            fingerprints.push(print);
            members.push((key, value));
        }
        Ok(Members(members))
    }
}

/// The length and first seven bytes of a member name, packed.
fn fingerprint(name: &str) -> u64 {
    let mut print = (name.len() as u64 & 0xff) << 56;
    for (index, byte) in name.bytes().take(7).enumerate() {
        print |= u64::from(byte) << (index * 8);
    }
    print
}

/// An object key, borrowed from the input when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[derive(Clone, Copy)]
struct MemberSeed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for MemberSeed {
    type Value = Member<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Member<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MemberSeed {
    type Value = Member<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _v: bool) -> Result<Member<'de>, E> {
        Ok(Member::Other)
    }

    fn visit_i64<E>(self, v: i64) -> Result<Member<'de>, E> {
        Ok(Member::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Member<'de>, E> {
        Ok(i64::try_from(v).map_or(Member::Float(v as f64), Member::Int))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Member<'de>, E> {
        Ok(Member::Float(v))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Member<'de>, E> {
        Ok(Member::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Member<'de>, E> {
        Ok(Member::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Member<'de>, E> {
        Ok(Member::Str(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Member<'de>, E> {
        Ok(Member::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Member<'de>, A::Error> {
        let inner = MemberSeed { depth: StrictSeed { depth: self.depth }.deeper::<A::Error>()?.depth };
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(inner)? {
            if items.len() == MAX_ARRAY_ITEMS {
                return Err(de::Error::custom(TOO_MANY));
            }
            items.push(item);
        }
        Ok(Member::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Member<'de>, A::Error> {
        // The visitor puts its values one level down: the same count as `parse_object`'s.
        StrictSeed { depth: self.depth }.deeper::<A::Error>()?;
        MembersVisitor { depth: self.depth }.visit_map(map).map(Member::Object)
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
    fn members_borrow_strings_and_refuse_duplicates() {
        let members = parse_members(br#"{"sub":"u","n":7,"f":1.5,"a":["x",1],"o":{"k":1},"e":"\u0041"}"#).unwrap();
        assert!(matches!(members.get("sub"), Some(Member::Str(Cow::Borrowed("u")))));
        assert_eq!(members.get("n"), Some(&Member::Int(7)));
        assert_eq!(members.get("f"), Some(&Member::Float(1.5)));
        assert_eq!(members.get("a"), Some(&Member::Array(vec![Member::Str("x".into()), Member::Int(1)])));
        assert!(matches!(members.get("o"), Some(Member::Object(inner)) if inner.get("k") == Some(&Member::Int(1))));
        assert_eq!(members.get("e").and_then(Member::as_str), Some("A"));
        assert_eq!(parse_members(br#"{"a":1,"a":1}"#).unwrap_err(), JsonProblem::DuplicateMember);
        assert_eq!(parse_members(br#"{"a":1,"\u0061":1}"#).unwrap_err(), JsonProblem::DuplicateMember);
        assert_eq!(parse_members(br#"{"o":{"k":1,"k":2}}"#).unwrap_err(), JsonProblem::DuplicateMember);
        assert_eq!(parse_members(b"[]").unwrap_err(), JsonProblem::Invalid);
        assert_eq!(parse_members(br#"{"a":1} x"#).unwrap_err(), JsonProblem::Invalid);
    }

    #[test]
    fn member_and_item_counts_are_capped() {
        let members = |n: usize| format!("{{{}}}", (0..n).map(|i| format!("\"m{i}\":1")).collect::<Vec<_>>().join(","));
        assert!(parse_members(members(MAX_MEMBERS).as_bytes()).is_ok());
        assert_eq!(parse_members(members(MAX_MEMBERS + 1).as_bytes()).unwrap_err(), JsonProblem::TooMany);
        let items = |n: usize| format!("{{\"aud\":[{}]}}", vec!["1"; n].join(","));
        assert!(parse_members(items(MAX_ARRAY_ITEMS).as_bytes()).is_ok());
        assert_eq!(parse_members(items(MAX_ARRAY_ITEMS + 1).as_bytes()).unwrap_err(), JsonProblem::TooMany);
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = format!("{}{}", "{\"a\":".repeat(20), "1".to_owned() + &"}".repeat(20));
        assert_eq!(parse_object(deep.as_bytes()), Err(JsonProblem::TooDeep));
    }
}
