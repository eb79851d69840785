//! What the engine works on: a recipient ([`Target`]), a row to dial
//! ([`Job`]), a row an earlier run left open ([`Resume`]) and a created call
//! whose outcome is awaited ([`Tracked`]).
//!
//! Plain data, small and fixed per row, so a million-row campaign fits in
//! memory; the command builds them from the validated recipients and the
//! results log, and the engine's phases pass them along.

use std::collections::BTreeMap;

use crate::results::{Record, Status};
use crate::wire::{Call, CallStatus};

/// One recipient, as the engine needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub key: String,
    /// The row number a spreadsheet shows.
    pub row: u64,
    /// E.164.
    pub to_number: String,
    pub variables: BTreeMap<String, String>,
    pub metadata: BTreeMap<String, String>,
    /// The caller ID to call from (`crate::callerid` chooses it); empty:
    /// the campaign's `from_number`.
    pub from_number: String,
    /// The row's own agent version; empty: the campaign's.
    pub agent_version_id: String,
}

/// A row to dial.
#[derive(Debug, Clone)]
pub struct Job {
    pub target: Target,
    pub round: u32,
    /// Sends already recorded for this round (the `attempts` column).
    pub attempts: u32,
    /// The row's last durable record is an intent known to have created
    /// nothing (confirmed absent): if the run stops before it is sent, it
    /// is written back as `pending`.
    pub open_intent: bool,
}

/// A row an earlier run left `dispatching` or `in_doubt`.
#[derive(Debug, Clone)]
pub struct Resume {
    pub target: Target,
    pub last: Record,
}

/// Rows by key with their calling zone: what a redial needs to dial again.
pub type Targets = rustc_hash::FxHashMap<String, (Target, Option<jiff::tz::TimeZone>)>;

/// A created call whose outcome is awaited.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracked {
    pub key: String,
    pub row: u64,
    pub to_number: String,
    /// The caller ID and agent version the call used, kept on its records
    /// (empty: the plan's). The outcome sync lists each caller ID's calls.
    pub from_number: String,
    pub agent_version_id: String,
    pub round: u32,
    pub call_id: String,
    pub attempts: u32,
    pub http_status: Option<u16>,
    /// The last status recorded.
    pub status: CallStatus,
    /// Holds a `max_active_calls` place, given back when it ends.
    pub holds_slot: bool,
    /// A time at or after the call's creation, when known (its record's
    /// `updated_at`): where the outcome sync's window starts for it.
    pub seen_at: Option<jiff::Timestamp>,
}

impl Tracked {
    /// A results record that names a call not yet terminal; None otherwise.
    pub fn from_record(r: &Record) -> Option<Tracked> {
        match &r.status {
            Status::Call(s) if !s.is_terminal() && !r.call_id.is_empty() => Some(Tracked {
                key: r.key.to_string(),
                row: r.row,
                to_number: r.to_number.to_string(),
                from_number: r.from_number.to_string(),
                agent_version_id: r.agent_version_id.to_string(),
                round: r.round,
                call_id: r.call_id.to_string(),
                attempts: r.attempts,
                http_status: r.http_status,
                status: s.clone(),
                holds_slot: false,
                seen_at: r.updated_at.parse().ok(),
            }),
            _ => None,
        }
    }

    /// The record of this call at `status`, with what `call` says of its end.
    pub(super) fn record(&self, call: &Call, status: CallStatus) -> Record {
        let mut r = Record::new(
            &self.key,
            self.row,
            &self.to_number,
            self.round,
            Status::Call(status),
        );
        r.call_id = self.call_id.as_str().into();
        r.from_number = self.from_number.as_str().into();
        r.agent_version_id = self.agent_version_id.as_str().into();
        r.attempts = self.attempts;
        r.http_status = self.http_status;
        r.end_reason = crate::text::clean_message(call.end_reason.as_deref().unwrap_or("")).into();
        r.duration_s = call
            .duration_s
            .filter(|d| d.is_finite() && *d >= 0.0)
            .map(|d| compact_str::format_compact!("{d}"))
            .unwrap_or_default();
        r
    }
}
