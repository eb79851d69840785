//! Redials: when a call that ended without reaching anyone is tried again.
//!
//! A plan's `redial: {on: [no_answer, busy, voicemail], max: 2, after: 2h}`
//! becomes a checked [`Redial`]. Given how a round ended and when, it says
//! when the next round is due: `after` later, moved to the recipient's next
//! calling window (see [`crate::schedule`]) so a wait never lands a call at
//! night. Only endings that say "nobody picked up" can be redialled; a call
//! that reached the person, or a row that was refused, suppressed or might
//! already have been called, never is.

use std::fmt;
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;

use crate::schedule::Schedule;

/// Endings a plan may ask to redial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RedialOn {
    NoAnswer,
    Busy,
    Voicemail,
    /// The network or carrier failed the call after the API accepted it.
    Failed,
}

impl RedialOn {
    /// Every redialable ending, in the order messages list them.
    pub const ALL: [RedialOn; 4] = [
        RedialOn::NoAnswer,
        RedialOn::Busy,
        RedialOn::Voicemail,
        RedialOn::Failed,
    ];

    /// The results-file word for this ending.
    pub fn as_str(self) -> &'static str {
        match self {
            RedialOn::NoAnswer => "no_answer",
            RedialOn::Busy => "busy",
            RedialOn::Voicemail => "voicemail",
            RedialOn::Failed => "failed",
        }
    }

    /// Reads a status word (any case, `-` or `_`); `Err` says why the word
    /// can never be redialled, or that it is not a status.
    fn parse(word: &str) -> Result<RedialOn, String> {
        let w = word.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        Ok(match w.as_str() {
            "no_answer" | "noanswer" | "did_not_pick" | "not_answered" => RedialOn::NoAnswer,
            "busy" => RedialOn::Busy,
            "voicemail" | "machine" => RedialOn::Voicemail,
            "failed" => RedialOn::Failed,
            other => return Err(never_why(other)),
        })
    }
}

impl fmt::Display for RedialOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a status is never redialled (or is not a status at all).
fn never_why(word: &str) -> String {
    let why = match word {
        "completed" => "the call reached the person",
        "rejected" => "the API refused this row for good",
        "invalid" => "the row failed validation",
        "suppressed" => "the number is on a do-not-call list",
        "in_doubt" => {
            "the first call may have gone out; `run --redial-in-doubt` decides those rows"
        }
        "cancelled" | "canceled" => "the call was stopped on purpose",
        "error" => "the call was never placed; a rerun dials it again anyway",
        "queued" | "ringing" | "in_progress" | "dispatching" => "the call has not ended",
        _ => return format!("`{word}` is not a call status"),
    };
    format!("`{word}` is never redialled: {why}")
}

/// The `redial:` section exactly as written in the plan.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedialSpec {
    /// Endings to redial; default `[no_answer, busy]`.
    #[serde(default = "default_on")]
    pub on: Vec<String>,
    /// Extra rounds after the first dial (required: 0 turns redials off).
    pub max: u32,
    /// Wait after a round ends, humantime (`90m`, `2h`, `1day`) (required).
    pub after: String,
}

fn default_on() -> Vec<String> {
    vec!["no_answer".into(), "busy".into()]
}

/// Why a `redial:` section was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedialError {
    #[error("redial.on: {reason}; redialable endings are no_answer, busy, voicemail, failed")]
    BadStatus { reason: String },
    #[error(
        "redial.on is empty, so nothing would be redialled; list endings like [no_answer, busy] or remove the redial section"
    )]
    NoStatuses,
    #[error("redial.after `{value}`: {reason}; write a duration like 30m, 2h or 1day")]
    BadAfter { value: String, reason: String },
    #[error(
        "redial.after `{value}` is longer than {limit}; a redial that late belongs in a new campaign"
    )]
    AfterTooLong { value: String, limit: &'static str },
    #[error(
        "redial.max {max} is more than {limit} extra rounds; calling someone that often is harassment"
    )]
    TooManyRounds { max: u32, limit: u32 },
}

