//! The DialNexa wire format: request and response bodies of the calls API.
//!
//! This is the only module that the runner ([`crate::api`]) and the simulator
//! ([`crate::sandbox`]) share. It follows the seed API page: what callplan
//! *sends* is exactly the documented shape, and what it *reads* is lenient
//! (unknown fields ignored, `message` as a string or a list of strings,
//! status words normalized) as API-NOTES.md asks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `POST /v1/calls` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateCall {
    pub from_number: String,
    pub to_number: String,
    pub agent_version_id: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// The call object: the 201 answer of `POST /v1/calls`, and one record of
/// `GET /v1/calls/{id}` / `GET /v1/calls`. Fields past the seed page's six are
/// optional so that a sparse answer still parses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    #[serde(deserialize_with = "null_as_empty")]
    pub call_id: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub status: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub from_number: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub to_number: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub agent_version_id: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, serde_json::Value>>,
}

/// `GET /v1/calls` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallList {
    #[serde(default)]
    pub data: Vec<Call>,
    #[serde(default)]
    pub page: u32,
    #[serde(default)]
    pub limit: u32,
    #[serde(default)]
    pub total: u64,
    /// True when another page follows.
    #[serde(default)]
    pub has_more: bool,
    /// Records of this page that could not be read as calls (a client-side
    /// count, never on the wire): any of them could be the call a lookup
    /// wants, so a page with one cannot confirm a call absent.
    #[serde(skip)]
    pub unreadable: u32,
}

/// A string field the API may send as `null` (or leave out): empty then.
fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// The API's error body: `{"statusCode": 400, "message": "...", "error": "Bad Request"}`.
/// `message` may be a string or an array of strings (one per failed field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub status_code: u16,
    pub message: Message,
    #[serde(default)]
    pub error: String,
}

/// A string or a list of strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Message {
    One(String),
    Many(Vec<String>),
}

impl Message {
    /// One line for logs and results: list items joined with `; `.
    pub fn joined(&self) -> String {
        match self {
            Message::One(s) => s.clone(),
            Message::Many(v) => v.join("; "),
        }
    }
}

/// callplan's own status words, which the results file's `status` column
/// holds beside the API's. Defined here, once, because two modules need
/// them and the arrows point one way: `results::Status` (above) names its
/// own variants' words from this table, and [`CallStatus`] keeps an API word
/// that would read back as one of them from passing for it (`invalid` would
/// mean "dial again"). The sandbox shares this module and never sees
/// `results`.
pub mod own_status {
    pub const PENDING: &str = "pending";
    pub const DISPATCHING: &str = "dispatching";
    pub const IN_DOUBT: &str = "in_doubt";
    pub const REJECTED: &str = "rejected";
    pub const INVALID: &str = "invalid";
    pub const ERROR: &str = "error";
    pub const SUPPRESSED: &str = "suppressed";

    /// Every word above.
    pub const ALL: [&str; 7] = [
        PENDING,
        DISPATCHING,
        IN_DOUBT,
        REJECTED,
        INVALID,
        ERROR,
        SUPPRESSED,
    ];
}

/// A call status as callplan understands it. API words are normalized
/// (`in-progress` -> `in_progress`, `no-answer`/`did_not_pick` -> `no_answer`,
/// `initiated`/`created`/`sent` -> `queued`); an unknown word is kept as it came.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CallStatus {
    Queued,
    Ringing,
    InProgress,
    Completed,
    Failed,
    NoAnswer,
    Busy,
    Voicemail,
    Cancelled,
    Other(String),
}

impl CallStatus {
    /// Reads any spelling the API family uses; never fails.
    pub fn parse(word: &str) -> CallStatus {
        let w = word.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        match w.as_str() {
            "queued" | "initiated" | "created" | "sent" | "pending" => CallStatus::Queued,
            "ringing" => CallStatus::Ringing,
            "in_progress" | "inprogress" | "ongoing" | "active" => CallStatus::InProgress,
            "completed" | "complete" | "ended" => CallStatus::Completed,
            "failed" | "error" => CallStatus::Failed,
            "no_answer" | "noanswer" | "did_not_pick" | "not_answered" => CallStatus::NoAnswer,
            "busy" => CallStatus::Busy,
            "voicemail" | "machine" => CallStatus::Voicemail,
            "cancelled" | "canceled" => CallStatus::Cancelled,
            // A 2xx whose status is empty created a call all the same.
            "" => CallStatus::Queued,
            _ => CallStatus::Other(Self::foreign(word.trim(), &w)),
        }
    }

