//! The HTTP side: one reqwest [`Client`] (one pool, no redirects, no
//! automatic retries, the key in a sensitive header) for the GETs (a page
//! of calls to a number or from a caller ID, one call by id), and the
//! create request, sent by the `direct` client unless a proxy is set. It
//! decides nothing: every answer, or the lack of one, goes to `classify`
//! as it came.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use super::ApiError;
use super::classify::{Answer, LookupError, classify_error, classify_lookup, error_chain};
use super::direct::{Direct, IDEMPOTENCY_KEY, USER_AGENT_VALUE, proxy_set};
use super::parse::{PAGE_LIMIT, parse_call, parse_call_list};
use super::read::{judge_created, read_body};
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
    /// What sends the creates; `None`: reqwest does (a proxy is set).
    direct: Option<Direct>,
}

/// Which client sends the creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Creates {
    Direct,
    Reqwest,
}

impl Client {
    /// Builds the client: one pool, no redirects, no automatic retries, the
    /// key in a sensitive header. Creates go through the direct client
    /// unless the environment sets a proxy (then reqwest honours it).
    pub fn new(cfg: ClientConfig) -> Result<Client, ApiError> {
        let creates = if proxy_set(|v| std::env::var_os(v)) {
            Creates::Reqwest
        } else {
            Creates::Direct
        };
        Client::with(cfg, creates)
    }

