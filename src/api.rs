//! The DialNexa client: building requests, sending them, and classifying
//! every answer in ONE place ([`classify`], [`classify_error`]).
//!
//! What callplan sends is exactly the documented shape (the seed API page);
//! what it reads is lenient: error messages as a string or a list, unknown
//! fields ignored, status words normalized, `call_id` found under `id` or
//! `data` too. The API key lives in a [`SecretString`] and in one
//! `Authorization` header marked sensitive; it is never formatted into a
//! message. The base URL must be https unless it is loopback, and redirects
//! are never followed (a redirected POST could dial twice, or carry the key
//! elsewhere).

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use crate::wire::{Call, CallList, CallStatus, CreateCall, ErrorBody, Message};

/// Why a client cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(
        "base URL `{url}` is not a URL ({reason}); set api.base_url or DIALNEXA_BASE_URL to e.g. https://api.dialnexa.com/v1"
    )]
    BadUrl { url: String, reason: String },
    #[error(
        "base URL `{url}` must use https (plain http is allowed only for 127.0.0.1, ::1 or localhost): the API key would travel in clear text"
    )]
    Insecure { url: String },
    #[error(
        "the API key holds characters an HTTP header cannot carry; check the variable that holds it"
    )]
    BadKey,
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

/// Settings of a [`Client`].
#[derive(Debug)]
pub struct ClientConfig {
    /// The API root, including its version (`https://api.dialnexa.com/v1`);
    /// a bare host gets `/v1`.
    pub base_url: String,
    pub key: SecretString,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

/// The DialNexa client. Cheap to clone (one connection pool).
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    calls_url: reqwest::Url,
}

/// A `POST /v1/calls` ready to send: its body and its idempotency key.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRequest {
    pub body: CreateCall,
    /// `<campaign>:<key>:<round>`: exact where the API honours it.
    pub idempotency_key: String,
}

/// The parts of a campaign every request shares.
#[derive(Debug, Clone)]
pub struct Campaign {
    pub name: String,
    pub from_number: String,
    pub agent_version_id: String,
    /// The plan's `metadata:`, sent with every call.
    pub metadata: BTreeMap<String, String>,
}

/// Metadata keys callplan sets on every call; reconciliation matches them.
pub const META_CAMPAIGN: &str = "callplan_campaign";
pub const META_KEY: &str = "callplan_key";
pub const META_ROUND: &str = "callplan_round";

