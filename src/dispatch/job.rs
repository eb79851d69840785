//! What the engine works on: a recipient ([`Target`]), a row to dial
//! ([`Job`]), a row an earlier run left open ([`Resume`]) and a created
//! call whose outcome is awaited ([`Tracked`]).
//!
//! Plain data: a target keeps its key, number, caller ID and agent version
//! (inline up to 24 bytes: no allocation for typical rows) and where its
//! cells are in the recipients file, not the cells themselves, which are
//! read back when the row is dialled. Every target of a run is kept once,
//! in a smaller form, by [`Targets`](super::targets::Targets); jobs and
//! resumes name their target by its index there.

use compact_str::CompactString;

use crate::recipients::RowAt;
use crate::results::{Record, Status};
use crate::wire::{Call, CallStatus};

/// One recipient, as the engine needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub key: CompactString,
    /// The row number a spreadsheet shows.
    pub row: u64,
    /// E.164.
    pub to_number: CompactString,
    /// The caller ID to call from (`crate::callerid` chooses it); empty:
    /// the campaign's `from_number`.
    pub from_number: CompactString,
    /// The row's own agent version; empty: the campaign's.
    pub agent_version_id: CompactString,
    /// Where the row's cells are (read back when it is dialled).
    pub at: RowAt,
    /// Its calling zone: 1 + its index in the run's zones
    /// ([`Targets::zone`](super::targets::Targets::zone)); 0: none.
    pub zone: u32,
    /// Its number is on a do-not-call list loaded now: recorded
    /// `suppressed`, never dialled.
    pub listed: bool,
}

impl Target {
    /// A target at `row` with no cells to read back and no zone.
    pub fn new(key: &str, row: u64, to_number: &str) -> Target {
        Target {
            key: key.into(),
            row,
            to_number: to_number.into(),
            from_number: CompactString::default(),
            agent_version_id: CompactString::default(),
            at: RowAt::Unknown,
            zone: 0,
            listed: false,
        }
    }
}

/// The caller ID and agent version a row's round left with in an earlier
/// run: its resend leaves the same way.
#[derive(Debug, Clone, PartialEq)]
pub struct SentAs {
    pub from_number: CompactString,
    pub agent_version_id: CompactString,
}

/// A row to dial.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Its index in the run's [`Targets`](super::targets::Targets).
    pub target: u32,
    pub round: u32,
    /// Sends already recorded for this round (the `attempts` column).
    pub attempts: u32,
    /// The row's last durable record is an intent known to have created
    /// nothing (confirmed absent): if the run stops before it is sent, it
    /// is written back as `pending`.
    pub open_intent: bool,
    /// How an earlier run sent this round, when not as the target says.
    pub sent_as: Option<Box<SentAs>>,
}

impl Job {
    /// Round `round` of target `target`, `attempts` already made.
    pub fn new(target: u32, round: u32, attempts: u32) -> Job {
        Job {
            target,
            round,
            attempts,
            open_intent: false,
            sent_as: None,
        }
    }
}

/// Jobs taken between two returns of memory by [`taken_in_order`].
const GIVE_BACK_EVERY: usize = 1 << 16;

/// `jobs` in order, their memory given back as they are taken: a
/// million-row list is 24 MB of jobs, which need not be held until its
/// last row is dialled, when the run's tables are at their largest.
pub fn taken_in_order(mut jobs: Vec<Job>) -> impl Iterator<Item = Job> {
    jobs.reverse();
    let mut taken = 0usize;
    std::iter::from_fn(move || {
        let job = jobs.pop()?;
        taken += 1;
        if taken.is_multiple_of(GIVE_BACK_EVERY) {
            jobs.shrink_to_fit();
        }
        Some(job)
    })
}

/// A row an earlier run left `dispatching` or `in_doubt`.
#[derive(Debug, Clone)]
pub struct Resume {
    /// Its index in the run's [`Targets`](super::targets::Targets).
    pub target: u32,
    pub last: Record,
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// Four inline strings (24 bytes each: keys, E.164 numbers, caller IDs
    /// and agent versions up to 24 bytes need no allocation), the row, the
    /// place of its cells (offset, length, hash: 24 bytes with its tag)
    /// and the zone index with the listed flag (8): 136 bytes, whatever the
    /// row's width, for a target in hand ([`Targets`](super::super::Targets)
    /// keeps every row in 56). A field added here should be a choice.
    #[test]
    fn a_target_stays_small_and_fixed() {
        assert!(
            std::mem::size_of::<Target>() <= 136,
            "{}",
            std::mem::size_of::<Target>()
        );
        assert!(std::mem::size_of::<RowAt>() <= 24);
        assert!(std::mem::size_of::<Job>() <= 24);
    }

    #[test]
    fn jobs_are_taken_in_order_across_the_returns_of_memory() {
        let n = 3 * GIVE_BACK_EVERY + 5;
        let jobs: Vec<Job> = (0..n as u32).map(|i| Job::new(i, 1, 0)).collect();
        let mut taken = taken_in_order(jobs);
        let first: Vec<u32> = taken.by_ref().take(3).map(|j| j.target).collect();
        assert_eq!(first, [0, 1, 2]);
        let rest: Vec<u32> = taken.map(|j| j.target).collect();
        assert_eq!(rest, (3..n as u32).collect::<Vec<_>>());
    }
}
