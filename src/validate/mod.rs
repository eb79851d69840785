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
//! [`Row::errors`], so a row with `errors == 0` and not
//! [`Row::suppressed`] is dialable as it stands.
//!
//! Do-not-call lists (`suppress:`) are read before the rows
//! ([`load_suppressions`]); a row whose number is on one is *suppressed*:
//! not a finding (nothing to fix), counted in [`Report::suppressed`], never
//! dialled. With a `schedule:`, each dialable row also gets its time zone
//! ([`Row::timezone`]) or a `no_timezone` error.
//!
//! Layout: `finding` (codes and the finding type), `caller` (a row's
//! caller ID and agent version against the plan's), `plan_checks` (the
//! plan's values, one function per rule: [`check_plan`]), `layout` (the
//! header), `rows` (per-row checks, duplicates, do-not-call), `zones` (time
//! zone cells and rows' zones, cached), `number` (words for number
//! problems), `pipeline` (numbers checked on worker threads, results in
//! file order), `output` (text, JSON, `--errors-out`, and the report
//! [`Format`] the command line offers).
//!
//! `validate` judges the data of `plan` and `recipients`; it imports neither
//! `cli` nor the commands, and `plan` does not import it.

mod caller;
mod cells;
mod finding;
mod layout;
mod number;
mod output;
mod pipeline;
mod plan_checks;
mod rows;
mod zones;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

pub use crate::recipients::InputError;
pub use finding::{Finding, Kind, Severity, VALUE_CHARS, truncate};
pub use output::{ErrorsOut, Format, summary_line, write_report};
pub use plan_checks::check_plan;

use crate::plan::{Plan, display_path};
use crate::recipients::fetch::Seen;
use crate::recipients::{self, Record, RecordSource, RowAt, RowFetch};
use crate::suppress::SuppressList;
use layout::Layout;
use rows::RowChecker;

/// Findings of one kind kept in memory for the report; the rest are
/// counted (and passed to the findings callback).
pub const SAMPLE_PER_KIND: u64 = 1000;

/// One recipient row, as `run` needs it.
#[derive(Debug, Clone, PartialEq)]
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
    /// Where the row's cells are: how `run` reads them back when it dials
    /// (from [`validate_for_run`] the two maps above are left empty).
    pub at: RowAt,
    /// Errors that block this row: its own plus the plan's and the
    /// header's. 0 means dialable, unless `suppressed`.
    pub errors: u32,
    /// The number is on one of the plan's do-not-call lists. Such a row
    /// may well have `errors == 0` (being listed is not a mistake in the
    /// sheet) but must never be dialled: `run` records it as `suppressed`.
    /// Lists can grow during a campaign, so `run` must also check each
    /// number against freshly loaded lists ([`load_suppressions`]) just
    /// before dialling it.
    pub suppressed: bool,
    /// The zone the recipient is called in, when the plan has a
    /// `schedule` (else `None`, and no zone work is done): the row's zone
    /// cell, else its number's country when that country keeps one clock,
    /// else `schedule.timezone`. `None` on a scheduled plan only for rows
    /// that are not dialled anyway (errors, or suppressed). A
    /// `jiff::tz::TimeZone` rather than its name: cloning one is a
    /// reference-count increment, and `run` needs the zone itself for
    /// [`crate::schedule::Schedule::window_state`].
    pub timezone: Option<TimeZone>,
    /// The row's own caller ID (`columns.from_number`), E.164 and one of
    /// the plan's; empty: chosen by `crate::callerid`'s rules.
    pub from_number: String,
    /// The row's own agent version (`columns.agent_version_id`), trimmed;
    /// empty: the plan's.
    pub agent_version_id: String,
}

/// Everything `validate` found, and the counts for the summary line.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
    /// Rows without errors and not on a do-not-call list: they would be dialled.
    pub ready: u64,
    /// Rows without errors whose number is on a do-not-call list: not
    /// dialled. `rows_read == ready + suppressed + with_errors`; a listed
    /// row that also has errors counts under `with_errors`.
    pub suppressed: u64,
    /// Distinct numbers on the plan's do-not-call lists; `None` when the
    /// plan has no `suppress` (the summary line then does not mention it).
    pub suppress_numbers: Option<u64>,
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
    Ok(run(plan, recipients, &mut |_| {}, Some(on_row), true)?.report)
}

/// [`validate`], also calling `on_finding` with every finding as it is
/// found, including those beyond the [`SAMPLE_PER_KIND`] kept in the report.
pub fn validate_with(
    plan: &Plan,
    recipients: &Path,
    on_finding: &mut dyn FnMut(&Finding),
    on_row: impl FnMut(Row),
) -> Result<Report, InputError> {
    Ok(run(plan, recipients, on_finding, Some(on_row), true)?.report)
}

