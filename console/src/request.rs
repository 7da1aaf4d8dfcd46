//! The body of `POST /api/exec`, checked purely: a JSON object with a
//! string `action` and an optional object `params`, nothing else. The
//! action and its parameters are checked against the registry by the
//! caller, in that order.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::refusal::Refusal;

/// Largest body accepted on any route.
pub const MAX_BODY: usize = 64 * 1024;

/// A well-formed exec request (not yet checked against the registry).
#[derive(Debug, Clone, PartialEq)]
pub struct ExecBody {
    /// The action id as sent.
    pub action: String,
    /// The parameters as sent (empty when absent).
    pub params: Map<String, Value>,
}

/// Parses an exec body, refusing anything but the documented shape.
pub fn parse_exec(bytes: &[u8]) -> Result<ExecBody, Refusal> {
    if bytes.len() > MAX_BODY {
        return Err(Refusal::BodyTooLarge);
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|_| Refusal::InvalidJson)?;
    let Value::Object(mut obj) = value else { return Err(Refusal::NotAnObject) };
    // `Value` keeps the last of duplicate keys; a body that says two things is refused.
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let top = Dups { nested: true };
    if top.deserialize(&mut de).unwrap_or(true) {
        return Err(Refusal::DuplicateKeys);
    }
    let action = match obj.remove("action") {
        Some(Value::String(s)) => s,
        _ => return Err(Refusal::InvalidAction),
    };
    let params = match obj.remove("params") {
        None => Map::new(),
        Some(Value::Object(p)) => p,
        Some(_) => return Err(Refusal::UnexpectedFields),
    };
    if !obj.is_empty() {
        return Err(Refusal::UnexpectedFields);
    }
    Ok(ExecBody { action, params })
}

/// Finds a key repeated in the top-level object or in its `params`.
#[derive(Clone, Copy)]
struct Dups {
    nested: bool,
}

impl Dups {
    fn deserialize<'de, D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> de::DeserializeSeed<'de> for Dups {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Dups {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut seen = HashSet::new();
        let mut dup = false;
        while let Some(key) = map.next_key::<String>()? {
            if self.nested && key == "params" {
                dup |= map.next_value_seed(Dups { nested: false })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
            dup |= !seen.insert(key);
        }
        Ok(dup)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_shape_passes() {
        let b = parse_exec(br#"{"action":"doctor","params":{"only":"firewall"}}"#).unwrap();
        assert_eq!(b.action, "doctor");
        assert_eq!(b.params["only"], "firewall");
        assert!(parse_exec(br#"{"action":"x"}"#).unwrap().params.is_empty());
    }

    #[test]
    fn every_other_shape_is_refused_with_its_class() {
        for (body, want) in [
            (&b""[..], Refusal::InvalidJson),
            (b"{", Refusal::InvalidJson),
            (b"\xff\xfe", Refusal::InvalidJson),
            (b"null", Refusal::NotAnObject),
            (b"[]", Refusal::NotAnObject),
            (b"\"doctor\"", Refusal::NotAnObject),
            (b"{}", Refusal::InvalidAction),
            (br#"{"action":1}"#, Refusal::InvalidAction),
            (br#"{"action":null}"#, Refusal::InvalidAction),
            (br#"{"action":["doctor"]}"#, Refusal::InvalidAction),
            (br#"{"action":"doctor","extra":1}"#, Refusal::UnexpectedFields),
            (br#"{"action":"doctor","params":[]}"#, Refusal::UnexpectedFields),
            (br#"{"action":"doctor","params":"x"}"#, Refusal::UnexpectedFields),
            (br#"{"action":"nope","action":"doctor"}"#, Refusal::DuplicateKeys),
            (br#"{"action":"doctor","params":{"a":1,"a":2}}"#, Refusal::DuplicateKeys),
            (br#"{"params":{},"action":"doctor","params":{}}"#, Refusal::DuplicateKeys),
        ] {
            assert_eq!(parse_exec(body), Err(want.clone()), "{}", String::from_utf8_lossy(body));
        }
        assert_eq!(parse_exec(&vec![b' '; MAX_BODY + 1]), Err(Refusal::BodyTooLarge));
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(parse_exec(deep.as_bytes()), Err(Refusal::InvalidJson), "recursion is bounded");
    }
}
