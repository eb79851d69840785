//! What the engine works on: a recipient ([`Target`]), every recipient of
//! the run ([`Targets`], their one owner), a row to dial ([`Job`]), a row
//! an earlier run left open ([`Resume`]) and a created call whose outcome
//! is awaited ([`Tracked`]).
//!
//! Plain data, small and fixed per row, so a million-row campaign fits in
//! memory: a target keeps its key, number, caller ID and agent version
//! (inline up to 24 bytes: no allocation for typical rows) and where its
//! cells are in the recipients file, not the cells themselves, which are
//! read back when the row is dialled ([`Targets::cells`]). Jobs and
//! resumes name their target by its index in [`Targets`].

use std::borrow::Cow;
use std::hash::BuildHasher;
use std::sync::Arc;

use compact_str::CompactString;
use jiff::tz::TimeZone;
use rustc_hash::{FxBuildHasher, FxHashMap};

use crate::recipients::fetch::Cells;
use crate::recipients::{Changed, RowAt, RowFetch};
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
    /// Its calling zone: 1 + its index in [`Targets`]' pool; 0: none.
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

/// Every recipient of a run, in input order, owned once: jobs, resumes and
/// redials name them by index ([`Job::target`]); the calling zones are a
/// small pool; a key index is built when redials need to find a row by key.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    list: Vec<Target>,
    zones: Vec<TimeZone>,
    zone_ids: FxHashMap<String, u32>,
    /// (hash of the key, index), sorted: built by [`Targets::index_keys`].
    by_key: Vec<(u64, u32)>,
    /// Reads rows back; None when the targets have no file (tests, or
    /// `status` from a results file alone): their cells are then empty.
    fetch: Option<Arc<RowFetch>>,
}

impl Targets {
    /// Adds `target` with its calling zone; its index.
    pub fn push(&mut self, mut target: Target, zone: Option<TimeZone>) -> u32 {
        target.zone = zone.map_or(0, |z| self.zone_id(z));
        let i = u32::try_from(self.list.len()).unwrap_or(u32::MAX);
        self.list.push(target);
        i
    }

    fn zone_id(&mut self, zone: TimeZone) -> u32 {
        let name = zone.iana_name().map(str::to_string);
        if let Some(id) = name.as_ref().and_then(|n| self.zone_ids.get(n)) {
            return *id;
        }
        let found = name
            .is_none()
            .then(|| self.zones.iter().position(|z| *z == zone))
            .flatten();
        let i = found.unwrap_or_else(|| {
            self.zones.push(zone);
            self.zones.len() - 1
        });
        let id = u32::try_from(i + 1).unwrap_or(0);
        if let Some(n) = name {
            self.zone_ids.insert(n, id);
        }
        id
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Target `i`.
    pub fn get(&self, i: u32) -> Option<&Target> {
        self.list.get(i as usize)
    }

    /// Every target with its index, in input order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Target)> {
        (0u32..).zip(self.list.iter())
    }

    /// The targets, to fill in their caller IDs before the run.
    pub fn as_mut_slice(&mut self) -> &mut [Target] {
        &mut self.list
    }

    /// `target`'s calling zone, if it has one.
    pub fn zone(&self, target: &Target) -> Option<&TimeZone> {
        let i = target.zone.checked_sub(1)?;
        self.zones.get(i as usize)
    }

    /// Makes [`Targets::find`] work (16 bytes a row; only runs that
    /// redial or follow calling windows need it).
    pub fn index_keys(&mut self) {
        let mut by_key: Vec<(u64, u32)> = self
            .iter()
            .map(|(i, t)| (FxBuildHasher.hash_one(t.key.as_str()), i))
            .collect();
        by_key.sort_unstable();
        self.by_key = by_key;
    }

    /// The index of the first target with `key`, once keys are indexed.
    pub fn find(&self, key: &str) -> Option<u32> {
        let h = FxBuildHasher.hash_one(key);
        let from = self.by_key.partition_point(|(k, _)| *k < h);
        self.by_key
            .get(from..)?
            .iter()
            .take_while(|(k, _)| *k == h)
            .map(|(_, i)| *i)
            .filter(|i| self.get(*i).is_some_and(|t| t.key == key))
            .min()
    }

    /// Where the rows' cells are read back from.
    pub fn set_fetch(&mut self, fetch: RowFetch) {
        self.fetch = Some(Arc::new(fetch));
    }

    /// Before the first dial: the recipients file is still the one
    /// validated (see [`RowFetch::check`]).
    pub fn check_unchanged(&self) -> Result<(), Changed> {
        match &self.fetch {
            Some(fetch) => fetch.check(self.list.iter().map(|t| (t.row, &t.at))),
            None => Ok(()),
        }
    }

    /// `target`'s variables and metadata, read back from the file (and
    /// checked to be the bytes validated) just before its request is built.
    pub fn cells(&self, target: &Target) -> Result<Cells, Changed> {
        match &self.fetch {
            Some(fetch) => fetch.cells(target.row, &target.at),
            None => Ok(Cells::default()),
        }
    }

    /// The target `job` dials, as it is sent: the caller ID and agent
    /// version an earlier run's intent recorded, when it has them.
    pub fn of_job(&self, job: &Job) -> Option<Cow<'_, Target>> {
        let target = self.get(job.target)?;
        Some(match &job.sent_as {
            None => Cow::Borrowed(target),
            Some(as_sent) => Cow::Owned(Target {
                from_number: as_sent.from_number.clone(),
                agent_version_id: as_sent.agent_version_id.clone(),
                ..target.clone()
            }),
        })
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
    /// Its index in the run's [`Targets`].
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

/// A row an earlier run left `dispatching` or `in_doubt`.
#[derive(Debug, Clone)]
pub struct Resume {
    /// Its index in the run's [`Targets`].
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
    /// and the zone index with the listed flag (8): 136 bytes a row,
    /// whatever the row's width. A field added here should be a choice.
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
    fn targets_are_found_by_key_and_share_their_zones() {
        let mut targets = Targets::default();
        let ny = TimeZone::get("America/New_York").unwrap();
        for (i, key) in ["a", "b", "a", "c"].iter().enumerate() {
            let zone = (i != 3).then(|| ny.clone());
            targets.push(Target::new(key, i as u64 + 2, "+12125550142"), zone);
        }
        targets.index_keys();
        assert_eq!(targets.find("a"), Some(0), "the first row with the key");
        assert_eq!(targets.find("c"), Some(3));
        assert_eq!(targets.find("z"), None);
        let zones: Vec<_> = targets.iter().map(|(_, t)| t.zone).collect();
        assert_eq!(zones, [1, 1, 1, 0]);
        assert_eq!(targets.zone(targets.get(1).unwrap()), Some(&ny));
        assert_eq!(targets.zone(targets.get(3).unwrap()), None);
        let mut job = Job::new(1, 1, 0);
        assert_eq!(targets.of_job(&job).unwrap().from_number, "");
        job.sent_as = Some(Box::new(SentAs {
            from_number: "+14155550100".into(),
            agent_version_id: "av_2".into(),
        }));
        let sent = targets.of_job(&job).unwrap();
        assert_eq!(
            (sent.key.as_str(), sent.from_number.as_str()),
            ("b", "+14155550100")
        );
        assert!(targets.of_job(&Job::new(9, 1, 0)).is_none());
    }
}
