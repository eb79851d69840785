//! Which time zone a recipient lives in.
//!
//! Order of precedence, most specific first: the row's `timezone` cell (an
//! IANA name), then the zone of the number's country when that country keeps
//! one clock (France, Germany, Japan...), then the plan's
//! `schedule.timezone`. A number in a country with several clocks (US,
//! Canada, Australia, Brazil...) and no other hint is an error, because
//! guessing could mean calling someone at 6 in the morning.

use jiff::tz::TimeZone;

use super::country_zones::COUNTRY_ZONES;

/// Why no zone could be chosen for a row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    /// The `timezone` cell names no zone jiff knows.
    #[error(
        "timezone `{name}` is not an IANA time zone name; write one like America/New_York or Europe/Paris"
    )]
    UnknownZone { name: String },
    /// No cell, no single-zone country, no plan zone.
    #[error(
        "no time zone for this row: {why}; add a `timezone` column (IANA name, e.g. {example}) or set schedule.timezone in the plan"
    )]
    NoZone {
        /// What was tried, e.g. "US has 29 time zones (America/New_York, ...)".
        why: String,
        /// An example zone name fitting the row's country.
        example: String,
    },
}

/// Longest IANA name in use is 32 bytes (America/Argentina/ComodRivadavia);
/// leave room, refuse anything absurd before it reaches the database.
const MAX_ZONE_NAME: usize = 64;

/// Looks up an IANA zone name (case-insensitive, as the tz database is).
/// Refuses anything that is not shaped like one (paths, offsets, control
/// characters) before asking the database.
pub fn parse_zone(name: &str) -> Result<TimeZone, ZoneError> {
    let trimmed = name.trim();
    let unknown = || ZoneError::UnknownZone {
        name: name.to_string(),
    };
    let shaped = !trimmed.is_empty()
        && trimmed.len() <= MAX_ZONE_NAME
        && trimmed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-' | b'+'))
        && !trimmed.starts_with('/')
        && !trimmed
            .split('/')
            .any(|part| part.is_empty() || part.starts_with('-'));
    if !shaped {
        return Err(unknown());
    }
    TimeZone::get(trimmed).map_err(|_| unknown())
}

/// The one zone of a country (ISO 3166 alpha-2, any case), or `None` when
/// the country keeps several clocks or is not in the table.
pub fn single_zone_of_country(region: &str) -> Option<&'static str> {
    lookup(region).and_then(|(_, single, _)| *single)
}

/// Every zone the tz database lists for a country (empty when unknown).
pub fn country_zones(region: &str) -> &'static [&'static str] {
    lookup(region).map_or(&[], |(_, _, zones)| zones)
}

type Entry = (&'static str, Option<&'static str>, &'static [&'static str]);

fn lookup(region: &str) -> Option<&'static Entry> {
    let code = region.trim().to_ascii_uppercase();
    COUNTRY_ZONES
        .binary_search_by(|(c, _, _)| c.cmp(&code.as_str()))
        .ok()
        .and_then(|i| COUNTRY_ZONES.get(i))
}

