//! The sorting itself: each row's last record and the [`Rules`] decide
//! whether it is dialled now, looked up first, waits (until when), is left
//! alone past `end_at`, or is settled. One pass over the input, in input
//! order, so the engine dials rows in the order of the sheet.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use rustc_hash::{FxBuildHasher, FxHashSet};

use super::{Counts, Rows, Rules, Triage};
use crate::dispatch::{Job, Resume, Target, Targets};
use crate::results::{Disposition, Record, Status, Table};
use crate::schedule::Window;

/// Triage in progress: the rules, the instant, the keys already given to
/// a row, and what has been decided so far.
struct Sorter<'a> {
    rules: Rules<'a>,
    now: Timestamp,
    seen: Seen<'a>,
    out: Triage,
}

/// The keys already given to a row: targets by index (4 bytes each, the
/// key hashed where the targets keep it), the invalid rows' keys borrowed.
struct Seen<'a> {
    targets: &'a Targets,
    by_target: HashTable<u32>,
    others: FxHashSet<&'a str>,
}

impl<'a> Seen<'a> {
    fn new(targets: &'a Targets, others: usize) -> Seen<'a> {
        Seen {
            targets,
            by_target: HashTable::with_capacity(targets.len()),
            others: FxHashSet::with_capacity_and_hasher(others, Default::default()),
        }
    }

    fn has(&self, key: &str, hash: u64) -> bool {
        self.others.contains(key)
            || self
                .by_target
                .find(hash, |&i| self.targets.key_is(i, key))
                .is_some()
    }

    /// Gives `key` to target `i`; false if a row has it already.
    fn target(&mut self, i: u32, key: &str) -> bool {
        let hash = FxBuildHasher.hash_one(key);
        if self.has(key, hash) {
            return false;
        }
        let targets = self.targets;
        self.by_target.insert_unique(hash, i, |&j| {
            FxBuildHasher.hash_one(targets.key(j).as_str())
        });
        true
    }

    /// Gives `key` to an invalid row; false if a row has it already.
    fn other(&mut self, key: &'a str) -> bool {
        !self.has(key, FxBuildHasher.hash_one(key)) && self.others.insert(key)
    }
}

/// Whether a job is a row's next round (a redial) or a dial of its
/// current round (first dial, retry): counted apart.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dial,
    Redial,
}

/// Sorts every row of `rows` by its last record in `table` (none: never
/// dialled) under `rules` at `now`. A key is dialled for its first row
/// only (validation reports the duplicates); a dialable row counts before
/// a listed one, a listed one before an invalid one.
pub fn triage(rules: Rules<'_>, rows: &Rows, table: Option<&Table>, now: Timestamp) -> Triage {
    let targets = &*rows.targets;
    let mut sorter = Sorter {
        rules,
        now,
        seen: Seen::new(targets, rows.invalid.len()),
        out: Triage {
            counts: Counts {
                rows: rows.rows_read,
                dial: rows.unseen,
                ..Counts::default()
            },
            ..Triage::default()
        },
    };
    let last = |key: &str| table.and_then(|t| t.get(key));
    let never_redials = sorter.rules.never_redials();
    let count = u32::try_from(targets.len()).unwrap_or(u32::MAX);
    for i in (0..count).filter(|&i| !targets.listed(i)) {
        let key = targets.key(i);
        if !sorter.seen.target(i, &key) {
            let row = targets.get(i).map_or(0, |t| t.row);
            tracing::warn!(row, "key {key} appears twice; dialled once");
            sorter.out.counts.duplicate_keys += 1;
            continue;
        }
        // A rerun's rows are mostly settled: under a plan that never
        // redials, a settled status alone decides (no record, no target
        // built). A suppressed one is not: off every list, the row is new.
        if never_redials
            && let Some(status) = table.and_then(|t| t.status(&key))
            && status.disposition() == Disposition::Settled
            && *status != Status::Suppressed
        {
            sorter.settled(status);
            continue;
        }
        let Some(target) = targets.get(i) else {
            continue;
        };
        let zone = targets.zone(&target);
        sorter.target(i, &target, zone, last(&key).as_ref());
    }
    for (i, target) in targets.iter().filter(|(_, t)| t.listed) {
        if sorter.seen.target(i, &target.key) {
            sorter.suppressed(i, &target, last(&target.key).as_ref());
        } else {
            // Another row holds this key: never overwrite its record.
            sorter.out.counts.duplicate_keys += 1;
        }
    }
    for (row, why) in &rows.invalid {
        if sorter.seen.other(row.key.as_str()) {
            sorter.invalid(row, why, last(&row.key).as_ref());
        } else {
            sorter.out.counts.duplicate_keys += 1;
        }
    }
    sorter.out
}

fn earliest(slot: &mut Option<Timestamp>, t: Timestamp) {
    *slot = Some(slot.map_or(t, |s| s.min(t)));
}

