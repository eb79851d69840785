//! The per-row checks and the cross-row memory they need (duplicate
//! numbers and keys, the do-not-call set, cached time zones): one row in,
//! its findings pushed to the [`Sink`] and, when asked, the [`Row`] that
//! `run` dials.

use std::collections::BTreeMap;
use std::collections::hash_map::Entry;
use std::hash::BuildHasher;

use jiff::tz::TimeZone;
use rustc_hash::{FxBuildHasher, FxHashMap};

use super::caller::{At, CallerChecks};
use super::layout::{Layout, column_letters};
use super::zones::{CellZone, Zones};
use super::{Finding, Kind, Row, Sink, number, pipeline, truncate};
use crate::phone::{self, Checked, RegionCode, Rules};
use crate::plan::Plan;
use crate::recipients::{Fields, QuoteProblem, Record, RowAt};
use crate::suppress::SuppressList;

/// A column's header, or its letter when the header is blank.
pub(super) fn column_name(header: &[String], i: usize) -> String {
    match header.get(i) {
        Some(h) if !h.trim().is_empty() => h.clone(),
        _ => column_letters(i),
    }
}

/// The per-row checks and the cross-row memory (duplicates).
pub(crate) struct RowChecker<'p> {
    plan: &'p Plan,
    pub(crate) layout: Layout,
    file: String,
    pub(crate) rules: Rules,
    region: Option<String>,
    from_number: Option<String>,
    /// Numbers and keys of earlier rows, for duplicates.
    seen: Seen,
    /// The plan's do-not-call numbers (normalized).
    dnc: SuppressList,
    /// Zone cells and, with a schedule, each row's zone.
    zones: Zones,
    /// The row's caller ID and agent version against the plan's.
    caller: CallerChecks,
    /// How a row becomes its request's variables and metadata.
    pub(crate) fields: Fields,
    /// Build each [`Row`]'s variables and metadata (else they are left
    /// empty: `run` reads them back when it dials, see [`Row::at`]).
    pub(crate) maps: bool,
}

/// The cross-row memory for duplicates: what grows with the file.
#[derive(Default)]
struct Seen {
    /// Normalized number -> first row.
    numbers: FxHashMap<u64, u64>,
    /// Normalized number -> hash of its first row's key (only with
    /// `columns.key`; apart so the common case stays at 16 bytes a number).
    number_keys: FxHashMap<u64, u64>,
    /// Key -> first row (only with `columns.key`).
    keys: FxHashMap<Box<str>, u64>,
}

fn key_hash(key: &str) -> u64 {
    FxBuildHasher.hash_one(key)
}

impl<'p> RowChecker<'p> {
    pub(crate) fn new(plan: &'p Plan, layout: Layout, file: String, dnc: SuppressList) -> Self {
        // An unknown default_region is a plan finding; rows are then read
        // as international only.
        let rules = plan.phone_rules();
        let from_number = match Rules::default().check(&plan.from_number).outcome {
            Ok(n) => Some(n.e164),
            Err(_) => None,
        };
        RowChecker {
            plan,
            file,
            region: rules.region(),
            rules,
            from_number,
            seen: Seen::default(),
            dnc,
            zones: Zones::new(plan.schedule.as_ref()),
            caller: CallerChecks::new(plan, &layout),
            fields: Fields {
                defaults: plan.variables.clone(),
                variables: layout.variables.clone(),
                metadata: layout.metadata.clone(),
            },
            maps: true,
            layout,
        }
    }

    pub(crate) fn blank_rows(&self, first: u64, last: u64) -> Finding {
        let rows = if first == last {
            format!("row {first} is blank")
        } else {
            format!("rows {first} to {last} are blank")
        };
        Finding::new(
            Kind::BlankRow,
            &self.file,
            format!("{rows}: skipped"),
            "delete blank rows between recipients (blank rows at the end are ignored)",
        )
        .row(first)
    }

    fn column_name(&self, i: usize) -> String {
        column_name(&self.layout.header, i)
    }

    /// A finding about the row at `here`, naming its number as written.
    fn finding(
        &self,
        here: &Here,
        kind: Kind,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        let mut f = Finding::new(kind, &self.file, problem, fix).row(here.row);
        if !here.shown_number.is_empty() {
            f.to_number = Some(here.shown_number.to_string());
        }
        f
    }

