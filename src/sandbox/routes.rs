//! The HTTP routes: the calls API under `/v1` and the control endpoints
//! under `/_sandbox`. Each request becomes an [`Answer`] or a [`Hangup`] (the
//! connection is reset with no answer: a dropped connection or a lost
//! response).
//!
//! `POST /v1/calls` checks, in order: the route, the Bearer key (401), the
//! rate limit (429), the body size (413), the fields (400), the workspace
//! rules (403), the `Idempotency-Key` header (400), the injected fault, then
//! under the ledger lock the idempotency key (replay or 422) and the
//! concurrency limit (409) before it creates the call (201).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;

use super::clock::parse_instant;
use super::config::is_e164;
use super::faults::{self, Fault};
use super::ids;
use super::json::{self, Ctx, Detail};
use super::ledger::{self, Filter, MAX_KEY_LEN, Outcome};
use super::lifecycle::Phase;
use super::ratelimit::RateInfo;
use super::request::{parse_create, quote};
use super::state::State;
use super::stats::FaultKind;
use crate::wire::{ErrorBody, Message};

/// Bodies larger than this are refused with 413.
pub const MAX_BODY: usize = 64 * 1024;
/// A refused body is read and discarded up to this size, so the client
/// sees the 413 rather than a reset while it is still sending.
const DRAIN_MAX: usize = 16 * 1024 * 1024;

/// The response body type.
pub(crate) type Body = Full<Bytes>;

/// Close the connection without an answer (the server resets it).
#[derive(Debug)]
pub(crate) struct Hangup;

impl std::fmt::Display for Hangup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed by the sandbox without an answer")
    }
}

impl std::error::Error for Hangup {}

/// A response before it is encoded.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    body: String,
    rate: Option<RateInfo>,
    replayed: bool,
}

impl Answer {
    fn json(status: StatusCode, body: String) -> Answer {
        Answer {
            status,
            body,
            rate: None,
            replayed: false,
        }
    }

    /// The API's error body; `message` is a string for one problem and a
    /// list for several.
    fn error(status: StatusCode, mut messages: Vec<String>) -> Answer {
        let message = if messages.len() == 1 {
            Message::One(messages.pop().unwrap_or_default())
        } else {
            Message::Many(messages)
        };
        let body = ErrorBody {
            status_code: status.as_u16(),
            message,
            error: status.canonical_reason().unwrap_or("Error").to_string(),
        };
        Answer::json(
            status,
            serde_json::to_string(&body).unwrap_or_else(|_| "{}".to_string()),
        )
    }

    fn error1(status: StatusCode, message: impl Into<String>) -> Answer {
        Answer::error(status, vec![message.into()])
    }

    fn with_rate(mut self, rate: Option<RateInfo>) -> Answer {
        self.rate = rate;
        self
    }

    fn into_response(self) -> Response<Body> {
        let mut r = Response::new(Full::new(Bytes::from(self.body)));
        *r.status_mut() = self.status;
        let h = r.headers_mut();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        if let Some(rate) = self.rate {
            h.insert("x-ratelimit-limit", HeaderValue::from(rate.limit));
            h.insert("x-ratelimit-remaining", HeaderValue::from(rate.remaining));
            h.insert("x-ratelimit-reset", HeaderValue::from(rate.reset));
            if let Some(secs) = rate.retry_after {
                h.insert(RETRY_AFTER, HeaderValue::from(secs));
            }
        }
        if self.replayed {
            h.insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        r
    }
}

/// Serves one request.
pub(crate) async fn serve(
    st: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Hangup> {
    let path = req.uri().path();
    if path.starts_with("/_sandbox/") {
        let answer = match (req.method(), path) {
            (&Method::GET, "/_sandbox/ledger") => ledger_dump(&st),
            (&Method::GET, "/_sandbox/stats") => stats(&st),
            _ => not_found(req.method(), path),
        };
        return Ok(answer.into_response());
    }
    let n = st.stats.request();
    let (fault, latency) = faults::draw(&st.config.faults, st.config.seed, n);
    let answer = v1(&st, req, fault).await?;
    if latency > Duration::ZERO {
        tokio::time::sleep(latency).await;
    }
    st.stats.answer(answer.status.as_u16());
    Ok(answer.into_response())
}

fn not_found(method: &Method, path: &str) -> Answer {
    Answer::error1(
        StatusCode::NOT_FOUND,
        format!("Cannot {method} {}", quote(path).trim_matches('"')),
    )
}

enum Route {
    Create,
    List,
    Get(String),
}

async fn v1(st: &State, req: Request<Incoming>, fault: Fault) -> Result<Answer, Hangup> {
    let path = req.uri().path();
    let route = match (req.method(), path) {
        (&Method::POST, "/v1/calls") => Route::Create,
        (&Method::GET, "/v1/calls") => Route::List,
        (&Method::GET, p) if p.starts_with("/v1/calls/") && p.len() > "/v1/calls/".len() => {
            Route::Get(p["/v1/calls/".len()..].to_string())
        }
        (m, p) => return Ok(not_found(m, p)),
    };
    let now = st.clock.now_us();
    let unix = st.clock.wall_us(now);
    let key = match api_key(st, req.headers()) {
        Ok(k) => k,
        Err(msg) => {
            return Ok(Answer::error1(StatusCode::UNAUTHORIZED, msg)
                .with_rate(st.limiter.peek("", now, unix)));
        }
    };
    match route {
        Route::Create => create(st, req, &key, fault).await,
        Route::List => {
            let rate = st.limiter.peek(&key, now, unix);
            Ok(list(st, req.uri().query().unwrap_or("")).with_rate(rate))
        }
        Route::Get(id) => {
            let rate = st.limiter.peek(&key, now, unix);
            Ok(get(st, &id).with_rate(rate))
        }
    }
}

/// The Bearer key, or why it is refused. The key itself never appears in
/// a message.
fn api_key(st: &State, headers: &HeaderMap) -> Result<String, &'static str> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err("Missing API key: send the header Authorization: Bearer <your API key>");
    };
    let malformed = "Malformed Authorization header: expected Bearer <your API key>";
    let text = value.to_str().map_err(|_| malformed)?;
    let (scheme, key) = text.trim().split_once(' ').ok_or(malformed)?;
    let key = key.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || key.is_empty() || key.contains(' ') {
        return Err(malformed);
    }
    if !st.config.api_keys.is_empty() && !st.config.api_keys.iter().any(|k| k == key) {
        return Err("Invalid API key: it is not a key of this workspace (Settings > API Keys)");
    }
    Ok(key.to_string())
}

