//! What a route answers before hyper sees it: an [`Answer`] (status, JSON
//! body, rate-limit headers, the idempotent-replay mark) or a [`Hangup`]
//! (the connection is reset with no answer). Error bodies take the API's
//! shape, [`crate::wire::ErrorBody`].

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{Response, StatusCode};
use http_body_util::Full;

use super::ratelimit::RateInfo;
use crate::wire::{ErrorBody, Message};

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
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) body: String,
    pub(crate) rate: Option<RateInfo>,
    pub(crate) replayed: bool,
}

impl Answer {
    pub(crate) fn json(status: StatusCode, body: String) -> Answer {
        Answer {
            status,
            body,
            rate: None,
            replayed: false,
        }
    }

    /// The API's error body; `message` is a string for one problem and a
    /// list for several.
    pub(crate) fn error(status: StatusCode, mut messages: Vec<String>) -> Answer {
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

    pub(crate) fn error1(status: StatusCode, message: impl Into<String>) -> Answer {
        Answer::error(status, vec![message.into()])
    }

    pub(crate) fn with_rate(mut self, rate: Option<RateInfo>) -> Answer {
        self.rate = rate;
        self
    }

    pub(crate) fn into_response(self) -> Response<Body> {
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
