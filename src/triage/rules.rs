//! What triage judges a row by: the plan's calling windows and redials, or,
//! when `status` cannot read the plan, what the results file itself says
//! (`next_at`). One type so that the sorting in [`super::sort`] is the same
//! code either way and only these two questions differ.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::plan::Plan;
use crate::results::{Record, Status};
use crate::schedule::{Window, calling_window};

/// The rules a row is judged by.
#[derive(Debug, Clone, Copy)]
pub enum Rules<'a> {
    /// The plan's `schedule:` and `redial:` (what `run` always has).
    Plan(&'a Plan),
    /// No plan: a `pending` row's future `next_at` is a closed window and an
    /// ended call's `next_at` is its redial, as the run that wrote them
    /// decided. Nothing is known of `end_at`.
    FileOnly,
}

impl Rules<'_> {
    /// May a call to this row start at `at`? `last` is the row's last
    /// record, if any (only [`Rules::FileOnly`] reads it).
    pub fn window(&self, zone: Option<&TimeZone>, last: Option<&Record>, at: Timestamp) -> Window {
        match self {
            Rules::Plan(plan) => calling_window(plan.schedule.as_ref(), zone, at),
            Rules::FileOnly => match last {
                Some(rec) if rec.status == Status::Pending => match next_at(rec) {
                    Some(t) if t > at => Window::WaitUntil(t),
                    _ => Window::OpenNow,
                },
                _ => Window::OpenNow,
            },
        }
    }

    /// True when no row's ended call is ever due again under these rules
    /// (a plan without `redial:`): a settled record is then settled
    /// whatever else it holds.
    pub fn never_redials(&self) -> bool {
        matches!(self, Rules::Plan(plan) if plan.redial.is_none())
    }

    /// When a row whose last call ended (`rec`) is due for its next round,
    /// if it is redialled at all: the `next_at` written when the call
    /// ended, else (with a plan) computed from the ending and the time it
    /// was recorded. A `next_at` is believed only for an ending the plan
    /// (still) redials with rounds left.
    pub fn redial_due(&self, rec: &Record, zone: Option<&TimeZone>) -> Option<Timestamp> {
        let Status::Call(status) = &rec.status else {
            return None;
        };
        if !status.is_terminal() || rec.call_id.is_empty() {
            return None;
        }
        let plan = match self {
            Rules::FileOnly => return next_at(rec),
            Rules::Plan(plan) => plan,
        };
        let redial = plan.redial.as_ref()?;
        if !redial.redials(status.as_str()) || rec.round.max(1) > redial.max() {
            return None;
        }
        if let Some(t) = next_at(rec) {
            return Some(t);
        }
        let ended = rec.updated_at.parse().ok()?;
        let zone = zone.cloned().unwrap_or(TimeZone::UTC);
        redial.next_due(
            status.as_str(),
            rec.round,
            ended,
            plan.schedule.as_ref(),
            &zone,
        )
    }
}

fn next_at(rec: &Record) -> Option<Timestamp> {
    rec.next_at.parse().ok()
}