/// Reads the body up to [`MAX_BODY`]; None when it is larger (what is left
/// is drained up to [`DRAIN_MAX`]). A broken connection is a hangup.
async fn read_body(mut body: Incoming, declared: Option<usize>) -> Result<Option<Vec<u8>>, Hangup> {
    let too_big = declared.is_some_and(|n| n > MAX_BODY);
    let mut buf = Vec::with_capacity(declared.unwrap_or(512).min(MAX_BODY));
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| Hangup)?;
        if let Ok(data) = frame.into_data() {
            seen = seen.saturating_add(data.len());
            if seen > DRAIN_MAX {
                return Ok(None);
            }
            if !too_big && seen <= MAX_BODY {
                buf.extend_from_slice(&data);
            }
        }
    }
    Ok((!too_big && seen <= MAX_BODY).then_some(buf))
}

async fn create(
    st: &State,
    req: Request<Incoming>,
    key: &str,
    fault: Fault,
) -> Result<Answer, Hangup> {
    let now = st.clock.now_us();
    let rate = st.limiter.take(key, now, st.clock.wall_us(now));
    if let Some(r) = rate
        && let Some(secs) = r.retry_after
    {
        return Ok(Answer::error1(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many requests. The limit is {} per second per API key; retry after {secs} s.",
                r.limit
            ),
        )
        .with_rate(rate));
    }
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let Some(body) = read_body(body, declared).await? else {
        return Ok(Answer::error1(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body is larger than {} KiB", MAX_BODY / 1024),
        )
        .with_rate(rate));
    };
    let call = match parse_create(&body) {
        Ok(c) => c,
        Err(problems) => {
            return Ok(Answer::error(StatusCode::BAD_REQUEST, problems).with_rate(rate));
        }
    };
    let admitted = match st.workspace.admit(&call) {
        Ok(a) => a,
        Err(problems) => return Ok(Answer::error(StatusCode::FORBIDDEN, problems).with_rate(rate)),
    };
    let honoured = st.config.idempotency;
    let idem = match parts
        .headers
        .get("idempotency-key")
        .map(HeaderValue::to_str)
    {
        None => None,
        Some(Ok(k)) if !k.trim().is_empty() && k.len() <= MAX_KEY_LEN => Some(k),
        Some(_) if honoured => {
            return Ok(Answer::error1(
                StatusCode::BAD_REQUEST,
                format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"),
            )
            .with_rate(rate));
        }
        Some(_) => None,
    };
    match fault {
        Fault::ServerError(code) => {
            st.stats.fault(FaultKind::ServerError);
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let msg = match code {
                502 => "Bad gateway: the telephony upstream did not answer; retry later",
                503 => "Service unavailable; retry later",
                _ => "Internal server error",
            };
            return Ok(Answer::error1(status, msg).with_rate(rate));
        }
        Fault::Drop => {
            st.stats.fault(FaultKind::Drop);
            return Err(Hangup);
        }
        _ => {}
    }
    let (outcome, created_body) = {
        let mut ledger = st.ledger();
        let outcome = ledger.create(&st.config, &st.clock, &call, admitted, idem, honoured);
        let mut out = String::new();
        if let Outcome::New(i) | Outcome::Replay(i) = outcome
            && let Some(rec) = ledger.get(i)
        {
            let ctx = Ctx {
                clock: &st.clock,
                workspace: &st.workspace,
                id_key: st.id_key,
                now_us: now,
            };
            json::call(&mut out, &ctx, i, rec, Detail::Created);
        }
        (outcome, out)
    };
    let created = Answer::json(StatusCode::CREATED, created_body).with_rate(rate);
    match outcome {
        Outcome::New(_) => match fault {
            Fault::LostResponse => {
                st.stats.fault(FaultKind::LostResponse);
                Err(Hangup)
            }
            Fault::Slow(delay) => {
                st.stats.fault(FaultKind::Slow);
                tokio::time::sleep(delay).await;
                Ok(created)
            }
            _ => Ok(created),
        },
        Outcome::Replay(_) => {
            st.stats.replay();
            Ok(Answer {
                replayed: true,
                ..created
            })
        }
        Outcome::Conflict(i) => Ok(Answer::error1(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "Idempotency-Key {} was already used with a different request body (call {}); use a new key for a new call",
                quote(idem.unwrap_or("")),
                ids::encode(st.id_key, i)
            ),
        )
        .with_rate(rate)),
        Outcome::AtLimit { live } => Ok(Answer::error1(
            StatusCode::CONFLICT,
            format!(
                "Workspace concurrency limit reached: {live} of {} calls are live; retry when one ends",
                st.config.concurrency_limit
            ),
        )
        .with_rate(rate)),
        Outcome::Full => Ok(Answer::error1(
            StatusCode::SERVICE_UNAVAILABLE,
            "The sandbox ledger is full; restart the sandbox",
        )
        .with_rate(rate)),
    }
}