/// The zone a recipient is called in.
///
/// - `tz_cell`: the row's `timezone` cell; blank counts as absent;
/// - `region`: the number's country as the phone library reports it
///   (ISO 3166 alpha-2, e.g. `FR`);
/// - `plan_zone`: the schedule's `timezone`, if any.
pub fn zone_for_row(
    tz_cell: Option<&str>,
    region: Option<&str>,
    plan_zone: Option<&TimeZone>,
) -> Result<TimeZone, ZoneError> {
    if let Some(cell) = tz_cell.filter(|c| !c.trim().is_empty()) {
        return parse_zone(cell);
    }
    if let Some(name) = region.and_then(single_zone_of_country)
        && let Ok(zone) = parse_zone(name)
    {
        return Ok(zone);
    }
    if let Some(zone) = plan_zone {
        return Ok(zone.clone());
    }
    let region = region.map(|r| r.trim().to_ascii_uppercase());
    let (why, example) = match region.as_deref() {
        None | Some("") => (
            "the number's country is unknown".to_string(),
            "America/New_York".to_string(),
        ),
        Some(code) => {
            let zones = country_zones(code);
            match zones {
                [] => (
                    format!("country {code} is not in the time zone table"),
                    "America/New_York".to_string(),
                ),
                [first, ..] => {
                    let shown: Vec<&str> = zones.iter().take(3).copied().collect();
                    let more = if zones.len() > 3 { ", ..." } else { "" };
                    (
                        format!(
                            "{code} has {} time zones ({}{more})",
                            zones.len(),
                            shown.join(", ")
                        ),
                        (*first).to_string(),
                    )
                }
            }
        }
    };
    Err(ZoneError::NoZone { why, example })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    fn name(zone: &TimeZone) -> &str {
        zone.iana_name().unwrap_or("?")
    }

    #[test]
    fn single_zone_countries() {
        assert_eq!(single_zone_of_country("FR"), Some("Europe/Paris"));
        assert_eq!(single_zone_of_country("fr"), Some("Europe/Paris"));
        assert_eq!(single_zone_of_country("JP"), Some("Asia/Tokyo"));
        // Germany lists Berlin and Busingen, which keep the same clock.
        assert_eq!(single_zone_of_country("DE"), Some("Europe/Berlin"));
        for multi in ["US", "CA", "AU", "BR", "RU", "MX", "ES", "PT"] {
            assert_eq!(single_zone_of_country(multi), None, "{multi}");
            assert!(country_zones(multi).len() > 1, "{multi}");
        }
        for unknown in ["", "ZZ", "001", "USA", "../", "\u{0}"] {
            assert_eq!(single_zone_of_country(unknown), None, "{unknown:?}");
            assert!(country_zones(unknown).is_empty(), "{unknown:?}");
        }
    }

    #[test]
    fn cell_beats_country_beats_plan() {
        let ny = TimeZone::get("America/New_York").expect("zone");
        let z = zone_for_row(Some("Europe/Paris"), Some("US"), Some(&ny)).expect("cell");
        assert_eq!(name(&z), "Europe/Paris");
        let z = zone_for_row(Some("  "), Some("FR"), Some(&ny)).expect("country");
        assert_eq!(name(&z), "Europe/Paris");
        let z = zone_for_row(None, Some("US"), Some(&ny)).expect("plan");
        assert_eq!(name(&z), "America/New_York");
        let z = zone_for_row(None, None, Some(&ny)).expect("plan");
        assert_eq!(name(&z), "America/New_York");
        // A cell that names no zone is an error, not a silent fallback.
        let err = zone_for_row(Some("Mars/Olympus"), Some("FR"), Some(&ny)).expect_err("bad");
        assert!(err.to_string().contains("Mars/Olympus"), "{err}");
    }

    #[test]
    fn no_zone_says_what_to_add() {
        let err = zone_for_row(None, Some("US"), None).expect_err("multi");
        let msg = err.to_string();
        assert!(
            msg.contains("US has") && msg.contains("America/New_York"),
            "{msg}"
        );
        assert!(
            msg.contains("`timezone` column") && msg.contains("schedule.timezone"),
            "{msg}"
        );
        let msg = zone_for_row(None, None, None)
            .expect_err("none")
            .to_string();
        assert!(msg.contains("unknown"), "{msg}");
        let msg = zone_for_row(None, Some("ZZ"), None)
            .expect_err("zz")
            .to_string();
        assert!(msg.contains("ZZ"), "{msg}");
    }

    #[test]
    fn hostile_zone_names_are_refused() {
        for name in [
            "",
            "../../../../etc/passwd",
            "/etc/localtime",
            "America/../America/New_York",
            "America//New_York",
            "UTC\0",
            "+02:00",
            "-05",
            "Europe/Parisssssssssssssssssssssssssssssssssssssssssssssssssssssssssssssss",
            "Amérique/Paris",
            "posix:EST5EDT",
        ] {
            let err = parse_zone(name).expect_err(name);
            assert!(err.to_string().contains("not an IANA"), "{name:?}: {err}");
        }
        // Trailing newline is trimmed: a spreadsheet cell often carries one.
        assert_eq!(
            name(&parse_zone("Europe/Paris\n").expect("trim")),
            "Europe/Paris"
        );
        assert_eq!(name(&parse_zone("utc").expect("case")), "UTC");
        assert!(parse_zone(&"A/".repeat(10_000)).is_err());
    }

    /// The table was generated from the system's tzdata; jiff may carry a
    /// newer one. Every name must resolve, and zones merged into one country
    /// clock must still agree in jiff's data (hourly, through 2028).
    #[test]
    fn generated_table_agrees_with_jiff() {
        let start: Timestamp = "2026-01-01T00:00:00Z".parse().expect("ts");
        let end: Timestamp = "2029-01-01T00:00:00Z".parse().expect("ts");
        for (code, single, zones) in COUNTRY_ZONES {
            let resolved: Vec<TimeZone> = zones
                .iter()
                .map(|z| parse_zone(z).unwrap_or_else(|e| panic!("{code} {z}: {e}")))
                .collect();
            let Some(first) = resolved.first() else {
                panic!("{code} has no zones");
            };
            if single.is_none() || resolved.len() == 1 {
                continue;
            }
            assert_eq!(*single, zones.first().copied(), "{code}");
            let mut t = start;
            while t < end {
                for other in &resolved[1..] {
                    assert_eq!(first.to_offset(t), other.to_offset(t), "{code} at {t}");
                }
                t = t
                    .checked_add(jiff::SignedDuration::from_hours(1))
                    .expect("add");
            }
        }
    }
}
