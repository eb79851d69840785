//! The HTTP side: one reqwest [`Client`] (one pool, no redirects, no
//! automatic retries, the key in a sensitive header), the create request,
//! the GETs (a page of calls to a number or from a caller ID, one call
//! by id) and a body
//! reader bounded at [`MAX_BODY`]. It decides nothing: every answer, or the
//! lack of one, goes to `classify` as it came.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use super::ApiError;
use super::classify::{
    Answer, LookupError, classify_error, classify_lookup, classify_sent, error_chain,
};
use super::parse::{PAGE_LIMIT, parse_call, parse_call_list, parse_retry_after};
use super::request::CallRequest;
use super::url::calls_url;
use crate::wire::{Call, CallList};

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
            .header(IDEMPOTENCY_KEY, &req.idempotency_key)
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
            Ok(body) => classify_sent(status, retry_after, &body, Some(&req.body)),
            // The status line came, the body did not: a 2xx means a call may
            // exist; anything else created nothing and is classified as is.
            Err(e) if (200..300).contains(&status) => Answer::InDoubt {
                http_status: Some(status),
                message: format!("answer body lost: {}", error_chain(&e)),
            },
            Err(_) => classify_sent(status, retry_after, b"", Some(&req.body)),
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
        self.list_calls_by("to", to, start_date, page).await
    }

    /// `GET .../calls?from=&start_date=&page=&limit=200`: calls placed from
    /// a caller ID since a time, newest first (what the outcome sync reads).
    pub async fn list_calls_from(
        &self,
        from: &str,
        start_date: &str,
        page: u32,
    ) -> Result<CallList, LookupError> {
        self.list_calls_by("from", from, start_date, page).await
    }

    /// One page of calls filtered by `filter` (`to` or `from`) = `number`.
    /// 401-403 are fatal (the key or workspace is refused).
    async fn list_calls_by(
        &self,
        filter: &str,
        number: &str,
        start_date: &str,
        page: u32,
    ) -> Result<CallList, LookupError> {
        let req = self.http.get(self.calls_url.clone()).query(&[
            (filter, number),
            ("start_date", start_date),
            ("page", &page.to_string()),
            ("limit", &PAGE_LIMIT.to_string()),
        ]);
        self.get_json(req, parse_call_list, "unreadable call list", |status| {
            matches!(status, 401..=403)
        })
        .await
    }

    /// Sends a GET and hands its answer to `classify_lookup`; an answer
    /// that does not arrive whole is a transport error, never fatal.
    async fn get_json<T>(
        &self,
        req: reqwest::RequestBuilder,
        parse: fn(&[u8]) -> Option<T>,
        unreadable: &str,
        fatal: fn(u16) -> bool,
    ) -> Result<T, LookupError> {
        let resp = req
            .send()
            .await
            .map_err(|e| LookupError::transport(None, &e))?;
        let status = resp.status().as_u16();
        let body = read_body(resp)
            .await
            .map_err(|e| LookupError::transport(Some(status), &e))?;
        classify_lookup(status, &body, parse, unreadable, fatal)
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

/// The header that names a create request (its value is ASCII: see
/// `request::idempotency_key`), spelled once rather than parsed per request.
const IDEMPOTENCY_KEY: reqwest::header::HeaderName =
    reqwest::header::HeaderName::from_static("idempotency-key");

/// Largest answer body read; the rest is dropped (an answer this big is
/// not one the API gives, and is read as unreadable).
pub const MAX_BODY: usize = 1 << 20;

/// Reads an answer's body, at most [`MAX_BODY`] bytes of it. A body that
/// comes in one chunk (the usual small answer) is kept as it came, with no
/// copy.
async fn read_body(mut resp: reqwest::Response) -> Result<bytes::Bytes, reqwest::Error> {
    let Some(first) = resp.chunk().await? else {
        return Ok(bytes::Bytes::new());
    };
    if first.len() >= MAX_BODY {
        return Ok(first.slice(..MAX_BODY));
    }
    let Some(second) = resp.chunk().await? else {
        return Ok(first);
    };
    let mut body = Vec::with_capacity(first.len() + second.len());
    for chunk in [first, second] {
        let room = MAX_BODY - body.len();
        if chunk.len() >= room {
            body.extend_from_slice(&chunk[..room]);
            return Ok(body.into());
        }
        body.extend_from_slice(&chunk);
    }
    while let Some(chunk) = resp.chunk().await? {
        let room = MAX_BODY - body.len();
        if chunk.len() >= room {
            body.extend_from_slice(&chunk[..room]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.into())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::api::Campaign;

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
        let campaign = Campaign {
            name: "june".into(),
            from_number: "+14155550100".into(),
            agent_version_id: "av_1".into(),
            metadata: BTreeMap::new(),
        };
        CallRequest::new(
            &campaign,
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
}
