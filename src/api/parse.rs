//! Reading answer bodies, leniently: a created call, a call record, a call
//! list, a `Retry-After` header. Each returns `None` rather than an error
//! when it cannot read (the caller decides what an unreadable answer
//! means: see `classify`), never panics on hostile bytes, and never drops
//! a record silently (a list counts what it could not read).

use std::time::Duration;

use crate::wire::{Call, CallList, CallStatus};

/// Reads one call record leniently: the object itself or `{data: {...}}`;
/// None when neither holds a `call_id` and a `status`.
pub fn parse_call(body: &[u8]) -> Option<Call> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let obj = match v.get("data") {
        Some(d) if d.is_object() => d.clone(),
        _ => v,
    };
    serde_json::from_value(obj).ok()
}

/// A call_id callplan can store and use as is: not empty, at most 200
/// bytes, no control characters (one check for created and listed calls).
pub fn call_id_ok(id: &str) -> bool {
    !id.is_empty() && id.len() <= 200 && !id.chars().any(char::is_control)
}

/// The call_id and status of a 2xx body: `{call_id, status}`, or the same
/// under `data`, or `id` for `call_id`. A missing status reads as `queued`.
pub(super) fn parse_created(body: &[u8]) -> Option<(String, CallStatus)> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let obj = match v.get("data") {
        Some(d) if d.is_object() => d,
        _ => &v,
    };
    let id = obj
        .get("call_id")
        .or_else(|| obj.get("id"))
        .and_then(|i| match i {
            serde_json::Value::String(s) => Some(s.trim().to_string()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .filter(|s| call_id_ok(s))?;
    let status = obj
        .get("status")
        .and_then(|s| s.as_str())
        .map(CallStatus::parse)
        .unwrap_or(CallStatus::Queued);
    Some((id, status))
}

/// The page size callplan asks of `GET /v1/calls` (the API's maximum).
pub const PAGE_LIMIT: u32 = 200;

/// Reads a call list leniently: `{data: [...]}` or `{calls: [...]}` or a
/// bare array. A record that does not parse as a call (or has no call_id)
/// is not dropped silently: it is counted in [`CallList::unreadable`], so a
/// lookup cannot conclude "absent" from a page holding one.
///
/// Paging fields may be absent (a bare array has none): without
/// `has_more`, a page is taken to have a successor when it came back full
/// (as many records as its `limit`, else [`PAGE_LIMIT`], the size callplan
/// asks for), so a reader pages until a page comes back short.
pub fn parse_call_list(body: &[u8]) -> Option<CallList> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let (items, obj) = match &v {
        serde_json::Value::Array(a) => (a.clone(), None),
        serde_json::Value::Object(o) => (
            o.get("data")
                .or_else(|| o.get("calls"))
                .and_then(|d| d.as_array())
                .cloned()?,
            Some(o),
        ),
        _ => return None,
    };
    let mut unreadable = 0u32;
    let mut data: Vec<Call> = Vec::with_capacity(items.len());
    for i in items {
        match serde_json::from_value::<Call>(i) {
            Ok(c) if call_id_ok(c.call_id.trim()) => data.push(c),
            _ => unreadable = unreadable.saturating_add(1),
        }
    }
    let num = |k: &str| obj.and_then(|o| o.get(k)).and_then(|x| x.as_u64());
    let records = data.len() as u64 + u64::from(unreadable);
    let limit = num("limit").filter(|l| *l > 0);
    let full = records >= limit.unwrap_or(u64::from(PAGE_LIMIT));
    Some(CallList {
        page: num("page").unwrap_or(1).min(u64::from(u32::MAX)) as u32,
        limit: limit.unwrap_or(0).min(u64::from(u32::MAX)) as u32,
        total: num("total").unwrap_or(data.len() as u64),
        has_more: obj
            .and_then(|o| o.get("has_more"))
            .and_then(|x| x.as_bool())
            .unwrap_or(full),
        data,
        unreadable,
    })
}

/// The longest `Retry-After` honoured at once: a longer one waits this long.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(600);

/// `Retry-After`: delta-seconds or an HTTP date; absurd values capped at
/// ten minutes ([`RETRY_AFTER_CAP`]), a date in the past is zero.
pub fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    const CAP: Duration = RETRY_AFTER_CAP;
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some(Duration::from_secs_f64(secs.min(CAP.as_secs_f64())));
        }
        return None;
    }
    static PARSER: jiff::fmt::rfc2822::DateTimeParser = jiff::fmt::rfc2822::DateTimeParser::new();
    let at = PARSER.parse_timestamp(v).ok()?;
    let d = at.duration_since(now);
    if d.is_negative() {
        return Some(Duration::ZERO);
    }
    Some(Duration::try_from(d).ok()?.min(CAP))
}