/// What [`validate_for_run`] hands `run` besides the rows.
#[derive(Debug)]
pub struct Validation {
    pub report: Report,
    /// Reads the rows back when they are dialled, with the column mapping
    /// validation used, and knows what the file was when it was read.
    pub fetch: RowFetch,
}

/// [`validate_with`] for `run`: the rows come without their variables and
/// metadata (a row of a million-row file keeps only where it is,
/// [`Row::at`]); [`Validation::fetch`] reads them back when they are dialled.
pub fn validate_for_run(
    plan: &Plan,
    recipients: &Path,
    on_finding: &mut dyn FnMut(&Finding),
    on_row: impl FnMut(Row),
) -> Result<Validation, InputError> {
    run(plan, recipients, on_finding, Some(on_row), false)
}

/// Reads the plan's do-not-call lists (`suppress`), normalizing every
/// number with the plan's phone rules (those of the recipients, see
/// [`crate::phone::Rules::normalize_listed`]). Lines that hold no number
/// come back as `suppress_file_row` warnings (file and row). Reads the files
/// afresh on every call, never cached: `run` calls it again before dialling
/// so a number added mid-campaign is not called.
///
/// Errs (exit code 2) when a file cannot be honoured at all: missing,
/// unreadable, empty, or without a number column.
pub fn load_suppressions(plan: &Plan) -> Result<(SuppressList, Vec<Finding>), InputError> {
    if plan.suppress.is_empty() {
        return Ok((SuppressList::empty(), Vec::new()));
    }
    let rules = plan.phone_rules();
    // Paths as the user would write them, for messages (same files).
    let shown: Vec<PathBuf> = plan
        .suppress
        .iter()
        .map(|p| PathBuf::from(display_path(p)))
        .collect();
    let (list, warnings) = SuppressList::load(&shown, &|cell| rules.normalize_listed(cell))?;
    let findings = warnings
        .into_iter()
        .map(|w| {
            let file = w.file.display().to_string();
            let f = Finding::new(
                Kind::SuppressFileRow,
                &file,
                format!("do-not-call list {file}: {}", w.message),
                "correct the number (written as the recipients' numbers are) or delete the \
                 line; the rest of the list is honoured",
            );
            match w.row {
                Some(r) => f.row(r),
                None => f,
            }
        })
        .collect();
    Ok((list, findings))
}

/// [`validate_with`] without building [`Row`]s: what `callplan validate`
/// runs, as it has no use for them.
pub fn check(
    plan: &Plan,
    recipients: &Path,
    on_finding: &mut dyn FnMut(&Finding),
) -> Result<Report, InputError> {
    Ok(run(plan, recipients, on_finding, None::<fn(Row)>, true)?.report)
}

