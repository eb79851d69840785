//! Per-row and cross-row checks of the recipients against the plan, and the
//! findings they produce.
//!
//! [`validate`] streams the CSV once: each row is checked, handed to the
//! caller as a [`Row`] (what `run` dials) and forgotten. What grows with the
//! number of rows is only duplicate detection (normalized numbers as 64-bit
//! integers, plus the keys when the plan sets `columns.key`, each mapped to
//! its first row) and the findings kept for the report: at most
//! [`SAMPLE_PER_KIND`] findings of each kind are kept in memory (the counts
//! stay exact), while a findings callback ([`validate_with`]) sees every
//! one, which is how `--errors-out` writes them all.
//!
//! Plan-level and header errors block every row: they are counted in each
//! [`Row::errors`], so a row with `errors == 0` is dialable as it stands.
//!
//! Layout: `finding` (codes and the finding type), `layout` (the header),
//! `rows` (per-row checks, duplicates), `number` (words for number
//! problems), `pipeline` (numbers checked on worker threads, results in
//! file order), `output` (text, JSON, `--errors-out`).

mod finding;
mod layout;
mod number;
mod output;
mod pipeline;
mod rows;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

pub use crate::recipients::InputError;
pub use finding::{Finding, Kind, Severity, VALUE_CHARS, truncate};
pub use output::{ErrorsOut, summary_line, write_report};

use crate::plan::{Plan, display_path};
use crate::recipients::{Reader, Record};
use layout::Layout;
use rows::RowChecker;

/// Findings of one kind kept in memory for the report; the rest are
/// counted (and passed to the findings callback).
pub const SAMPLE_PER_KIND: u64 = 1000;

/// One recipient row, as `run` needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Spreadsheet row (the header is row 1).
    pub row: u64,
    /// The `columns.key` cell, else the normalized number.
    pub key: String,
    /// Normalized E.164, or the trimmed cell when it is not a valid number.
    pub to_number: String,
    /// The plan's default variables, overridden by the row's non-empty cells.
    pub variables: BTreeMap<String, String>,
    /// The row's `columns.metadata` cells (trimmed).
    pub metadata: BTreeMap<String, String>,
    /// Errors that block this row: its own plus the plan's and the
    /// header's. 0 means dialable.
    pub errors: u32,
}

/// Everything `validate` found, and the counts for the summary line.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The plan file, as shown to the user.
    pub plan_file: String,
    /// The recipients file, as shown to the user.
    pub recipients_file: String,
    /// Findings in the order found (plan, header, rows), at most
    /// [`SAMPLE_PER_KIND`] of each kind.
    pub findings: Vec<Finding>,
    /// Exact number of findings of each kind.
    pub counts: BTreeMap<Kind, u64>,
    /// Findings counted but not kept in `findings`.
    pub findings_omitted: u64,
    /// Findings that are errors.
    pub errors: u64,
    /// Findings that are warnings.
    pub warnings: u64,
    /// Recipient rows read (blank rows not counted).
    pub rows_read: u64,
    /// Rows without errors: they would be dialled.
    pub ready: u64,
    /// Rows with at least one error (their own, or the plan's or header's).
    pub with_errors: u64,
    /// Ready rows that carry at least one warning.
    pub with_warnings: u64,
}

impl Report {
    /// True when anything blocks the campaign: exit code 1.
    pub fn has_errors(&self) -> bool {
        self.errors > 0
    }
}

/// Collects findings: calls the callback with every one, keeps a sample.
pub(crate) struct Sink<'a> {
    on_finding: &'a mut dyn FnMut(&Finding),
    pub(crate) recipients_file: String,
    kept: Vec<Finding>,
    counts: BTreeMap<Kind, u64>,
    omitted: u64,
    pub(crate) errors: u64,
    pub(crate) warnings: u64,
}

impl<'a> Sink<'a> {
    fn new(on_finding: &'a mut dyn FnMut(&Finding), recipients_file: String) -> Self {
        Sink {
            on_finding,
            recipients_file,
            kept: Vec::new(),
            counts: BTreeMap::new(),
            omitted: 0,
            errors: 0,
            warnings: 0,
        }
    }

    pub(crate) fn push(&mut self, f: Finding) {
        (self.on_finding)(&f);
        match f.severity {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
        }
        let n = self.counts.entry(f.kind).or_insert(0);
        *n += 1;
        if *n <= SAMPLE_PER_KIND {
            self.kept.push(f);
        } else {
            self.omitted += 1;
        }
    }
}

