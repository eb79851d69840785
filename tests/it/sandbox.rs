//! Integration tests: the simulator, through HTTP, as a client sees it.
//! Every status code path, the ledger, idempotency on and off, the
//! concurrency limit freeing slots, the rate limit, each fault kind, seeded
//! determinism, hostile requests, and the real binary.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use callplan::sandbox::{
    AnalysisFields, Config, Faults, ListShape, Outcomes, Range, RateLimit, VersionState,
};
use callplan::wire::{Call, CallList, ErrorBody, Message, Transcript};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::{self, client, ledger_calls, start_sandbox, stats};

const FROM: &str = "+14155550100";
const KEY: &str = "Bearer test-key";

fn body(to: &str) -> Value {
    json!({
        "from_number": FROM,
        "to_number": to,
        "agent_version_id": "av_sandbox",
        "variables": {"customer_name": "Alex Rivera"},
        "metadata": {"callplan_key": format!("row-{to}")}
    })
}

async fn post(url: &str, b: &Value) -> reqwest::Response {
    client()
        .post(format!("{url}/v1/calls"))
        .header("Authorization", KEY)
        .json(b)
        .send()
        .await
        .expect("POST answered")
}

async fn post_keyed(url: &str, b: &Value, key: &str) -> reqwest::Response {
    client()
        .post(format!("{url}/v1/calls"))
        .header("Authorization", KEY)
        .header("Idempotency-Key", key)
        .json(b)
        .send()
        .await
        .expect("POST answered")
}

async fn get(url: &str, path: &str) -> reqwest::Response {
    client()
        .get(format!("{url}{path}"))
        .header("Authorization", KEY)
        .send()
        .await
        .expect("GET answered")
}

async fn error_body(resp: reqwest::Response) -> ErrorBody {
    let status = resp.status().as_u16();
    let e: ErrorBody = resp.json().await.expect("an error body");
    assert_eq!(e.status_code, status);
    assert!(!e.error.is_empty());
    e
}

fn messages(e: &ErrorBody) -> Vec<String> {
    match &e.message {
        Message::One(s) => vec![s.clone()],
        Message::Many(v) => v.clone(),
    }
}

/// A config where nothing but what a test sets gets in the way.
fn open() -> Config {
    Config::unlimited()
}

/// Calls that end within a few milliseconds of real time.
fn fast(mut c: Config) -> Config {
    c.time_scale = 1e6;
    c
}

