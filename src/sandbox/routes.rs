//! The HTTP routes: the calls API under `/v1` and the control endpoints
//! under `/_sandbox`. Each request becomes an [`Answer`] or a [`Hangup`] (the
//! connection is reset with no answer: a dropped connection or a lost
//! response).
//!
//! Reads (`GET /v1/calls`, `GET /v1/calls/{id}`) check the key (401), then,
//! with `rate_limit_reads`, take a token from the same bucket as creates
//! (429), as the real API's budget is shared by reads and creates.
//!
//! `POST /v1/calls` checks, in order: the route, the Bearer key (401), the
//! rate limit (429), the body size (413), the fields (400), the workspace
//! rules (403), the `Idempotency-Key` header (400), the injected fault, then
//! under the ledger lock the idempotency key (replay or 422) and the
//! concurrency limit (409) before it creates the call (201).

use std::sync::Arc;
use std::time::Duration;

use http::header::{AUTHORIZATION, CONTENT_LENGTH, HeaderValue};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;

pub(crate) use super::answer::{Answer, Body, Hangup};
use super::faults::{self, Fault};
use super::ids;
use super::json::{self, Detail};
use super::ledger::{MAX_KEY_LEN, Outcome};
use super::lifecycle::Phase;
use super::list::list;
use super::ratelimit::RateInfo;
use super::request::{parse_create, quote};
use super::state::State;
use super::stats::{FaultKind, RouteKind};

/// Bodies larger than this are refused with 413.
pub const MAX_BODY: usize = 64 * 1024;
/// A refused body is read and discarded up to this size, so the client
/// sees the 413 rather than a reset while it is still sending.
const DRAIN_MAX: usize = 16 * 1024 * 1024;

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
    let read_fault = faults::draw_read(&st.config.faults, st.config.seed, n);
    let answer = v1(&st, req, fault, read_fault).await?;
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

async fn v1(
    st: &State,
    req: Request<Incoming>,
    fault: Fault,
    read_fault: Option<u16>,
) -> Result<Answer, Hangup> {
    let path = req.uri().path();
    let route = match (req.method(), path) {
        (&Method::POST, "/v1/calls") => Route::Create,
        (&Method::GET, "/v1/calls") => Route::List,
        (&Method::GET, p) if p.starts_with("/v1/calls/") && p.len() > "/v1/calls/".len() => {
            Route::Get(p["/v1/calls/".len()..].to_string())
        }
        (m, p) => {
            st.stats.route(RouteKind::Other);
            return Ok(not_found(m, p));
        }
    };
    st.stats.route(match route {
        Route::Create => RouteKind::Create,
        Route::List => RouteKind::List,
        Route::Get(_) => RouteKind::Get,
    });
    let now = st.clock.now_us();
    let unix = st.clock.wall_us(now);
    let key = match api_key(st, req.headers()) {
        Ok(k) => k,
        Err(msg) => {
            return Ok(Answer::error1(StatusCode::UNAUTHORIZED, msg)
                .with_rate(st.limiter.peek("", now, unix)));
        }
    };
    if let Route::Create = route {
        return create(st, req, &key, fault).await;
    }
    if let Some(code) = read_fault {
        return Ok(server_error(st, code));
    }
    // Reads spend the key's budget only when told to (`rate_limit_reads`).
    let rate = if st.config.rate_limit_reads {
        st.limiter.take(&key, now, unix)
    } else {
        st.limiter.peek(&key, now, unix)
    };
    if let Some(refused) = too_many(rate) {
        return Ok(refused);
    }
    Ok(match route {
        Route::Get(id) => get(st, &id),
        _ => list(st, req.uri().query().unwrap_or("")),
    }
    .with_rate(rate))
}

/// A 500, 502 or 503 a fault answers, with the API's error body; counted.
fn server_error(st: &State, code: u16) -> Answer {
    st.stats.fault(FaultKind::ServerError);
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let msg = match code {
        502 => "Bad gateway: the telephony upstream did not answer; retry later",
        503 => "Service unavailable; retry later",
        _ => "Internal server error",
    };
    Answer::error1(status, msg)
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

/// The 429 of a request the bucket refused, with `Retry-After`.
fn too_many(rate: Option<RateInfo>) -> Option<Answer> {
    let r = rate?;
    let secs = r.retry_after?;
    Some(
        Answer::error1(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many requests. The limit is {} per second per API key; retry after {secs} s.",
                r.limit
            ),
        )
        .with_rate(rate),
    )
}

async fn create(
    st: &State,
    req: Request<Incoming>,
    key: &str,
    fault: Fault,
) -> Result<Answer, Hangup> {
    let now = st.clock.now_us();
    let rate = st.limiter.take(key, now, st.clock.wall_us(now));
    if let Some(refused) = too_many(rate) {
        return Ok(refused);
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
        Fault::ServerError(code) => return Ok(server_error(st, code).with_rate(rate)),
        Fault::Drop => {
            st.stats.fault(FaultKind::Drop);
            return Err(Hangup);
        }
        _ => {}
    }
    let (outcome, created_body, earlier) = {
        let mut ledger = st.ledger();
        let outcome = ledger.create(&st.config, &st.clock, &call, admitted, idem, honoured);
        let (mut out, mut earlier) = (String::new(), String::new());
        if let Outcome::New(i) | Outcome::Replay(i) = outcome
            && let Some(rec) = ledger.get(i)
        {
            let ctx = st.ctx(now);
            json::call(&mut out, &ctx, i, rec, Detail::Created);
        } else if let Outcome::Conflict(i) = outcome
            && let Some(rec) = ledger.get(i)
        {
            earlier = ids::encode(st.id_key, i, st.clock.wall_us(rec.created_us));
        }
        (outcome, out, earlier)
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
        Outcome::Conflict(_) => Ok(Answer::error1(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "Idempotency-Key {} was already used with a different request body (call {earlier}); use a new key for a new call",
                quote(idem.unwrap_or("")),
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
    let Some((i, rec)) = ledger.find(st.id_key, &st.clock, id) else {
        return Answer::error1(
            StatusCode::NOT_FOUND,
            format!("Call {} not found", quote(id)),
        );
    };
    let ctx = st.ctx(now);
    let mut out = String::with_capacity(512);
    json::call(&mut out, &ctx, i, rec, Detail::Record);
    Answer::json(StatusCode::OK, out)
}

fn ledger_dump(st: &State) -> Answer {
    let now = st.clock.now_us();
    let ledger = st.ledger();
    let ctx = st.ctx(now);
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