    fn with(cfg: ClientConfig, creates: Creates) -> Result<Client, ApiError> {
        let calls_url = calls_url(&cfg.base_url)?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", cfg.key.expose_secret()))
            .map_err(|_| ApiError::BadKey)?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, auth.clone());
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(USER_AGENT_VALUE)
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ApiError::Build(error_chain(&e)))?;
        let direct = match creates {
            Creates::Reqwest => None,
            Creates::Direct => Some(Direct::new(
                calls_url.as_str(),
                auth,
                cfg.connect_timeout,
                cfg.request_timeout,
            )?),
        };
        Ok(Client {
            http,
            calls_url,
            direct,
        })
    }

    /// The `POST .../calls` endpoint.
    pub fn calls_url(&self) -> &reqwest::Url {
        &self.calls_url
    }

    /// Sends one create request and classifies what came back.
    pub async fn create_call(&self, req: &CallRequest) -> Answer {
        match &self.direct {
            Some(direct) => direct.create_call(req).await,
            None => self.create_call_reqwest(req).await,
        }
    }

    /// [`Client::create_call`] through reqwest (a proxy is set).
    async fn create_call_reqwest(&self, req: &CallRequest) -> Answer {
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
        let (parts, body) = http::Response::from(resp).into_parts();
        judge_created(
            parts.status.as_u16(),
            &parts.headers,
            read_body(body).await,
            req,
        )
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
        let body = read_body(http::Response::from(resp).into_body())
            .await
            .map_err(|message| LookupError {
                http_status: Some(status),
                message,
                fatal: false,
            })?;
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

    /// Both clients a create may go through, the direct one first.
    fn clients(port: u16, timeout_ms: u64) -> [Client; 2] {
        [Creates::Direct, Creates::Reqwest].map(|creates| {
            Client::with(
                ClientConfig {
                    base_url: format!("http://127.0.0.1:{port}/v1"),
                    key: SecretString::from("k"),
                    connect_timeout: Duration::from_millis(500),
                    request_timeout: Duration::from_millis(timeout_ms),
                },
                creates,
            )
            .unwrap()
        })
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

    /// A raw server on loopback: each connection it accepts is handed to
    /// `serve` (with the request's first read), one task a connection.
    async fn raw_server<F, Fut>(serve: F) -> u16
    where
        F: Fn(tokio::net::TcpStream, Vec<u8>) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        use tokio::io::AsyncReadExt;
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let serve = std::sync::Arc::new(serve);
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let serve = serve.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    buf.truncate(n);
                    serve(s, buf).await;
                });
            }
        });
        port
    }

    /// A server that answers every request with `answer` (raw HTTP).
    async fn answering(answer: &'static str) -> u16 {
        raw_server(move |mut s, _| async move {
            use tokio::io::AsyncWriteExt;
            let _ = s.write_all(answer.as_bytes()).await;
            let _ = s.shutdown().await;
        })
        .await
    }

    /// Both clients judge a create to `port` in doubt.
    async fn assert_in_doubt(port: u16, timeout_ms: u64) {
        for c in clients(port, timeout_ms) {
            let a = c.create_call(&req()).await;
            assert!(matches!(a, Answer::InDoubt { .. }), "{a:?}");
        }
    }

    /// A refused connection proves the request never left: safe to retry.
    #[tokio::test]
    async fn refused_connection_is_transient() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        for c in clients(port, 1000) {
            let a = c.create_call(&req()).await;
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
    }

    /// The server read the request and closed without answering: in doubt.
    #[tokio::test]
    async fn reset_after_sending_is_in_doubt() {
        let port = raw_server(|s, _| async move { drop(s) }).await;
        assert_in_doubt(port, 2000).await;
    }

    /// The server read the request and never answered: in doubt.
    #[tokio::test]
    async fn timeout_after_sending_is_in_doubt() {
        let port = raw_server(|s, _| async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(s);
        })
        .await;
        for c in clients(port, 200) {
            let a = c.create_call(&req()).await;
            assert!(
                matches!(a, Answer::InDoubt { ref message, .. } if message.contains("timeout")),
                "{a:?}"
            );
        }
    }

    /// The status line came and the body stalls past the request timeout:
    /// a 2xx is in doubt (a call may exist), never waited on for ever.
    #[tokio::test]
    async fn a_body_that_stalls_past_the_timeout_is_in_doubt() {
        let port = raw_server(|mut s, _| async move {
            use tokio::io::AsyncWriteExt;
            let _ = s
                .write_all(b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"id\"")
                .await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        })
        .await;
        assert_in_doubt(port, 300).await;
    }

    /// A 201 whose body never ends is cut at MAX_BODY and read as
    /// unreadable: in doubt, never a crash or an unbounded buffer.
    #[tokio::test]
    async fn endless_body_is_cut_and_in_doubt() {
        let port = raw_server(|mut s, _| async move {
            use tokio::io::AsyncWriteExt;
            let _ = s
                .write_all(b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
                .await;
            let chunk = format!("{:x}\r\n{}\r\n", 65536, "x".repeat(65536));
            for _ in 0..64 {
                if s.write_all(chunk.as_bytes()).await.is_err() {
                    break;
                }
            }
        })
        .await;
        assert_in_doubt(port, 5000).await;
    }

    /// Both clients read a created call, and a 429's Retry-After.
    #[tokio::test]
    async fn both_clients_read_a_created_call_and_a_retry_after() {
        let created = answering(
            "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 40\r\n\r\n{\"call_id\":\"call_abc\",\"status\":\"queued\"}",
        )
        .await;
        let limited = answering(
            "HTTP/1.1 429 Too Many Requests\r\nretry-after: 7\r\ncontent-length: 0\r\n\r\n",
        )
        .await;
        for (c, l) in clients(created, 2000)
            .into_iter()
            .zip(clients(limited, 2000))
        {
            let a = c.create_call(&req()).await;
            assert!(
                matches!(a, Answer::Created { http_status: 201, ref call_id, .. } if call_id == "call_abc"),
                "{a:?}"
            );
            let a = l.create_call(&req()).await;
            assert!(
                matches!(a, Answer::Wait { http_status: 429, retry_after: Some(d), .. } if d == Duration::from_secs(7)),
                "{a:?}"
            );
        }
    }

    /// The direct client sends what reqwest sends: the same request line,
    /// the same headers (the key in `Authorization`, the idempotency key,
    /// JSON), the same body, byte for byte once the headers are sorted.
    #[tokio::test]
    async fn the_direct_client_sends_what_reqwest_sends() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        let port = raw_server(move |mut s, got| {
            let tx = tx.clone();
            async move {
                use tokio::io::AsyncWriteExt;
                let _ = tx.send(got);
                let _ = s
                    .write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        })
        .await;
        let mut sent = Vec::new();
        for c in clients(port, 2000) {
            let a = c.create_call(&req()).await;
            assert!(
                matches!(
                    a,
                    Answer::Transient {
                        http_status: Some(500),
                        ..
                    }
                ),
                "{a:?}"
            );
            let raw = String::from_utf8(rx.recv().await.unwrap()).unwrap();
            let (head, body) = raw.split_once("\r\n\r\n").unwrap();
            let mut lines: Vec<String> = head.lines().map(str::to_ascii_lowercase).collect();
            lines[1..].sort();
            sent.push((lines, body.to_string()));
        }
        assert_eq!(sent[0], sent[1]);
        let (lines, body) = &sent[0];
        assert_eq!(lines[0], "post /v1/calls http/1.1");
        for h in [
            "authorization: bearer k",
            "idempotency-key: june:k1:1",
            "content-type: application/json",
            "accept: */*",
        ] {
            assert!(lines.iter().any(|l| l == h), "{h} not in {lines:?}");
        }
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["to_number"], "+16505550199");
    }
}