#[cfg(test)]
pub(super) mod tests {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    #[test]
    fn call_records_read_leniently_and_never_panic() {
        let c = parse_call(
            br#"{"call_id":"c1","status":"no-answer","end_reason":"timeout","duration_s":0}"#,
        )
        .expect("a call");
        assert_eq!((c.call_id.as_str(), c.status.as_str()), ("c1", "no-answer"));
        assert_eq!(c.duration_s, Some(0.0));
        let c = parse_call(br#"{"data":{"call_id":"c2","status":"completed"}}"#).expect("wrapped");
        assert_eq!(c.call_id, "c2");
        for bad in [
            &b""[..],
            b"null",
            b"[]",
            b"{}",
            b"{\"call_id\":1,\"status\":\"x\"}",
            b"{\"data\":[1,2]}",
            b"\xff\xfe",
            b"{\"call_id\":\"c\"",
        ] {
            assert!(parse_call(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn call_lists_are_read_leniently() {
        let l = parse_call_list(
            br#"{"data":[{"call_id":"a","status":"ringing","metadata":{"callplan_key":"k"}},{"bogus":1}],"has_more":true,"page":2}"#,
        )
        .unwrap();
        assert_eq!(l.data.len(), 1);
        assert_eq!(
            l.unreadable, 1,
            "the unreadable record is counted, not dropped"
        );
        assert!(l.has_more);
        assert_eq!(l.page, 2);
        // Nulls where strings are expected read as empty, not as a failure.
        let l = parse_call_list(
            br#"{"data":[{"call_id":"a","status":null,"agent_version_id":null,"from_number":null,"to_number":null,"created_at":null,"metadata":{"callplan_key":"k"}}]}"#,
        )
        .unwrap();
        assert_eq!((l.data.len(), l.unreadable), (1, 0), "{l:?}");
        assert_eq!(l.data[0].agent_version_id, "");
        // No call_id (or a null one), wrong types, non-objects: unreadable.
        let l = parse_call_list(
            br#"{"data":[{"status":"queued"},{"call_id":null},{"call_id":"b","metadata":"x"},7]}"#,
        )
        .unwrap();
        assert_eq!((l.data.len(), l.unreadable), (0, 4), "{l:?}");
        // An id too long or with control characters cannot be stored as
        // is: unreadable, never cut to something that names no call.
        let long = "c".repeat(201);
        let body = format!(
            r#"{{"data":[{{"call_id":"{long}","status":"queued"}},{{"call_id":"a\nb","status":"queued"}},{{"call_id":"=x","status":"queued"}}]}}"#
        );
        let l = parse_call_list(body.as_bytes()).unwrap();
        assert_eq!(l.unreadable, 2, "{l:?}");
        assert_eq!(l.data.len(), 1);
        assert_eq!(l.data[0].call_id, "=x", "kept as the API gave it");
        let l = parse_call_list(br#"[{"call_id":"a","status":"x"}]"#).unwrap();
        assert_eq!(l.data.len(), 1);
        assert!(!l.has_more, "a short bare page is the last");
        assert_eq!(l.total, 1);
        assert!(parse_call_list(b"[]").is_some_and(|l| !l.has_more && l.data.is_empty()));
        assert!(parse_call_list(br#"{"data":"x"}"#).is_none());
        assert!(parse_call_list(b"nope").is_none());
    }

    /// A bare array (or an object without `has_more`) that comes back full
    /// may have a successor; `has_more` when given is believed.
    #[test]
    fn paging_without_has_more_goes_on_while_pages_are_full() {
        let items = |n: usize, bad: usize| {
            let mut v: Vec<String> = (0..n)
                .map(|i| format!(r#"{{"call_id":"c{i}","status":"ringing"}}"#))
                .collect();
            v.extend((0..bad).map(|_| "7".to_string()));
            v.join(",")
        };
        let full = format!("[{}]", items(200, 0));
        assert!(parse_call_list(full.as_bytes()).unwrap().has_more);
        // Unreadable records fill a page too.
        let full = format!("[{}]", items(199, 1));
        let l = parse_call_list(full.as_bytes()).unwrap();
        assert!(l.has_more && l.unreadable == 1);
        let short = format!("[{}]", items(199, 0));
        assert!(!parse_call_list(short.as_bytes()).unwrap().has_more);
        // An object's own limit says what full means.
        let obj = format!(r#"{{"data":[{}],"limit":3}}"#, items(3, 0));
        assert!(parse_call_list(obj.as_bytes()).unwrap().has_more);
        let obj = format!(r#"{{"data":[{}]}}"#, items(3, 0));
        assert!(!parse_call_list(obj.as_bytes()).unwrap().has_more);
        let obj = format!(r#"{{"data":[{}],"limit":3,"has_more":false}}"#, items(3, 0));
        assert!(!parse_call_list(obj.as_bytes()).unwrap().has_more);
        let obj = format!(r#"{{"data":[{}],"has_more":true}}"#, items(1, 0));
        assert!(parse_call_list(obj.as_bytes()).unwrap().has_more);
    }

    #[test]
    fn retry_after_forms() {
        let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(" 0.5 ", now),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_retry_after("999999", now),
            Some(Duration::from_secs(600))
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("NaN", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 2026 00:00:07 GMT", now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after("Wed, 31 Dec 2025 23:00:00 GMT", now),
            Some(Duration::ZERO)
        );
    }

    /// Answer bodies a hostile or broken server could send: random bytes,
    /// JSON built from the keys the readers look for (so their deeper
    /// branches run, not just the first `from_slice`), and that JSON cut
    /// short. Shared with `classify`'s property tests.
    pub(in crate::api) fn hostile_body() -> impl Strategy<Value = Vec<u8>> {
        let key = prop::sample::select(vec![
            "call_id",
            "id",
            "status",
            "data",
            "calls",
            "page",
            "limit",
            "total",
            "has_more",
            "metadata",
            "duration_s",
            "message",
            "error",
            "statusCode",
        ])
        .prop_map(String::from);
        // Text as an id or a status could be: plain, with control
        // characters or a formula sign, blank, or just past the 200-byte
        // limit of a call_id.
        let text = prop_oneof![
            "\\PC{0,12}",
            "[\\x00-\\x1f=+@ a-z]{0,8}",
            "[ \\t\\n]{0,3}",
            "c{195,205}",
        ]
        .prop_map(Value::from);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            text.clone(),
        ];
        let value = leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(key.clone(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        // Shaped like a call, with any field hostile: the id under either
        // name, a status, metadata of any kind.
        let call = (
            prop::sample::select(vec!["call_id", "id"]),
            prop_oneof![
                3 => text.clone(),
                1 => any::<i64>().prop_map(Value::from),
                1 => value.clone(),
            ],
            prop_oneof![3 => text, 1 => value.clone()],
            prop_oneof![
                Just(serde_json::json!({ "callplan_key": "k" })),
                Just(Value::Null),
                value.clone(),
            ],
        )
            .prop_map(|(id_key, id, status, metadata)| {
                serde_json::json!({id_key: id, "status": status, "metadata": metadata})
            });
        let calls = prop::collection::vec(prop_oneof![call.clone(), value.clone()], 0..6);
        let shaped = prop_oneof![
            call.clone(),
            call.prop_map(|c| serde_json::json!({ "data": c })),
            calls
                .clone()
                .prop_map(|l| serde_json::json!({ "data": l, "has_more": true })),
            calls.prop_map(Value::Array),
        ];
        let json = prop_oneof![1 => value, 2 => shaped].prop_map(|v| v.to_string().into_bytes());
        prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            json.clone(),
            (json, any::<prop::sample::Index>()).prop_map(|(mut b, cut)| {
                b.truncate(cut.index(b.len() + 1));
                b
            }),
        ]
    }

    /// How many records a list body holds, read the simple way.
    fn records_in(body: &[u8]) -> Option<usize> {
        match serde_json::from_slice::<Value>(body).ok()? {
            Value::Array(a) => Some(a.len()),
            Value::Object(o) => o
                .get("data")
                .or_else(|| o.get("calls"))
                .and_then(Value::as_array)
                .map(Vec::len),
            _ => None,
        }
    }

    /// Retry-After values: free text, numbers of every size and sign, and
    /// HTTP dates from 1970 to 9999.
    fn retry_after_text() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\PC{0,40}",
            any::<f64>().prop_map(|f| f.to_string()),
            any::<i64>().prop_map(|i| i.to_string()),
            (0i64..253_402_207_200).prop_map(|s| {
                jiff::Timestamp::from_second(s)
                    .expect("in jiff's range")
                    .strftime("%a, %d %b %Y %H:%M:%S GMT")
                    .to_string()
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// No body makes a reader panic; a created call_id is always one
        /// callplan can store; a list accounts for every record it holds.
        #[test]
        fn body_readers_never_panic_and_drop_no_record(body in hostile_body()) {
            let _ = parse_call(&body);
            if let Some((id, _)) = parse_created(&body) {
                prop_assert!(call_id_ok(&id), "{id:?}");
            }
            let list = parse_call_list(&body);
            if let Some(l) = &list {
                for c in &l.data {
                    prop_assert!(call_id_ok(c.call_id.trim()), "{:?}", c.call_id);
                }
            }
            prop_assert_eq!(
                list.map(|l| l.data.len() + l.unreadable as usize),
                records_in(&body)
            );
        }

        /// No Retry-After value, at any "now", panics or asks for a wait
        /// longer than the ten-minute cap.
        #[test]
        fn retry_after_never_panics(
            v in retry_after_text(),
            now in jiff::Timestamp::MIN.as_second()..=jiff::Timestamp::MAX.as_second(),
        ) {
            let now = jiff::Timestamp::from_second(now).expect("in jiff's range");
            if let Some(d) = parse_retry_after(&v, now) {
                prop_assert!(d <= Duration::from_secs(600), "{v:?}: {d:?}");
            }
        }
    }
}