/// Validates the plan and every row of `recipients`, calling `on_row` with
/// each recipient row in file order (rows with errors too: check
/// [`Row::errors`]). Plan-level findings are included (row none).
///
/// Errs only when the CSV cannot be read at all (exit code 2); every other
/// problem is a finding.
pub fn validate(
    plan: &Plan,
    recipients: &Path,
    on_row: impl FnMut(Row),
) -> Result<Report, InputError> {
    run(plan, recipients, &mut |_| {}, Some(on_row))
}

/// [`validate`], also calling `on_finding` with every finding as it is
/// found, including those beyond the [`SAMPLE_PER_KIND`] kept in the report.
pub fn validate_with(
    plan: &Plan,
    recipients: &Path,
    on_finding: &mut dyn FnMut(&Finding),
    on_row: impl FnMut(Row),
) -> Result<Report, InputError> {
    run(plan, recipients, on_finding, Some(on_row))
}

/// [`validate_with`] without building [`Row`]s: what `callplan validate`
/// runs, as it has no use for them.
pub fn check(
    plan: &Plan,
    recipients: &Path,
    on_finding: &mut dyn FnMut(&Finding),
) -> Result<Report, InputError> {
    run(plan, recipients, on_finding, None::<fn(Row)>)
}

fn run<F: FnMut(Row)>(
    plan: &Plan,
    recipients: &Path,
    on_finding: &mut dyn FnMut(&Finding),
    mut on_row: Option<F>,
) -> Result<Report, InputError> {
    let recipients_file = display_path(recipients);
    let mut sink = Sink::new(on_finding, recipients_file.clone());
    for f in plan.check() {
        sink.push(f);
    }
    let plan_errors = u32::try_from(sink.errors).unwrap_or(u32::MAX);

    let shown = Path::new(&recipients_file);
    let mut reader = Reader::open_as(recipients, shown)?;
    let mut rec = Record::default();
    let header = if reader.read_record(&mut rec)? {
        let mut cells = Vec::with_capacity(rec.len());
        for c in rec.iter() {
            let s = std::str::from_utf8(c).map_err(|_| InputError::HeaderNotUtf8 {
                path: shown.to_path_buf(),
            })?;
            cells.push(s.to_string());
        }
        Some(cells)
    } else {
        None
    };
    let had_header = header.is_some();
    let layout = Layout::analyze(plan, header, &mut sink);
    let base_errors = plan_errors.saturating_add(layout.errors);
    let mut checker = RowChecker::new(plan, layout, recipients_file.clone());

    let mut report = Report {
        plan_file: display_path(&plan.path),
        recipients_file,
        ..Report::default()
    };
    let mut blanks: Option<(u64, u64)> = None;
    let number_col = checker.layout.number;
    let rules = checker.rules;
    let build = on_row.is_some();
    pipeline::for_each_prepared(reader, number_col, rules, |rec, prepared| {
        if prepared.blank {
            blanks = Some(match blanks {
                Some((first, _)) => (first, rec.row()),
                None => (rec.row(), rec.row()),
            });
            return;
        }
        if let Some((first, last)) = blanks.take() {
            sink.push(checker.blank_rows(first, last));
        }
        let (errors_before, warnings_before) = (sink.errors, sink.warnings);
        let row = checker.check(rec, prepared, &mut sink, build);
        let own_errors = u32::try_from(sink.errors - errors_before).unwrap_or(u32::MAX);
        let errors = own_errors.saturating_add(base_errors);
        report.rows_read += 1;
        if errors == 0 {
            report.ready += 1;
            if sink.warnings > warnings_before {
                report.with_warnings += 1;
            }
        } else {
            report.with_errors += 1;
        }
        if let (Some(f), Some(mut row)) = (on_row.as_mut(), row) {
            row.errors = errors;
            f(row);
        }
    })?;
    if had_header && report.rows_read == 0 {
        sink.push(Finding::new(
            Kind::NoRows,
            &sink.recipients_file,
            "the file has a header but no recipient rows: nobody would be called",
            "add one recipient per row under the header",
        ));
    }
    report.findings = sink.kept;
    report.counts = sink.counts;
    report.findings_omitted = sink.omitted;
    report.errors = sink.errors;
    report.warnings = sink.warnings;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn plan(extra: &str) -> Plan {
        let text = format!(
            "name: t\nfrom_number: \"+14155550100\"\nagent_version_id: av_t\nrecipients: r.csv\n\
             required_variables: [name]\n{extra}"
        );
        crate::plan::from_yaml(&text, Path::new("/t/p.yaml")).unwrap()
    }

    fn try_bytes(plan: &Plan, data: &[u8]) -> Result<(Report, Vec<Row>, u64), InputError> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, data).unwrap();
        let mut rows = Vec::new();
        let mut seen = 0u64;
        let report = validate_with(plan, file.path(), &mut |_| seen += 1, |r| rows.push(r))?;
        Ok((report, rows, seen))
    }

    fn check_bytes(plan: &Plan, data: &[u8]) -> (Report, Vec<Row>, u64) {
        try_bytes(plan, data).expect("readable")
    }

    fn invariants(report: &Report, rows: &[Row], seen: u64) {
        assert_eq!(report.ready + report.with_errors, report.rows_read);
        assert!(report.with_warnings <= report.ready);
        assert_eq!(rows.len() as u64, report.rows_read);
        assert_eq!(
            rows.iter().filter(|r| r.errors == 0).count() as u64,
            report.ready
        );
        assert_eq!(seen, report.errors + report.warnings);
        assert_eq!(
            report.counts.values().sum::<u64>(),
            report.findings.len() as u64 + report.findings_omitted
        );
        assert!(rows.windows(2).all(|w| w[0].row < w[1].row));
    }

    #[test]
    fn a_clean_file() {
        let p = plan("variables:\n  clinic: Sunrise\n");
        let (report, rows, _) = check_bytes(
            &p,
            b"to_number,name,clinic\n+12125550142,Ann,\n+442079460123,Bo,Leeds\n",
        );
        assert!(!report.has_errors(), "{:?}", report.findings);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].variables["clinic"], "Sunrise");
        assert_eq!(rows[1].variables["clinic"], "Leeds");
    }

    #[test]
    fn duplicates_name_the_first_row() {
        let p = plan("");
        let (report, rows, _) = check_bytes(
            &p,
            b"to_number,name\n+12125550142,A\n+12125550143,B\n+12125550142,C\n+12125550142,D\n",
        );
        let dups: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.kind == Kind::DuplicateNumber)
            .map(|f| (f.row, f.problem.contains("row 2")))
            .collect();
        assert_eq!(dups, vec![(Some(4), true), (Some(5), true)]);
        assert_eq!(
            rows.iter().map(|r| r.errors).collect::<Vec<_>>(),
            [0, 0, 1, 1]
        );
    }

    #[test]
    fn runs_of_blank_rows_are_one_warning_and_trailing_ones_none() {
        let p = plan("");
        let (report, _, _) = check_bytes(
            &p,
            b"to_number,name\n+12125550142,A\n\n,\n+12125550143,B\n\n,\n\n",
        );
        let blanks: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.kind == Kind::BlankRow)
            .map(|f| (f.row, f.problem.clone()))
            .collect();
        assert_eq!(
            blanks,
            vec![(Some(3), "rows 3 to 4 are blank: skipped".to_string())]
        );
        assert_eq!(report.rows_read, 2);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        #[test]
        fn any_bytes_never_panic_and_counts_add_up(
            data in proptest::collection::vec(any::<u8>(), 0..300)
        ) {
            // Unreadable input is an error, never a panic.
            if let Ok((report, rows, seen)) = try_bytes(&plan(""), &data) {
                invariants(&report, &rows, seen);
            }
        }

        #[test]
        fn csv_shaped_input_never_panics_and_counts_add_up(
            lines in proptest::collection::vec(
                "(\\+?[0-9 ()'=.E+-]{0,14}|to_number|\"[a-z ,\r\n]{0,6}\"?)(,[a-zA-Z \"]{0,6}){0,3}",
                0..20),
            keyed in any::<bool>(),
        ) {
            let mut data = String::from("to_number,name,id\n");
            data.push_str(&lines.join("\r\n"));
            let p = plan(if keyed { "columns:\n  key: id\ndefault_region: GB\n" } else { "" });
            let (report, rows, seen) = check_bytes(&p, data.as_bytes());
            invariants(&report, &rows, seen);
            for r in rows.iter().filter(|r| r.errors == 0) {
                prop_assert!(crate::phone::e164_key(&r.to_number).is_some(), "{:?}", r);
            }
        }
    }
}