    /// Checks one non-blank row, given what a worker prepared (UTF-8, the
    /// number); builds its [`Row`] when `build`. Returns whether the row's
    /// number is on a do-not-call list, and the row. The rule groups run in
    /// a fixed order (shape, number, key and duplicates, required
    /// variables, caller ID and agent version, do-not-call, time zone),
    /// which is the order of the row's
    /// findings.
    pub(crate) fn check(
        &mut self,
        rec: &Record,
        prepared: pipeline::Prepared,
        sink: &mut Sink,
        build: bool,
    ) -> (bool, Option<Row>) {
        let raw_number = self.layout.number.map(|i| rec.text(i));
        let shown_number = raw_number.as_deref().map(str::trim).unwrap_or_default();
        let here = Here {
            row: rec.row(),
            shown_number,
        };

        self.check_shape(&here, rec, prepared.non_utf8, sink);
        if self.is_repeated_header(rec) {
            sink.push(self.finding(
                &here,
                Kind::RepeatedHeader,
                "the header row appears again here (files pasted together?)",
                "delete this row",
            ));
            return (false, build.then(|| here.placeholder_row()));
        }

        let number = match (self.layout.number, raw_number.as_deref(), prepared.number) {
            (Some(i), Some(raw), Some(checked)) => self.check_number(&here, i, raw, checked, sink),
            _ => None,
        };
        let to_number = match &number {
            Some(n) => n.e164.clone(),
            None => shown_number.to_string(),
        };

        let key_cell = self.layout.key.map(|i| rec.text(i).trim().to_string());
        if let (Some(key), Some(i)) = (&key_cell, self.layout.key) {
            self.check_key(&here, i, key, sink);
        }
        if let Some(number_key) = number.as_ref().and_then(|n| n.key) {
            self.check_duplicate_number(&here, number_key, key_cell.as_deref(), &to_number, sink);
        }
        self.check_required_variables(&here, rec, sink);
        let at = At {
            file: &self.file,
            row: here.row,
            shown_number: here.shown_number,
        };
        let recipient = number.as_ref().map(|n| (n.e164.as_str(), n.region));
        let caller = self.caller.check(&at, rec, recipient, sink);
        let suppressed = self.is_suppressed(number.as_ref());
        let zone_cell = self.check_zone_cell(&here, rec, sink);
        let zone = self.row_zone(&here, zone_cell, number.as_ref(), suppressed, sink);

        if !build {
            return (suppressed, None);
        }
        let (variables, metadata) = if self.maps {
            (self.fields.variables(rec), self.fields.metadata(rec))
        } else {
            Default::default()
        };
        let at = RowAt::of(rec);
        let row = Row {
            row: here.row,
            key: key_cell.unwrap_or_else(|| to_number.clone()),
            to_number,
            variables,
            metadata,
            at,
            errors: 0,
            suppressed,
            timezone: zone,
            from_number: caller.from_number,
            agent_version_id: caller.agent_version_id,
        };
        (suppressed, Some(row))
    }

    /// The row's shape: as many cells as the header, UTF-8, well quoted.
    fn check_shape(&self, here: &Here, rec: &Record, non_utf8: Option<usize>, sink: &mut Sink) {
        let width = self.layout.header.len();
        if width > 0 && rec.len() != width {
            sink.push(
                self.finding(
                    here,
                    Kind::RaggedRow,
                    format!("the row has {} cells, the header has {width}", rec.len()),
                    "look for a comma inside a cell that is not in quotes, or a missing or extra \
                     comma; cells holding commas must be quoted",
                )
                .value(&format!("{} cells", rec.len())),
            );
        }
        if let Some(i) = non_utf8 {
            sink.push(
                self.finding(
                    here,
                    Kind::NotUtf8,
                    "the cell has bytes that are not UTF-8 (likely saved as Latin-1 or \
                     Windows-1252): accented letters would arrive garbled",
                    "save the file again as CSV UTF-8 (comma delimited)",
                )
                .column(self.column_name(i))
                .value(&rec.text(i)),
            );
        }
        if let Some((problem, i)) = rec.quote_problem() {
            let what = match problem {
                QuoteProblem::Unterminated => {
                    "a quoted cell opens here and never closes: the rest of the file became part \
                     of it"
                }
                QuoteProblem::TextAfterQuote => {
                    "text follows the closing quote of a quoted cell (a quote inside a cell must \
                     be doubled: \"\")"
                }
            };
            sink.push(
                self.finding(
                    here,
                    Kind::BadQuoting,
                    what,
                    "fix the quotes in this row (or export the file again from the spreadsheet)",
                )
                .column(self.column_name(i))
                .value(&rec.text(i)),
            );
        }
    }

    /// The row repeats the header cell for cell (files pasted together).
    fn is_repeated_header(&self, rec: &Record) -> bool {
        let width = self.layout.header.len();
        width > 0
            && rec.len() == width
            && rec
                .iter()
                .zip(&self.layout.header)
                .all(|(c, h)| c == h.as_bytes())
    }