fn get(st: &State, id: &str) -> Answer {
    let now = st.clock.now_us();
    let ledger = st.ledger();
    let Some((i, rec)) = ids::decode(st.id_key, id).and_then(|i| Some((i, ledger.get(i)?))) else {
        return Answer::error1(
            StatusCode::NOT_FOUND,
            format!("Call {} not found", quote(id)),
        );
    };
    let ctx = Ctx {
        clock: &st.clock,
        workspace: &st.workspace,
        id_key: st.id_key,
        now_us: now,
    };
    let mut out = String::with_capacity(512);
    json::call(&mut out, &ctx, i, rec, Detail::Record);
    Answer::json(StatusCode::OK, out)
}

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

fn list(st: &State, query: &str) -> Answer {
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
            "call_id" => match ids::decode(st.id_key, v.trim()) {
                Some(i) => filter.index = Some(i),
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
    let now = st.clock.now_us();
    let ledger = st.ledger();
    let (indices, total) = if none_match {
        (Vec::new(), 0)
    } else {
        ledger.list(&filter, &st.clock, now, skip, limit)
    };
    let ctx = Ctx {
        clock: &st.clock,
        workspace: &st.workspace,
        id_key: st.id_key,
        now_us: now,
    };
    let mut out = String::with_capacity(64 + indices.len() * 400);
    out.push_str("{\"data\":[");
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
    out.push_str(&format!(
        "],\"page\":{page},\"limit\":{limit},\"total\":{total},\"has_more\":{has_more}}}"
    ));
    Answer::json(StatusCode::OK, out)
}

fn ledger_dump(st: &State) -> Answer {
    let now = st.clock.now_us();
    let ledger = st.ledger();
    let ctx = Ctx {
        clock: &st.clock,
        workspace: &st.workspace,
        id_key: st.id_key,
        now_us: now,
    };
    let mut out = String::with_capacity(16 + ledger.len() * 400);
    out.push_str("{\"calls\":[");
    for (i, rec) in ledger.calls().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json::call(&mut out, &ctx, i as u32, rec, Detail::Ledger);
    }
    out.push_str("]}");
    Answer::json(StatusCode::OK, out)
}

fn stats(st: &State) -> Answer {
    let now = st.clock.now_us();
    let mut by_status = [0u64; Phase::WORDS.len()];
    let created = {
        let ledger = st.ledger();
        for rec in ledger.calls() {
            let word = rec.phase(&st.clock, now).as_str();
            if let Some(k) = Phase::WORDS.iter().position(|w| *w == word) {
                by_status[k] += 1;
            }
        }
        ledger.len()
    };
    let mut m = st.stats.to_json();
    let statuses: serde_json::Map<String, serde_json::Value> = Phase::WORDS
        .iter()
        .zip(by_status)
        .map(|(w, n)| ((*w).to_string(), n.into()))
        .collect();
    let live = by_status[..3].iter().sum::<u64>();
    m.insert(
        "calls".into(),
        serde_json::json!({"created": created, "live": live, "by_status": statuses}),
    );
    Answer::json(
        StatusCode::OK,
        serde_json::to_string(&m).unwrap_or_else(|_| "{}".to_string()),
    )
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
