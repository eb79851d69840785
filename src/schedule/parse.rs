//! Reading the pieces of a `schedule:` section: hours, days and instants.
//!
//! Each parser takes text a person typed into a plan and either returns a
//! checked value or an error that says what is wrong and how to write it.
//! None of them panics, whatever the input.

use std::fmt;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};

use super::ScheduleError;

/// Daily calling hours, local wall-clock time: `start` up to (not including)
/// `end`. `end_next_day` is set for `24:00` and for windows that cross
/// midnight (`20:00-02:00`): the window that opens on a day closes on the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours {
    pub(super) start: Time,
    pub(super) end: Time,
    pub(super) end_next_day: bool,
}

impl Hours {
    /// Every hour of the day, the default when a schedule gives no `hours`.
    pub const ALL_DAY: Hours = Hours {
        start: Time::midnight(),
        end: Time::midnight(),
        end_next_day: true,
    };

    /// Parses `HH:MM-HH:MM` (`9:00-17:30`, `09:00 - 24:00`, `20:00-02:00`).
    pub fn parse(text: &str) -> Result<Hours, ScheduleError> {
        let bad = |reason: String| ScheduleError::BadHours {
            value: text.to_string(),
            reason,
        };
        let trimmed = text.trim();
        let Some((left, right)) = trimmed.split_once('-') else {
            return Err(bad("there is no `-` between the start and the end".into()));
        };
        let (sh, sm) = parse_hh_mm(left).map_err(&bad)?;
        let (eh, em) = parse_hh_mm(right).map_err(&bad)?;
        if sh == 24 {
            return Err(bad(
                "a window cannot start at 24:00; start at 00:00 instead".into(),
            ));
        }
        let start = time(sh, sm).ok_or_else(|| bad("the start is not a time of day".into()))?;
        let (end, end_next_day) = if eh == 24 {
            (Time::midnight(), true)
        } else {
            let end = time(eh, em).ok_or_else(|| bad("the end is not a time of day".into()))?;
            if end == start {
                return Err(bad(
                    "start and end are equal, so the window is empty; for the whole day write 00:00-24:00".into(),
                ));
            }
            (end, end < start)
        };
        Ok(Hours {
            start,
            end,
            end_next_day,
        })
    }

    /// Local time the window opens.
    pub fn start(&self) -> Time {
        self.start
    }

    /// Local time the window closes (00:00 with [`Hours::ends_next_day`]
    /// for `24:00`).
    pub fn end(&self) -> Time {
        self.end
    }

    /// True when the window closes on the day after it opens: `24:00` ends
    /// and windows crossing midnight.
    pub fn ends_next_day(&self) -> bool {
        self.end_next_day
    }

    /// True for windows that close on the day after they open (`22:00-02:00`).
    pub fn crosses_midnight(&self) -> bool {
        self.end_next_day && self.end != Time::midnight()
    }
}

impl fmt::Display for Hours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = if self.end_next_day && self.end == Time::midnight() {
            "24:00".to_string()
        } else {
            format!("{:02}:{:02}", self.end.hour(), self.end.minute())
        };
        write!(
            f,
            "{:02}:{:02}-{end}",
            self.start.hour(),
            self.start.minute()
        )
    }
}

fn time(hour: u8, minute: u8) -> Option<Time> {
    Time::new(i8::try_from(hour).ok()?, i8::try_from(minute).ok()?, 0, 0).ok()
}

/// `H:MM` or `HH:MM`, hours 0-24 (24 only as 24:00), minutes 0-59.
fn parse_hh_mm(text: &str) -> Result<(u8, u8), String> {
    let t = text.trim();
    let Some((h, m)) = t.split_once(':') else {
        return Err(format!(
            "`{t}` is not a time; write it as HH:MM, e.g. 09:00"
        ));
    };
    let digits = |s: &str, max_len: usize| {
        !s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(h, 2) || m.len() != 2 || !digits(m, 2) {
        return Err(format!(
            "`{t}` is not a time; write it as HH:MM, e.g. 09:00"
        ));
    }
    let hour: u8 = h.parse().map_err(|_| format!("`{t}` is not a time"))?;
    let minute: u8 = m.parse().map_err(|_| format!("`{t}` is not a time"))?;
    if hour > 24 {
        return Err(format!("hour {hour} in `{t}` is out of range (00-24)"));
    }
    if minute > 59 {
        return Err(format!("minute {minute} in `{t}` is out of range (00-59)"));
    }
    if hour == 24 && minute != 0 {
        return Err(format!(
            "`{t}` is past the end of the day; the latest end is 24:00"
        ));
    }
    Ok((hour, minute))
}

/// The days of the week a window opens on (a window crossing midnight
/// belongs to the day it opens).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days([bool; 7]);

impl Days {
    /// Every day of the week, the default when a schedule gives no `days`.
    pub const ALL: Days = Days([true; 7]);

    /// Parses day names: `mon`..`sun` or the full English names, any case.
    /// Repeats are harmless; an empty list is an error (it would never call).
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Days, ScheduleError> {
        if names.is_empty() {
            return Err(ScheduleError::NoDays);
        }
        let mut set = [false; 7];
        for name in names {
            let day = parse_weekday(name.as_ref()).ok_or_else(|| ScheduleError::BadDay {
                value: name.as_ref().to_string(),
            })?;
            if let Some(slot) = usize::try_from(day.to_monday_zero_offset())
                .ok()
                .and_then(|i| set.get_mut(i))
            {
                *slot = true;
            }
        }
        Ok(Days(set))
    }

    /// True when windows open on `day`.
    pub fn contains(&self, day: Weekday) -> bool {
        usize::try_from(day.to_monday_zero_offset())
            .ok()
            .and_then(|i| self.0.get(i))
            .copied()
            .unwrap_or(false)
    }
}

impl fmt::Display for Days {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let names: Vec<&str> = NAMES
            .iter()
            .zip(self.0)
            .filter(|(_, on)| *on)
            .map(|(n, _)| *n)
            .collect();
        f.write_str(&names.join(","))
    }
}

