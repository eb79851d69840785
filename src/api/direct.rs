//! The create request's own client: hyper-util's pooled client (the one
//! reqwest is built on) called directly, without reqwest's layers (its
//! redirect and timeout services re-parse and re-wrap every request; a
//! create is the one request sent a million times a campaign). Same pool
//! rules (idle connections kept 90 s, a request that never left a closed
//! pooled connection is sent on a fresh one), the same TLS (rustls with the
//! platform's certificate verifier), HTTP/2 where the server offers it.
//!
//! It is not used when a proxy is set in the environment (`HTTPS_PROXY`,
//! `HTTP_PROXY`, `ALL_PROXY`, either case): creates then go through
//! reqwest, which honours them, as look-ups always do.
//!
//! How an error is judged is the same as for reqwest's: no connection could
//! be made, so the request never left (retry); or it may have reached the
//! server (in doubt: never sent blind again).

use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as Pool;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::time::{Instant, timeout_at};

use super::ApiError;
use super::classify::{Answer, error_chain};
use super::read::{judge_created, read_body};
use super::request::CallRequest;

/// The environment variables a proxy may be set in (reqwest reads them).
const PROXY_VARS: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Whether `var` names a proxy: then creates go through reqwest.
pub(super) fn proxy_set(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> bool {
    PROXY_VARS
        .iter()
        .any(|v| var(v).is_some_and(|value| !value.is_empty()))
}

/// `POST .../calls` over one pool.
#[derive(Clone)]
pub(super) struct Direct {
    pool: Pool<HttpsConnector<HttpConnector>, Full<Bytes>>,
    uri: http::Uri,
    /// `Bearer <key>`, marked sensitive (never formatted, not in Debug).
    auth: HeaderValue,
    timeout: Duration,
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Direct")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

/// The `User-Agent` both clients send.
pub(super) const USER_AGENT_VALUE: &str = concat!("callplan/", env!("CARGO_PKG_VERSION"));

/// The header that names a create request.
pub(super) const IDEMPOTENCY_KEY: http::HeaderName =
    http::HeaderName::from_static("idempotency-key");

impl Direct {
    /// The client for `calls_url`, sending `auth` (already sensitive).
    pub(super) fn new(
        calls_url: &str,
        auth: HeaderValue,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Direct, ApiError> {
        let uri: http::Uri = calls_url
            .parse()
            .map_err(|e: http::uri::InvalidUri| ApiError::Build(e.to_string()))?;
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let tls = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_platform_verifier(provider)
            .map_err(|e| ApiError::Build(error_chain(&e)))?
            .https_or_http()
            .enable_all_versions()
            .wrap_connector(http);
        let pool = Pool::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(tls);
        Ok(Direct {
            pool,
            uri,
            auth,
            timeout,
        })
    }

    /// Sends one create request and classifies what came back, all of it
    /// (the status line and the body) within the request timeout.
    pub(super) async fn create_call(&self, req: &CallRequest) -> Answer {
        let deadline = Instant::now() + self.timeout;
        let request = match self.request(req) {
            Ok(r) => r,
            // Nothing left: the request could not even be built.
            Err(message) => {
                return Answer::Transient {
                    http_status: None,
                    message,
                };
            }
        };
        let resp = match timeout_at(deadline, self.pool.request(request)).await {
            Err(_) => {
                return Answer::InDoubt {
                    http_status: None,
                    message: "no answer within the request timeout".into(),
                };
            }
            Ok(Err(e)) if e.is_connect() => {
                return Answer::Transient {
                    http_status: None,
                    message: format!("could not connect: {}", error_chain(&e)),
                };
            }
            Ok(Err(e)) => {
                return Answer::InDoubt {
                    http_status: None,
                    message: format!("connection lost before the answer: {}", error_chain(&e)),
                };
            }
            Ok(Ok(resp)) => resp,
        };
        let (parts, body) = resp.into_parts();
        let body = timeout_at(deadline, read_body(body))
            .await
            .unwrap_or_else(|_| Err("no answer within the request timeout".into()));
        judge_created(parts.status.as_u16(), &parts.headers, body, req)
    }

    /// The request as it leaves: the body serialized once, the headers
    /// reqwest would send (its `Accept: */*` included).
    fn request(&self, req: &CallRequest) -> Result<http::Request<Full<Bytes>>, String> {
        let body = serde_json::to_vec(&req.body).map_err(|e| e.to_string())?;
        http::Request::post(self.uri.clone())
            .header(AUTHORIZATION, self.auth.clone())
            .header(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE))
            .header(ACCEPT, HeaderValue::from_static("*/*"))
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(IDEMPOTENCY_KEY, req.idempotency_key.as_str())
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("cannot build the request: {}", error_chain(&e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_proxy_variable_that_is_set_sends_creates_through_reqwest() {
        assert!(!proxy_set(|_| None));
        assert!(!proxy_set(|_| Some("".into())));
        for v in PROXY_VARS {
            assert!(
                proxy_set(|name| (name == v).then(|| "http://proxy:3128".into())),
                "{v}"
            );
        }
        assert!(!proxy_set(|name| (name == "NO_PROXY").then(|| "*".into())));
    }
}