/// Most extra rounds a plan may ask for.
pub const MAX_ROUNDS: u32 = 10;
/// Longest wait between rounds.
const MAX_AFTER: Duration = Duration::from_secs(90 * 24 * 3600);

/// A checked `redial:` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RedialSpec")]
pub struct Redial {
    on: Vec<RedialOn>,
    max: u32,
    after: Duration,
}

impl TryFrom<RedialSpec> for Redial {
    type Error = RedialError;

    fn try_from(spec: RedialSpec) -> Result<Redial, RedialError> {
        Redial::from_spec(&spec)
    }
}

impl Redial {
    /// Checks a raw section: every `on` word redialable, `max` sane,
    /// `after` a duration under 90 days.
    pub fn from_spec(spec: &RedialSpec) -> Result<Redial, RedialError> {
        if spec.on.is_empty() {
            return Err(RedialError::NoStatuses);
        }
        let mut on = Vec::new();
        for word in &spec.on {
            let status =
                RedialOn::parse(word).map_err(|reason| RedialError::BadStatus { reason })?;
            if !on.contains(&status) {
                on.push(status);
            }
        }
        if spec.max > MAX_ROUNDS {
            return Err(RedialError::TooManyRounds {
                max: spec.max,
                limit: MAX_ROUNDS,
            });
        }
        let after =
            humantime::parse_duration(spec.after.trim()).map_err(|e| RedialError::BadAfter {
                value: spec.after.clone(),
                reason: e.to_string(),
            })?;
        if after > MAX_AFTER {
            return Err(RedialError::AfterTooLong {
                value: spec.after.clone(),
                limit: "90 days",
            });
        }
        Ok(Redial {
            on,
            max: spec.max,
            after,
        })
    }

    /// Endings that are redialled.
    pub fn on(&self) -> &[RedialOn] {
        &self.on
    }

    /// Extra rounds after the first dial.
    pub fn max(&self) -> u32 {
        self.max
    }

    /// The highest round number a row can reach (1 + `max`).
    pub fn last_round(&self) -> u32 {
        self.max.saturating_add(1)
    }

    /// Wait after a round ends before the next may start.
    pub fn after(&self) -> Duration {
        self.after
    }

    /// True when a call that ended with `status` is redialled (rounds aside).
    /// Unknown words and endings the plan did not list are not.
    pub fn redials(&self, status: &str) -> bool {
        RedialOn::parse(status).is_ok_and(|s| self.on.contains(&s))
    }

