//! The DialNexa wire format: request and response bodies of the calls API.
//!
//! This is the only module that the runner ([`crate::api`]) and the simulator
//! ([`crate::sandbox`]) share. It follows the seed API page: what callplan
//! *sends* is exactly the documented shape, and what it *reads* is lenient
//! (unknown fields ignored, `message` as a string or a list of strings,
//! status words normalized) as API-NOTES.md asks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod ulid;

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
///
/// An ended, answered call also carries what it learned (API-NOTES.md,
/// "what a call record holds"): `summary`, `sentiment`, `recording_url`,
/// `transcript` and the agent's post-call analysis. These are read
/// leniently: a value of another type is kept as text (or, for the
/// transcript and analysis, in the nearest shape), never a parse error, so
/// an odd record cannot fail a run. The analysis arrives under one of
/// three names depending on the docs' version; each is kept as it came and
/// [`Call::analysis`] picks the first present.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// What the call was about, in a sentence or two (answered calls only).
    #[serde(
        default,
        deserialize_with = "lenient_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub summary: Option<String>,
    /// `positive`, `neutral`, `negative` (or whatever word the API uses).
    #[serde(
        default,
        deserialize_with = "lenient_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub sentiment: Option<String>,
    /// A pre-signed link to the recording (it expires after some days).
    #[serde(
        default,
        deserialize_with = "lenient_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub recording_url: Option<String>,
    /// The conversation: a list of turns, or one text.
    #[serde(
        default,
        deserialize_with = "lenient_transcript",
        skip_serializing_if = "Option::is_none"
    )]
    pub transcript: Option<Transcript>,
    /// The agent's post-call analysis, field -> value, as `post_call_analysis`.
    #[serde(
        default,
        deserialize_with = "lenient_analysis",
        skip_serializing_if = "Option::is_none"
    )]
    pub post_call_analysis: Option<Analysis>,
    /// The same, as some pages name it (`analysis`).
    #[serde(
        default,
        rename = "analysis",
        deserialize_with = "lenient_analysis",
        skip_serializing_if = "Option::is_none"
    )]
    pub analysis_field: Option<Analysis>,
    /// The same, as other pages name it (`json_output`).
    #[serde(
        default,
        deserialize_with = "lenient_analysis",
        skip_serializing_if = "Option::is_none"
    )]
    pub json_output: Option<Analysis>,
}

impl Call {
    /// The post-call analysis under whichever name the API used:
    /// `post_call_analysis`, else `analysis`, else `json_output`.
    pub fn analysis(&self) -> Option<&Analysis> {
        self.post_call_analysis
            .as_ref()
            .or(self.analysis_field.as_ref())
            .or(self.json_output.as_ref())
    }
}

/// Post-call analysis: each field the agent extracts and its value (a
/// string, number, boolean or null as the API sent it).
pub type Analysis = BTreeMap<String, serde_json::Value>;

/// A call's transcript: turns when the API sends a list, text when it
/// sends a string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Transcript {
    Turns(Vec<Turn>),
    Text(String),
}

/// One turn of a transcript: who spoke (`agent` or `user`) and what was said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    pub role: String,
    pub content: String,
}

/// Any JSON value as text: a string as it is, null as absent, anything
/// else as its compact JSON.
fn value_text(v: serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

fn lenient_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(value_text(serde_json::Value::deserialize(d)?))
}

/// A turn from an object (`role`/`content`, or `speaker`/`text` as some
/// pages write them) or from a bare string (role unknown: empty).
fn turn(v: serde_json::Value) -> Turn {
    match v {
        serde_json::Value::Object(mut m) => {
            let mut take = |names: [&str; 2]| {
                names
                    .iter()
                    .find_map(|n| m.remove(*n).and_then(value_text))
                    .unwrap_or_default()
            };
            let role = take(["role", "speaker"]);
            let content = take(["content", "text"]);
            Turn { role, content }
        }
        other => Turn {
            role: String::new(),
            content: value_text(other).unwrap_or_default(),
        },
    }
}

fn lenient_transcript<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Transcript>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Array(items) => {
            Some(Transcript::Turns(items.into_iter().map(turn).collect()))
        }
        other => value_text(other).map(Transcript::Text),
    })
}

/// An object as it is; a string that holds a JSON object (some APIs send
/// the analysis encoded) parsed; anything else kept as text under the one
/// field `value`, so nothing the API said is dropped.
fn lenient_analysis<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Analysis>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    let v = match v {
        serde_json::Value::String(s) => match serde_json::from_str::<Analysis>(&s) {
            Ok(m) => return Ok(Some(m)),
            Err(_) => serde_json::Value::String(s),
        },
        v => v,
    };
    Ok(match v {
        serde_json::Value::Object(m) => Some(m.into_iter().collect()),
        other => value_text(other)
            .map(|text| Analysis::from([("value".to_string(), serde_json::Value::String(text))])),
    })
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
    fn post_call_fields_read_leniently() {
        let c: Call = serde_json::from_str(
            r#"{"call_id":"c1","summary":"Met.","sentiment":"positive",
                "recording_url":"https://r.invalid/x","transcript":[{"role":"agent","content":"Hi"},{"speaker":"user","text":"Yo"},"hm"],
                "post_call_analysis":{"appointment_confirmed":"yes","n":3}}"#,
        )
        .unwrap();
        assert_eq!(c.summary.as_deref(), Some("Met."));
        assert_eq!(c.sentiment.as_deref(), Some("positive"));
        let Some(Transcript::Turns(turns)) = &c.transcript else {
            panic!("turns: {:?}", c.transcript);
        };
        assert_eq!(
            turns[1],
            Turn {
                role: "user".into(),
                content: "Yo".into()
            }
        );
        assert_eq!(turns[2].content, "hm");
        let a = c.analysis().unwrap();
        assert_eq!(a["appointment_confirmed"], "yes");
        assert_eq!(a["n"], 3);
        // Serialized back, it reads the same.
        let back: Call = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);

        // Wrong types become text; other names of the analysis are found.
        let c: Call = serde_json::from_str(
            r#"{"call_id":"c2","summary":42,"sentiment":null,"recording_url":{"u":1},
                "transcript":"agent: hi","analysis":"{\"x\":true}","json_output":[1]}"#,
        )
        .unwrap();
        assert_eq!(c.summary.as_deref(), Some("42"));
        assert_eq!(c.sentiment, None);
        assert_eq!(c.recording_url.as_deref(), Some(r#"{"u":1}"#));
        assert_eq!(c.transcript, Some(Transcript::Text("agent: hi".into())));
        assert_eq!(c.analysis().unwrap()["x"], true);
        assert_eq!(c.json_output.as_ref().unwrap()["value"], "[1]");
        // Absent: nothing, and nothing written back.
        let c: Call = serde_json::from_str(r#"{"call_id":"c3"}"#).unwrap();
        assert!(c.analysis().is_none() && c.transcript.is_none());
        assert_eq!(serde_json::to_string(&c).unwrap().matches(':').count(), 6);
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
