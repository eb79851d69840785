//! `GET /v1/calls`: the query string read strictly (a bad filter is a 400
//! naming it, an unknown parameter is ignored), the page drawn from the
//! ledger, and the answer in the configured shape: the simulator's object
//! `{data, page, limit, total, has_more}` or the bare array of calls that
//! another version of the docs shows. A call shows here only `list_lag_ms`
//! after its creation, as behind a search index; `GET /v1/calls/{id}` is
//! not delayed.

use http::StatusCode;

use super::answer::Answer;
use super::clock::parse_instant;
use super::config::{ListShape, is_e164};
use super::json::{self, Detail};
use super::ledger::{self, Filter};
use super::lifecycle::Phase;
use super::request::quote;
use super::state::State;

/// One query-string component, form-decoded (`+` is a space, `%XX` a byte).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(v) = hex {
                    out.push(v);
                    i += 2;
                } else {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A phone filter: E.164, leniently taking a `+` that arrived unencoded
/// (and so decoded as a space).
fn phone_param(name: &str, v: &str, problems: &mut Vec<String>) -> Option<String> {
    let v = v.trim_end();
    let v = match v.strip_prefix(' ') {
        Some(rest) => format!("+{}", rest.trim_start()),
        None => v.to_string(),
    };
    if is_e164(&v) {
        Some(v)
    } else {
        problems.push(format!(
            "{name} must be an E.164 phone number, e.g. +14155550100 (got {}); encode + as %2B",
            quote(&v)
        ));
        None
    }
}

pub(crate) fn list(st: &State, query: &str) -> Answer {
    let mut problems = Vec::new();
    let mut filter = Filter::default();
    let mut none_match = false;
    let (mut page, mut limit) = (1usize, 20usize);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (decode(k), decode(v));
        match k.as_str() {
            "to" => {
                filter.to = phone_param("to", &v, &mut problems)
                    .and_then(|p| ledger::phone_digits(&p));
            }
            "from" => {
                if let Some(p) = phone_param("from", &v, &mut problems) {
                    match st.workspace.number_index(&p) {
                        Some(i) => filter.from = Some(i),
                        None => none_match = true,
                    }
                }
            }
            "status" => {
                let word = crate::wire::CallStatus::parse(&v);
                match Phase::WORDS.iter().find(|w| **w == word.as_str()) {
                    Some(w) => filter.status = Some(w),
                    None => problems.push(format!(
                        "status must be one of {} (got {})",
                        Phase::WORDS.join(", "),
                        quote(&v)
                    )),
                }
            }
            "start_date" | "end_date" => match parse_instant(v.trim()) {
                Some(t) if k == "start_date" => filter.since = Some(t),
                Some(t) => filter.until = Some(t),
                None => problems.push(format!(
                    "{k} must be an ISO 8601 date or date-time, e.g. 2026-05-23 or 2026-05-23T10:15:00Z (got {})",
                    quote(&v)
                )),
            },
            "call_id" => match st.ledger().find(st.id_key, &st.clock, v.trim()) {
                Some((i, _)) => filter.index = Some(i),
                None => none_match = true,
            },
            "page" => match v.trim().parse::<usize>() {
                Ok(p) if p >= 1 => page = p,
                _ => problems.push(format!("page must be an integer >= 1 (got {})", quote(&v))),
            },
            "limit" => match v.trim().parse::<usize>() {
                Ok(l) if (1..=200).contains(&l) => limit = l,
                _ => problems.push(format!(
                    "limit must be an integer from 1 to 200 (got {})",
                    quote(&v)
                )),
            },
            _ => {} // unknown parameters are ignored, as most APIs do
        }
    }
    if !problems.is_empty() {
        return Answer::error(StatusCode::BAD_REQUEST, problems);
    }
    let skip = (page - 1).saturating_mul(limit);
    filter.lag_us = st.config.list_lag_ms.saturating_mul(1000);
    let now = st.clock.now_us();
    let ledger = st.ledger();
    let (indices, total) = if none_match {
        (Vec::new(), 0)
    } else {
        ledger.list(&filter, &st.clock, now, skip, limit)
    };
    let ctx = st.ctx(now);
    let shape = st.config.list_shape;
    let mut out = String::with_capacity(64 + indices.len() * 1200);
    out.push_str(match shape {
        ListShape::Object => "{\"data\":[",
        ListShape::Array => "[",
    });
    for (n, &i) in indices.iter().enumerate() {
        if let Some(rec) = ledger.get(i) {
            if n > 0 {
                out.push(',');
            }
            json::call(&mut out, &ctx, i, rec, Detail::Record);
        }
    }
    drop(ledger);
    let has_more = (skip as u64).saturating_add(indices.len() as u64) < total;
    match shape {
        ListShape::Object => out.push_str(&format!(
            "],\"page\":{page},\"limit\":{limit},\"total\":{total},\"has_more\":{has_more}}}"
        )),
        ListShape::Array => out.push(']'),
    }
    Answer::json(StatusCode::OK, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        assert_eq!(decode("%2B14155550100"), "+14155550100");
        assert_eq!(decode("+14155550100"), " 14155550100");
        assert_eq!(decode("a%zzb%"), "a%zzb%");
        assert_eq!(decode("%e2%98%8e"), "☎");
        assert_eq!(decode("%ff"), "\u{fffd}");
        let mut p = Vec::new();
        assert_eq!(
            phone_param("to", " 14155550100", &mut p).as_deref(),
            Some("+14155550100")
        );
        assert_eq!(phone_param("to", "x", &mut p), None);
        assert_eq!(p.len(), 1);
    }
}
