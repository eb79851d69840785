//! Workbook cells: their types ([`CellKind`], [`CellType`]) and the text
//! each value is given, the same whatever the format it came from.
//!
//! Numbers as their digits (`14155550100`, integers without `.0`, never an
//! exponent); dates as ISO `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM` with a time
//! (`:SS` only when the seconds are not zero); times of day and durations
//! as `HH:MM`; booleans `TRUE`/`FALSE`; errors as Excel writes them
//! (`#N/A`). Kept apart from the reader so that the forms are checked on
//! their own, without a workbook.

use calamine::{Data, DataRef, ExcelDateTime};

/// What a workbook cell holds (for a formula: what its cached value is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CellKind {
    /// Nothing (a column between filled ones, or a formula with no cached value).
    Empty,
    /// Text, including digits stored as text.
    Text,
    /// A number (integer or floating point): its text is its digits.
    Number,
    /// `TRUE` or `FALSE`.
    Bool,
    /// A date, a date and time, a time of day or a duration, as ISO text.
    Date,
    /// An error value (`#N/A`, `#REF!`, `#DIV/0!`...), its text as shown.
    Error,
}

/// A workbook cell's type: its kind, and whether a formula computed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CellType {
    /// The value's kind (a formula's cached value).
    pub kind: CellKind,
    /// A formula computed the value; [`Record::formula`](super::Record::formula) has its text.
    pub formula: bool,
}

impl CellType {
    /// An empty cell that is no formula.
    pub const EMPTY: CellType = CellType {
        kind: CellKind::Empty,
        formula: false,
    };
}

pub(super) fn from_data(v: &Data) -> Option<(CellKind, String)> {
    Some(match v {
        Data::Empty => return None,
        Data::String(s) => (CellKind::Text, s.clone()),
        Data::Int(i) => (CellKind::Number, i.to_string()),
        Data::Float(f) => (CellKind::Number, number_text(*f)),
        Data::Bool(b) => (CellKind::Bool, bool_text(*b)),
        Data::DateTime(d) => (CellKind::Date, date_text(d)),
        Data::DateTimeIso(s) => (CellKind::Date, iso_text(s)),
        Data::DurationIso(s) => (CellKind::Date, iso_duration_text(s)),
        Data::Error(e) => (CellKind::Error, e.to_string()),
    })
}

pub(super) fn from_ref(v: &DataRef<'_>) -> Option<(CellKind, String)> {
    Some(match v {
        DataRef::Empty => return None,
        DataRef::String(s) => (CellKind::Text, s.clone()),
        DataRef::SharedString(s) => (CellKind::Text, (*s).to_string()),
        DataRef::Int(i) => (CellKind::Number, i.to_string()),
        DataRef::Float(f) => (CellKind::Number, number_text(*f)),
        DataRef::Bool(b) => (CellKind::Bool, bool_text(*b)),
        DataRef::DateTime(d) => (CellKind::Date, date_text(d)),
        DataRef::DateTimeIso(s) => (CellKind::Date, iso_text(s)),
        DataRef::DurationIso(s) => (CellKind::Date, iso_duration_text(s)),
        DataRef::Error(e) => (CellKind::Error, e.to_string()),
    })
}

fn bool_text(b: bool) -> String {
    if b { "TRUE" } else { "FALSE" }.to_string()
}

/// A number as its digits: shortest text that reads back as the same
/// value, never an exponent, integers without `.0` (`14155550100`).
pub fn number_text(f: f64) -> String {
    if f == 0.0 {
        "0".to_string()
    } else {
        format!("{f}")
    }
}

/// `HH:MM`, with `:SS` when the seconds are not zero; hours may pass 24
/// (a duration).
fn clock_text(hours: u64, minutes: u64, seconds: u64) -> String {
    if seconds == 0 {
        format!("{hours:02}:{minutes:02}")
    } else {
        format!("{hours:02}:{minutes:02}:{seconds:02}")
    }
}

