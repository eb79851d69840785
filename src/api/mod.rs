//! The DialNexa client: building requests, sending them, and classifying
//! every answer in ONE place ([`classify`], [`classify_error`]).
//!
//! What callplan sends is exactly the documented shape (the seed API page);
//! what it reads is lenient: error messages as a string or a list, unknown
//! fields ignored, status words normalized, `call_id` found under `id` or
//! `data` too. The API key lives in a [`secrecy::SecretString`] and in one
//! `Authorization` header marked sensitive; it is never formatted into a
//! message. The base URL must be https unless it is loopback, and redirects
//! are never followed (a redirected POST could dial twice, or carry the key
//! elsewhere).
//!
//! One concept per file: `request` builds what is sent and its idempotency
//! key, `url` checks the base URL, `client` does the HTTP (`direct` sends
//! the creates, `read` reads what any answer brings), `parse` reads bodies
//! and `classify` judges every answer. Only `client`, `direct` and `read`
//! do I/O; the rest are pure functions, tested without a socket. The paths below are the
//! module's whole surface (`crate::api::X`), whatever file holds `X`.

mod classify;
mod client;
mod direct;
mod parse;
mod read;
mod request;
mod url;

pub use classify::{Answer, LookupError, classify, classify_error, classify_sent, error_message};
pub use client::{Client, ClientConfig};
pub use parse::{
    PAGE_LIMIT, RETRY_AFTER_CAP, call_id_ok, parse_call, parse_call_list, parse_retry_after,
};
pub use read::MAX_BODY;
pub use request::{
    CallRequest, Campaign, MAX_IDEMPOTENCY_KEY, META_CAMPAIGN, META_KEY, META_ROUND,
    idempotency_key,
};
pub use url::{calls_url, shown_url};

/// Why a client cannot be built. Shared by `url` (the base URL) and
/// `client` (the key, the HTTP stack), so it lives at the root of both.
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