    /// When round `round + 1` is due for a row whose round `round` (1 = the
    /// first dial) ended with `status` at `ended_at`, for a recipient in
    /// `zone`. `None` means no more rounds: the ending is not redialled, the
    /// rounds are used up, or (with a schedule) no window opens before
    /// `end_at`. Otherwise `ended_at + after`, moved to the next window
    /// opening when that falls outside the window.
    pub fn next_due(
        &self,
        status: &str,
        round: u32,
        ended_at: Timestamp,
        schedule: Option<&Schedule>,
        zone: &TimeZone,
    ) -> Option<Timestamp> {
        if !self.redials(status) || round.max(1) > self.max {
            return None;
        }
        let wait = SignedDuration::try_from(self.after).ok()?;
        let due = ended_at.checked_add(wait).ok()?;
        match schedule {
            None => Some(due),
            Some(s) => s.next_opening(zone, due),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::ScheduleSpec;
    use proptest::prelude::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn ny() -> TimeZone {
        TimeZone::get("America/New_York").expect("zone")
    }

    fn local(s: &str) -> Timestamp {
        let dt: jiff::civil::DateTime = s.parse().expect("dt");
        ny().to_ambiguous_timestamp(dt)
            .unambiguous()
            .expect("unambiguous")
    }

    fn redial(on: &[&str], max: u32, after: &str) -> Redial {
        Redial::from_spec(&RedialSpec {
            on: on.iter().map(|s| s.to_string()).collect(),
            max,
            after: after.into(),
        })
        .expect("redial")
    }

    fn office_hours() -> Schedule {
        Schedule::from_spec(&ScheduleSpec {
            timezone: Some("America/New_York".into()),
            hours: Some("09:00-18:00".into()),
            days: Some(
                ["mon", "tue", "wed", "thu", "fri"]
                    .map(String::from)
                    .to_vec(),
            ),
            ..ScheduleSpec::default()
        })
        .expect("schedule")
    }

    #[test]
    fn no_answer_late_in_the_day_goes_out_next_morning() {
        let r = redial(&["no_answer", "busy", "voicemail"], 2, "2h");
        let s = office_hours();
        // Wednesday 17:00 + 2h = 19:00, after hours: Thursday 09:00, not 19:00.
        let due = r.next_due("no_answer", 1, local("2026-06-03T17:00"), Some(&s), &ny());
        assert_eq!(due, Some(local("2026-06-04T09:00")));
        // Friday 17:00: the weekend is skipped too.
        let due = r.next_due("busy", 1, local("2026-06-05T17:00"), Some(&s), &ny());
        assert_eq!(due, Some(local("2026-06-08T09:00")));
        // Inside the window the wait is kept as is.
        let due = r.next_due("voicemail", 2, local("2026-06-03T10:15"), Some(&s), &ny());
        assert_eq!(due, Some(local("2026-06-03T12:15")));
        // Without a schedule, only the wait counts.
        let due = r.next_due("no_answer", 1, local("2026-06-03T17:00"), None, &ny());
        assert_eq!(due, Some(local("2026-06-03T19:00")));
    }

    #[test]
    fn redial_over_the_spring_forward_weekend() {
        let r = redial(&["no_answer"], 1, "2h");
        let s = office_hours();
        // Friday 2026-03-06 17:00 EST; Monday opens at 09:00 EDT = 13:00Z.
        let due = r.next_due("no_answer", 1, ts("2026-03-06T22:00:00Z"), Some(&s), &ny());
        assert_eq!(due, Some(ts("2026-03-09T13:00:00Z")));
    }

    #[test]
    fn redial_in_the_recipients_zone_not_the_plans() {
        let r = redial(&["no_answer"], 1, "30m");
        let s = office_hours(); // plan zone New York
        let paris = TimeZone::get("Europe/Paris").expect("zone");
        // 12:00 in New York is 18:00 in Paris: closed there until 09:00 Paris.
        let due = r.next_due("no_answer", 1, local("2026-06-03T11:45"), Some(&s), &paris);
        assert_eq!(due, Some(ts("2026-06-04T07:00:00Z")));
    }

    #[test]
    fn rounds_run_out() {
        let r = redial(&["no_answer"], 2, "1h");
        let t = ts("2026-06-03T15:00:00Z");
        assert!(r.next_due("no_answer", 1, t, None, &ny()).is_some());
        assert!(r.next_due("no_answer", 2, t, None, &ny()).is_some());
        assert_eq!(r.next_due("no_answer", 3, t, None, &ny()), None);
        assert_eq!(r.last_round(), 3);
        // Round 0 is read as the first dial.
        assert!(r.next_due("no_answer", 0, t, None, &ny()).is_some());
        assert_eq!(r.next_due("no_answer", u32::MAX, t, None, &ny()), None);
        let off = redial(&["no_answer"], 0, "1h");
        assert_eq!(off.next_due("no_answer", 1, t, None, &ny()), None);
    }

    #[test]
    fn only_listed_endings_are_redialled() {
        let r = redial(&["no-answer", "BUSY"], 3, "1h");
        let t = ts("2026-06-03T15:00:00Z");
        assert!(r.redials("no_answer") && r.redials("No-Answer") && r.redials("busy"));
        for status in [
            "voicemail",
            "failed",
            "completed",
            "rejected",
            "invalid",
            "suppressed",
            "in_doubt",
            "error",
            "queued",
            "",
            "garbage",
        ] {
            assert_eq!(r.next_due(status, 1, t, None, &ny()), None, "{status}");
        }
    }

    #[test]
    fn end_at_stops_redials() {
        let r = redial(&["no_answer"], 2, "2h");
        let s = Schedule::from_spec(&ScheduleSpec {
            hours: Some("09:00-18:00".into()),
            end_at: Some("2026-06-05T18:00:00-04:00".into()),
            ..ScheduleSpec::default()
        })
        .expect("schedule");
        // Friday 17:00 + 2h is past the last window: no more rounds.
        assert_eq!(
            r.next_due("no_answer", 1, local("2026-06-05T17:00"), Some(&s), &ny()),
            None
        );
        assert_eq!(
            r.next_due("no_answer", 1, local("2026-06-05T10:00"), Some(&s), &ny()),
            Some(local("2026-06-05T12:00"))
        );
    }

    #[test]
    fn plan_yaml_reads_and_refuses() {
        let r: Redial =
            serde_saphyr::from_str("on: [no_answer, busy, voicemail]\nmax: 2\nafter: 2h\n")
                .expect("yaml");
        assert_eq!(
            r.on(),
            [RedialOn::NoAnswer, RedialOn::Busy, RedialOn::Voicemail]
        );
        assert_eq!((r.max(), r.after()), (2, Duration::from_secs(7200)));
        let r: Redial = serde_saphyr::from_str("max: 1\nafter: 1h 30m\n").expect("defaults");
        assert_eq!(r.on(), [RedialOn::NoAnswer, RedialOn::Busy]);
        assert_eq!(r.after(), Duration::from_secs(5400));

        let refusals = [
            ("on: [completed]\nmax: 1\nafter: 1h\n", "reached the person"),
            ("on: [rejected]\nmax: 1\nafter: 1h\n", "refused this row"),
            ("on: [invalid]\nmax: 1\nafter: 1h\n", "failed validation"),
            ("on: [suppressed]\nmax: 1\nafter: 1h\n", "do-not-call"),
            ("on: [in_doubt]\nmax: 1\nafter: 1h\n", "may have gone out"),
            ("on: [ringing]\nmax: 1\nafter: 1h\n", "not ended"),
            (
                "on: [nobody_home]\nmax: 1\nafter: 1h\n",
                "not a call status",
            ),
            ("on: []\nmax: 1\nafter: 1h\n", "empty"),
            ("max: 1\nafter: soon\n", "redial.after `soon`"),
            ("max: 1\nafter: 400days\n", "longer than 90 days"),
            ("max: 50\nafter: 1h\n", "more than 10"),
            ("max: -1\nafter: 1h\n", ""),
            ("after: 1h\n", "max"),
            ("max: 1\n", "after"),
            ("max: 1\nafter: 1h\nevery: 2h\n", "every"),
        ];
        for (yaml, needle) in refusals {
            let err = serde_saphyr::from_str::<Redial>(yaml)
                .expect_err(yaml)
                .to_string();
            assert!(err.contains(needle), "{yaml}: {err}");
        }
    }

    proptest! {
        #[test]
        fn due_is_never_before_the_wait_and_always_in_a_window(
            minutes in 0u64..3000, ended in 1_767_225_600i64..1_830_297_600, round in 1u32..4,
        ) {
            let r = Redial::from_spec(&RedialSpec {
                on: vec!["no_answer".into()], max: 3, after: format!("{minutes}m"),
            }).expect("redial");
            let s = office_hours();
            let ended = Timestamp::from_second(ended).expect("ts");
            let due = r.next_due("no_answer", round, ended, Some(&s), &ny()).expect("due");
            let earliest = ended.checked_add(SignedDuration::from_mins(minutes as i64)).expect("add");
            prop_assert!(due >= earliest);
            prop_assert!(s.is_open(&ny(), due));
            if s.is_open(&ny(), earliest) {
                prop_assert_eq!(due, earliest);
            }
        }

        #[test]
        fn hostile_redial_text_never_panics(on in proptest::collection::vec(".{0,20}", 0..5), after in ".{0,30}", max in any::<u32>()) {
            let _ = Redial::from_spec(&RedialSpec { on, max, after });
        }
    }
}