impl Sorter<'_> {
    /// A dialable row, target `i`.
    fn target(&mut self, i: u32, target: &Target, zone: Option<&TimeZone>, last: Option<&Record>) {
        // The lists are read afresh every run: a row suppressed earlier
        // whose number has left every list is dialled like a new one.
        let last = last.filter(|r| r.status != Status::Suppressed);
        let job = |round, attempts| Job::new(i, round, attempts);
        let Some(rec) = last else {
            return self.place(job(1, 0), target, zone, None, Kind::Dial);
        };
        match rec.status.disposition() {
            Disposition::Dial => self.place(
                job(rec.round.max(1), rec.attempts),
                target,
                zone,
                last,
                Kind::Dial,
            ),
            Disposition::Reconcile => self.look_up(i, rec),
            Disposition::Settled => match self.rules.redial_due(rec, zone) {
                // A redial that no window before end_at can hold is no
                // redial: the row's call happened, it is settled.
                Some(due) if self.rules.window(zone, last, due.max(self.now)) != Window::Ended => {
                    let next = job(rec.round.max(1) + 1, 0);
                    if due <= self.now {
                        self.place(next, target, zone, last, Kind::Redial);
                    } else {
                        self.out.counts.redials_later += 1;
                        earliest(&mut self.out.counts.next_redial_at, due);
                        self.out.wait.push((due, next));
                    }
                }
                _ => self.settled(&rec.status),
            },
        }
    }

    /// Dial `job` now if its recipient's window is open; else record it
    /// `pending` with the opening in `next_at` and wait for it; past
    /// `end_at`, leave it.
    fn place(
        &mut self,
        job: Job,
        t: &Target,
        zone: Option<&TimeZone>,
        last: Option<&Record>,
        kind: Kind,
    ) {
        match self.rules.window(zone, last, self.now) {
            Window::OpenNow => {
                match kind {
                    Kind::Dial => self.out.counts.dial += 1,
                    Kind::Redial => self.out.counts.redials_due += 1,
                }
                self.out.dial.push(job);
            }
            Window::WaitUntil(opens_at) => {
                let mut rec = Record::new(&t.key, t.row, &t.to_number, job.round, Status::Pending);
                rec.attempts = job.attempts;
                rec.next_at = crate::text::format_ts(opens_at).into();
                self.out.record.push(rec);
                self.out.counts.waiting_for_window += 1;
                earliest(&mut self.out.counts.next_window_at, opens_at);
                self.out.wait.push((opens_at, job));
            }
            Window::Ended => self.out.counts.past_end_at += 1,
        }
    }

    fn look_up(&mut self, target: u32, last: &Record) {
        self.out.counts.to_look_up += 1;
        if last.status == Status::InDoubt {
            self.out.counts.in_doubt += 1;
        }
        self.out.look_up.push(Resume {
            target,
            last: last.clone(),
        });
    }

    fn settled(&mut self, status: &Status) {
        if let Status::Call(c) = status
            && !c.is_terminal()
        {
            self.out.counts.in_progress += 1;
        }
        let settled = &mut self.out.counts.settled;
        match settled.get_mut(status.as_str()) {
            Some(n) => *n += 1,
            None => {
                settled.insert(status.as_str().to_string(), 1);
            }
        }
    }

    /// A row on a do-not-call list, target `i`.
    fn suppressed(&mut self, i: u32, row: &Target, last: Option<&Record>) {
        match last {
            Some(rec) if rec.status == Status::Suppressed => self.out.counts.suppressed += 1,
            Some(rec) => match rec.status.disposition() {
                Disposition::Dial => self.record_suppressed(row),
                // A request may have left before the number was listed:
                // look it up (as it was sent: the lookup takes the caller
                // ID and agent version from the record); the engine's
                // check before dialling refuses a resend.
                Disposition::Reconcile => self.look_up(i, rec),
                Disposition::Settled => self.settled(&rec.status),
            },
            None => self.record_suppressed(row),
        }
    }

    fn record_suppressed(&mut self, row: &Target) {
        let rec = Record::new(&row.key, row.row, &row.to_number, 1, Status::Suppressed);
        self.out.record.push(rec);
        self.out.counts.suppressed += 1;
    }

    /// A row that fails validation: recorded `invalid` unless a call
    /// exists or may exist for its key, whose record is kept.
    fn invalid(&mut self, row: &crate::results::RowRef, why: &str, last: Option<&Record>) {
        match last {
            Some(rec) if rec.status.disposition() == Disposition::Settled => {
                self.settled(&rec.status)
            }
            Some(rec) if rec.status.disposition() == Disposition::Reconcile => {
                // Not looked up while the row is invalid: it waits, as
                // invalid, for the sheet to be fixed.
                self.out.counts.invalid += 1;
            }
            _ => {
                let mut rec = Record::new(&row.key, row.row, &row.to_number, 1, Status::Invalid);
                rec.error = crate::text::clean_message(why).into();
                self.out.record.push(rec);
                self.out.counts.invalid += 1;
            }
        }
    }
}
