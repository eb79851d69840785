//! The one place every answer is judged. A create request ends as one
//! [`Answer`], decided by [`classify`] (an HTTP status, a Retry-After and a
//! body) or by [`classify_error`] (no HTTP answer at all); a lookup or poll
//! `GET` ends as its record or a [`LookupError`], decided by
//! `classify_lookup`. All three are pure, so the whole policy is tested as
//! a table, without a socket; `client` only gathers their inputs. Error
//! messages are read here too, leniently (a string, a list, `error.message`,
//! plain text), and made safe to store with [`crate::text::clean_message`].

use std::time::Duration;

use super::parse::parse_created;
use crate::wire::{CallStatus, CreateCall, ErrorBody, Message};

/// A failed `GET /v1/calls`: the lookup cannot tell whether a call exists.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct LookupError {
    pub http_status: Option<u16>,
    pub message: String,
    /// The key or the workspace is refused: stop the run.
    pub fatal: bool,
}

impl LookupError {
    /// A GET that got no usable answer (no connection, a lost body): the
    /// lookup cannot tell, and trying later may work, so never fatal.
    pub(super) fn transport(http_status: Option<u16>, err: &reqwest::Error) -> LookupError {
        LookupError {
            http_status,
            message: error_chain(err),
            fatal: false,
        }
    }
}

/// Judges an answer to a GET: a 200 is read by `parse` (`unreadable` when
/// it does not parse); any other status is an error, fatal when
/// `fatal(status)` says so (each endpoint names the statuses that mean the
/// key or the workspace is refused).
pub(super) fn classify_lookup<T>(
    status: u16,
    body: &[u8],
    parse: fn(&[u8]) -> Option<T>,
    unreadable: &str,
    fatal: fn(u16) -> bool,
) -> Result<T, LookupError> {
    if status == 200 {
        return parse(body).ok_or_else(|| LookupError {
            http_status: Some(status),
            message: unreadable.into(),
            fatal: false,
        });
    }
    Err(LookupError {
        http_status: Some(status),
        message: error_message(status, body),
        fatal: fatal(status),
    })
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
    classify_sent(status, retry_after, body, None)
}

