//! Checking a `POST /v1/calls` body field by field, the way the real API's
//! validation layer does: every bad field is reported at once (400), then
//! the workspace's rules (403). Nothing here panics on any input: the body is
//! parsed as JSON (with serde_json's depth limit) and every value's type is
//! checked before it is used.
//!
//! `variables` and `metadata` must be objects whose values are strings (the
//! API page calls them key-value pairs injected into a prompt). A number,
//! boolean, null, array or object value is a 400 naming the key: stricter
//! than a server that might coerce it, so a client learns early. A `null`
//! in place of the whole object means "absent". Unknown top-level fields are
//! a 400 (`property x should not exist`), as a whitelisting validator says.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::config::is_e164;

/// A body that passed the field checks, in canonical form: `variables` and
/// `metadata` are compact JSON with sorted keys ("" when empty), so two
/// bodies that mean the same compare equal for idempotency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewCall {
    pub(crate) from_number: String,
    pub(crate) to_number: String,
    pub(crate) agent_version_id: String,
    pub(crate) variables: String,
    pub(crate) metadata: String,
}

/// At most this many messages in one 400; the rest are summarized.
const MAX_MESSAGES: usize = 20;

struct Problems(Vec<String>, usize);

impl Problems {
    fn push(&mut self, m: String) {
        if self.0.len() < MAX_MESSAGES {
            self.0.push(m);
        } else {
            self.1 += 1;
        }
    }
    fn finish(mut self) -> Vec<String> {
        if self.1 > 0 {
            self.0.push(format!("... and {} more problems", self.1));
        }
        self.0
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A value quoted for a message, cut short so a hostile body cannot make a
/// huge answer.
pub(crate) fn quote(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut:?}...")
    }
}

fn phone(obj: &Map<String, Value>, name: &str, p: &mut Problems) -> Option<String> {
    match obj.get(name) {
        None | Some(Value::Null) => {
            p.push(format!("{name} is required (E.164, e.g. +14155550100)"));
            None
        }
        Some(Value::String(s)) if is_e164(s) => Some(s.clone()),
        Some(Value::String(s)) => {
            p.push(format!(
                "{name} must be an E.164 phone number: + and 7 to 15 digits, e.g. +14155550100 (got {})",
                quote(s)
            ));
            None
        }
        Some(v) => {
            p.push(format!("{name} must be a string, not {}", kind(v)));
            None
        }
    }
}

fn string_map(obj: &Map<String, Value>, name: &str, p: &mut Problems) -> String {
    match obj.get(name) {
        None | Some(Value::Null) => String::new(),
        Some(Value::Object(m)) => {
            let mut ok = true;
            for (k, v) in m {
                if !v.is_string() {
                    ok = false;
                    p.push(format!(
                        "{name}.{} must be a string, not {}",
                        quote(k).trim_matches('"'),
                        kind(v)
                    ));
                }
            }
            if ok && !m.is_empty() {
                serde_json::to_string(m).unwrap_or_default()
            } else {
                String::new()
            }
        }
        Some(v) => {
            p.push(format!(
                "{name} must be an object of string values, not {}",
                kind(v)
            ));
            String::new()
        }
    }
}

/// A well-formed body, read without building a JSON tree: the hot path.
/// Anything it refuses is read again by [`parse_checked`] for messages.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wellformed<'a> {
    #[serde(borrow)]
    from_number: Cow<'a, str>,
    #[serde(borrow)]
    to_number: Cow<'a, str>,
    #[serde(borrow)]
    agent_version_id: Cow<'a, str>,
    #[serde(default, borrow)]
    variables: Option<BTreeMap<Cow<'a, str>, Cow<'a, str>>>,
    #[serde(default, borrow)]
    metadata: Option<BTreeMap<Cow<'a, str>, Cow<'a, str>>>,
}

fn canonical(map: Option<BTreeMap<Cow<'_, str>, Cow<'_, str>>>) -> String {
    match map {
        Some(m) if !m.is_empty() => serde_json::to_string(&m).unwrap_or_default(),
        _ => String::new(),
    }
}

fn fast_path(body: &[u8]) -> Option<NewCall> {
    let w: Wellformed<'_> = serde_json::from_slice(body).ok()?;
    let agent_ok = !w.agent_version_id.trim().is_empty() && w.agent_version_id.len() <= 200;
    if !(is_e164(&w.from_number) && is_e164(&w.to_number) && agent_ok) {
        return None;
    }
    Some(NewCall {
        from_number: w.from_number.into_owned(),
        to_number: w.to_number.into_owned(),
        agent_version_id: w.agent_version_id.into_owned(),
        variables: canonical(w.variables),
        metadata: canonical(w.metadata),
    })
}

/// Field checks of a create body: the call, or every problem (400).
pub(crate) fn parse_create(body: &[u8]) -> Result<NewCall, Vec<String>> {
    match fast_path(body) {
        Some(call) => Ok(call),
        None => parse_checked(body),
    }
}