    /// The number cell (column `i`, `raw` as written), as a worker checked
    /// it: warnings for what was repaired, an error for what cannot be
    /// dialled. `None` when there is no dialable number.
    fn check_number(
        &self,
        here: &Here,
        i: usize,
        raw: &str,
        checked: Checked,
        sink: &mut Sink,
    ) -> Option<Number> {
        let n = match checked.outcome {
            Ok(n) => n,
            Err(p) => {
                let shown = here.shown_number;
                let (kind, problem, fix) =
                    number::explain(&p, &truncate(shown), self.region.as_deref());
                let f = self
                    .finding(here, kind, problem, fix)
                    .column(self.column_name(i));
                sink.push(if shown.is_empty() { f } else { f.value(shown) });
                return None;
            }
        };
        if checked.trimmed {
            sink.push(
                self.finding(
                    here,
                    Kind::NumberWhitespace,
                    "spaces around the number were removed",
                    "remove the spaces in the sheet (nothing to do for this run)",
                )
                .column(self.column_name(i))
                .value(raw),
            );
        }
        if let Some(region) = &n.national_in {
            sink.push(
                self.finding(
                    here,
                    Kind::NationalNormalized,
                    format!(
                        "written nationally; read as a {region} number (default_region): {}",
                        n.e164
                    ),
                    format!(
                        "check that it is a {region} number, or write it as {}",
                        n.e164
                    ),
                )
                .column(self.column_name(i))
                .value(raw),
            );
        }
        if self.from_number.as_deref() == Some(n.e164.as_str()) {
            sink.push(
                self.finding(
                    here,
                    Kind::SameAsFromNumber,
                    "the recipient is the plan's from_number: the campaign would call itself",
                    "delete the row, or correct the number",
                )
                .column(self.column_name(i))
                .value(raw),
            );
        }
        Some(Number {
            key: phone::e164_key(&n.e164),
            region: n.region,
            e164: n.e164,
        })
    }