fn parse_weekday(name: &str) -> Option<Weekday> {
    let lower = name.trim().to_ascii_lowercase();
    Some(match lower.as_str() {
        "mon" | "monday" => Weekday::Monday,
        "tue" | "tues" | "tuesday" => Weekday::Tuesday,
        "wed" | "wednesday" => Weekday::Wednesday,
        "thu" | "thur" | "thurs" | "thursday" => Weekday::Thursday,
        "fri" | "friday" => Weekday::Friday,
        "sat" | "saturday" => Weekday::Saturday,
        "sun" | "sunday" => Weekday::Sunday,
        _ => return None,
    })
}

/// Parses `start_at`/`end_at`: an instant with a UTC offset
/// (`2026-06-01T09:00:00-04:00`, `...Z`), a datetime with a zone annotation
/// (`2026-06-01T09:00[America/New_York]`), or a plain datetime
/// (`2026-06-01 09:00`) read in the schedule's `timezone`. A bare date is
/// refused: whether `end_at: 2026-06-30` includes the 30th is a guess.
pub fn parse_instant(
    field: &'static str,
    text: &str,
    zone: Option<&TimeZone>,
) -> Result<Timestamp, ScheduleError> {
    let value = text.trim();
    let bad = |reason: &str| ScheduleError::BadInstant {
        field,
        value: value.to_string(),
        reason: reason.to_string(),
    };
    if value.is_empty() {
        return Err(bad("it is empty"));
    }
    if let Ok(ts) = value.parse::<Timestamp>() {
        return Ok(ts);
    }
    if value.contains('[')
        && let Ok(zdt) = value.parse::<jiff::ZonedDateTime>()
    {
        return Ok(zdt.timestamp());
    }
    // jiff reads a date out of a datetime too; a bare date has no time part.
    if !value.contains(['T', 't', ' ']) && value.parse::<Date>().is_ok() {
        return Err(bad(
            "it is a date without a time of day; add one, e.g. 2026-06-30T20:00",
        ));
    }
    let Ok(dt) = value.parse::<DateTime>() else {
        return Err(bad(
            "it is not a date and time; write e.g. 2026-06-01T09:00 or 2026-06-01T09:00:00-04:00",
        ));
    };
    let Some(zone) = zone else {
        return Err(ScheduleError::InstantNeedsZone {
            field,
            value: value.to_string(),
        });
    };
    first_instant_at(zone, dt)
        .ok_or_else(|| bad("it is outside the range of dates callplan handles"))
}

