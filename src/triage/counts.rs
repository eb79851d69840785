//! How many rows triage put under each reason, and the one wording of them
//! that `run`, `run --dry-run` and `status` all print, so that the same
//! files read the same everywhere.

use std::collections::BTreeMap;

use jiff::Timestamp;

/// Rows by what happens to them, each row under exactly one reason (the
/// "of which" fields excepted): the reasons add up to [`Counts::rows`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Recipient rows of the input.
    pub rows: u64,
    /// First dials and retries of rows nothing was created for, whose
    /// window is open: dialled now.
    pub dial: u64,
    /// Redials (next rounds) due, window open: dialled now.
    pub redials_due: u64,
    /// Rows a call may exist for (left `dispatching` or `in_doubt`): looked
    /// up before anything else.
    pub to_look_up: u64,
    /// Of `to_look_up`, rows `in_doubt` (only `--redial-in-doubt` sends
    /// them again when the lookup finds nothing).
    pub in_doubt: u64,
    /// Rows due whose calling window is closed or not started yet.
    pub waiting_for_window: u64,
    /// Redials not due yet.
    pub redials_later: u64,
    /// Rows due but the schedule's `end_at` has passed: not dialled.
    pub past_end_at: u64,
    /// Rows with nothing left to do, by their status word (a call exists,
    /// or the API refused the row for good).
    pub settled: BTreeMap<String, u64>,
    /// Of `settled`, calls not seen ended yet (`callplan track`).
    pub in_progress: u64,
    /// Rows that fail validation (recorded `invalid`).
    pub invalid: u64,
    /// Rows on a do-not-call list (recorded `suppressed`).
    pub suppressed: u64,
    /// Rows whose key an earlier row already holds: dialled once, for that
    /// row.
    pub duplicate_keys: u64,
    /// When the first row waiting for its window may be dialled.
    pub next_window_at: Option<Timestamp>,
    /// When the first redial not due yet is.
    pub next_redial_at: Option<Timestamp>,
}

impl Counts {
    /// Rows dialled now: first dials, retries and due redials.
    pub fn dial_now(&self) -> u64 {
        self.dial + self.redials_due
    }

    /// Rows settled, whatever their status.
    pub fn settled_total(&self) -> u64 {
        self.settled.values().sum()
    }

    /// Every reason added up: equals [`Counts::rows`].
    pub fn total(&self) -> u64 {
        self.dial
            + self.redials_due
            + self.to_look_up
            + self.waiting_for_window
            + self.redials_later
            + self.past_end_at
            + self.settled_total()
            + self.invalid
            + self.suppressed
            + self.duplicate_keys
    }

    /// The earliest time something not dialled now becomes due.
    pub fn next_due_at(&self) -> Option<Timestamp> {
        self.next_window_at
            .into_iter()
            .chain(self.next_redial_at)
            .min()
    }

    /// Why no row is dialled now, when none is (a dry run's `0 calls`
    /// must say why): `None` when some row is.
    pub fn nothing_now_because(&self) -> Option<String> {
        if self.dial_now() > 0 {
            return None;
        }
        let mut why = Vec::new();
        if self.past_end_at > 0 {
            why.push("the schedule's end_at has passed".to_string());
        }
        if self.to_look_up > 0 {
            why.push(format!("{} rows are looked up first", self.to_look_up));
        }
        if let Some(t) = self.next_due_at() {
            why.push(format!("the next row is due at {}", local_time(t)));
        }
        if why.is_empty() {
            why.push(if self.rows == 0 {
                "the input has no rows".to_string()
            } else {
                "every row is settled, invalid or suppressed".to_string()
            });
        }
        Some(why.join("; "))
    }

    /// Every reason with its count, in one line: `3 to dial now, 1 already
    /// settled, 0 to look up first, 2 invalid, 2 suppressed (do-not-call),
    /// ...`. The first four always show; the others when not zero. With
    /// `limit` (`--limit`), the rows dialled now beyond it are said to be
    /// left for later.
    pub fn describe(&self, limit: Option<u64>) -> String {
        let now = self.dial_now();
        let sent = now.min(limit.unwrap_or(u64::MAX));
        let mut parts = vec![format!("{sent} to dial now")];
        if self.redials_due > 0 {
            parts[0].push_str(&format!(" ({} of them redials)", self.redials_due));
        }
        if sent < now {
            parts[0].push_str(&format!(" (--limit; {} more later)", now - sent));
        }
        parts.push(format!("{} already settled", self.settled_total()));
        parts.push(format!("{} to look up first", self.to_look_up));
        parts.push(format!("{} invalid", self.invalid));
        let mut more = |n: u64, what: String| {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        };
        more(self.suppressed, "suppressed (do-not-call)".into());
        more(
            self.waiting_for_window,
            format!("waiting for their window{}", next(self.next_window_at)),
        );
        more(
            self.redials_later,
            format!("redials not due yet{}", next(self.next_redial_at)),
        );
        more(
            self.past_end_at,
            "past the schedule's end_at (not dialled)".into(),
        );
        more(self.duplicate_keys, "duplicate keys (dialled once)".into());
        parts.join(", ")
    }
}

fn next(at: Option<Timestamp>) -> String {
    at.map(|t| format!(" (next at {})", local_time(t)))
        .unwrap_or_default()
}

/// An instant in the user's own zone, for messages.
pub fn local_time(t: Timestamp) -> String {
    t.to_zoned_datetime(jiff::tz::TimeZone::system())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}