    /// The `columns.key` cell (column `i`, trimmed): present, and not the
    /// key of an earlier row.
    fn check_key(&mut self, here: &Here, i: usize, key: &str, sink: &mut Sink) {
        if key.is_empty() {
            let column = self.column_name(i);
            sink.push(
                self.finding(
                    here,
                    Kind::MissingKey,
                    format!("the key (`{column}`, columns.key) is empty"),
                    "fill in the key: it is what a rerun recognises the row by",
                )
                .column(column),
            );
            return;
        }
        let first = match self.seen.keys.entry(key.into()) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                e.insert(here.row);
                return;
            }
        };
        sink.push(
            self.finding(
                here,
                Kind::DuplicateKey,
                format!("key `{}` is also on row {first}", truncate(key)),
                "each row needs its own key: delete the duplicate or correct the key",
            )
            .column(self.column_name(i))
            .value(key),
        );
    }

    /// A number seen on an earlier row: an error without `columns.key`
    /// (it would be called twice), a warning when the rows carry different
    /// keys (two people, one phone), nothing when the key repeats too (the
    /// duplicate key is the finding then).
    fn check_duplicate_number(
        &mut self,
        here: &Here,
        number_key: u64,
        key_cell: Option<&str>,
        to_number: &str,
        sink: &mut Sink,
    ) {
        let kh = key_cell.map(key_hash).unwrap_or(0);
        let first = match self.seen.numbers.entry(number_key) {
            Entry::Vacant(e) => {
                e.insert(here.row);
                if key_cell.is_some() {
                    self.seen.number_keys.insert(number_key, kh);
                }
                return;
            }
            Entry::Occupied(e) => *e.get(),
        };
        let first_kh = self.seen.number_keys.get(&number_key).copied().unwrap_or(0);
        let column = self
            .layout
            .number
            .map(|i| self.column_name(i))
            .unwrap_or_default();
        let finding = match key_cell {
            None => self.finding(
                here,
                Kind::DuplicateNumber,
                format!("{to_number} is also on row {first}: it would be called twice"),
                format!("delete one of rows {first} and {}", here.row),
            ),
            Some(k) if !k.is_empty() && kh != first_kh => self.finding(
                here,
                Kind::SharedNumber,
                format!(
                    "{to_number} is also on row {first} under another key: both rows will be \
                     called"
                ),
                "nothing to do if that is intended (two people, one phone); else delete one row",
            ),
            Some(_) => return,
        };
        sink.push(finding.column(column).value(here.shown_number));
    }

    /// Required variables: a non-empty cell, or a default in the plan.
    fn check_required_variables(&self, here: &Here, rec: &Record, sink: &mut Sink) {
        for (name, i, has_default) in &self.layout.required {
            if !has_default && rec.text(*i).trim().is_empty() {
                sink.push(
                    self.finding(
                        here,
                        Kind::MissingVariable,
                        format!(
                            "required variable `{name}` is empty and has no default: the agent \
                             would speak the raw {{{{{name}}}}} placeholder"
                        ),
                        format!(
                            "fill in `{name}`, or give it a default under `variables:` in the plan"
                        ),
                    )
                    .column(name.clone()),
                );
            }
        }
    }

    /// Do-not-call: one probe, skipped when there are no lists.
    fn is_suppressed(&self, number: Option<&Number>) -> bool {
        !self.dnc.is_empty() && number.is_some_and(|n| self.dnc.contains(&n.e164))
    }

    /// The time zone cell, checked whenever the column exists (schedule or
    /// not): a bad name is an error.
    fn check_zone_cell(&mut self, here: &Here, rec: &Record, sink: &mut Sink) -> ZoneCell {
        let Some(i) = self.layout.timezone else {
            return ZoneCell::Blank;
        };
        let text = rec.text(i);
        let fix = match self.zones.cell(&text) {
            CellZone::Blank => return ZoneCell::Blank,
            CellZone::Zone(z) => return ZoneCell::Zone(z),
            CellZone::Bad { fix } => fix,
        };
        sink.push(
            self.finding(
                here,
                Kind::BadTimezone,
                format!(
                    "`{}` is not an IANA time zone name (Area/City, as in the tz database)",
                    truncate(text.trim())
                ),
                fix,
            )
            .column(self.column_name(i))
            .value(text.trim()),
        );
        ZoneCell::Bad
    }

    /// The zone the row is called in, worked out only when the plan has a
    /// schedule, and only for rows that would be dialled (a bad number
    /// already blocks its row; a suppressed one is never called): the cell,
    /// else the number's country when it keeps one clock, else
    /// `schedule.timezone`, else a `no_timezone` error.
    fn row_zone(
        &mut self,
        here: &Here,
        cell: ZoneCell,
        number: Option<&Number>,
        suppressed: bool,
        sink: &mut Sink,
    ) -> Option<TimeZone> {
        if !self.zones.scheduled() {
            return None;
        }
        let number = match (cell, number) {
            (ZoneCell::Zone(z), _) => return Some(z),
            (ZoneCell::Bad, _) | (_, None) => return None,
            (ZoneCell::Blank, Some(_)) if suppressed => return None,
            (ZoneCell::Blank, Some(n)) => n,
        };
        let no = match self.zones.for_region(number.region) {
            Ok(z) => return Some(z),
            Err(no) => no,
        };
        let column = self.plan.columns.timezone_column().to_string();
        sink.push(
            self.finding(
                here,
                Kind::NoTimezone,
                format!(
                    "no time zone for this row: {}; the plan has a schedule, and callplan does \
                     not guess the hour at which to ring someone",
                    no.why
                ),
                format!(
                    "add a `{column}` column with the recipient's IANA zone (e.g. {}; cells may \
                     stay empty where the number's country has one zone), or set \
                     schedule.timezone in the plan for rows without one",
                    no.example
                ),
            )
            .column(column),
        );
        None
    }
}

/// Where a row's findings point: its row and its number as written
/// (trimmed; empty when there is no number column or cell).
struct Here<'a> {
    row: u64,
    shown_number: &'a str,
}

impl Here<'_> {
    /// The row handed on for a repeated header: no key, no variables (its
    /// error keeps it from being dialled).
    fn placeholder_row(&self) -> Row {
        Row {
            row: self.row,
            key: String::new(),
            to_number: self.shown_number.to_string(),
            variables: BTreeMap::new(),
            metadata: BTreeMap::new(),
            at: RowAt::Unknown,
            errors: 0,
            suppressed: false,
            timezone: None,
            from_number: String::new(),
            agent_version_id: String::new(),
        }
    }
}

/// A dialable number of a row, as the later rules need it.
struct Number {
    /// Normalized E.164.
    e164: String,
    /// The number as a 64-bit integer, for duplicate detection.
    key: Option<u64>,
    /// Its country, for the row's time zone.
    region: Option<RegionCode>,
}

/// What the zone cell gave, after its finding (if any) was pushed.
enum ZoneCell {
    /// No zone column, or an empty cell.
    Blank,
    /// A zone the tz database knows.
    Zone(TimeZone),
    /// Not a zone name (already an error of the row).
    Bad,
}