/// An Excel date-time serial as ISO text: a date, a date and time, or
/// (below 1, no date) a time of day; a duration as hours and minutes.
pub fn date_text(d: &ExcelDateTime) -> String {
    let v = d.as_f64();
    if d.is_duration() || (v.is_finite() && (0.0..1.0).contains(&v)) {
        let secs = (v.abs() * 86_400.0).round();
        let secs = if secs.is_finite() { secs as u64 } else { 0 };
        let sign = if v < 0.0 && secs > 0 { "-" } else { "" };
        return format!(
            "{sign}{}",
            clock_text(secs / 3600, secs / 60 % 60, secs % 60)
        );
    }
    let (y, mo, day, h, mi, s, _ms) = d.to_ymd_hms_milli();
    if (h, mi, s) == (0, 0, 0) {
        format!("{y:04}-{mo:02}-{day:02}")
    } else {
        let clock = clock_text(u64::from(h), u64::from(mi), u64::from(s));
        format!("{y:04}-{mo:02}-{day:02}T{clock}")
    }
}

/// An ISO date-time (`.ods`: `2026-12-07T08:30:00`) in the same form as
/// [`date_text`]: no time when it is midnight, no seconds when zero.
pub fn iso_text(s: &str) -> String {
    let s = s.trim();
    let Some((date, time)) = s.split_once('T') else {
        return s.to_string();
    };
    let time = time.split(['.', 'Z', '+']).next().unwrap_or(time);
    let parts: Vec<u64> = time.split(':').filter_map(|p| p.parse().ok()).collect();
    match parts.as_slice() {
        [0, 0] | [0, 0, 0] => date.to_string(),
        [h, m] => format!("{date}T{}", clock_text(*h, *m, 0)),
        [h, m, sec] => format!("{date}T{}", clock_text(*h, *m, *sec)),
        _ => s.to_string(),
    }
}

/// An ISO duration (`.ods` times: `PT08H30M00S`) as `HH:MM[:SS]`; other
/// forms as written.
pub fn iso_duration_text(s: &str) -> String {
    let t = s.trim();
    let Some(body) = t.strip_prefix("PT") else {
        return t.to_string();
    };
    let mut total = 0.0f64;
    let mut num = String::new();
    for c in body.chars() {
        match c {
            '0'..='9' | '.' => num.push(c),
            'H' | 'M' | 'S' => {
                let Ok(v) = num.parse::<f64>() else {
                    return t.to_string();
                };
                total += v * match c {
                    'H' => 3600.0,
                    'M' => 60.0,
                    _ => 1.0,
                };
                num.clear();
            }
            _ => return t.to_string(),
        }
    }
    if !num.is_empty() || !total.is_finite() {
        return t.to_string();
    }
    // A saturating cast: an absurd duration is a large number, not a panic.
    let secs = total.round() as u64;
    clock_text(secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms() {
        assert_eq!(number_text(14155550100.0), "14155550100");
        assert_eq!(number_text(-0.0), "0");
        assert_eq!(number_text(0.1), "0.1");
        assert_eq!(number_text(1e21), "1000000000000000000000");
        assert_eq!(iso_text("2026-12-07"), "2026-12-07");
        assert_eq!(iso_text("2026-12-07T00:00:00"), "2026-12-07");
        assert_eq!(iso_text("2026-12-07T08:30:00.000"), "2026-12-07T08:30");
        assert_eq!(iso_text("2026-12-07T08:30:15"), "2026-12-07T08:30:15");
        assert_eq!(iso_duration_text("PT08H30M00S"), "08:30");
        assert_eq!(iso_duration_text("PT27H00M05.5S"), "27:00:06");
        assert_eq!(iso_duration_text("P1D"), "P1D");
        assert_eq!(
            iso_duration_text("PT99999999999999999999H"),
            iso_duration_text("PT99999999999999999999H")
        );
        let d = |v: f64, dur: bool| {
            let t = if dur {
                calamine::ExcelDateTimeType::TimeDelta
            } else {
                calamine::ExcelDateTimeType::DateTime
            };
            date_text(&ExcelDateTime::new(v, t, false))
        };
        assert_eq!(d(46363.0, false), "2026-12-07");
        assert_eq!(d(46363.5, false), "2026-12-07T12:00");
        assert_eq!(d(0.5, false), "12:00");
        assert_eq!(d(1.25, true), "30:00");
        assert_eq!(d(f64::NAN, false).len(), 10, "any date, no panic");
    }
}