/// Polls `f` until it is true or `limit` passes (never a fixed sleep).
async fn eventually<F, Fut>(limit: Duration, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if f().await {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn header<'a>(resp: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    resp.headers().get(name).and_then(|v| v.to_str().ok())
}

// ---------------------------------------------------------------- 201, GET, ledger

#[tokio::test]
async fn create_answers_201_with_the_seed_pages_call_object() {
    let sb = start_sandbox(Config::default()).await;
    let url = sb.url();
    let resp = post(&url, &body("+16505550199")).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    for h in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ] {
        assert!(header(&resp, h).is_some(), "{h} missing");
    }
    assert_eq!(header(&resp, "x-ratelimit-limit"), Some("50"));
    assert_eq!(header(&resp, "x-ratelimit-remaining"), Some("49"));
    let raw: Value = resp.json().await.unwrap();
    let keys: Vec<&str> = raw
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "agent_version_id",
            "call_id",
            "created_at",
            "from_number",
            "status",
            "to_number"
        ]
    );
    let call: Call = serde_json::from_value(raw).unwrap();
    assert!(call.call_id.starts_with("call_"));
    assert_eq!(call.status, "queued");
    assert_eq!(call.from_number, FROM);
    assert_eq!(call.to_number, "+16505550199");
    assert_eq!(call.agent_version_id, "av_sandbox");
    assert!(
        call.created_at.parse::<jiff::Timestamp>().is_ok(),
        "{}",
        call.created_at
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn ledger_holds_every_call_in_creation_order_with_its_strings() {
    let sb = start_sandbox(open()).await;
    let url = sb.url();
    let mut ids = Vec::new();
    for (i, to) in ["+16505550101", "+16505550102", "+16505550101"]
        .iter()
        .enumerate()
    {
        let resp = post_keyed(&url, &body(to), &format!("key-{i}")).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        ids.push(resp.json::<Call>().await.unwrap().call_id);
    }
    // A call without key, variables or metadata.
    let bare =
        json!({"from_number": FROM, "to_number": "+16505550103", "agent_version_id": "av_sandbox"});
    assert_eq!(post(&url, &bare).await.status(), StatusCode::CREATED);
    let calls = ledger_calls(&url).await;
    assert_eq!(calls.len(), 4);
    for (i, c) in calls.iter().take(3).enumerate() {
        assert_eq!(c["call_id"], ids[i]);
        assert_eq!(c["idempotency_key"], format!("key-{i}"));
        assert_eq!(c["from_number"], FROM);
        assert_eq!(c["agent_version_id"], "av_sandbox");
        assert_eq!(c["variables"]["customer_name"], "Alex Rivera");
        assert_eq!(
            c["metadata"]["callplan_key"],
            format!("row-{}", c["to_number"].as_str().unwrap())
        );
        assert!(c["status"].is_string());
        assert!(c["created_at"].is_string());
        let _: Call = serde_json::from_value(c.clone()).expect("ledger entries are calls");
    }
    assert_eq!(calls[1]["to_number"], "+16505550102");
    assert_eq!(calls[3]["idempotency_key"], Value::Null);
    assert_eq!(calls[3]["variables"], json!({}));
    assert_eq!(calls[3]["metadata"], json!({}));
    let created: Vec<&str> = calls
        .iter()
        .map(|c| c["created_at"].as_str().unwrap())
        .collect();
    let mut sorted = created.clone();
    sorted.sort();
    assert_eq!(created, sorted, "creation order");
    let s = stats(&url).await;
    assert_eq!(s["answers"]["201"], 4);
    assert_eq!(s["calls"]["created"], 4);
    sb.shutdown().await;
}

#[tokio::test]
async fn get_call_returns_the_record_and_404_for_unknown_ids() {
    let sb = start_sandbox(fast(open())).await;
    let url = sb.url();
    let id = post(&url, &body("+16505550199"))
        .await
        .json::<Call>()
        .await
        .unwrap()
        .call_id;
    // At a million simulated seconds per second the call ends at once.
    let deadline = Instant::now() + Duration::from_secs(5);
    let c = loop {
        let c: Call = get(&url, &format!("/v1/calls/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if callplan::wire::CallStatus::parse(&c.status).is_terminal() {
            break c;
        }
        assert!(Instant::now() < deadline, "never ended: {c:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(c.call_id, id);
    assert!(c.ended_at.is_some() && c.end_reason.is_some() && c.duration_s.is_some());
    assert_eq!(
        c.metadata.unwrap()["callplan_key"],
        json!("row-+16505550199")
    );
    assert_eq!(c.variables.unwrap()["customer_name"], json!("Alex Rivera"));
    assert!(
        id.starts_with("call_01") && id.len() == 31,
        "call_ and a ULID: {id}"
    );
    // The same id with another creation time, another seed's digits.
    let mut later = id.clone().into_bytes();
    later[14] = if later[14] == b'0' { b'1' } else { b'0' };
    let later = String::from_utf8(later).unwrap();
    let reseeded = format!("{}{}", &id[..15], "0".repeat(16));
    for unknown in [
        "call_0000000000000000",
        "call_nope",
        "x",
        "call_ffffffffffffffff",
        "call_00000000000000000000000000",
        later.as_str(),
        reseeded.as_str(),
        &id.to_uppercase(),
    ] {
        let resp = get(&url, &format!("/v1/calls/{unknown}")).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{unknown}");
        let e = error_body(resp).await;
        assert!(messages(&e)[0].contains("not found"));
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn calls_move_through_their_statuses_on_the_scaled_clock() {
    let mut c = open();
    c.time_scale = 200.0; // queue 0.5-2 s, ring 2 s, talk 4 s: about 40 ms real
    c.ring_seconds = Range::new(2.0, 2.0);
    c.talk_seconds = Range::new(4.0, 4.0);
    c.outcomes = Outcomes {
        completed: 1.0,
        no_answer: 0.0,
        busy: 0.0,
        voicemail: 0.0,
        failed: 0.0,
    };
    let sb = start_sandbox(c).await;
    let url = sb.url();
    let id = post(&url, &body("+16505550199"))
        .await
        .json::<Call>()
        .await
        .unwrap()
        .call_id;
    let order = ["queued", "ringing", "in_progress", "completed"];
    let mut seen: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let c = loop {
        let c: Call = get(&url, &format!("/v1/calls/{id}"))
            .await
            .json()
            .await
            .unwrap();
        if seen.last() != Some(&c.status) {
            seen.push(c.status.clone());
        }
        if c.status == "completed" {
            break c;
        }
        assert!(Instant::now() < deadline, "never completed; saw {seen:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    // Statuses only move forward.
    let positions: Vec<usize> = seen
        .iter()
        .map(|s| order.iter().position(|o| o == s).expect("known status"))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert_eq!(c.duration_s, Some(4.0));
    assert!(matches!(
        c.end_reason.as_deref(),
        Some("agent_hangup" | "customer_hangup")
    ));
    let t = |s: &Option<String>| s.as_deref().unwrap().parse::<jiff::Timestamp>().unwrap();
    let created: jiff::Timestamp = c.created_at.parse().unwrap();
    let (started, ended) = (t(&c.started_at), t(&c.ended_at));
    assert!(created <= started && started <= ended);
    // 4 simulated seconds at 200x: 20 ms of real time between answer and end.
    let talk = ended.duration_since(started).as_millis_f64();
    assert!((19.0..=21.0).contains(&talk), "{talk} ms");
    sb.shutdown().await;
}

// ---------------------------------------------------------------- GET /v1/calls

#[tokio::test]
async fn list_filters_pages_newest_first() {
    // A frozen clock: every call stays queued while the test reads.
    let sb = start_sandbox(Config {
        time_scale: 1e-6,
        ..open()
    })
    .await;
    let url = sb.url();
    let a = "+16505550111";
    let mut a_ids = Vec::new();
    for i in 0..5 {
        if i == 2 {
            assert_eq!(post(&url, &body("+16505550222")).await.status(), 201);
        }
        a_ids.push(
            post(&url, &body(a))
                .await
                .json::<Call>()
                .await
                .unwrap()
                .call_id,
        );
    }
    let list = |q: &'static str| {
        let url = url.clone();
        async move {
            let resp = client()
                .get(format!("{url}/v1/calls"))
                .header("Authorization", KEY)
                .query(&[("to", a)])
                .query(
                    &q.split('&')
                        .filter_map(|p| p.split_once('='))
                        .collect::<Vec<_>>(),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            resp.json::<CallList>().await.unwrap()
        }
    };
    let p1 = list("limit=2").await;
    assert_eq!((p1.total, p1.page, p1.limit, p1.has_more), (5, 1, 2, true));
    let ids: Vec<&str> = p1.data.iter().map(|c| c.call_id.as_str()).collect();
    assert_eq!(ids, [a_ids[4].as_str(), a_ids[3].as_str()], "newest first");
    let p3 = list("limit=2&page=3").await;
    assert_eq!(p3.data.len(), 1);
    assert!(!p3.has_more);
    assert_eq!(p3.data[0].call_id, a_ids[0]);
    assert!(list("limit=2&page=9").await.data.is_empty());
    // Records carry metadata so a client can match its own key.
    assert_eq!(
        p1.data[0].metadata.as_ref().unwrap()["callplan_key"],
        json!(format!("row-{a}"))
    );
    // start_date at a call's created_at includes it (truncated to the ms).
    let all = list("limit=200").await;
    let third = &all.data[2];
    let since = client()
        .get(format!("{url}/v1/calls"))
        .header("Authorization", KEY)
        .query(&[("to", a), ("start_date", third.created_at.as_str())])
        .send()
        .await
        .unwrap()
        .json::<CallList>()
        .await
        .unwrap();
    assert!(since.total >= 3, "{}", since.total);
    assert!(since.data.iter().any(|c| c.call_id == third.call_id));
    // Status filters partition the set.
    let mut sum = 0;
    for s in [
        "queued",
        "ringing",
        "in_progress",
        "completed",
        "no_answer",
        "busy",
        "voicemail",
        "failed",
    ] {
        let l: CallList = get(&url, &format!("/v1/calls?status={s}&limit=200"))
            .await
            .json()
            .await
            .unwrap();
        assert!(l.data.iter().all(|c| c.status == s));
        assert_eq!(l.total, if s == "queued" { 6 } else { 0 }, "{s}");
        sum += l.total;
    }
    assert_eq!(sum, 6);
    // An unencoded + decodes as a space; the sandbox reads it as +.
    let l: CallList = get(&url, "/v1/calls?to=+16505550222")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l.total, 1);
    let l: CallList = get(&url, "/v1/calls?from=%2B14155550100&limit=1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((l.total, l.data.len(), l.has_more), (6, 1, true));
    let l: CallList = get(&url, "/v1/calls?from=%2B19995550100")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l.total, 0);
    let l: CallList = get(&url, &format!("/v1/calls?call_id={}", a_ids[1]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l.data[0].call_id, a_ids[1]);
    let l: CallList = get(&url, "/v1/calls?start_date=2999-01-01")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l.total, 0);
    let l: CallList = get(&url, "/v1/calls?end_date=2000-01-01")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(l.total, 0);
    sb.shutdown().await;
}

#[tokio::test]
async fn list_refuses_bad_parameters_with_400() {
    let sb = start_sandbox(open()).await;
    let url = sb.url();
    for (q, word) in [
        ("limit=201", "limit"),
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("page=0", "page"),
        ("to=12345", "to"),
        ("from=abc", "from"),
        ("status=teleported", "status"),
        ("start_date=yesterday", "start_date"),
        ("end_date=2026-13-45", "end_date"),
    ] {
        let resp = get(&url, &format!("/v1/calls?{q}")).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{q}");
        let e = error_body(resp).await;
        assert!(messages(&e)[0].starts_with(word), "{q}: {e:?}");
    }
    let resp = get(&url, "/v1/calls?limit=500&page=-1&to=x").await;
    let e = error_body(resp).await;
    assert_eq!(messages(&e).len(), 3, "every bad parameter is listed");
    sb.shutdown().await;
}

// ---------------------------------------------------------------- 400, 401, 403, 404, 413

#[tokio::test]
async fn bad_fields_answer_400_listing_every_field() {
    let sb = start_sandbox(open()).await;
    let url = sb.url();
    let resp = post(
        &url,
        &json!({"from_number": "4155550100", "to_number": 16505550199u64, "variables": {"n": 1}, "metadata": "x", "extra": 1}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let e = error_body(resp).await;
    assert_eq!(e.error, "Bad Request");
    let m = messages(&e);
    assert!(matches!(e.message, Message::Many(_)));
    for field in [
        "from_number",
        "to_number",
        "agent_version_id",
        "variables.n",
        "metadata",
        "extra",
    ] {
        assert!(m.iter().any(|s| s.contains(field)), "{field} not in {m:?}");
    }
    // One problem: a plain string.
    let mut b = body("+16505550199");
    b["agent_version_id"] = json!("");
    let e = error_body(post(&url, &b).await).await;
    assert_eq!(
        e.message,
        Message::One("agent_version_id should not be empty".to_string())
    );
    assert!(ledger_calls(&url).await.is_empty(), "nothing created");
    sb.shutdown().await;
}

#[tokio::test]
async fn auth_answers_401_and_never_echoes_the_key() {
    let mut c = open();
    c.api_keys = vec!["sk_live_right".to_string()];
    let sb = start_sandbox(c).await;
    let url = sb.url();
    let send = |auth: Option<&'static str>| {
        let url = url.clone();
        async move {
            let mut req = client()
                .post(format!("{url}/v1/calls"))
                .json(&body("+16505550199"));
            if let Some(a) = auth {
                req = req.header("Authorization", a);
            }
            req.send().await.unwrap()
        }
    };
    for auth in [
        None,
        Some(""),
        Some("Bearer"),
        Some("Bearer "),
        Some("Basic dXNlcjpwYXNz"),
        Some("sk_live_right"),
        Some("Bearer a b"),
        Some("Bearer sk_live_wrong"),
    ] {
        let resp = send(auth).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        assert!(
            header(&resp, "x-ratelimit-limit").is_none(),
            "unlimited: no headers"
        );
        let text = resp.text().await.unwrap();
        assert!(!text.contains("sk_live"), "key echoed: {text}");
        let e: ErrorBody = serde_json::from_str(&text).unwrap();
        assert_eq!(e.error, "Unauthorized");
    }
    assert_eq!(
        send(Some("Bearer sk_live_right")).await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        send(Some("bearer   sk_live_right ")).await.status(),
        StatusCode::CREATED
    );
    // GETs need the key too.
    let resp = client()
        .get(format!("{url}/v1/calls"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // Non-UTF-8 header bytes.
    let resp = client()
        .post(format!("{url}/v1/calls"))
        .header(
            "Authorization",
            reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe").unwrap(),
        )
        .json(&body("+16505550199"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(ledger_calls(&url).await.len(), 2);
    sb.shutdown().await;
}

#[tokio::test]
async fn workspace_rules_answer_403_saying_which() {
    let mut c = open();
    c.blocked_prefixes = vec!["+44".into(), "+1900".into()];
    c.agent_versions
        .insert("av_other".into(), VersionState::Published);
    let sb = start_sandbox(c).await;
    let url = sb.url();
    let cases = [
        (json!({"from_number": "+14155550199"}), "from_number"),
        (json!({"agent_version_id": "av_draft"}), "agent version"),
        (json!({"agent_version_id": "av_missing"}), "agent version"),
        (json!({"to_number": "+447700900123"}), "destination"),
        (json!({"to_number": "+19005550123"}), "destination"),
    ];
    for (patch, word) in cases {
        let mut b = body("+16505550199");
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        let resp = post(&url, &b).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{patch}");
        let e = error_body(resp).await;
        assert_eq!(e.error, "Forbidden");
        assert!(messages(&e)[0].contains(word), "{patch}: {e:?}");
    }
    // All three at once: all three named.
    let b = json!({"from_number": "+14155550199", "to_number": "+447700900123", "agent_version_id": "av_draft"});
    let e = error_body(post(&url, &b).await).await;
    assert_eq!(messages(&e).len(), 3);
    assert!(ledger_calls(&url).await.is_empty());
    let mut ok = body("+16505550199");
    ok["agent_version_id"] = json!("av_other");
    assert_eq!(post(&url, &ok).await.status(), StatusCode::CREATED);
    sb.shutdown().await;
}

#[tokio::test]
async fn unknown_routes_answer_404() {
    let sb = start_sandbox(open()).await;
    let url = sb.url();
    for (method, path) in [
        (reqwest::Method::GET, "/"),
        (reqwest::Method::GET, "/v2/calls"),
        (reqwest::Method::DELETE, "/v1/calls/call_1"),
        (reqwest::Method::PUT, "/v1/calls"),
        (reqwest::Method::GET, "/v1/calls/"),
        (reqwest::Method::POST, "/_sandbox/ledger"),
        (reqwest::Method::GET, "/_sandbox/nothing"),
    ] {
        let resp = client()
            .request(method.clone(), format!("{url}{path}"))
            .header("Authorization", KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{method} {path}");
        let e = error_body(resp).await;
        assert!(messages(&e)[0].starts_with("Cannot"), "{e:?}");
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn bodies_over_64_kib_answer_413() {
    let sb = start_sandbox(open()).await;
    let url = sb.url();
    // 10,000 variables do not fit in 64 KiB.
    let mut b = body("+16505550199");
    let vars: serde_json::Map<String, Value> =
        (0..10_000).map(|i| (format!("v{i}"), json!("x"))).collect();
    b["variables"] = Value::Object(vars);
    let resp = post(&url, &b).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_body(resp).await.error, "Payload Too Large");
    // A megabyte, declared.
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(1 << 20));
    let resp = client()
        .post(format!("{url}/v1/calls"))
        .header("Authorization", KEY)
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // A megabyte, streamed (chunked, no Content-Length), on a raw socket.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(sb.addr()).await.unwrap();
        let mut req = format!(
            "POST /v1/calls HTTP/1.1\r\nHost: x\r\nAuthorization: {KEY}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        .into_bytes();
        for chunk in big.as_bytes().chunks(8192) {
            req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            req.extend_from_slice(chunk);
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"0\r\n\r\n");
        s.write_all(&req).await.unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).await.unwrap();
        let resp = String::from_utf8_lossy(&resp);
        assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
    }
    // Exactly at the limit is read (and then judged on its fields).
    let pad = callplan::sandbox::MAX_BODY - r#"{"pad":""}"#.len();
    let at_limit = format!(r#"{{"pad":"{}"}}"#, "x".repeat(pad));
    assert_eq!(at_limit.len(), callplan::sandbox::MAX_BODY);
    let resp = client()
        .post(format!("{url}/v1/calls"))
        .header("Authorization", KEY)
        .body(at_limit)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(ledger_calls(&url).await.is_empty());
    sb.shutdown().await;
}

#[tokio::test]
async fn hostile_requests_get_4xx_and_the_server_survives() {
    let sb = start_sandbox(open()).await;
    let url = sb.url();
    let deep = "[".repeat(60_000);
    let nul = "{\"from_number\":\"+1415555\u{0}0100\"}".to_string();
    let bodies: Vec<(Vec<u8>, &str)> = vec![
        (b"".to_vec(), "application/json"),
        (b"not json".to_vec(), "application/json"),
        (b"<xml/>".to_vec(), "text/xml"),
        (b"\xff\xfe\x00\x01".to_vec(), "application/octet-stream"),
        (b"null".to_vec(), "application/json"),
        (b"[1,2,3]".to_vec(), "application/json"),
        (b"42".to_vec(), "application/json"),
        (b"{\"from_number\":".to_vec(), "application/json"),
        (deep.into_bytes(), "application/json"),
        (nul.into_bytes(), "application/json"),
        (br#"{"from_number":["+14155550100"],"to_number":{"a":1},"agent_version_id":7,"variables":[1],"metadata":true}"#.to_vec(), "application/json"),
        (br#"{"from_number":"+14155550100","to_number":"+16505550199","agent_version_id":"av_sandbox","variables":{"a":{"b":"c"}}}"#.to_vec(), "application/json"),
        (br#"{"from_number":"+14155550100","to_number":"+16505550199","agent_version_id":"av_sandbox","metadata":{"a":null}}"#.to_vec(), "application/json"),
        (format!(r#"{{"from_number":"+14155550100","to_number":"+{}","agent_version_id":"av_sandbox"}}"#, "9".repeat(5000)).into_bytes(), "application/json"),
    ];
    for (b, ct) in bodies {
        let resp = client()
            .post(format!("{url}/v1/calls"))
            .header("Authorization", KEY)
            .header("Content-Type", ct)
            .body(b.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::BAD_REQUEST,
            "{:?}",
            String::from_utf8_lossy(&b[..b.len().min(80)])
        );
        let text = resp.text().await.unwrap();
        assert!(text.len() < 4096, "answer too long: {}", text.len());
        let _: ErrorBody = serde_json::from_str(&text).unwrap();
    }
    // Thousands of bad variables inside 64 KiB: a bounded list of messages.
    let mut vars = String::new();
    for i in 0..4_000 {
        if i > 0 {
            vars.push(',');
        }
        vars.push_str(&format!("\"{i}\":{i}"));
    }
    let b = format!(
        r#"{{"from_number":"+14155550100","to_number":"+16505550199","agent_version_id":"av_sandbox","variables":{{{vars}}}}}"#
    );
    assert!(b.len() < callplan::sandbox::MAX_BODY);
    let resp = client()
        .post(format!("{url}/v1/calls"))
        .header("Authorization", KEY)
        .body(b)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let e = error_body(resp).await;
    let m = messages(&e);
    assert!(
        m.len() <= 21 && m.last().unwrap().contains("more problems"),
        "{}",
        m.len()
    );
    // A malformed Idempotency-Key when it is honoured.
    let resp = client()
        .post(format!("{url}/v1/calls"))
        .header("Authorization", KEY)
        .header("Idempotency-Key", "k".repeat(300))
        .json(&body("+16505550199"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // Raw garbage on the socket: the connection fails, the server lives.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(sb.addr()).await.unwrap();
        s.write_all(b"\x00\x01\x02 garbage \r\n\r\n").await.unwrap();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
        let text = String::from_utf8_lossy(&buf);
        assert!(text.is_empty() || text.starts_with("HTTP/1.1 4"), "{text}");
    }
    assert!(ledger_calls(&url).await.is_empty());
    assert_eq!(
        post(&url, &body("+16505550199")).await.status(),
        StatusCode::CREATED
    );
    sb.shutdown().await;
}

// ---------------------------------------------------------------- idempotency

#[tokio::test]
async fn idempotency_on_replays_the_same_body_and_refuses_another() {
    let sb = start_sandbox(open()).await;
    let url = sb.url();
    let first = post_keyed(&url, &body("+16505550199"), "campaign-1:row-2").await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(header(&first, "idempotent-replayed"), None);
    let first: Value = first.json().await.unwrap();
    // Same key, same meaning (other key order and spacing): the original answer.
    let same = r#"{ "metadata": {"callplan_key": "row-+16505550199"}, "variables": {"customer_name": "Alex Rivera"},
        "agent_version_id": "av_sandbox", "to_number": "+16505550199", "from_number": "+14155550100" }"#;
    let again = client()
        .post(format!("{url}/v1/calls"))
        .header("Authorization", KEY)
        .header("Idempotency-Key", "campaign-1:row-2")
        .body(same)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(header(&again, "idempotent-replayed"), Some("true"));
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    // Same key, another body: 422, nothing created.
    let other = post_keyed(&url, &body("+16505550100"), "campaign-1:row-2").await;
    assert_eq!(other.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let e = error_body(other).await;
    assert!(messages(&e)[0].contains("Idempotency-Key"));
    assert!(messages(&e)[0].contains(first["call_id"].as_str().unwrap()));
    // Another key: a new call.
    assert_eq!(
        post_keyed(&url, &body("+16505550199"), "campaign-1:row-3")
            .await
            .status(),
        StatusCode::CREATED
    );
    let calls = ledger_calls(&url).await;
    assert_eq!(calls.len(), 2);
    assert_eq!(stats(&url).await["idempotent_replays"], 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn idempotency_replay_is_answered_even_at_the_concurrency_limit() {
    let mut c = open();
    c.concurrency_limit = 1;
    c.time_scale = 1.0; // calls last many seconds
    let sb = start_sandbox(c).await;
    let url = sb.url();
    let a = post_keyed(&url, &body("+16505550199"), "k1").await;
    assert_eq!(a.status(), StatusCode::CREATED);
    assert_eq!(
        post_keyed(&url, &body("+16505550100"), "k2").await.status(),
        StatusCode::CONFLICT
    );
    assert_eq!(
        post_keyed(&url, &body("+16505550199"), "k1").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(ledger_calls(&url).await.len(), 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn idempotency_off_ignores_the_header_as_the_documented_api_does() {
    let mut c = open();
    c.idempotency = false;
    let sb = start_sandbox(c).await;
    let url = sb.url();
    for _ in 0..2 {
        let resp = post_keyed(&url, &body("+16505550199"), "same-key").await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        assert_eq!(header(&resp, "idempotent-replayed"), None);
    }
    assert_eq!(
        post_keyed(&url, &body("+16505550100"), "same-key")
            .await
            .status(),
        StatusCode::CREATED
    );
    // Even a malformed key is just ignored.
    let resp = post_keyed(&url, &body("+16505550100"), &"k".repeat(300)).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let calls = ledger_calls(&url).await;
    assert_eq!(calls.len(), 4, "every request dialled");
    assert_eq!(calls[0]["idempotency_key"], "same-key");
    assert_eq!(calls[1]["idempotency_key"], "same-key");
    assert_eq!(calls[3]["idempotency_key"], Value::Null);
    sb.shutdown().await;
}

// ---------------------------------------------------------------- 409, 429

#[tokio::test]
async fn concurrency_limit_answers_409_and_frees_slots_as_calls_end() {
    let mut c = open();
    c.concurrency_limit = 2;
    // About 3 to 4.5 simulated seconds a call, at 4x: 0.75 to 1.1 s real.
    c.time_scale = 4.0;
    c.ring_seconds = Range::new(1.0, 1.0);
    c.talk_seconds = Range::new(1.5, 1.5);
    c.outcomes = Outcomes {
        completed: 1.0,
        no_answer: 0.0,
        busy: 0.0,
        voicemail: 0.0,
        failed: 0.0,
    };
    let sb = start_sandbox(c).await;
    let url = sb.url();
    assert_eq!(post(&url, &body("+16505550101")).await.status(), 201);
    assert_eq!(post(&url, &body("+16505550102")).await.status(), 201);
    let full = post(&url, &body("+16505550103")).await;
    assert_eq!(full.status(), StatusCode::CONFLICT);
    let e = error_body(full).await;
    assert!(messages(&e)[0].contains("concurrency limit"), "{e:?}");
    assert_eq!(ledger_calls(&url).await.len(), 2, "a 409 creates nothing");
    // A slot frees when a call ends: poll, do not sleep a guessed time.
    let freed = eventually(Duration::from_secs(10), || {
        let url = url.clone();
        async move { post(&url, &body("+16505550103")).await.status() == StatusCode::CREATED }
    })
    .await;
    assert!(freed, "no slot freed");
    let calls = ledger_calls(&url).await;
    assert_eq!(calls.len(), 3);
    assert!(
        calls[0]["status"] == "completed" || calls[1]["status"] == "completed",
        "a slot frees only when a call ends: {calls:?}"
    );
    let s = stats(&url).await;
    assert!(s["answers"]["409"].as_u64().unwrap() >= 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after_per_key() {
    let mut c = open();
    c.rate_limit = RateLimit {
        per_second: 1.0,
        burst: 2,
    };
    let sb = start_sandbox(c).await;
    let url = sb.url();
    for left in ["1", "0"] {
        let r = post(&url, &body("+16505550199")).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(header(&r, "x-ratelimit-remaining"), Some(left));
        assert_eq!(header(&r, "x-ratelimit-limit"), Some("1"));
    }
    let r = post(&url, &body("+16505550199")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = header(&r, "retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert_eq!(header(&r, "x-ratelimit-remaining"), Some("0"));
    let reset: i64 = header(&r, "x-ratelimit-reset").unwrap().parse().unwrap();
    let now = jiff::Timestamp::now().as_second();
    assert!((now..=now + 3).contains(&reset), "{reset} vs {now}");
    let e = error_body(r).await;
    assert!(messages(&e)[0].starts_with("Too many requests."));
    // GETs are not counted but carry the headers.
    let g = get(&url, "/v1/calls").await;
    assert_eq!(g.status(), StatusCode::OK);
    assert_eq!(header(&g, "x-ratelimit-remaining"), Some("0"));
    // Another key has its own bucket.
    let other = client()
        .post(format!("{url}/v1/calls"))
        .header("Authorization", "Bearer another-key")
        .json(&body("+16505550199"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::CREATED);
    assert_eq!(ledger_calls(&url).await.len(), 3, "a 429 creates nothing");
    sb.shutdown().await;
}

#[tokio::test]
async fn rate_limit_refills_over_time() {
    let mut c = open();
    c.rate_limit = RateLimit {
        per_second: 0.2,
        burst: 1,
    };
    let sb = start_sandbox(c).await;
    let url = sb.url();
    assert_eq!(post(&url, &body("+16505550199")).await.status(), 201);
    let r = post(&url, &body("+16505550199")).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&r, "retry-after"), Some("5"));
    // A token comes back after 5 s (slow enough that a loaded machine
    // cannot refill the bucket between the two posts above).
    assert!(
        eventually(Duration::from_secs(15), || {
            let url = url.clone();
            async move { post(&url, &body("+16505550199")).await.status() == 201 }
        })
        .await
    );
    sb.shutdown().await;
}

// ---------------------------------------------------------------- faults

fn with_faults(f: Faults) -> Config {
    Config {
        faults: f,
        ..open()
    }
}

#[tokio::test]
async fn server_error_fault_answers_5xx_and_creates_nothing() {
    let sb = start_sandbox(with_faults(Faults {
        server_error_rate: 1.0,
        ..Faults::default()
    }))
    .await;
    let url = sb.url();
    let mut codes = std::collections::BTreeSet::new();
    for i in 0..30 {
        let r = post(&url, &body(&format!("+165055501{i:02}"))).await;
        let code = r.status().as_u16();
        assert!([500, 502, 503].contains(&code), "{code}");
        codes.insert(code);
        let e = error_body(r).await;
        assert!(!messages(&e)[0].is_empty());
    }
    assert_eq!(codes.len(), 3, "all three codes appear: {codes:?}");
    assert!(ledger_calls(&url).await.is_empty());
    let s = stats(&url).await;
    assert_eq!(s["faults"]["server_error"], 30);
    // Faults hit creates only: reads still work.
    assert_eq!(get(&url, "/v1/calls").await.status(), StatusCode::OK);
    sb.shutdown().await;
}

fn is_reset(e: &reqwest::Error) -> bool {
    let mut chain = format!("{e}");
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = src {
        chain.push_str(&format!(": {s}"));
        src = s.source();
    }
    let chain = chain.to_lowercase();
    !e.is_timeout() && (chain.contains("reset") || chain.contains("closed"))
}

#[tokio::test]
async fn drop_fault_resets_the_connection_and_creates_nothing() {
    let sb = start_sandbox(with_faults(Faults {
        drop_rate: 1.0,
        ..Faults::default()
    }))
    .await;
    let url = sb.url();
    let err = client()
        .post(format!("{url}/v1/calls"))
        .header("Authorization", KEY)
        .json(&body("+16505550199"))
        .send()
        .await
        .expect_err("no answer");
    assert!(is_reset(&err), "{err:?}");
    assert!(ledger_calls(&url).await.is_empty());
    assert_eq!(stats(&url).await["faults"]["drop"], 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn lost_response_creates_the_call_and_answers_nothing() {
    let sb = start_sandbox(with_faults(Faults {
        lost_response_rate: 1.0,
        ..Faults::default()
    }))
    .await;
    let url = sb.url();
    let to = "+16505550199";
    let err = post_keyed_err(&url, &body(to), "k-lost").await;
    assert!(is_reset(&err), "{err:?}");
    // The call exists: in the ledger, and for the client via GET ?to=.
    let calls = ledger_calls(&url).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["to_number"], to);
    let l: CallList = client()
        .get(format!("{url}/v1/calls"))
        .header("Authorization", KEY)
        .query(&[("to", to)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(l.total, 1);
    assert_eq!(
        l.data[0].metadata.as_ref().unwrap()["callplan_key"],
        json!(format!("row-{to}"))
    );
    assert_eq!(l.data[0].call_id, calls[0]["call_id"]);
    assert_eq!(stats(&url).await["faults"]["lost_response"], 1);
    sb.shutdown().await;
}

async fn post_keyed_err(url: &str, b: &Value, key: &str) -> reqwest::Error {
    client()
        .post(format!("{url}/v1/calls"))
        .header("Authorization", KEY)
        .header("Idempotency-Key", key)
        .json(b)
        .send()
        .await
        .expect_err("no answer")
}

#[tokio::test]
async fn lost_response_then_retry_with_the_same_key_finds_the_call() {
    // Half the creates lose their answer; a client retrying with its key
    // ends with exactly one call per row.
    let sb = start_sandbox(with_faults(Faults {
        lost_response_rate: 0.5,
        ..Faults::default()
    }))
    .await;
    let url = sb.url();
    let mut lost = 0;
    for row in 0..20 {
        let to = format!("+165055502{row:02}");
        let key = format!("plan:row-{row}");
        loop {
            match client()
                .post(format!("{url}/v1/calls"))
                .header("Authorization", KEY)
                .header("Idempotency-Key", &key)
                .json(&body(&to))
                .send()
                .await
            {
                Ok(r) => {
                    assert_eq!(r.status(), StatusCode::CREATED);
                    break;
                }
                Err(e) => {
                    assert!(is_reset(&e), "{e:?}");
                    lost += 1;
                }
            }
        }
    }
    assert!(lost > 0);
    let calls = ledger_calls(&url).await;
    assert_eq!(
        calls.len(),
        20,
        "one call per row despite {lost} lost answers"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn slow_fault_creates_the_call_and_outlasts_a_short_client_timeout() {
    let sb = start_sandbox(with_faults(Faults {
        slow_rate: 1.0,
        slow_ms: 3_000,
        ..Faults::default()
    }))
    .await;
    let url = sb.url();
    let short = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = short
        .post(format!("{url}/v1/calls"))
        .header("Authorization", KEY)
        .json(&body("+16505550199"))
        .send()
        .await
        .expect_err("timed out");
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(
        ledger_calls(&url).await.len(),
        1,
        "created before the delay"
    );
    assert_eq!(stats(&url).await["faults"]["slow"], 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn latency_is_added_to_every_v1_answer() {
    let sb = start_sandbox(with_faults(Faults {
        latency_ms: Range::new(120.0, 120.0),
        ..Faults::default()
    }))
    .await;
    let url = sb.url();
    for path in ["/v1/calls", "/v1/calls/call_x"] {
        let t = Instant::now();
        let _ = get(&url, path).await;
        assert!(t.elapsed() >= Duration::from_millis(120), "{path}");
    }
    let t = Instant::now();
    assert_eq!(post(&url, &body("+16505550199")).await.status(), 201);
    assert!(t.elapsed() >= Duration::from_millis(120));
    sb.shutdown().await;
}

// ---------------------------------------------------------------- determinism

/// What a seed decides: ids, outcomes, durations, end reasons (not times).
/// The digits of a call id the seed fixes: a ULID's last 16 (its first
/// 10 are the creation time, which follows the clock).
fn seeded_part(id: &str) -> &str {
    assert_eq!(id.len(), 31, "call_ and a ULID: {id}");
    &id[15..]
}

fn fates(calls: &[Value]) -> Vec<(Value, Value, Value, Value, Value)> {
    calls
        .iter()
        .map(|c| {
            (
                c["call_id"].as_str().map(seeded_part).into(),
                c["to_number"].clone(),
                c["status"].clone(),
                c["duration_s"].clone(),
                c["end_reason"].clone(),
            )
        })
        .collect()
}

async fn run_sequence(seed: u64) -> Vec<Value> {
    let mut c = fast(open());
    c.seed = seed;
    c.faults.server_error_rate = 0.2;
    let sb = start_sandbox(c).await;
    let url = sb.url();
    let mut answers = Vec::new();
    for i in 0..40 {
        answers.push(
            post(&url, &body(&format!("+165055503{i:02}")))
                .await
                .status()
                .as_u16(),
        );
    }
    let done = eventually(Duration::from_secs(10), || {
        let url = url.clone();
        async move {
            ledger_calls(&url).await.iter().all(|c| {
                callplan::wire::CallStatus::parse(c["status"].as_str().unwrap()).is_terminal()
            })
        }
    })
    .await;
    assert!(done);
    let mut calls = ledger_calls(&url).await;
    calls.push(json!(answers));
    sb.shutdown().await;
    calls
}

#[tokio::test]
async fn same_seed_and_request_order_give_the_same_ledger() {
    let a = run_sequence(7).await;
    let b = run_sequence(7).await;
    let c = run_sequence(8).await;
    assert_eq!(a.last(), b.last(), "same faults");
    assert_eq!(fates(&a), fates(&b));
    assert_ne!(fates(&a), fates(&c));
    // Outcomes vary within a run (realistic weights, not one fixed answer).
    let statuses: std::collections::BTreeSet<&str> =
        a.iter().filter_map(|c| c["status"].as_str()).collect();
    assert!(statuses.len() >= 2, "{statuses:?}");
}

// ---------------------------------------------------------------- the binary

#[test]
fn binary_prints_one_listening_line_and_serves() {
    let mut config = open();
    config.seed = 42;
    config.agent_versions = BTreeMap::from([("av_x".to_string(), VersionState::Published)]);
    let sb = common::SandboxProcess::spawn(Some(&config));
    assert!(sb.url().starts_with("http://127.0.0.1:"), "{}", sb.url());
    // One request with a plain socket: the configured version is there.
    let b =
        r#"{"from_number":"+14155550100","to_number":"+16505550199","agent_version_id":"av_x"}"#;
    let host = sb.url().trim_start_matches("http://").to_string();
    let mut s = std::net::TcpStream::connect(&host).unwrap();
    use std::io::{Read, Write};
    write!(
        s,
        "POST /v1/calls HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer k\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
        b.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
    let calls = sb.ledger()["calls"].as_array().unwrap().clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["agent_version_id"], "av_x");
    assert_eq!(sb.stats()["answers"]["201"], 1);
}

#[test]
fn binary_stops_on_sigterm_with_exit_0() {
    let mut sb = common::SandboxProcess::spawn(None);
    let pid = sb.child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let start = Instant::now();
    let code = loop {
        if let Some(s) = sb.child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "still running");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(code.code(), Some(0));
}

#[test]
fn binary_print_config_is_the_defaults() {
    let out = std::process::Command::new(common::bin())
        .args(["sandbox", "--print-config"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with('#'), "commented");
    assert_eq!(Config::from_yaml_str(&text).unwrap(), Config::default());
}

#[test]
fn binary_refuses_remote_addresses_and_bad_configs() {
    let out = std::process::Command::new(common::bin())
        .args(["sandbox", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("loopback") && err.contains("--allow-remote"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    let out = std::process::Command::new(common::bin())
        .args(["sandbox", "--listen", "127.0.0.1:0", "--workers", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "clap refuses 0 workers");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.yaml");
    std::fs::write(&path, "concurrency_limt: 3\n").unwrap();
    let out = std::process::Command::new(common::bin())
        .args(["sandbox", "--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("concurrency_limt") && err.contains("sandbox.yaml"),
        "{err}"
    );

    std::fs::write(&path, "time_scale: -1\nfaults:\n  drop_rate: 2\n").unwrap();
    let out = std::process::Command::new(common::bin())
        .args(["sandbox", "--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("time_scale") && err.contains("drop_rate"),
        "{err}"
    );
}

#[test]
fn test_sandbox_helper_serves_sync_tests() {
    let sb = common::TestSandbox::start(open());
    assert!(sb.base_url().ends_with("/v1"));
    assert!(sb.ledger_calls().is_empty());
    assert_eq!(sb.stats()["calls"]["created"], 0);
}

#[tokio::test]
async fn start_refuses_an_invalid_config_naming_every_problem() {
    let c = Config {
        time_scale: 0.0,
        numbers: vec!["555".into()],
        ..Config::default()
    };
    let err = callplan::sandbox::Sandbox::start(c, common::loopback())
        .await
        .expect_err("invalid config");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let text = err.to_string();
    assert!(
        text.contains("time_scale") && text.contains("numbers"),
        "{text}"
    );
}

// ---------------------------------------------------------------- post-call data

const POST_CALL_KEYS: [&str; 5] = [
    "summary",
    "sentiment",
    "transcript",
    "recording_url",
    "post_call_analysis",
];

fn reminder(to: &str) -> Value {
    json!({
        "from_number": FROM,
        "to_number": to,
        "agent_version_id": "av_sandbox",
        "variables": {
            "customer_name": "Ana Silva",
            "appointment_date": "2026-06-12",
            "clinic_name": "Sunrise Dental"
        },
        "metadata": {"callplan_key": format!("row-{to}")}
    })
}

fn only(outcome: &str) -> Outcomes {
    let mut o = Outcomes {
        completed: 0.0,
        no_answer: 0.0,
        busy: 0.0,
        voicemail: 0.0,
        failed: 0.0,
    };
    match outcome {
        "completed" => o.completed = 1.0,
        "no_answer" => o.no_answer = 1.0,
        other => panic!("{other}"),
    }
    o
}

/// Creates `n` calls (from `reminder`) and waits until all have ended.
async fn ended_calls(url: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let resp = post(url, &reminder(&format!("+165055504{i:02}"))).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        ids.push(resp.json::<Call>().await.unwrap().call_id);
    }
    let ended = eventually(Duration::from_secs(10), || async {
        ledger_calls(url)
            .await
            .iter()
            .all(|c| callplan::wire::CallStatus::parse(c["status"].as_str().unwrap()).is_terminal())
    })
    .await;
    assert!(ended, "calls never ended");
    ids
}

async fn record(url: &str, id: &str) -> Value {
    let resp = get(url, &format!("/v1/calls/{id}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

/// The list page's items, whichever shape it has.
async fn list_items(url: &str, query: &str) -> Vec<Value> {
    let resp = get(url, &format!("/v1/calls?{query}")).await;
    assert_eq!(resp.status(), StatusCode::OK, "{query}");
    match resp.json::<Value>().await.unwrap() {
        Value::Array(items) => items,
        Value::Object(mut m) => match m.remove("data") {
            Some(Value::Array(items)) => items,
            other => panic!("no data: {other:?}"),
        },
        other => panic!("not a list: {other}"),
    }
}

/// The post-call fields of a record an unanswered call must not carry.
fn assert_no_post_call_data(raw: &Value) {
    for k in POST_CALL_KEYS {
        assert!(raw.get(k).is_none_or(Value::is_null), "{k} on {raw}");
    }
}

#[tokio::test]
async fn completed_calls_carry_post_call_data_and_unanswered_ones_do_not() {
    let mut c = fast(open());
    c.outcomes = Outcomes {
        completed: 1.0,
        no_answer: 1.0,
        busy: 1.0,
        voicemail: 1.0,
        failed: 1.0,
    };
    let sb = start_sandbox(c).await;
    let url = sb.url();
    let ids = ended_calls(&url, 30).await;
    let listed = list_items(&url, "limit=200").await;
    assert_eq!(listed.len(), ids.len());
    let (mut completed, mut other) = (0, 0);
    for id in &ids {
        let raw = record(&url, id).await;
        // The list carries the same full record as the single GET.
        let item = listed.iter().find(|c| c["call_id"] == json!(id)).unwrap();
        assert_eq!(item, &raw);
        let call: Call = serde_json::from_value(raw.clone()).unwrap();
        if call.status != "completed" {
            other += 1;
            assert_no_post_call_data(&raw);
            assert!(call.end_reason.is_some() && call.duration_s.is_some());
            continue;
        }
        completed += 1;
        let summary = call.summary.as_deref().unwrap();
        for var in ["Ana Silva", "2026-06-12", "Sunrise Dental"] {
            assert!(summary.contains(var), "{var} not in {summary}");
        }
        assert!(
            ["positive", "neutral", "negative"].contains(&call.sentiment.as_deref().unwrap()),
            "{:?}",
            call.sentiment
        );
        let Some(Transcript::Turns(turns)) = &call.transcript else {
            panic!("no turns: {:?}", call.transcript);
        };
        assert!(turns.len() >= 3);
        assert!(
            turns
                .iter()
                .all(|t| ["agent", "user"].contains(&t.role.as_str()))
        );
        assert!(turns.iter().all(|t| !t.content.is_empty()));
        assert!(turns.iter().any(|t| t.content.contains("Ana Silva")));
        let rec = call.recording_url.as_deref().unwrap();
        assert!(
            rec.starts_with("https://recordings.sandbox.invalid/"),
            "{rec}"
        );
        assert!(
            rec.contains(id.as_str()) && rec.contains("Signature="),
            "{rec}"
        );
        let analysis = call.analysis().unwrap();
        assert_eq!(
            analysis.keys().collect::<Vec<_>>(),
            ["appointment_confirmed"]
        );
        let value = analysis["appointment_confirmed"].as_str().unwrap();
        assert!(["yes", "no", "reschedule"].contains(&value), "{value}");
        assert!(call.end_reason.is_some() && call.duration_s.is_some());
    }
    assert!(
        completed >= 3 && other >= 3,
        "{completed} completed, {other} not"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn calls_not_yet_ended_carry_no_post_call_data() {
    // A frozen clock: answered calls never end while the test reads.
    let mut c = open();
    c.time_scale = 1e-6;
    c.outcomes = only("completed");
    let sb = start_sandbox(c).await;
    let url = sb.url();
    let resp = post(&url, &reminder("+16505550199")).await;
    let created: Value = resp.json().await.unwrap();
    assert_no_post_call_data(&created);
    let raw = record(&url, created["call_id"].as_str().unwrap()).await;
    assert_eq!(raw["status"], "queued");
    assert_no_post_call_data(&raw);
    assert_no_post_call_data(&list_items(&url, "").await[0]);
    sb.shutdown().await;
}

/// What a seed decides about post-call data, call by call in creation order.
async fn post_call_fates(seed: u64) -> Vec<Vec<Value>> {
    let mut c = fast(open());
    c.seed = seed;
    c.outcomes = only("completed");
    let sb = start_sandbox(c).await;
    let url = sb.url();
    let ids = ended_calls(&url, 12).await;
    let mut fates = Vec::new();
    for id in ids {
        let raw = record(&url, &id).await;
        // The recording's URL names the call: by its seeded digits only.
        let url_of = |v: &Value| json!(v.as_str().map(|u| u.replace(&id, seeded_part(&id))));
        fates.push(
            POST_CALL_KEYS
                .iter()
                .map(|&k| match k {
                    "recording_url" => url_of(&raw[k]),
                    _ => raw[k].clone(),
                })
                .collect(),
        );
    }
    sb.shutdown().await;
    fates
}

#[tokio::test]
async fn post_call_data_is_the_same_for_the_same_seed() {
    let a = post_call_fates(11).await;
    let b = post_call_fates(11).await;
    let c = post_call_fates(12).await;
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.iter().all(|f| f.iter().all(|v| !v.is_null())));
    // The data varies from call to call, not one canned answer.
    let summaries: std::collections::BTreeSet<String> =
        a.iter().map(|f| f[0].to_string()).collect();
    let values: std::collections::BTreeSet<String> = a.iter().map(|f| f[4].to_string()).collect();
    assert!(
        summaries.len() >= 3 && values.len() >= 2,
        "{summaries:?} {values:?}"
    );
}

#[tokio::test]
async fn configured_analysis_fields_each_get_one_of_their_choices() {
    let mut c = fast(open());
    c.outcomes = only("completed");
    c.post_call_analysis = AnalysisFields::new([
        ("preferred_time", vec!["morning", "afternoon", "evening"]),
        ("callback_requested", vec!["true", "false"]),
    ]);
    let sb = start_sandbox(c).await;
    let url = sb.url();
    ended_calls(&url, 20).await;
    let mut seen: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for item in list_items(&url, "limit=200").await {
        let call: Call = serde_json::from_value(item).unwrap();
        let analysis = call.post_call_analysis.unwrap();
        assert_eq!(
            analysis.keys().collect::<Vec<_>>(),
            ["callback_requested", "preferred_time"]
        );
        for (k, v) in analysis {
            seen.entry(k)
                .or_default()
                .insert(v.as_str().unwrap().to_string());
        }
        // The summary follows the first field; a value with no meaning it
        // knows is named with its field.
        let summary = call.summary.unwrap();
        assert!(summary.contains("answered preferred_time: "), "{summary}");
    }
    assert_eq!(seen["callback_requested"].len(), 2, "{seen:?}");
    assert_eq!(seen["preferred_time"].len(), 3, "{seen:?}");
    sb.shutdown().await;
}

#[tokio::test]
async fn hostile_variables_still_give_valid_post_call_records() {
    let mut c = fast(open());
    c.outcomes = only("completed");
    let sb = start_sandbox(c).await;
    let url = sb.url();
    let long = "é".repeat(5_000);
    let mut ids = Vec::new();
    for (i, name) in [
        "\"q\"\n\t\\",
        "<script>x</script>",
        "\u{202e}evil",
        long.as_str(),
        "",
    ]
    .iter()
    .enumerate()
    {
        let mut b = reminder(&format!("+165055505{i:02}"));
        b["variables"]["customer_name"] = json!(name);
        b["variables"]["appointment_date"] = json!("=HYPERLINK(\"x\")");
        let resp = post(&url, &b).await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        ids.push(resp.json::<Call>().await.unwrap().call_id);
    }
    let ended = eventually(Duration::from_secs(10), || async {
        list_items(&url, "limit=200")
            .await
            .iter()
            .all(|c| c["status"] == "completed")
    })
    .await;
    assert!(ended);
    for id in ids {
        let call: Call = serde_json::from_value(record(&url, &id).await).unwrap();
        let summary = call.summary.unwrap();
        assert!(summary.len() < 2_000, "{} bytes", summary.len());
        assert!(summary.contains("=HYPERLINK"), "{summary}");
    }
    sb.shutdown().await;
}

// ---------------------------------------------------------------- list shape, lag, stats

#[tokio::test]
async fn array_list_shape_answers_bare_arrays_paged_until_a_short_page() {
    let mut c = open();
    c.time_scale = 1e-6;
    c.list_shape = ListShape::Array;
    let sb = start_sandbox(c).await;
    let url = sb.url();
    let mut created = Vec::new();
    for i in 0..5 {
        let resp = post(&url, &body(&format!("+165055506{i:02}"))).await;
        created.push(resp.json::<Call>().await.unwrap().call_id);
    }
    // Page as a client must: until a page comes back shorter than the limit.
    let mut seen = Vec::new();
    for page in 1.. {
        let resp = get(&url, &format!("/v1/calls?limit=2&page={page}")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let raw: Value = resp.json().await.unwrap();
        let items = raw.as_array().expect("a bare array, no paging fields");
        let calls: Vec<Call> = serde_json::from_value(raw.clone()).unwrap();
        seen.extend(calls.into_iter().map(|c| c.call_id));
        if items.len() < 2 {
            assert_eq!(page, 3);
            break;
        }
    }
    created.reverse(); // newest first
    assert_eq!(seen, created);
    // Filters work as in the object shape; an empty answer is [].
    let resp = get(&url, "/v1/calls?to=%2B16505550600").await;
    assert_eq!(resp.text().await.unwrap().matches("call_id").count(), 1);
    let resp = get(&url, "/v1/calls?page=9").await;
    assert_eq!(resp.text().await.unwrap(), "[]");
    // Errors keep the API's error body.
    let resp = get(&url, "/v1/calls?limit=0").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    error_body(resp).await;
    sb.shutdown().await;
}

#[tokio::test]
async fn object_list_shape_is_the_default_with_paging_fields() {
    let sb = start_sandbox(open()).await;
    let url = sb.url();
    post(&url, &body("+16505550199")).await;
    let raw: Value = get(&url, "/v1/calls").await.json().await.unwrap();
    let keys: Vec<&str> = raw
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["data", "has_more", "limit", "page", "total"]);
    let list: CallList = serde_json::from_value(raw).unwrap();
    assert_eq!((list.data.len(), list.total, list.has_more), (1, 1, false));
    sb.shutdown().await;
}

#[tokio::test]
async fn stats_count_requests_by_route() {
    let sb = start_sandbox(open()).await;
    let url = sb.url();
    let mut ids = Vec::new();
    for i in 0..3 {
        let resp = post(&url, &body(&format!("+165055507{i:02}"))).await;
        ids.push(resp.json::<Call>().await.unwrap().call_id);
    }
    get(&url, &format!("/v1/calls/{}", ids[0])).await;
    get(&url, "/v1/calls/call_nope").await; // a 404 of the get route
    for _ in 0..4 {
        get(&url, "/v1/calls?limit=5").await;
    }
    // Refused requests count too: a 401 list, a 400 create, an unknown route.
    let resp = client()
        .get(format!("{url}/v1/calls"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        post(&url, &json!({})).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(&url, "/v1/agents").await.status(),
        StatusCode::NOT_FOUND
    );
    let st = stats(&url).await;
    assert_eq!(
        st["by_route"],
        json!({"create": 4, "get": 2, "list": 5, "other": 1})
    );
    assert_eq!(st["requests"], 12);
    // Control endpoints are not API requests.
    assert_eq!(stats(&url).await["requests"], 12);
    assert_eq!(st["answers"]["201"], 3);
    sb.shutdown().await;
}

#[tokio::test]
async fn a_partial_outcomes_mapping_means_every_call_ends_that_way() {
    let c = Config::from_yaml_str(
        "outcomes: {no_answer: 1}\ntime_scale: 1000000\nconcurrency_limit: 0\nrate_limit: {per_second: 0}\n",
    )
    .unwrap();
    let sb = start_sandbox(c).await;
    let url = sb.url();
    ended_calls(&url, 40).await;
    let items = list_items(&url, "limit=200").await;
    assert_eq!(items.len(), 40);
    for item in &items {
        assert_eq!(item["status"], "no_answer", "{item}");
        assert_eq!(item["end_reason"], "no_answer");
        assert_no_post_call_data(item);
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn list_lag_hides_a_new_call_from_lists_but_not_from_get() {
    let lag = Duration::from_millis(5000);
    let mut c = open();
    c.list_lag_ms = lag.as_millis() as u64;
    let sb = start_sandbox(c).await;
    let url = sb.url();
    let before = Instant::now();
    let resp = post(&url, &body("+16505550199")).await;
    let id = resp.json::<Call>().await.unwrap().call_id;
    // The record is there at once...
    assert_eq!(record(&url, &id).await["call_id"], json!(id));
    // ...and the list does not show it yet, by any filter.
    let listed = |query: String| {
        let url = url.clone();
        let id = id.clone();
        async move {
            let resp = get(&url, &format!("/v1/calls?{query}")).await;
            let list: CallList = resp.json().await.unwrap();
            (list.data.iter().any(|c| c.call_id == id), list.total)
        }
    };
    let queries = [
        String::new(),
        "to=%2B16505550199".to_string(),
        format!("call_id={id}"),
        "from=%2B14155550100".to_string(),
    ];
    for q in &queries {
        assert_eq!(listed(q.clone()).await, (false, 0), "{q}");
    }
    // Polled, it shows up, and never before the lag has passed since the
    // create was sent (the sandbox runs in this process, on the same clock).
    let shown = eventually(Duration::from_secs(20), || async {
        listed(queries[1].clone()).await.0
    })
    .await;
    assert!(shown, "never listed");
    assert!(
        before.elapsed() >= lag,
        "listed after {:?}",
        before.elapsed()
    );
    assert_eq!(listed(format!("call_id={id}")).await, (true, 1));
    sb.shutdown().await;
}

// ---------------------------------------------------------------- caller-ID pool

#[tokio::test]
async fn a_pool_of_numbers_and_agent_versions_each_places_calls_and_403s_name_the_offender() {
    let pool = ["+14155550100", "+442079460000", "+12125550100"];
    let mut c = open();
    c.time_scale = 1e-6;
    c.numbers = pool.iter().map(|n| n.to_string()).collect();
    c.agent_versions = BTreeMap::from([
        ("av_en".to_string(), VersionState::Published),
        ("av_es".to_string(), VersionState::Published),
        ("av_fr".to_string(), VersionState::Draft),
    ]);
    let sb = start_sandbox(c).await;
    let url = sb.url();
    let mut n = 0;
    for from in pool {
        for agent in ["av_en", "av_es"] {
            let mut b = body(&format!("+165055508{n:02}"));
            n += 1;
            b["from_number"] = json!(from);
            b["agent_version_id"] = json!(agent);
            let resp = post(&url, &b).await;
            assert_eq!(resp.status(), StatusCode::CREATED, "{from} {agent}");
            let call: Call = resp.json().await.unwrap();
            assert_eq!(
                (call.from_number.as_str(), call.agent_version_id.as_str()),
                (from, agent)
            );
        }
    }
    // The list filters by each caller ID of the pool.
    for from in pool {
        let items = list_items(&url, &format!("from={}", from.replace('+', "%2B"))).await;
        assert_eq!(items.len(), 2, "{from}");
        assert!(items.iter().all(|c| c["from_number"] == json!(from)));
    }
    let cases = [
        (
            "+13125550100",
            "av_en",
            "\"+13125550100\" is not a number of this workspace",
        ),
        ("+12125550100", "av_fr", "\"av_fr\" is not published"),
        ("+12125550100", "av_de", "\"av_de\" does not exist"),
    ];
    for (from, agent, says) in cases {
        let mut b = body("+16505550199");
        b["from_number"] = json!(from);
        b["agent_version_id"] = json!(agent);
        let resp = post(&url, &b).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let e = error_body(resp).await;
        assert_eq!(messages(&e).len(), 1, "{e:?}");
        assert!(messages(&e)[0].contains(says), "{says}: {e:?}");
    }
    assert_eq!(ledger_calls(&url).await.len(), 6);
    sb.shutdown().await;
}

// ---------------------------------------------------------------- new keys through the binary

/// One request on a plain socket: (status code, body).
fn http_blocking(host: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer k\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let code = resp.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (code, body)
}

#[test]
fn binary_serves_the_new_keys_of_a_config_file() {
    let mut config = fast(open());
    config.outcomes = only("completed");
    config.list_shape = ListShape::Array;
    config.post_call_analysis = AnalysisFields::new([("payment_promised", vec!["soon"])]);
    config.list_lag_ms = 1;
    // The YAML the process reads is what the test wrote: the round trip.
    assert_eq!(Config::from_yaml_str(&config.to_yaml()).unwrap(), config);
    let sb = common::SandboxProcess::spawn(Some(&config));
    let host = sb.url().trim_start_matches("http://").to_string();
    let b = reminder("+16505550199").to_string();
    let (code, _) = http_blocking(&host, "POST", "/v1/calls", &b);
    assert_eq!(code, 201);
    let start = Instant::now();
    let items = loop {
        let (code, body) = http_blocking(&host, "GET", "/v1/calls", "");
        assert_eq!(code, 200);
        let items: Vec<Value> = serde_json::from_str(&body).expect("a bare array");
        if items.first().is_some_and(|c| c["status"] == "completed") {
            break items;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{body}");
        std::thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(
        items[0]["post_call_analysis"],
        json!({"payment_promised": "soon"})
    );
    assert!(items[0]["summary"].as_str().unwrap().contains("Ana Silva"));
    let st = sb.stats();
    assert_eq!(st["by_route"]["create"], 1);
    assert!(st["by_route"]["list"].as_u64().unwrap() >= 1);
}

#[test]
fn binary_print_config_shows_the_new_keys() {
    let out = std::process::Command::new(common::bin())
        .args(["sandbox", "--print-config"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for key in [
        "post_call_analysis:\n  appointment_confirmed: [yes, no, reschedule]",
        "list_shape: object",
        "list_lag_ms: 0",
    ] {
        assert!(text.contains(key), "{key} missing");
    }
}

#[test]
fn binary_refuses_hostile_values_of_the_new_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.yaml");
    for (yaml, word) in [
        ("list_shape: sideways\n", "list_shape"),
        ("list_lag_ms: -5\n", "list_lag_ms"),
        ("list_lag_ms: 86400000\n", "list_lag_ms"),
        ("post_call_analysis: {x: []}\n", "post_call_analysis"),
        ("post_call_analysis: nope\n", "post_call_analysis"),
        ("outcomes: {}\n", "outcomes"),
    ] {
        std::fs::write(&path, yaml).unwrap();
        let out = std::process::Command::new(common::bin())
            .args(["sandbox", "--listen", "127.0.0.1:0", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{yaml}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(word), "{yaml}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(out.stdout.is_empty());
    }
}

#[tokio::test]
async fn start_refuses_hostile_new_values_naming_each() {
    let c = Config {
        list_lag_ms: u64::MAX,
        post_call_analysis: AnalysisFields::new([("", vec!["a"]), ("ok", vec![])]),
        outcomes: only("completed"),
        ..Config::default()
    };
    let mut c = c;
    c.outcomes.completed = f64::NAN;
    let err = callplan::sandbox::Sandbox::start(c, common::loopback())
        .await
        .expect_err("invalid config");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let text = err.to_string();
    for word in [
        "list_lag_ms",
        "post_call_analysis: field \"\"",
        "post_call_analysis.\"ok\"",
        "outcomes",
    ] {
        assert!(text.contains(word), "{word}: {text}");
    }
}

#[tokio::test]
async fn with_rate_limit_reads_gets_and_lists_spend_the_same_budget_as_creates() {
    let mut c = open();
    // One token per 100 s: nothing refills while the test runs.
    c.rate_limit = RateLimit {
        per_second: 0.01,
        burst: 3,
    };
    c.rate_limit_reads = true;
    let sb = start_sandbox(c).await;
    let url = sb.url();
    let id = post(&url, &body("+16505550199"))
        .await
        .json::<Call>()
        .await
        .unwrap()
        .call_id;
    assert_eq!(get(&url, &format!("/v1/calls/{id}")).await.status(), 200);
    let last = get(&url, "/v1/calls").await;
    assert_eq!(last.status(), 200);
    assert_eq!(header(&last, "x-ratelimit-remaining"), Some("0"));
    for path in [format!("/v1/calls/{id}"), "/v1/calls".to_string()] {
        let r = get(&url, &path).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS, "{path}");
        assert!(header(&r, "retry-after").is_some());
        assert!(messages(&error_body(r).await)[0].starts_with("Too many requests."));
    }
    assert_eq!(
        post(&url, &body("+16505550100")).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let st = stats(&url).await;
    assert_eq!(st["answers"]["429"], 3);
    assert_eq!(
        st["by_route"],
        json!({"create": 2, "get": 2, "list": 2, "other": 0})
    );
    sb.shutdown().await;
}
