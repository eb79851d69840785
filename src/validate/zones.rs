//! Recipients' time zones: the zone column's cells checked against the tz
//! database, and, when the plan has a `schedule`, the zone each dialable row
//! is called in (its cell, else its number's country when that country keeps
//! one clock, else `schedule.timezone`; see [`crate::schedule::zone_for_row`]).
//!
//! Answers are cached per distinct cell and per country, so a large file
//! costs a hash probe a row, not a database lookup; the caches are bounded,
//! and the "did you mean" search over the zone names runs for a bounded
//! number of distinct bad cells, so a hostile file cannot make either grow
//! without limit.

use std::sync::LazyLock;

use jiff::tz::TimeZone;
use rustc_hash::FxHashMap;

use crate::phone::RegionCode;
use crate::schedule::{Schedule, ZoneError, parse_zone, zone_for_row};

/// Distinct cells remembered (good or bad); further ones are looked up
/// afresh each time.
const CELL_CACHE: usize = 4096;
/// Distinct bad cells for which a "did you mean" is searched.
const SUGGESTIONS: usize = 256;

/// What a zone cell says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CellZone {
    /// Empty or white space: no zone from the cell.
    Blank,
    /// A zone the tz database knows.
    Zone(TimeZone),
    /// Not an IANA name; how to fix it.
    Bad { fix: String },
}

/// Why a row without a zone cell has no zone: what was tried, and a zone
/// name that fits the row's country, for the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NoZone {
    pub why: String,
    pub example: String,
}

/// The cached zone lookups of one validation.
pub(crate) struct Zones {
    /// The plan's zone (`schedule.timezone`).
    plan_zone: Option<TimeZone>,
    /// True when the plan has a schedule: rows then need a zone.
    scheduled: bool,
    cells: FxHashMap<Box<str>, CellZone>,
    /// Zone for a row without a cell, per number country: the zone or the
    /// problem (from [`ZoneError::NoZone`]).
    regions: FxHashMap<Option<RegionCode>, Result<TimeZone, NoZone>>,
    suggestions_left: usize,
}

impl Zones {
    pub(crate) fn new(schedule: Option<&Schedule>) -> Zones {
        Zones {
            plan_zone: schedule.and_then(|s| s.timezone().cloned()),
            scheduled: schedule.is_some(),
            cells: FxHashMap::default(),
            regions: FxHashMap::default(),
            suggestions_left: SUGGESTIONS,
        }
    }

    /// True when rows need a zone (the plan has a schedule).
    pub(crate) fn scheduled(&self) -> bool {
        self.scheduled
    }

    /// Reads one zone cell.
    pub(crate) fn cell(&mut self, cell: &str) -> CellZone {
        let t = cell.trim();
        if t.is_empty() {
            return CellZone::Blank;
        }
        if let Some(known) = self.cells.get(t) {
            return known.clone();
        }
        let answer = match parse_zone(t) {
            Ok(zone) => CellZone::Zone(zone),
            Err(_) => {
                let suggestion = if self.suggestions_left > 0 {
                    self.suggestions_left -= 1;
                    suggest(t)
                } else {
                    None
                };
                CellZone::Bad {
                    fix: bad_zone_fix(t, suggestion.as_deref()),
                }
            }
        };
        if self.cells.len() < CELL_CACHE {
            self.cells.insert(t.into(), answer.clone());
        }
        answer
    }

    /// The zone of a row with no zone cell, from its number's country or
    /// the plan's zone.
    pub(crate) fn for_region(&mut self, region: Option<RegionCode>) -> Result<TimeZone, NoZone> {
        if let Some(known) = self.regions.get(&region) {
            return known.clone();
        }
        let answer = zone_for_row(
            None,
            region.as_ref().map(RegionCode::as_str),
            self.plan_zone.as_ref(),
        )
        .map_err(|e| match e {
            ZoneError::NoZone { why, example } => NoZone { why, example },
            // Not raised without a cell; kept total all the same.
            ZoneError::UnknownZone { name } => NoZone {
                why: format!("`{name}` is not a zone"),
                example: "America/New_York".to_string(),
            },
        });
        // At most one entry per region code: bounded by the world.
        self.regions.insert(region, answer.clone());
        answer
    }
}

/// The fix for a cell that names no zone.
fn bad_zone_fix(cell: &str, suggestion: Option<&str>) -> String {
    let looks_like_offset = {
        let u = cell.to_ascii_uppercase();
        let rest = u
            .strip_prefix("UTC")
            .or_else(|| u.strip_prefix("GMT"))
            .unwrap_or(&u);
        rest.starts_with(['+', '-'])
            && rest
                .bytes()
                .skip(1)
                .all(|b| b.is_ascii_digit() || b == b':')
    };
    let mut fix = match suggestion {
        Some(s) => format!("did you mean {s}? Write the zone's IANA name exactly"),
        None => "write the zone's IANA name, e.g. America/New_York, Europe/Paris or Asia/Kolkata"
            .to_string(),
    };
    if looks_like_offset {
        fix.push_str(
            " (a fixed UTC offset does not follow daylight saving time: name the place instead)",
        );
    }
    fix.push_str(
        ", or leave the cell empty to use the number's country or schedule.timezone; if this \
         column is not meant as the recipient's zone, rename its header or set columns.timezone",
    );
    fix
}

/// Every zone name the database knows, for suggestions; built on first use.
static ZONE_NAMES: LazyLock<Vec<String>> = LazyLock::new(|| {
    jiff::tz::db()
        .available()
        .map(|n| n.as_str().to_string())
        .collect()
});