impl CallRequest {
    /// The request for one recipient and round. Metadata: the plan's, then
    /// the row's (which wins on a clash), then callplan's own keys (which
    /// always win: reconciliation relies on them).
    pub fn new(
        campaign: &Campaign,
        key: &str,
        round: u32,
        to_number: &str,
        variables: &BTreeMap<String, String>,
        row_metadata: &BTreeMap<String, String>,
    ) -> CallRequest {
        let mut metadata = campaign.metadata.clone();
        metadata.extend(row_metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
        metadata.insert(META_CAMPAIGN.into(), campaign.name.clone());
        metadata.insert(META_KEY.into(), key.to_string());
        metadata.insert(META_ROUND.into(), round.to_string());
        CallRequest {
            body: CreateCall {
                from_number: campaign.from_number.clone(),
                to_number: to_number.to_string(),
                agent_version_id: campaign.agent_version_id.clone(),
                variables: variables.clone(),
                metadata,
            },
            idempotency_key: idempotency_key(&campaign.name, key, round),
        }
    }

    /// What `--dry-run` prints: the request as it would leave, key masked.
    pub fn dry_run_json(&self, calls_url: &str) -> serde_json::Value {
        serde_json::json!({
            "method": "POST",
            "url": calls_url,
            "headers": {
                "Authorization": "Bearer ********",
                "Content-Type": "application/json",
                "Idempotency-Key": self.idempotency_key,
            },
            "body": self.body,
        })
    }
}

/// Longest `Idempotency-Key` sent (the common limit of APIs that honour one).
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

/// `<campaign>:<key>:<round>`. A header carries visible ASCII only, so other
/// bytes (spaces, accents) are percent-encoded; a key still longer than
/// [`MAX_IDEMPOTENCY_KEY`] is replaced by a stable 128-bit hash of it. The
/// result is the same for the same row in every run and every version.
pub fn idempotency_key(campaign: &str, key: &str, round: u32) -> String {
    let raw = format!("{campaign}:{key}:{round}");
    let mut enc = String::with_capacity(raw.len());
    for b in raw.bytes() {
        if b.is_ascii_graphic() && b != b'%' {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    if enc.len() <= MAX_IDEMPOTENCY_KEY {
        return enc;
    }
    let fnv = |basis: u64| {
        raw.bytes().fold(basis, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let prefix: String = enc.chars().take(100).collect();
    format!(
        "{prefix}:h{:016x}{:016x}:{round}",
        fnv(0xcbf2_9ce4_8422_2325),
        fnv(0x6c62_272e_07bb_0142)
    )
}

/// Resolves the base URL: parsed, https unless loopback, `/v1` added to a
/// bare host. Returns the `.../calls` endpoint.
pub fn calls_url(base_url: &str) -> Result<reqwest::Url, ApiError> {
    let bad = |reason: String| ApiError::BadUrl {
        url: shown_url(base_url),
        reason,
    };
    let mut url = reqwest::Url::parse(base_url.trim()).map_err(|e| bad(e.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(ApiError::Insecure {
                url: shown_url(base_url),
            });
        }
        other => return Err(bad(format!("scheme `{other}` is not http(s)"))),
    }
    if url.host().is_none() {
        return Err(bad("no host".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "credentials in the URL are not allowed: the key comes from the environment".into(),
        ));
    }
    url.set_query(None);
    url.set_fragment(None);
    let path = url.path().trim_end_matches('/').to_string();
    let path = if path.is_empty() { "/v1".into() } else { path };
    url.set_path(&format!("{path}/calls"));
    Ok(url)
}

/// A base URL as error messages may show it: user, password and query
/// masked (someone may have pasted the key there); an unparseable one is
/// not shown at all when it holds `@`, `?` or `#`.
fn shown_url(raw: &str) -> String {
    match reqwest::Url::parse(raw.trim()) {
        Ok(mut url) => {
            if !url.username().is_empty() || url.password().is_some() {
                let _ = url.set_username("***");
                let _ = url.set_password(None);
            }
            if url.query().is_some() {
                url.set_query(Some("***"));
            }
            url.set_fragment(None);
            url.to_string()
        }
        Err(_) if raw.contains(['@', '?', '#']) => {
            "(not shown: it holds `@`, `?` or `#`, where a secret may hide)".to_string()
        }
        Err(_) => raw.chars().take(100).collect(),
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

impl Client {
    /// Builds the client: one pool, no redirects, no automatic retries, the
    /// key in a sensitive header.
    pub fn new(cfg: ClientConfig) -> Result<Client, ApiError> {
        let calls_url = calls_url(&cfg.base_url)?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", cfg.key.expose_secret()))
            .map_err(|_| ApiError::BadKey)?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, auth);
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("callplan/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ApiError::Build(error_chain(&e)))?;
        Ok(Client { http, calls_url })
    }

    /// The `POST .../calls` endpoint.
    pub fn calls_url(&self) -> &reqwest::Url {
        &self.calls_url
    }

    /// Sends one create request and classifies what came back.
    pub async fn create_call(&self, req: &CallRequest) -> Answer {
        let sent = self
            .http
            .post(self.calls_url.clone())
            .header("Idempotency-Key", &req.idempotency_key)
            .json(&req.body)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) => return classify_error(&e),
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, jiff::Timestamp::now()));
        match read_body(resp).await {
            Ok(body) => classify(status, retry_after, &body),
            // The status line came, the body did not: a 2xx means a call may
            // exist; anything else created nothing and is classified as is.
            Err(e) if (200..300).contains(&status) => Answer::InDoubt {
                http_status: Some(status),
                message: format!("answer body lost: {}", error_chain(&e)),
            },
            Err(_) => classify(status, retry_after, b""),
        }
    }

    /// `GET .../calls?to=&start_date=&page=&limit=200`: calls to a number
    /// since a time, newest first.
    pub async fn list_calls(
        &self,
        to: &str,
        start_date: &str,
        page: u32,
    ) -> Result<CallList, LookupError> {
        let req = self.http.get(self.calls_url.clone()).query(&[
            ("to", to),
            ("start_date", start_date),
            ("page", &page.to_string()),
            ("limit", "200"),
        ]);
        self.get_json(req, parse_call_list, "unreadable call list", |status| {
            matches!(status, 401..=403)
        })
        .await
    }

    /// Sends a GET and reads its answer: 200 parsed by `parse` (`unreadable`
    /// when it does not parse); any other status is an error, fatal when
    /// `fatal(status)` says so. Transport errors are never fatal.
    async fn get_json<T>(
        &self,
        req: reqwest::RequestBuilder,
        parse: fn(&[u8]) -> Option<T>,
        unreadable: &str,
        fatal: fn(u16) -> bool,
    ) -> Result<T, LookupError> {
        let resp = req.send().await.map_err(|e| LookupError {
            http_status: None,
            message: error_chain(&e),
            fatal: false,
        })?;
        let status = resp.status().as_u16();
        let body = read_body(resp).await.map_err(|e| LookupError {
            http_status: Some(status),
            message: error_chain(&e),
            fatal: false,
        })?;
        if status == 200 {
            return parse(&body).ok_or_else(|| LookupError {
                http_status: Some(status),
                message: unreadable.into(),
                fatal: false,
            });
        }
        Err(LookupError {
            http_status: Some(status),
            message: error_message(status, &body),
            fatal: fatal(status),
        })
    }
}

impl Client {
    /// `GET .../calls/{id}`: a call's current state, for outcome polling.
    /// 401/403 are fatal (the key or workspace is refused); anything else
    /// that is not a readable call is an error the poller retries later.
    pub async fn get_call(&self, call_id: &str) -> Result<Call, LookupError> {
        let mut url = self.calls_url.clone();
        match url.path_segments_mut() {
            Ok(mut segs) => {
                segs.pop_if_empty().push(call_id);
            }
            Err(()) => {
                return Err(LookupError {
                    http_status: None,
                    message: "the base URL cannot take a call id".into(),
                    fatal: true,
                });
            }
        }
        self.get_json(
            self.http.get(url),
            parse_call,
            "unreadable call record",
            |status| matches!(status, 401 | 403),
        )
        .await
    }
}

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

/// Largest answer body read; the rest is dropped (an answer this big is
/// not one the API gives, and is read as unreadable).
pub const MAX_BODY: usize = 1 << 20;

/// Reads an answer's body, at most [`MAX_BODY`] bytes of it.
async fn read_body(mut resp: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        let room = MAX_BODY - body.len();
        if chunk.len() >= room {
            body.extend_from_slice(&chunk[..room]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A failed `GET /v1/calls`: the lookup cannot tell whether a call exists.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct LookupError {
    pub http_status: Option<u16>,
    pub message: String,
    /// The key or the workspace is refused: stop the run.
    pub fatal: bool,
}

/// Every way a create request can end, decided in [`classify`] and
/// [`classify_error`]. The README's table is this enum.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// 2xx with a call: record its call_id and status.
    Created {
        http_status: u16,
        call_id: String,
        status: CallStatus,
    },
    /// This row is refused for good (400, 413, 422, a 403 naming the
    /// destination): record `rejected`, go on.
    Rejected { http_status: u16, message: String },
    /// Not now, nothing was created (409 concurrency limit, 429 rate limit):
    /// wait and send again; does not count as an attempt.
    Wait {
        http_status: u16,
        retry_after: Option<Duration>,
        message: String,
    },
    /// Nothing was created, and trying later may work (5xx, 408, the
    /// connection could not be made): retry up to `max_attempts`.
    Transient {
        http_status: Option<u16>,
        message: String,
    },
    /// The request may have reached the server and no usable answer came:
    /// a call may exist. Never simply sent again: reconciled.
    InDoubt {
        http_status: Option<u16>,
        message: String,
    },
    /// Workspace-wide (401, 402, 404, a 403 naming the caller number or the
    /// agent version, any answer callplan does not expect): stop the run.
    Fatal {
        http_status: u16,
        message: String,
        fix: &'static str,
    },
}

/// Classifies an HTTP answer to `POST /v1/calls`. Pure: the whole policy.
pub fn classify(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Answer {
    let message = || error_message(status, body);
    match status {
        200..=299 => match parse_created(body) {
            Some((call_id, st)) => Answer::Created {
                http_status: status,
                call_id,
                status: st,
            },
            None => Answer::InDoubt {
                http_status: Some(status),
                message: format!("HTTP {status} without a readable call_id"),
            },
        },
        400 | 413 | 422 => Answer::Rejected {
            http_status: status,
            message: message(),
        },
        403 => {
            let m = message();
            match forbidden_scope(&m) {
                Forbidden::Destination => Answer::Rejected {
                    http_status: status,
                    message: m,
                },
                Forbidden::FromNumber => Answer::Fatal {
                    http_status: status,
                    message: m,
                    fix: "set from_number to an active number of this workspace",
                },
                Forbidden::AgentVersion => Answer::Fatal {
                    http_status: status,
                    message: m,
                    fix: "publish the agent version, or set agent_version_id to a published one",
                },
                Forbidden::Other => Answer::Fatal {
                    http_status: status,
                    message: m,
                    fix: "check the key's permissions and the workspace's settings in the dashboard",
                },
            }
        }
        409 | 429 => Answer::Wait {
            http_status: status,
            retry_after,
            message: message(),
        },
        401 => Answer::Fatal {
            http_status: status,
            message: message(),
            fix: "check the API key (Settings > API Keys) in the variable named by api.api_key_env",
        },
        402 => Answer::Fatal {
            http_status: status,
            message: message(),
            fix: "top up the workspace's wallet balance, then rerun",
        },
        404 => Answer::Fatal {
            http_status: status,
            message: message(),
            fix: "check agent_version_id and from_number exist in this workspace, and that the \
                  base URL ends in the API version (…/v1)",
        },
        408 | 425 | 500 | 502..=504 | 506..=599 => Answer::Transient {
            http_status: Some(status),
            message: message(),
        },
        300..=399 => Answer::Fatal {
            http_status: status,
            message: message(),
            fix: "the base URL redirects (callplan never follows a redirect with a POST): \
                  set it to the final address",
        },
        _ => Answer::Fatal {
            http_status: status,
            message: message(),
            fix: "callplan does not expect this answer; check the base URL and the API's status",
        },
    }
}

#[derive(Debug, PartialEq)]
enum Forbidden {
    Destination,
    FromNumber,
    AgentVersion,
    Other,
}

/// Which part of the request a 403 refuses, read from its message. Words
/// that name the destination are checked first ("destination +44... is not
/// enabled for from_number ..." refuses the row, not the workspace); then
/// the caller ID ("from_number ... is blocked" stops the run: rejecting rows
/// for it would settle the whole list for good); then the weaker words of a
/// destination rule (prefix, country, blocked, ...).
fn forbidden_scope(message: &str) -> Forbidden {
    let m = message.to_ascii_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| m.contains(w));
    if any(&["to_number", "destination"]) {
        Forbidden::Destination
    } else if any(&["from_number", "from number", "caller id"]) {
        Forbidden::FromNumber
    } else if any(&[
        "prefix",
        "country",
        "blocked",
        "telephony",
        "international",
        "route",
        "kyc",
    ]) {
        Forbidden::Destination
    } else if any(&["phone number"]) {
        Forbidden::FromNumber
    } else if any(&["agent", "version", "publish"]) {
        Forbidden::AgentVersion
    } else {
        Forbidden::Other
    }
}

/// Classifies a request that got no HTTP answer. Only a failure to connect
/// proves the request never left; anything after the connection was made
/// (timeout, reset while reading) leaves it in doubt.
pub fn classify_error(err: &reqwest::Error) -> Answer {
    let message = error_chain(err);
    if err.is_connect() {
        Answer::Transient {
            http_status: None,
            message: format!("could not connect: {message}"),
        }
    } else if err.is_timeout() {
        Answer::InDoubt {
            http_status: None,
            message: format!("no answer within the request timeout: {message}"),
        }
    } else {
        Answer::InDoubt {
            http_status: None,
            message: format!("connection lost before the answer: {message}"),
        }
    }
}

/// The error and its causes on one line, without the URL's query.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let s = e.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = e.source();
    }
    crate::text::clean_message(&parts.join(": "))
}

/// Reads the message of an error answer, whatever its shape.
pub fn error_message(status: u16, body: &[u8]) -> String {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("unexpected status");
    let fallback = || format!("HTTP {status} {reason}");
    if let Ok(e) = serde_json::from_slice::<ErrorBody>(body) {
        return crate::text::clean_message(&e.message.joined());
    }
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let m = v
            .get("message")
            .and_then(|m| serde_json::from_value::<Message>(m.clone()).ok())
            .map(|m| m.joined())
            .or_else(|| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .or_else(|| {
                v.get("error")
                    .and_then(|e| e.get("message"))
                    .and_then(|e| e.as_str())
                    .map(str::to_string)
            });
        return match m {
            Some(m) if !m.trim().is_empty() => crate::text::clean_message(&m),
            _ => fallback(),
        };
    }
    match std::str::from_utf8(body) {
        Ok(t) if !t.trim().is_empty() && !t.trim_start().starts_with('<') => {
            crate::text::clean_message(&format!("HTTP {status}: {}", t.trim()))
        }
        _ => fallback(),
    }
}

/// A call_id callplan can store and use as is: not empty, at most 200
/// bytes, no control characters (one check for created and listed calls).
pub fn call_id_ok(id: &str) -> bool {
    !id.is_empty() && id.len() <= 200 && !id.chars().any(char::is_control)
}

/// The call_id and status of a 2xx body: `{call_id, status}`, or the same
/// under `data`, or `id` for `call_id`. A missing status reads as `queued`.
fn parse_created(body: &[u8]) -> Option<(String, CallStatus)> {
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

/// Reads a call list leniently: `{data: [...]}` or `{calls: [...]}` or a
/// bare array. A record that does not parse as a call (or has no call_id)
/// is not dropped silently: it is counted in [`CallList::unreadable`], so a
/// lookup cannot conclude "absent" from a page holding one.
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
    Some(CallList {
        page: num("page").unwrap_or(1) as u32,
        limit: num("limit").unwrap_or(0) as u32,
        total: num("total").unwrap_or(data.len() as u64),
        has_more: obj
            .and_then(|o| o.get("has_more"))
            .and_then(|x| x.as_bool())
            .unwrap_or(false),
        data,
        unreadable,
    })
}

/// `Retry-After`: delta-seconds or an HTTP date; absurd values capped at
/// ten minutes, a date in the past is zero.
pub fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    const CAP: Duration = Duration::from_secs(600);
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
mod tests {
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

    fn campaign() -> Campaign {
        Campaign {
            name: "june".into(),
            from_number: "+14155550100".into(),
            agent_version_id: "av_1".into(),
            metadata: BTreeMap::from([
                ("source".into(), "plan".into()),
                ("callplan_key".into(), "spoofed".into()),
            ]),
        }
    }

    #[test]
    fn request_carries_metadata_and_idempotency_key() {
        let vars = BTreeMap::from([("customer_name".into(), "Alex".into())]);
        let meta = BTreeMap::from([("source".into(), "row".into()), ("crm".into(), "c1".into())]);
        let r = CallRequest::new(&campaign(), "p-7", 2, "+16505550199", &vars, &meta);
        assert_eq!(r.idempotency_key, "june:p-7:2");
        assert_eq!(r.body.to_number, "+16505550199");
        assert_eq!(r.body.variables, vars);
        let m = &r.body.metadata;
        assert_eq!(
            m["source"], "row",
            "the row's metadata wins over the plan's"
        );
        assert_eq!(m["crm"], "c1");
        assert_eq!(m["callplan_campaign"], "june");
        assert_eq!(m["callplan_key"], "p-7", "callplan's keys always win");
        assert_eq!(m["callplan_round"], "2");
        let dry = r.dry_run_json("https://x/v1/calls").to_string();
        assert!(dry.contains("Bearer ********") && dry.contains("june:p-7:2"));
    }

    #[test]
    fn idempotency_keys_are_visible_ascii_and_bounded() {
        assert_eq!(idempotency_key("june", "p-7", 1), "june:p-7:1");
        assert_eq!(
            idempotency_key("june", "José García", 2),
            "june:Jos%C3%A9%20Garc%C3%ADa:2"
        );
        assert_eq!(idempotency_key("june", "100%", 1), "june:100%25:1");
        let long = "x".repeat(1000);
        let a = idempotency_key("june", &long, 1);
        assert!(a.len() <= MAX_IDEMPOTENCY_KEY, "{}", a.len());
        assert!(a.bytes().all(|b| b.is_ascii_graphic()));
        assert_eq!(a, idempotency_key("june", &long, 1), "stable");
        assert_ne!(a, idempotency_key("june", &long, 2));
        assert_ne!(a, idempotency_key("june", &format!("{long}y"), 1));
    }

    #[test]
    fn base_url_rules() {
        assert_eq!(
            calls_url("https://api.dialnexa.com/v1").unwrap().as_str(),
            "https://api.dialnexa.com/v1/calls"
        );
        assert_eq!(
            calls_url("https://api.dialnexa.com/v1/").unwrap().as_str(),
            "https://api.dialnexa.com/v1/calls"
        );
        assert_eq!(
            calls_url("http://127.0.0.1:8787").unwrap().as_str(),
            "http://127.0.0.1:8787/v1/calls"
        );
        assert!(calls_url("http://localhost:1/v1").is_ok());
        assert!(calls_url("http://[::1]:1/v1").is_ok());
        assert!(matches!(
            calls_url("http://api.dialnexa.com/v1"),
            Err(ApiError::Insecure { .. })
        ));
        assert!(matches!(
            calls_url("http://127.0.0.1.evil.com/v1"),
            Err(ApiError::Insecure { .. })
        ));
        assert!(matches!(
            calls_url("ftp://x/v1"),
            Err(ApiError::BadUrl { .. })
        ));
        assert!(matches!(
            calls_url("not a url"),
            Err(ApiError::BadUrl { .. })
        ));
        assert!(matches!(
            calls_url("https://user:pw@api.dialnexa.com/v1"),
            Err(ApiError::BadUrl { .. })
        ));
    }

    #[test]
    fn url_errors_never_echo_a_key_pasted_into_the_url() {
        for raw in [
            "https://user:sk_SECRET@api.dialnexa.com/v1",
            "http://sk_SECRET@api.dialnexa.com/v1",
            "http://api.dialnexa.com/v1?api_key=sk_SECRET",
            "not a url?api_key=sk_SECRET",
            "ftp://x/v1?key=sk_SECRET",
            "bad url user:sk_SECRET@host",
        ] {
            let err = calls_url(raw).expect_err(raw).to_string();
            assert!(!err.contains("sk_SECRET"), "{raw}: {err}");
        }
    }

    #[test]
    fn key_is_not_in_debug_output() {
        let c = Client::new(ClientConfig {
            base_url: "http://127.0.0.1:9/v1".into(),
            key: SecretString::from("sk_live_SECRET123"),
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
        })
        .unwrap();
        assert!(!format!("{c:?}").contains("SECRET123"));
        let e = Client::new(ClientConfig {
            base_url: "http://127.0.0.1:9/v1".into(),
            key: SecretString::from("bad\nkey SECRET123"),
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
        })
        .unwrap_err();
        assert!(!e.to_string().contains("SECRET123"));
    }

    fn body(status: u16, msg: &str) -> Vec<u8> {
        serde_json::json!({"statusCode": status, "message": msg, "error": "x"})
            .to_string()
            .into_bytes()
    }

    #[test]
    fn classification_table() {
        let created = br#"{"call_id":"call_1","status":"queued","from_number":"+1"}"#;
        assert_eq!(
            classify(201, None, created),
            Answer::Created {
                http_status: 201,
                call_id: "call_1".into(),
                status: CallStatus::Queued
            }
        );
        assert!(matches!(
            classify(200, None, br#"{"data":{"id":"c2","status":"initiated"}}"#),
            Answer::Created { ref call_id, status: CallStatus::Queued, .. } if call_id == "c2"
        ));
        assert!(matches!(classify(201, None, b"{}"), Answer::InDoubt { .. }));
        assert!(matches!(
            classify(201, None, b"<html>"),
            Answer::InDoubt { .. }
        ));
        for s in [400, 413, 422] {
            assert!(
                matches!(classify(s, None, &body(s, "bad")), Answer::Rejected { ref message, .. } if message == "bad")
            );
        }
        let blocked = body(
            403,
            "destination prefix +44 is not enabled by Telephony Config",
        );
        assert!(matches!(
            classify(403, None, &blocked),
            Answer::Rejected { .. }
        ));
        let from = body(
            403,
            "from_number +14155550101 is not a number of this workspace",
        );
        assert!(matches!(
            classify(403, None, &from),
            Answer::Fatal { fix, .. } if fix.contains("from_number")
        ));
        // A caller ID that is blocked is the workspace's problem, not the row's.
        let from_blocked = body(403, "from_number +14155550100 is blocked");
        assert!(matches!(
            classify(403, None, &from_blocked),
            Answer::Fatal { fix, .. } if fix.contains("from_number")
        ));
        let country = body(403, "calls to country GB are not enabled");
        assert!(matches!(
            classify(403, None, &country),
            Answer::Rejected { .. }
        ));
        let av = body(403, "agent version av_draft is not published");
        assert!(matches!(
            classify(403, None, &av),
            Answer::Fatal { fix, .. } if fix.contains("publish")
        ));
        assert!(matches!(
            classify(403, None, b"Forbidden"),
            Answer::Fatal { .. }
        ));
        let ra = Some(Duration::from_secs(2));
        assert_eq!(
            classify(429, ra, &body(429, "Too many requests.")),
            Answer::Wait {
                http_status: 429,
                retry_after: ra,
                message: "Too many requests.".into()
            }
        );
        assert!(matches!(
            classify(409, None, &body(409, "limit")),
            Answer::Wait {
                http_status: 409,
                retry_after: None,
                ..
            }
        ));
        for s in [401, 402, 404, 405, 418, 301, 501] {
            assert!(
                matches!(classify(s, None, b""), Answer::Fatal { .. }),
                "{s}"
            );
        }
        for s in [408, 425, 500, 502, 503, 504, 506, 599] {
            assert!(
                matches!(classify(s, None, b""), Answer::Transient { .. }),
                "{s}"
            );
        }
    }

    #[test]
    fn error_bodies_are_read_leniently() {
        assert_eq!(
            error_message(
                400,
                br#"{"statusCode":400,"message":["to_number must be E.164","variables must be an object"],"error":"Bad Request"}"#
            ),
            "to_number must be E.164; variables must be an object"
        );
        assert_eq!(error_message(400, br#"{"error":"nope"}"#), "nope");
        assert_eq!(
            error_message(400, br#"{"error":{"message":"deep"}}"#),
            "deep"
        );
        assert_eq!(
            error_message(502, b"<html>bad gateway</html>"),
            "HTTP 502 Bad Gateway"
        );
        assert_eq!(error_message(500, b""), "HTTP 500 Internal Server Error");
        assert_eq!(error_message(500, b"oops\nline"), "HTTP 500: oops line");
        assert_eq!(
            error_message(599, b"\xff\xfe"),
            "HTTP 599 unexpected status"
        );
        assert_eq!(
            error_message(400, br#"{"message":"=cmd|' /C calc'!A0"}"#),
            "'=cmd|' /C calc'!A0"
        );
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
        assert!(!l.has_more);
        assert!(parse_call_list(br#"{"data":"x"}"#).is_none());
        assert!(parse_call_list(b"nope").is_none());
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

    fn client(port: u16, timeout_ms: u64) -> Client {
        Client::new(ClientConfig {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            key: SecretString::from("k"),
            connect_timeout: Duration::from_millis(500),
            request_timeout: Duration::from_millis(timeout_ms),
        })
        .unwrap()
    }

    fn req() -> CallRequest {
        CallRequest::new(
            &campaign(),
            "k1",
            1,
            "+16505550199",
            &BTreeMap::new(),
            &BTreeMap::new(),
        )
    }

    /// A refused connection proves the request never left: safe to retry.
    #[tokio::test]
    async fn refused_connection_is_transient() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let a = client(port, 1000).create_call(&req()).await;
        assert!(
            matches!(
                a,
                Answer::Transient {
                    http_status: None,
                    ..
                }
            ),
            "{a:?}"
        );
    }

    /// The server read the request and closed without answering: in doubt.
    #[tokio::test]
    async fn reset_after_sending_is_in_doubt() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
        });
        let a = client(port, 2000).create_call(&req()).await;
        assert!(matches!(a, Answer::InDoubt { .. }), "{a:?}");
    }

    /// The server read the request and never answered: in doubt.
    #[tokio::test]
    async fn timeout_after_sending_is_in_doubt() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (_s, _) = l.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let a = client(port, 200).create_call(&req()).await;
        assert!(
            matches!(a, Answer::InDoubt { ref message, .. } if message.contains("timeout")),
            "{a:?}"
        );
    }

    /// A 201 whose body never ends is cut at MAX_BODY and read as
    /// unreadable: in doubt, never a crash or an unbounded buffer.
    #[tokio::test]
    async fn endless_body_is_cut_and_in_doubt() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
                .await;
            let chunk = format!("{:x}\r\n{}\r\n", 65536, "x".repeat(65536));
            for _ in 0..64 {
                if s.write_all(chunk.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
        let a = client(port, 5000).create_call(&req()).await;
        assert!(matches!(a, Answer::InDoubt { .. }), "{a:?}");
    }

    proptest::proptest! {
        #[test]
        fn classify_never_panics(status in 0u16..1000, body in proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..200)) {
            let _ = classify(status, None, &body);
            let _ = parse_call_list(&body);
        }

        #[test]
        fn retry_after_never_panics(v in "\\PC{0,40}") {
            let _ = parse_retry_after(&v, jiff::Timestamp::now());
        }
    }
}