/// The thorough reading: a JSON tree, every field judged, every problem named.
fn parse_checked(body: &[u8]) -> Result<NewCall, Vec<String>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(vec![
            "body is empty: send a JSON object with from_number, to_number and agent_version_id"
                .to_string(),
        ]);
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Err(vec![format!("body is not valid JSON: {e}")]),
    };
    let Value::Object(obj) = value else {
        return Err(vec![format!(
            "body must be a JSON object, not {}",
            kind(&value)
        )]);
    };
    let mut p = Problems(Vec::new(), 0);
    let from_number = phone(&obj, "from_number", &mut p);
    let to_number = phone(&obj, "to_number", &mut p);
    let agent_version_id = match obj.get("agent_version_id") {
        None | Some(Value::Null) => {
            p.push("agent_version_id is required".to_string());
            None
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            p.push("agent_version_id should not be empty".to_string());
            None
        }
        Some(Value::String(s)) if s.len() > 200 => {
            p.push("agent_version_id must be at most 200 characters".to_string());
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(v) => {
            p.push(format!(
                "agent_version_id must be a string, not {}",
                kind(v)
            ));
            None
        }
    };
    let variables = string_map(&obj, "variables", &mut p);
    let metadata = string_map(&obj, "metadata", &mut p);
    for k in obj.keys() {
        if !matches!(
            k.as_str(),
            "from_number" | "to_number" | "agent_version_id" | "variables" | "metadata"
        ) {
            p.push(format!("property {} should not exist", quote(k)));
        }
    }
    let problems = p.finish();
    match (from_number, to_number, agent_version_id) {
        (Some(from_number), Some(to_number), Some(agent_version_id)) if problems.is_empty() => {
            Ok(NewCall {
                from_number,
                to_number,
                agent_version_id,
                variables,
                metadata,
            })
        }
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> NewCall {
        parse_create(body.as_bytes()).unwrap()
    }
    fn bad(body: &[u8]) -> Vec<String> {
        parse_create(body).unwrap_err()
    }

    #[test]
    fn a_good_body_is_canonical() {
        let a = ok(
            r#"{"from_number":"+14155550100","to_number":"+16505550199","agent_version_id":"av","variables":{"b":"2","a":"1"}}"#,
        );
        let b = ok(
            r#"{ "variables": {"a":"1", "b":"2"}, "agent_version_id":"av", "to_number":"+16505550199","from_number":"+14155550100", "metadata": {} }"#,
        );
        assert_eq!(a, b);
        assert_eq!(a.variables, r#"{"a":"1","b":"2"}"#);
        assert_eq!(a.metadata, "");
    }

    #[test]
    fn fast_and_thorough_readings_agree() {
        for body in [
            r#"{"from_number":"+14155550100","to_number":"+16505550199","agent_version_id":"av"}"#,
            r#"{"from_number":"+14155550100","to_number":"+16505550199","agent_version_id":"av","variables":null,"metadata":{}}"#,
            r#"{"from_number":"+14155550100","to_number":"+16505550199","agent_version_id":"av","variables":{"z":"1","a":"\u00e9\n\"q\"","é":"☎"}}"#,
            r#"{"from_number":"+14155550100","to_number":"+16505550199","agent_version_id":"av","metadata":{"k":"1","k":"2"}}"#,
            r#"{"agent_version_id":"a\/v","to_number":"+16505550199","from_number":"+14155550100","metadata":{"b":"","a":"x"}}"#,
        ] {
            let fast = fast_path(body.as_bytes()).expect(body);
            assert_eq!(Ok(fast), parse_checked(body.as_bytes()), "{body}");
        }
        for body in [
            r#"{"from_number":"4155550100","to_number":"+16505550199","agent_version_id":"av"}"#,
            r#"{"from_number":"+14155550100","to_number":"+16505550199","agent_version_id":" "}"#,
            r#"{"from_number":"+14155550100","to_number":"+16505550199","agent_version_id":"av","x":1}"#,
            r#"{"from_number":"+14155550100","to_number":"+16505550199","agent_version_id":"av","variables":{"n":1}}"#,
        ] {
            assert!(fast_path(body.as_bytes()).is_none(), "{body}");
            assert!(parse_create(body.as_bytes()).is_err(), "{body}");
        }
    }

    #[test]
    fn every_bad_field_is_listed() {
        let m = bad(
            br#"{"from_number":"4155550100","to_number":7,"variables":{"n":1,"ok":"x"},"metadata":[],"extra":true}"#,
        );
        let text = m.join("\n");
        for needle in [
            "from_number must be an E.164",
            "to_number must be a string",
            "agent_version_id is required",
            "variables.n must be a string, not a number",
            "metadata must be an object",
            "property \"extra\" should not exist",
        ] {
            assert!(text.contains(needle), "{needle} missing in {text}");
        }
        assert_eq!(m.len(), 6);
    }

    #[test]
    fn hostile_bodies_are_problems_not_panics() {
        let deep = "[".repeat(10_000);
        let many: String = {
            let mut s = String::from(
                r#"{"from_number":"+14155550100","to_number":"+16505550199","agent_version_id":"av","variables":{"#,
            );
            for i in 0..10_000 {
                if i > 0 {
                    s.push(',');
                }
                s.push_str(&format!("\"v{i}\":{i}"));
            }
            s.push_str("}}");
            s
        };
        let long = format!(r#"{{"to_number":"{}"}}"#, "9".repeat(100_000));
        for body in [
            &b""[..],
            b"   ",
            b"null",
            b"[]",
            b"\"x\"",
            b"{",
            b"\xff\xfe",
            deep.as_bytes(),
            many.as_bytes(),
            long.as_bytes(),
            br#"{"from_number":"+1\u0000"}"#,
        ] {
            let m = bad(body);
            assert!(!m.is_empty());
            assert!(m.len() <= MAX_MESSAGES + 1);
            assert!(m.iter().all(|s| s.len() < 400), "{m:?}");
        }
        assert!(
            bad(many.as_bytes())
                .last()
                .unwrap()
                .contains("more problems")
        );
    }
}
