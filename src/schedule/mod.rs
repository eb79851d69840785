//! Calling windows: when a recipient may be called, in their own time.
//!
//! A plan's `schedule:` section names daily hours, week days, an optional
//! default time zone and an optional campaign start and end. [`Schedule`]
//! holds that section checked; given a recipient's zone (see [`zone_for_row`])
//! and an instant, it says whether the window is open, when it next opens,
//! or that the campaign has ended. It never reads the clock itself: callers
//! pass the instant (from a [`crate::clock::Clock`]), so tests pick any date.
//!
//! Rules, as the README states them:
//! - hours are local wall-clock time in the recipient's zone, start included,
//!   end excluded; `24:00` ends at midnight; a window may cross midnight
//!   (`20:00-02:00`) and then belongs to the day it opens;
//! - a local time the clocks skip (spring forward) means the moment of the
//!   jump (a 02:30 start on such a night opens at 03:00); a local time the
//!   clocks show twice (fall back) means its first occurrence; an opened
//!   window stays open until its end, even if the clocks fall back before it;
//! - `start_at` and `end_at` are instants; no call starts before `start_at`
//!   or at or after `end_at`.

mod country_zones;
mod parse;
mod window;
mod zone;

use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::Deserialize;

pub use parse::{Days, Hours, first_instant_at};
pub use window::{Window, calling_window};
pub use zone::{ZoneError, country_zones, parse_zone, single_zone_of_country, zone_for_row};

/// The `schedule:` section exactly as written in the plan. Plans normally
/// deserialize straight into [`Schedule`], which checks it; this raw form is
/// public for tools that want to report on an unchecked plan.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// IANA name of the plan's zone, for rows with no zone of their own.
    #[serde(default)]
    pub timezone: Option<String>,
    /// `HH:MM-HH:MM`, local to each recipient; default all day.
    #[serde(default)]
    pub hours: Option<String>,
    /// Week days windows open on; default every day.
    #[serde(default)]
    pub days: Option<Vec<String>>,
    /// No call before this instant.
    #[serde(default)]
    pub start_at: Option<String>,
    /// No call at or after this instant.
    #[serde(default)]
    pub end_at: Option<String>,
}

/// A checked `schedule:` section. Immutable; cheap to clone (the zone is
/// reference-counted inside jiff).
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "ScheduleSpec")]
pub struct Schedule {
    timezone: Option<TimeZone>,
    hours: Hours,
    days: Days,
    start_at: Option<Timestamp>,
    end_at: Option<Timestamp>,
}

/// What a recipient's window is doing at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowState {
    /// Calls may start now, until `closes_at` (the end of this stretch of
    /// open time, looking at most two weeks ahead when days run into each
    /// other, or `end_at` if sooner).
    Open { closes_at: Timestamp },
    /// Outside the hours or days; the window opens again at `opens_at`.
    Closed { opens_at: Timestamp },
    /// Before `start_at`; the first window opens at `opens_at`.
    NotStarted { opens_at: Timestamp },
    /// At or after `end_at`, or no window opens before it: never call again.
    Ended,
}

impl WindowState {
    /// True when a call may start now.
    pub fn is_open(&self) -> bool {
        matches!(self, WindowState::Open { .. })
    }
}

/// Why a `schedule:` section was refused. Each message names the key, the
/// value and how to write it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error(
        "schedule.timezone `{name}` is not an IANA time zone name; write one like America/New_York or Europe/Paris"
    )]
    BadZone { name: String },
    #[error("schedule.hours `{value}`: {reason}; write hours as HH:MM-HH:MM, e.g. 09:00-20:00")]
    BadHours { value: String, reason: String },
    #[error(
        "schedule.days: `{value}` is not a day of the week; use mon, tue, wed, thu, fri, sat, sun"
    )]
    BadDay { value: String },
    #[error(
        "schedule.days is empty, so no call would ever be made; list days like [mon, tue, wed, thu, fri], or leave days out for every day"
    )]
    NoDays,
    #[error("schedule.{field} `{value}`: {reason}")]
    BadInstant {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error(
        "schedule.{field} `{value}` has no UTC offset and the schedule has no timezone; write it with an offset (2026-06-01T09:00-04:00) or add schedule.timezone"
    )]
    InstantNeedsZone { field: &'static str, value: String },
    #[error(
        "schedule.end_at ({end}) is not after schedule.start_at ({start}); the campaign would have no time to call"
    )]
    EndNotAfterStart { start: Timestamp, end: Timestamp },
}

/// Days searched for the next window: a week, plus room for days a zone
/// skips, windows that started the day before, and DST shifts.
const SEARCH_DAYS: usize = 16;
/// Back-to-back windows merged when reporting when an open one closes.
const MERGE_LIMIT: usize = 14;

impl TryFrom<ScheduleSpec> for Schedule {
    type Error = ScheduleError;

    fn try_from(spec: ScheduleSpec) -> Result<Schedule, ScheduleError> {
        Schedule::from_spec(&spec)
    }
}