    /// An unknown API word as stored: prefixed `api:` when it collides with
    /// callplan's own words (or already starts `api:`, so the prefix stays
    /// unambiguous) or would read as a spreadsheet formula.
    fn foreign(word: &str, normalized: &str) -> String {
        let collides = own_status::ALL.contains(&normalized)
            || normalized.starts_with("api:")
            || word.starts_with(['=', '+', '-', '@']);
        if collides && !word.starts_with("api:") {
            format!("api:{word}")
        } else {
            word.to_string()
        }
    }

    /// The canonical word (the seed page's spelling).
    pub fn as_str(&self) -> &str {
        match self {
            CallStatus::Queued => "queued",
            CallStatus::Ringing => "ringing",
            CallStatus::InProgress => "in_progress",
            CallStatus::Completed => "completed",
            CallStatus::Failed => "failed",
            CallStatus::NoAnswer => "no_answer",
            CallStatus::Busy => "busy",
            CallStatus::Voicemail => "voicemail",
            CallStatus::Cancelled => "cancelled",
            CallStatus::Other(s) => s,
        }
    }

    /// True when the call will not change any more.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            CallStatus::Completed
                | CallStatus::Failed
                | CallStatus::NoAnswer
                | CallStatus::Busy
                | CallStatus::Voicemail
                | CallStatus::Cancelled
        )
    }

    /// True while the call holds a workspace concurrency slot.
    pub fn is_live(&self) -> bool {
        matches!(self, CallStatus::Ringing | CallStatus::InProgress)
    }
}

impl std::fmt::Display for CallStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_message_string_or_list() {
        let one: ErrorBody =
            serde_json::from_str(r#"{"statusCode":400,"message":"bad","error":"Bad Request"}"#)
                .unwrap();
        assert_eq!(one.message.joined(), "bad");
        let many: ErrorBody = serde_json::from_str(
            r#"{"statusCode":400,"message":["a must be x","b must be y"],"error":"Bad Request"}"#,
        )
        .unwrap();
        assert_eq!(many.message.joined(), "a must be x; b must be y");
    }

    #[test]
    fn status_words_normalize_and_unknown_is_kept() {
        assert_eq!(CallStatus::parse("in-progress"), CallStatus::InProgress);
        assert_eq!(CallStatus::parse("No-Answer"), CallStatus::NoAnswer);
        assert_eq!(CallStatus::parse("did_not_pick"), CallStatus::NoAnswer);
        assert_eq!(CallStatus::parse("initiated"), CallStatus::Queued);
        assert_eq!(CallStatus::parse("canceled"), CallStatus::Cancelled);
        assert_eq!(CallStatus::parse("teleported").as_str(), "teleported");
        assert!(CallStatus::parse("busy").is_terminal());
        // Never stored so that it reads back as callplan's own status.
        assert_eq!(CallStatus::parse("").as_str(), "queued");
        assert_eq!(CallStatus::parse("  ").as_str(), "queued");
        for own in [
            "invalid",
            "Invalid",
            "dispatching",
            "in-doubt",
            "rejected",
            "suppressed",
        ] {
            let stored = CallStatus::parse(own);
            assert_eq!(stored.as_str(), format!("api:{own}"));
            // Read back, it stays the same API word (no double prefix).
            assert_eq!(CallStatus::parse(stored.as_str()), stored);
        }
        // Every one of callplan's words, in any spelling, is stored as
        // something else (`pending` and `error` are API synonyms).
        for own in own_status::ALL {
            for spelling in [own.to_string(), own.to_uppercase(), own.replace('_', "-")] {
                let stored = CallStatus::parse(&spelling);
                assert!(!own_status::ALL.contains(&stored.as_str()), "{spelling}");
            }
        }
        assert_eq!(CallStatus::parse("=cmd()").as_str(), "api:=cmd()");
        assert!(!CallStatus::parse("ringing").is_terminal());
    }
}