/// The first instant at which `zone`'s clocks show `dt` or later. This is
/// how every local time in a schedule becomes an instant:
///
/// - normally, the one instant showing `dt`;
/// - in a gap (clocks jump forward over `dt`, e.g. 02:30 on a spring-forward
///   night in New York), the moment of the jump: the first instant whose
///   clock reads past `dt` (03:00 EDT);
/// - in a fold (clocks fall back and show `dt` twice), the first time.
///
/// `None` only at the edges of jiff's supported range.
pub fn first_instant_at(zone: &TimeZone, dt: DateTime) -> Option<Timestamp> {
    match zone.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok(),
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).ok(),
        AmbiguousOffset::Gap { after, .. } => {
            // Read with the later (larger) offset, `dt` lands just before the
            // jump; the next transition is the jump itself.
            let probe = after.to_timestamp(dt).ok()?;
            zone.following(probe).next().map(|t| t.timestamp())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn tz(name: &str) -> TimeZone {
        TimeZone::get(name).expect("zone")
    }

    #[test]
    fn hours_accept_usual_spellings() {
        let h = Hours::parse("09:00-20:00").expect("hours");
        assert_eq!(h.start, Time::constant(9, 0, 0, 0));
        assert_eq!(h.end, Time::constant(20, 0, 0, 0));
        assert!(!h.end_next_day);
        assert_eq!(
            Hours::parse(" 9:00 - 17:30 ").expect("hours").to_string(),
            "09:00-17:30"
        );
        let all = Hours::parse("00:00-24:00").expect("all day");
        assert_eq!(all, Hours::ALL_DAY);
        assert_eq!(all.to_string(), "00:00-24:00");
        assert!(!all.crosses_midnight());
        let night = Hours::parse("20:00-02:00").expect("overnight");
        assert!(night.end_next_day && night.crosses_midnight());
        assert_eq!(night.to_string(), "20:00-02:00");
    }

    #[test]
    fn hours_reject_with_reasons() {
        let cases = [
            ("25:00-26:00", "hour 25"),
            ("09:00-25:00", "hour 25"),
            ("09:60-10:00", "minute 60"),
            ("24:00-09:00", "cannot start at 24:00"),
            ("09:00-24:30", "past the end of the day"),
            ("09:00-09:00", "00:00-24:00"),
            ("0900-1700", "HH:MM"),
            ("09:00", "no `-`"),
            ("", "no `-`"),
            ("9:0-17:00", "HH:MM"),
            ("+9:00-17:00", "HH:MM"),
            ("09:00-17:00-18:00", "HH:MM"),
            ("٠٩:٠٠-١٧:٠٠", "HH:MM"),
            ("999999999999:00-1:00", "HH:MM"),
        ];
        for (input, needle) in cases {
            let err = Hours::parse(input).expect_err(input).to_string();
            assert!(err.contains(needle), "{input}: {err}");
            assert!(err.contains("schedule.hours"), "{input}: {err}");
        }
    }

    #[test]
    fn days_parse_names_and_reject_others() {
        let d = Days::parse(&["mon", "Tuesday", " WED ", "thu", "fri", "fri"]).expect("days");
        assert!(d.contains(Weekday::Monday) && d.contains(Weekday::Friday));
        assert!(!d.contains(Weekday::Saturday) && !d.contains(Weekday::Sunday));
        assert_eq!(d.to_string(), "mon,tue,wed,thu,fri");
        let err = Days::parse(&["mon", "funday"])
            .expect_err("bad")
            .to_string();
        assert!(err.contains("funday") && err.contains("mon, tue"), "{err}");
        let empty: [&str; 0] = [];
        assert!(
            Days::parse(&empty)
                .expect_err("empty")
                .to_string()
                .contains("empty")
        );
    }

    #[test]
    fn instants_with_offsets_zones_or_schedule_zone() {
        let ny = tz("America/New_York");
        let want: Timestamp = "2026-06-01T13:00:00Z".parse().expect("ts");
        for text in [
            "2026-06-01T09:00:00-04:00",
            "2026-06-01T13:00:00Z",
            "2026-06-01T09:00[America/New_York]",
        ] {
            assert_eq!(
                parse_instant("start_at", text, None).expect(text),
                want,
                "{text}"
            );
        }
        assert_eq!(
            parse_instant("start_at", "2026-06-01 09:00", Some(&ny)).expect("civil"),
            want
        );
        assert_eq!(
            parse_instant("start_at", "2026-06-01T09:00", Some(&ny)).expect("civil"),
            want
        );
        let err = parse_instant("end_at", "2026-06-01T09:00", None).expect_err("no zone");
        assert!(err.to_string().contains("schedule.timezone"), "{err}");
        let err = parse_instant("end_at", "2026-06-30", Some(&ny)).expect_err("date only");
        assert!(err.to_string().contains("without a time"), "{err}");
        for junk in [
            "",
            "tomorrow",
            "2026-13-01T00:00Z",
            "2026-06-01T25:00",
            "\u{0}",
            "9999999-01-01T00:00Z",
        ] {
            assert!(
                parse_instant("end_at", junk, Some(&ny)).is_err(),
                "{junk:?}"
            );
        }
    }

    #[test]
    fn local_times_in_gaps_and_folds() {
        let ny = tz("America/New_York");
        // Spring forward 2026-03-08: 02:00 EST -> 03:00 EDT (07:00Z).
        let gap = first_instant_at(&ny, date(2026, 3, 8).at(2, 30, 0, 0)).expect("gap");
        assert_eq!(gap.to_string(), "2026-03-08T07:00:00Z");
        let gap_start = first_instant_at(&ny, date(2026, 3, 8).at(2, 0, 0, 0)).expect("gap");
        assert_eq!(gap_start.to_string(), "2026-03-08T07:00:00Z");
        // Fall back 2026-11-01: 01:30 happens at 05:30Z (EDT) and 06:30Z (EST).
        let fold = first_instant_at(&ny, date(2026, 11, 1).at(1, 30, 0, 0)).expect("fold");
        assert_eq!(fold.to_string(), "2026-11-01T05:30:00Z");
        // Sydney springs forward 2026-10-04 02:00 AEST -> 03:00 AEDT (16:00Z on the 3rd).
        let syd = tz("Australia/Sydney");
        let gap = first_instant_at(&syd, date(2026, 10, 4).at(2, 15, 0, 0)).expect("gap");
        assert_eq!(gap.to_string(), "2026-10-03T16:00:00Z");
        // and falls back 2026-04-05 03:00 AEDT -> 02:00 AEST: 02:30 happens twice.
        let fold = first_instant_at(&syd, date(2026, 4, 5).at(2, 30, 0, 0)).expect("fold");
        assert_eq!(fold.to_string(), "2026-04-04T15:30:00Z");
    }
}