/// [`classify`] knowing the body that was `sent`: a 403 whose message names
/// the caller ID the request left from (one of the plan's pool) and not its
/// destination, or names its agent version, stops the run however the API
/// words it, and the stop names that number or version.
pub fn classify_sent(
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
    sent: Option<&CreateCall>,
) -> Answer {
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
            match sent_scope(&m, sent).unwrap_or_else(|| forbidden_scope(&m)) {
                Forbidden::Destination => Answer::Rejected {
                    http_status: status,
                    message: m,
                },
                Forbidden::FromNumber => Answer::Fatal {
                    http_status: status,
                    message: naming("caller ID", sent.map(|b| b.from_number.as_str()), m),
                    fix: "use active numbers of this workspace in from_number and \
                          local_caller_ids (and in the rows' caller ID column), or remove \
                          this one from the plan",
                },
                Forbidden::AgentVersion => Answer::Fatal {
                    http_status: status,
                    message: naming(
                        "agent version",
                        sent.map(|b| b.agent_version_id.as_str()),
                        m,
                    ),
                    fix: "publish the agent version, or use a published one in \
                          agent_version_id (and in the rows' agent version column)",
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

/// Which part of the `sent` request a 403 refuses, when its message names
/// it: the caller ID (and not the destination), else the agent version.
fn sent_scope(message: &str, sent: Option<&CreateCall>) -> Option<Forbidden> {
    let sent = sent?;
    let names = |v: &str| !v.trim().is_empty() && message.contains(v.trim());
    if names(&sent.from_number) && !names(&sent.to_number) {
        Some(Forbidden::FromNumber)
    } else if names(&sent.agent_version_id) && !names(&sent.to_number) {
        Some(Forbidden::AgentVersion)
    } else {
        None
    }
}

/// `message`, prefixed with `what value: ` when it does not name `value`
/// already, so that a stop always says which number or version it was.
fn naming(what: &str, value: Option<&str>, message: String) -> String {
    match value.map(str::trim) {
        Some(v) if !v.is_empty() && !message.contains(v) => format!("{what} {v}: {message}"),
        _ => message,
    }
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
pub(super) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::api::parse::tests::hostile_body;
    use crate::api::parse_call;

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
        // Knowing what was sent: a pool number or a row's agent version,
        // named without the usual words, still stops the run, naming it.
        let sent = CreateCall {
            from_number: "+442079460000".into(),
            to_number: "+442079460123".into(),
            agent_version_id: "av_es".into(),
            variables: Default::default(),
            metadata: Default::default(),
        };
        let pool_blocked = body(403, "number +442079460000 is blocked");
        assert!(matches!(
            classify(403, None, &pool_blocked),
            Answer::Rejected { .. }
        ));
        assert!(matches!(
            classify_sent(403, None, &pool_blocked, Some(&sent)),
            Answer::Fatal { message, .. } if message.contains("+442079460000")
        ));
        let to_blocked = body(403, "+442079460123 is blocked for +442079460000");
        assert!(matches!(
            classify_sent(403, None, &to_blocked, Some(&sent)),
            Answer::Rejected { .. }
        ));
        let av_es = body(403, "av_es: not allowed");
        assert!(matches!(
            classify_sent(403, None, &av_es, Some(&sent)),
            Answer::Fatal { fix, .. } if fix.contains("publish")
        ));
        let worded = body(403, "from_number is not a number of this workspace");
        assert!(matches!(
            classify_sent(403, None, &worded, Some(&sent)),
            Answer::Fatal { message, .. }
                if message == "caller ID +442079460000: from_number is not a number of this workspace"
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
    fn lookup_answers_are_judged_by_status() {
        let fatal = |status| matches!(status, 401 | 403);
        let call = br#"{"call_id":"c1","status":"completed"}"#;
        let got = classify_lookup(200, call, parse_call, "unreadable", fatal);
        assert_eq!(got.map(|c| c.call_id), Ok("c1".to_string()));
        assert_eq!(
            classify_lookup(200, b"<html>", parse_call, "unreadable call", fatal),
            Err(LookupError {
                http_status: Some(200),
                message: "unreadable call".into(),
                fatal: false
            })
        );
        let refused = classify_lookup(403, &body(403, "no"), parse_call, "u", fatal);
        assert_eq!(
            refused,
            Err(LookupError {
                http_status: Some(403),
                message: "no".into(),
                fatal: true
            })
        );
        for status in [201, 404, 429, 500] {
            let e = classify_lookup(status, b"", parse_call, "u", fatal).unwrap_err();
            assert!(!e.fatal, "{status}");
            assert_eq!(e.http_status, Some(status));
        }
    }

    /// The text of an answer, whichever kind it is.
    fn message_of(a: &Answer) -> &str {
        match a {
            Answer::Created { .. } => "",
            Answer::Rejected { message, .. }
            | Answer::Wait { message, .. }
            | Answer::Transient { message, .. }
            | Answer::InDoubt { message, .. }
            | Answer::Fatal { message, .. } => message,
        }
    }

    /// Every status, the common ones (2xx, 403) more often.
    fn any_status() -> impl Strategy<Value = u16> {
        prop_oneof![any::<u16>(), 100u16..600, 200u16..300, Just(403)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// No status and body make `classify` panic, and its answer keeps
        /// the policy's promises: a 2xx is a call or in doubt (never a
        /// rejection or a retry that could dial twice), only 409 and 429
        /// wait (with the Retry-After they came with), and every message
        /// is one short line, safe to store.
        #[test]
        fn classify_never_panics(
            status in any_status(),
            retry_millis in proptest::option::of(0u64..1_000_000),
            body in hostile_body(),
        ) {
            let retry_after = retry_millis.map(Duration::from_millis);
            let a = classify(status, retry_after, &body);
            if (200..300).contains(&status) {
                prop_assert!(
                    matches!(a, Answer::Created { .. } | Answer::InDoubt { .. }),
                    "{status}: {a:?}"
                );
            } else {
                prop_assert!(!matches!(a, Answer::Created { .. }), "{status}: {a:?}");
            }
            if let Answer::Created { call_id, .. } = &a {
                prop_assert!(crate::api::call_id_ok(call_id), "{call_id:?}");
            }
            match &a {
                Answer::Wait { http_status, retry_after: r, .. } => {
                    prop_assert!(matches!(http_status, 409 | 429), "{a:?}");
                    prop_assert_eq!(*r, retry_after);
                }
                _ => prop_assert!(!matches!(status, 409 | 429), "{status}: {a:?}"),
            }
            let m = message_of(&a);
            prop_assert!(m.chars().count() <= 300, "{m:?}");
            prop_assert!(!m.chars().any(char::is_control), "{m:?}");
        }

        /// A GET answer never panics either; it is fatal only when its
        /// endpoint says the status is.
        #[test]
        fn lookup_never_panics(status in any_status(), body in hostile_body()) {
            let fatal = |status| matches!(status, 401 | 403);
            match classify_lookup(status, &body, parse_call, "unreadable", fatal) {
                Ok(_) => prop_assert_eq!(status, 200),
                Err(e) => {
                    prop_assert_eq!(e.http_status, Some(status));
                    prop_assert_eq!(e.fatal, fatal(status));
                }
            }
        }
    }
}