/// Common abbreviations and words people type for a zone; ambiguous ones
/// (IST, CST outside North America) map to nothing better than a guess, so
/// only the North American and a few unambiguous ones are here.
fn abbreviation(word: &str) -> Option<&'static str> {
    Some(match word {
        "EST" | "EDT" | "ET" | "EASTERN" => "America/New_York",
        "CST" | "CDT" | "CT" | "CENTRAL" => "America/Chicago",
        "MST" | "MDT" | "MT" | "MOUNTAIN" => "America/Denver",
        "PST" | "PDT" | "PT" | "PACIFIC" => "America/Los_Angeles",
        "AKST" | "AKDT" | "ALASKA" => "America/Anchorage",
        "HST" | "HAWAII" => "Pacific/Honolulu",
        "BST" => "Europe/London",
        "CET" | "CEST" => "Europe/Paris",
        "AEST" | "AEDT" => "Australia/Sydney",
        "JST" => "Asia/Tokyo",
        _ => return None,
    })
}

/// The zone name a person most likely meant by `cell`, if one is close.
fn suggest(cell: &str) -> Option<String> {
    let underscored = cell.replace(' ', "_");
    if underscored != cell
        && let Ok(z) = parse_zone(&underscored)
    {
        return z.iana_name().map(str::to_string);
    }
    let upper = cell.to_ascii_uppercase().replace(['_', ' '], "");
    if let Some(z) = abbreviation(upper.trim_end_matches("TIME")) {
        return Some(z.to_string());
    }
    let want = underscored.to_lowercase();
    let city_want = want.rsplit('/').next().unwrap_or(&want).to_string();
    ZONE_NAMES
        .iter()
        .map(|name| {
            let lower = name.to_lowercase();
            let city = lower.rsplit('/').next().unwrap_or(&lower);
            let score = strsim::jaro_winkler(&want, &lower)
                .max(strsim::jaro_winkler(&city_want, city) - 0.02);
            (score, name)
        })
        .filter(|(score, _)| *score >= 0.88)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn near_misses_get_a_suggestion() {
        for (cell, want) in [
            ("America/New York", "America/New_York"),
            ("america/new_york", "America/New_York"), // accepted as is, see below
            ("Amerca/New_York", "America/New_York"),
            ("Europe/Pari", "Europe/Paris"),
            ("PST", "America/Los_Angeles"),
            ("Eastern Time", "America/New_York"),
            ("Kolkata", "Asia/Kolkata"),
            ("Europe/Londn", "Europe/London"),
        ] {
            if parse_zone(cell).is_ok() {
                continue;
            }
            assert_eq!(suggest(cell).as_deref(), Some(want), "{cell}");
        }
        assert_eq!(suggest("Mars/Olympus_Mons"), None);
        assert_eq!(suggest("zzzz"), None);
    }

    #[test]
    fn cells_are_read_and_cached() {
        let mut z = Zones::new(None);
        assert_eq!(z.cell("  "), CellZone::Blank);
        let paris = parse_zone("Europe/Paris").unwrap();
        assert_eq!(z.cell(" Europe/Paris "), CellZone::Zone(paris.clone()));
        assert_eq!(z.cell("Europe/Paris"), CellZone::Zone(paris));
        let CellZone::Bad { fix } = z.cell("UTC+2") else {
            panic!("an offset is not a zone name")
        };
        assert!(fix.contains("daylight saving"), "{fix}");
        let CellZone::Bad { fix } = z.cell("Europe/Pariss") else {
            panic!("a typo")
        };
        assert!(fix.starts_with("did you mean Europe/Paris?"), "{fix}");
        assert_eq!(z.cells.len(), 3);
    }

    #[test]
    fn rows_without_a_cell_use_the_country_then_the_plan() {
        let fr = RegionCode::new("FR");
        let us = RegionCode::new("us");
        let mut none = Zones::new(None);
        assert_eq!(
            none.for_region(fr).unwrap().iana_name(),
            Some("Europe/Paris")
        );
        let err = none.for_region(us).unwrap_err();
        assert!(err.why.starts_with("US has"), "{err:?}");
        assert_eq!(err.example, "America/New_York");
        let ny = parse_zone("America/New_York").unwrap();
        let schedule = Schedule::from_spec(&crate::schedule::ScheduleSpec {
            timezone: Some("America/Chicago".into()),
            ..Default::default()
        })
        .unwrap();
        let mut planned = Zones::new(Some(&schedule));
        assert!(planned.scheduled());
        assert_eq!(
            planned.for_region(us).unwrap().iana_name(),
            Some("America/Chicago")
        );
        assert_eq!(
            planned.for_region(None).unwrap().iana_name(),
            Some("America/Chicago")
        );
        assert_eq!(
            planned.for_region(fr).unwrap().iana_name(),
            Some("Europe/Paris")
        );
        assert_ne!(planned.for_region(us).unwrap(), ny);
        assert!(none.for_region(None).is_err());
    }

    #[test]
    fn the_caches_stay_bounded() {
        let mut z = Zones::new(None);
        for i in 0..(CELL_CACHE + SUGGESTIONS + 10) {
            let _ = z.cell(&format!("Nowhere/Town_{i}"));
        }
        assert_eq!(z.cells.len(), CELL_CACHE);
        assert_eq!(z.suggestions_left, 0);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn any_cell_never_panics(cell in "\\PC{0,40}") {
            let mut z = Zones::new(None);
            let _ = z.cell(&cell);
            let _ = suggest(&cell);
        }
    }
}
