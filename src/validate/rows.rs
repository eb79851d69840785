//! The per-row checks and the cross-row memory they need (duplicate
//! numbers and keys): one row in, its findings pushed to the [`Sink`] and,
//! when asked, the [`Row`] that `run` dials.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::collections::hash_map::Entry;
use std::hash::BuildHasher;

use rustc_hash::{FxBuildHasher, FxHashMap};

use super::layout::{Layout, column_letters};
use super::{Finding, Kind, Row, Sink, number, pipeline, truncate};
use crate::phone::{self, Rules};
use crate::plan::Plan;
use crate::recipients::{QuoteProblem, Record};

/// A column's header, or its letter when the header is blank.
fn column_name(header: &[String], i: usize) -> String {
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
    pub(crate) fn new(plan: &'p Plan, layout: Layout, file: String) -> Self {
        // An unknown default_region is a plan finding; rows are then read
        // as international only.
        let rules = Rules::new(plan.default_region.as_deref()).unwrap_or_default();
        let from_number = match Rules::default().check(&plan.from_number).outcome {
            Ok(n) => Some(n.e164),
            Err(_) => None,
        };
        RowChecker {
            plan,
            layout,
            file,
            region: rules.region(),
            rules,
            from_number,
            numbers: FxHashMap::default(),
            number_keys: FxHashMap::default(),
            keys: FxHashMap::default(),
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

    /// Checks one non-blank row, given what a worker prepared (UTF-8, the
    /// number); builds its [`Row`] when `build`.
    pub(crate) fn check(
        &mut self,
        rec: &Record,
        prepared: pipeline::Prepared,
        sink: &mut Sink,
        build: bool,
    ) -> Option<Row> {
        let row = rec.row();
        let cell = |i: usize| -> Cow<'_, str> { rec.text(i) };
        let raw_number = self.layout.number.map(&cell);
        let shown_number = raw_number.as_deref().map(str::trim).unwrap_or_default();
        let new = |kind, problem: String, fix: String| {
            let mut f = Finding::new(kind, &self.file, problem, fix).row(row);
            if !shown_number.is_empty() {
                f.to_number = Some(shown_number.to_string());
            }
            f
        };

        let width = self.layout.header.len();
        if width > 0 && rec.len() != width {
            sink.push(
                new(
                    Kind::RaggedRow,
                    format!("the row has {} cells, the header has {width}", rec.len()),
                    "look for a comma inside a cell that is not in quotes, or a missing or extra \
                     comma; cells holding commas must be quoted"
                        .into(),
                )
                .value(&format!("{} cells", rec.len())),
            );
        }
        if let Some(i) = prepared.non_utf8 {
            sink.push(
                new(
                    Kind::NotUtf8,
                    "the cell has bytes that are not UTF-8 (likely saved as Latin-1 or \
                     Windows-1252): accented letters would arrive garbled"
                        .into(),
                    "save the file again as CSV UTF-8 (comma delimited)".into(),
                )
                .column(self.column_name(i))
                .value(&cell(i)),
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
                new(
                    Kind::BadQuoting,
                    what.into(),
                    "fix the quotes in this row (or export the file again from the spreadsheet)"
                        .into(),
                )
                .column(self.column_name(i))
                .value(&cell(i)),
            );
        }
        if width > 0
            && rec.len() == width
            && rec
                .iter()
                .zip(&self.layout.header)
                .all(|(c, h)| c == h.as_bytes())
        {
            sink.push(new(
                Kind::RepeatedHeader,
                "the header row appears again here (files pasted together?)".into(),
                "delete this row".into(),
            ));
            return build.then(|| Row {
                row,
                key: String::new(),
                to_number: shown_number.to_string(),
                variables: BTreeMap::new(),
                metadata: BTreeMap::new(),
                errors: 0,
            });
        }

        // The number.
        let mut number_key = None;
        let mut normalized = None;
        if let (Some(i), Some(raw), Some(checked)) =
            (self.layout.number, raw_number.as_deref(), prepared.number)
        {
            let column = || self.column_name(i);
            match checked.outcome {
                Ok(n) => {
                    if checked.trimmed {
                        sink.push(
                            new(
                                Kind::NumberWhitespace,
                                "spaces around the number were removed".into(),
                                "remove the spaces in the sheet (nothing to do for this run)"
                                    .into(),
                            )
                            .column(column())
                            .value(raw),
                        );
                    }
                    if let Some(region) = &n.national_in {
                        sink.push(
                            new(
                                Kind::NationalNormalized,
                                format!(
                                    "written nationally; read as a {region} number (default_region): {}",
                                    n.e164
                                ),
                                format!("check that it is a {region} number, or write it as {}", n.e164),
                            )
                            .column(column())
                            .value(raw),
                        );
                    }
                    if self.from_number.as_deref() == Some(n.e164.as_str()) {
                        sink.push(
                            new(
                                Kind::SameAsFromNumber,
                                "the recipient is the plan's from_number: the campaign would call \
                                 itself"
                                    .into(),
                                "delete the row, or correct the number".into(),
                            )
                            .column(column())
                            .value(raw),
                        );
                    }
                    number_key = phone::e164_key(&n.e164);
                    normalized = Some(n.e164);
                }
                Err(p) => {
                    let (kind, problem, fix) =
                        number::explain(&p, &truncate(shown_number), self.region.as_deref());
                    let f = new(kind, problem, fix).column(column());
                    sink.push(if shown_number.is_empty() {
                        f
                    } else {
                        f.value(shown_number)
                    });
                }
            }
        }

        let to_number = || match &normalized {
            Some(n) => n.clone(),
            None => shown_number.to_string(),
        };

        // The key, and duplicates.
        let key_cell = self.layout.key.map(|i| cell(i).trim().to_string());
        if let (Some(k), Some(i)) = (&key_cell, self.layout.key) {
            let header = &self.layout.header;
            let column = || column_name(header, i);
            if k.is_empty() {
                sink.push(
                    new(
                        Kind::MissingKey,
                        format!("the key (`{}`, columns.key) is empty", column()),
                        "fill in the key: it is what a rerun recognises the row by".into(),
                    )
                    .column(column()),
                );
            } else {
                match self.keys.entry(k.clone().into_boxed_str()) {
                    Entry::Occupied(e) => sink.push(
                        new(
                            Kind::DuplicateKey,
                            format!("key `{}` is also on row {}", truncate(k), e.get()),
                            "each row needs its own key: delete the duplicate or correct the key"
                                .into(),
                        )
                        .column(column())
                        .value(k),
                    ),
                    Entry::Vacant(e) => {
                        e.insert(row);
                    }
                }
            }
        }
        if let Some(nk) = number_key {
            let header = &self.layout.header;
            let number_col = self.layout.number;
            let column = || {
                number_col
                    .map(|i| column_name(header, i))
                    .unwrap_or_default()
            };
            let kh = key_cell.as_deref().map(key_hash).unwrap_or(0);
            match self.numbers.entry(nk) {
                Entry::Vacant(e) => {
                    e.insert(row);
                    if key_cell.is_some() {
                        self.number_keys.insert(nk, kh);
                    }
                }
                Entry::Occupied(e) => {
                    let first = *e.get();
                    let first_kh = self.number_keys.get(&nk).copied().unwrap_or(0);
                    match &key_cell {
                        None => sink.push(
                            new(
                                Kind::DuplicateNumber,
                                format!(
                                    "{} is also on row {first}: it would be called twice",
                                    to_number()
                                ),
                                format!("delete one of rows {first} and {row}"),
                            )
                            .column(column())
                            .value(shown_number),
                        ),
                        Some(k) if !k.is_empty() && kh != first_kh => sink.push(
                            new(
                                Kind::SharedNumber,
                                format!(
                                    "{} is also on row {first} under another key: both rows will \
                                     be called",
                                    to_number()
                                ),
                                "nothing to do if that is intended (two people, one phone); else \
                                 delete one row"
                                    .into(),
                            )
                            .column(column())
                            .value(shown_number),
                        ),
                        Some(_) => {}
                    }
                }
            }
        }

        // Required variables.
        for (name, i, has_default) in &self.layout.required {
            if !has_default && cell(*i).trim().is_empty() {
                sink.push(
                    new(
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

        if !build {
            return None;
        }
        let mut variables = self.plan.variables.clone();
        for (name, i) in &self.layout.variables {
            let v = cell(*i);
            let v = v.trim();
            if !v.is_empty() {
                variables.insert(name.clone(), v.to_string());
            }
        }
        let metadata = self
            .layout
            .metadata
            .iter()
            .map(|(name, i)| (name.clone(), cell(*i).trim().to_string()))
            .collect();
        let to_number = to_number();
        Some(Row {
            row,
            key: key_cell.unwrap_or_else(|| to_number.clone()),
            to_number,
            variables,
            metadata,
            errors: 0,
        })
    }
}