impl Schedule {
    /// Checks a raw section: zone name, hours, days, instants, and that
    /// `end_at` comes after `start_at`.
    pub fn from_spec(spec: &ScheduleSpec) -> Result<Schedule, ScheduleError> {
        let timezone = match &spec.timezone {
            None => None,
            Some(name) => {
                Some(parse_zone(name).map_err(|_| ScheduleError::BadZone { name: name.clone() })?)
            }
        };
        let hours = match &spec.hours {
            None => Hours::ALL_DAY,
            Some(text) => Hours::parse(text)?,
        };
        let days = match &spec.days {
            None => Days::ALL,
            Some(names) => Days::parse(names)?,
        };
        let instant = |field, text: &Option<String>| {
            text.as_deref()
                .map(|t| parse::parse_instant(field, t, timezone.as_ref()))
                .transpose()
        };
        let start_at = instant("start_at", &spec.start_at)?;
        let end_at = instant("end_at", &spec.end_at)?;
        if let (Some(start), Some(end)) = (start_at, end_at)
            && end <= start
        {
            return Err(ScheduleError::EndNotAfterStart { start, end });
        }
        Ok(Schedule {
            timezone,
            hours,
            days,
            start_at,
            end_at,
        })
    }

    /// The plan's zone, for rows without a zone column or a single-zone
    /// country (pass it to [`zone_for_row`] as `plan_zone`).
    pub fn timezone(&self) -> Option<&TimeZone> {
        self.timezone.as_ref()
    }

    /// Daily calling hours.
    pub fn hours(&self) -> Hours {
        self.hours
    }

    /// Days windows open on.
    pub fn days(&self) -> Days {
        self.days
    }

    /// No call before this instant.
    pub fn start_at(&self) -> Option<Timestamp> {
        self.start_at
    }

    /// No call at or after this instant.
    pub fn end_at(&self) -> Option<Timestamp> {
        self.end_at
    }

    /// Whether a recipient living in `zone` may be called at `now`, and if
    /// not, when they may.
    pub fn window_state(&self, zone: &TimeZone, now: Timestamp) -> WindowState {
        let Some((open, close)) = self.next_window(zone, now) else {
            return WindowState::Ended;
        };
        if self.start_at.is_some_and(|s| now < s) {
            return WindowState::NotStarted { opens_at: open };
        }
        if open > now {
            return WindowState::Closed { opens_at: open };
        }
        let mut closes_at = close;
        for _ in 0..MERGE_LIMIT {
            match self.next_window(zone, closes_at) {
                Some((o, c)) if o <= closes_at => closes_at = c,
                _ => break,
            }
        }
        WindowState::Open { closes_at }
    }

    /// The earliest instant at or after `at` inside the recipient's window:
    /// `at` itself when the window is open, `None` when no window opens
    /// before `end_at`. This is where a due call or redial is moved to.
    pub fn next_opening(&self, zone: &TimeZone, at: Timestamp) -> Option<Timestamp> {
        self.next_window(zone, at).map(|(open, _)| open.max(at))
    }

    /// True when a call may start at `at`.
    pub fn is_open(&self, zone: &TimeZone, at: Timestamp) -> bool {
        self.window_state(zone, at).is_open()
    }

    /// The first window (clipped to `start_at`..`end_at`) that has not closed
    /// by `at`: `(opens, closes)`, where `opens` may be before `at`.
    fn next_window(&self, zone: &TimeZone, at: Timestamp) -> Option<(Timestamp, Timestamp)> {
        let t = match self.start_at {
            Some(start) if start > at => start,
            _ => at,
        };
        if self.end_at.is_some_and(|end| t >= end) {
            return None;
        }
        // Start a day early: a window that crosses midnight (or ends at
        // 24:00) may have opened yesterday and still be open.
        let today = zone.to_datetime(t).date();
        let mut day = today.yesterday().unwrap_or(today);
        for _ in 0..SEARCH_DAYS {
            if let Some((open, close)) = self.window_on(zone, day) {
                let open = self.start_at.map_or(open, |s| open.max(s));
                let close = self.end_at.map_or(close, |e| close.min(e));
                if self.end_at.is_some_and(|end| open >= end) {
                    return None;
                }
                if close > t && open < close {
                    return Some((open, close));
                }
            }
            day = day.tomorrow().ok()?;
        }
        None
    }

    /// The window that opens on local date `day`, unclipped, if `day` is a
    /// calling day.
    fn window_on(&self, zone: &TimeZone, day: Date) -> Option<(Timestamp, Timestamp)> {
        if !self.days.contains(day.weekday()) {
            return None;
        }
        let open = first_instant_at(zone, day.to_datetime(self.hours.start))?;
        let end_day = if self.hours.end_next_day {
            day.tomorrow().ok()?
        } else {
            day
        };
        let close = first_instant_at(zone, end_day.to_datetime(self.hours.end))?;
        Some((open, close))
    }
}

impl fmt::Display for Schedule {
    /// `09:00-20:00 mon,tue,wed,thu,fri (America/New_York)`, for status lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.hours, self.days)?;
        if let Some(name) = self.timezone.as_ref().and_then(|z| z.iana_name()) {
            write!(f, " ({name})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