/// Validates; `maps`: give each [`Row`] its variables and metadata.
fn run<F: FnMut(Row)>(
    plan: &Plan,
    recipients: &Path,
    on_finding: &mut dyn FnMut(&Finding),
    mut on_row: Option<F>,
    maps: bool,
) -> Result<Validation, InputError> {
    let recipients_file = display_path(recipients);
    let mut sink = Sink::new(on_finding, recipients_file.clone());
    for f in check_plan(plan) {
        sink.push(f);
    }
    let plan_errors = u32::try_from(sink.errors).unwrap_or(u32::MAX);
    let (dnc, dnc_findings) = load_suppressions(plan)?;
    for f in dnc_findings {
        sink.push(f);
    }
    let suppress_numbers = (!plan.suppress.is_empty()).then_some(dnc.len() as u64);

    let shown = Path::new(&recipients_file);
    let sheet = plan.recipients_sheet.as_deref();
    // A workbook is read whole: its size and time, taken first, are what
    // `run` compares before dialling (a CSV's length is what was read).
    let workbook_seen = recipients::is_workbook(recipients)
        .then(|| Seen::workbook(recipients))
        .transpose()
        .map_err(|source| InputError::Open {
            path: shown.to_path_buf(),
            source,
        })?;
    let mut reader = recipients::open(recipients, shown, sheet)?;
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
    let mut checker = RowChecker::new(plan, layout, recipients_file.clone(), dnc);
    checker.maps = maps;

    let mut report = Report {
        plan_file: display_path(&plan.path),
        recipients_file,
        suppress_numbers,
        ..Report::default()
    };
    let mut blanks: Option<(u64, u64)> = None;
    let number_col = checker.layout.number;
    let rules = checker.rules;
    let build = on_row.is_some();
    let reader = pipeline::for_each_prepared(reader, number_col, rules, |rec, mut prepared| {
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
        if rec.is_typed() {
            cells::check_typed_cells(rec, &checker.layout, &mut prepared, &mut sink);
        }
        let (suppressed, row) = checker.check(rec, prepared, &mut sink, build);
        let own_errors = u32::try_from(sink.errors - errors_before).unwrap_or(u32::MAX);
        let errors = own_errors.saturating_add(base_errors);
        report.rows_read += 1;
        if errors == 0 && suppressed {
            report.suppressed += 1;
        } else if errors == 0 {
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
    let seen = match (workbook_seen, reader.csv_position()) {
        (Some(seen), _) => seen,
        (None, Some((len, rows))) => Seen::Csv { len, rows },
        (None, None) => Seen::Csv { len: 0, rows: 0 },
    };
    let fetch = RowFetch::new(recipients, &report.recipients_file, checker.fields, seen);
    Ok(Validation { report, fetch })
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
        assert_eq!(
            report.ready + report.suppressed + report.with_errors,
            report.rows_read
        );
        assert!(report.with_warnings <= report.ready);
        assert_eq!(rows.len() as u64, report.rows_read);
        assert_eq!(
            rows.iter()
                .filter(|r| r.errors == 0 && !r.suppressed)
                .count() as u64,
            report.ready
        );
        assert_eq!(
            rows.iter()
                .filter(|r| r.errors == 0 && r.suppressed)
                .count() as u64,
            report.suppressed
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

    /// A plan whose `suppress` list is one file holding `dnc`.
    fn plan_with_dnc(extra: &str, dnc: &str) -> (tempfile::TempDir, Plan) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("dnc.csv"), dnc).unwrap();
        let text = format!(
            "name: t\nfrom_number: \"+14155550100\"\nagent_version_id: av_t\nrecipients: r.csv\n\
             suppress: [dnc.csv]\n{extra}"
        );
        let p = crate::plan::from_yaml(&text, &dir.path().join("p.yaml")).unwrap();
        (dir, p)
    }

    #[test]
    fn listed_numbers_are_suppressed_not_errors() {
        // The list is written nationally and read with default_region, as
        // the recipients are: both sides meet at the same E.164 string.
        let (_dir, p) = plan_with_dnc(
            "default_region: US\n",
            "phone\n(212) 555-0142\n+1 212 555 0144\nnot a number\n",
        );
        let (report, rows, _) = check_bytes(
            &p,
            b"to_number\n+12125550142\n+12125550143\n212.555.0144\n+12125550142\n",
        );
        invariants(&report, &rows, report.errors + report.warnings);
        let flags: Vec<_> = rows.iter().map(|r| (r.suppressed, r.errors)).collect();
        // Row 5 repeats row 2: a duplicate is still an error.
        assert_eq!(flags, [(true, 0), (false, 0), (true, 0), (true, 1)]);
        assert_eq!(
            (report.ready, report.suppressed, report.with_errors),
            (1, 2, 1)
        );
        assert_eq!(report.suppress_numbers, Some(2));
        let dnc: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.kind == Kind::SuppressFileRow)
            .map(|f| (f.row, f.file.ends_with("dnc.csv")))
            .collect();
        assert_eq!(dnc, [(Some(4), true)]);
        assert_eq!(
            report.errors, 1,
            "the duplicate only: a bad DNC line is a warning"
        );
        assert!(
            summary_line(&report)
                .contains("1 ready (0 with warnings), 2 suppressed (do-not-call), 1 with errors"),
            "{}",
            summary_line(&report)
        );
    }

    #[test]
    fn the_list_and_the_sheet_share_one_normalizer() {
        // Without default_region a national DNC entry cannot be read, and
        // says so; the same list with default_region suppresses the row.
        let list = "to_number\n(212) 555-0142\n";
        let sheet: &[u8] = b"to_number\n+12125550142\n";
        let (_d, intl) = plan_with_dnc("", list);
        let (report, rows, _) = check_bytes(&intl, sheet);
        assert!(!rows[0].suppressed);
        assert_eq!(report.counts.get(&Kind::SuppressFileRow), Some(&1));
        let (_d, us) = plan_with_dnc("default_region: us\n", list);
        let (_, rows, _) = check_bytes(&us, sheet);
        assert!(rows[0].suppressed);
        // The reusable loader agrees with what validation used.
        let (loaded, findings) = load_suppressions(&us).unwrap();
        assert!(findings.is_empty());
        assert!(loaded.contains(&rows[0].to_number));
    }

    #[test]
    fn an_unusable_list_is_an_input_error() {
        let (dir, p) = plan_with_dnc("", "name,mobile\nAda,+12125550142\n");
        let err = try_bytes(&p, b"to_number\n+12125550142\n").unwrap_err();
        assert!(matches!(err, InputError::Suppress(_)), "{err:?}");
        assert!(err.to_string().contains("no column named"), "{err}");
        std::fs::remove_file(dir.path().join("dnc.csv")).unwrap();
        let err = load_suppressions(&p).unwrap_err().to_string();
        assert!(err.contains("cannot read do-not-call file"), "{err}");
        assert_eq!(err.matches("No such file").count(), 1, "{err}");
    }

    #[test]
    fn without_a_schedule_no_row_gets_a_zone_but_cells_are_checked() {
        let p = plan("");
        let (report, rows, _) = check_bytes(
            &p,
            b"to_number,name,timezone\n+12125550142,A,America/New_York\n+12125550143,B,Eastern\n+12125550144,C,\n",
        );
        assert!(rows.iter().all(|r| r.timezone.is_none()));
        assert!(rows.iter().all(|r| !r.variables.contains_key("timezone")));
        let bad: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.kind == Kind::BadTimezone)
            .map(|f| (f.row, f.column.clone(), f.fix.clone()))
            .collect();
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert_eq!(bad[0].0, Some(3));
        assert_eq!(bad[0].1.as_deref(), Some("timezone"));
        assert!(
            bad[0].2.starts_with("did you mean America/New_York?"),
            "{}",
            bad[0].2
        );
        assert_eq!(report.counts.get(&Kind::NoTimezone), None);
    }

    #[test]
    fn with_a_schedule_every_dialable_row_gets_a_zone_or_an_error() {
        let p = plan("schedule:\n  hours: 09:00-20:00\ncolumns:\n  timezone: tz\n");
        let (report, rows, seen) = check_bytes(
            &p,
            b"to_number,name,tz\n\
              +33142685300,A,\n\
              +12125550142,B,America/Chicago\n\
              +12125550143,C,\n\
              +12125550144,D,Mars/Base\n\
              12125550145,E,\n",
        );
        invariants(&report, &rows, seen);
        let zone = |i: usize| rows[i].timezone.as_ref().and_then(|z| z.iana_name());
        assert_eq!(zone(0), Some("Europe/Paris"), "a one-zone country");
        assert_eq!(zone(1), Some("America/Chicago"), "the cell");
        assert_eq!(zone(2), None);
        assert_eq!(zone(3), None);
        assert_eq!(zone(4), None);
        let kinds: Vec<_> = report
            .findings
            .iter()
            .map(|f| (f.kind, f.row, f.column.clone()))
            .collect();
        assert_eq!(
            kinds,
            [
                (Kind::NoTimezone, Some(4), Some("tz".to_string())),
                (Kind::BadTimezone, Some(5), Some("tz".to_string())),
                (Kind::LostPlus, Some(6), Some("to_number".to_string())),
            ],
            "one finding per cause: no no_timezone for a bad cell or a bad number"
        );
        let no = &report.findings[0];
        assert!(no.problem.contains("US has"), "{}", no.problem);
        assert!(
            no.fix.contains("`tz` column") && no.fix.contains("schedule.timezone"),
            "{}",
            no.fix
        );
        // The plan's zone covers the rest.
        let p = plan("schedule:\n  timezone: America/Denver\n");
        let (report, rows, _) = check_bytes(&p, b"to_number,name\n+12125550143,C\n");
        assert!(!report.has_errors(), "{:?}", report.findings);
        assert_eq!(
            rows[0].timezone.as_ref().and_then(|z| z.iana_name()),
            Some("America/Denver")
        );
    }

    #[test]
    fn a_named_zone_column_must_exist_and_the_zone_column_is_no_variable() {
        let p = plan("columns:\n  timezone: tz\n");
        let (report, _, _) = check_bytes(&p, b"to_number,name\n+12125550142,A\n");
        assert_eq!(report.counts.get(&Kind::MissingColumn), Some(&1));
        let p = crate::plan::from_yaml(
            "name: t\nfrom_number: \"+14155550100\"\nagent_version_id: av_t\nrecipients: r.csv\n\
             required_variables: [timezone]\n",
            Path::new("/t/p.yaml"),
        )
        .unwrap();
        let (report, _, _) = check_bytes(&p, b"to_number,timezone\n+12125550142,Europe/Paris\n");
        let f = &report.findings[0];
        assert_eq!(f.kind, Kind::MissingVariableColumn);
        assert!(f.problem.contains("time zone column"), "{}", f.problem);
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
            let p = plan(if keyed {
                "columns:\n  key: id\n  timezone: name\ndefault_region: GB\nschedule:\n  hours: 09:00-17:00\n"
            } else {
                ""
            });
            let (report, rows, seen) = check_bytes(&p, data.as_bytes());
            invariants(&report, &rows, seen);
            for r in rows.iter().filter(|r| r.errors == 0) {
                prop_assert!(crate::phone::e164_key(&r.to_number).is_some(), "{:?}", r);
                prop_assert_eq!(keyed, r.timezone.is_some(), "{:?}", r);
            }
        }
    }
}
