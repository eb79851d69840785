//! The rows triage sorts: every recipient of the input, validated once and
//! split into the dialable ones (with their calling zone), the ones on a
//! do-not-call list and the invalid ones. [`read`] builds them from the
//! plan and the recipients file, as `run` and `status` both do;
//! [`Rows::from_log`] from a results file alone, for `status` when the
//! plan cannot be read.

use std::collections::HashMap;
use std::path::Path;

use jiff::tz::TimeZone;

use crate::dispatch::{Suppressed, Target};
use crate::plan::Plan;
use crate::results::{Log, RowRef, Status};
use crate::validate::{self, InputError, Report, Severity};

/// The recipients of one input.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    /// Rows without errors and not listed, in input order.
    pub targets: Vec<Target>,
    /// Each target's calling zone (with a schedule), aligned with `targets`.
    pub zones: Vec<Option<TimeZone>>,
    /// Rows without errors whose number is on a do-not-call list loaded
    /// now: recorded `suppressed`, never dialled.
    pub suppressed: Vec<RowRef>,
    /// Rows that failed validation, each with its first problem.
    pub invalid: Vec<(RowRef, String)>,
    /// Every recipient, in input order (what compaction writes).
    pub order: Vec<RowRef>,
    /// Recipient rows read.
    pub rows_read: u64,
    /// Rows known to exist but not to triage by key: with [`Rows::from_log`],
    /// input rows of the last run that no record mentions yet (a log cut
    /// short). Triage counts them as rows to dial now.
    pub unseen: u64,
}

impl Rows {
    /// The numbers of the rows on a do-not-call list: what the engine
    /// probes just before each dial (every number a run can dial is a row
    /// of this input, so the listed numbers among them are the whole of
    /// the list that matters).
    pub fn listed_numbers(&self) -> Suppressed {
        self.suppressed
            .iter()
            .map(|r| r.to_number.to_string())
            .collect()
    }

    /// The rows as a results file records them, without the plan or the
    /// recipients file: `invalid` and `suppressed` records stay so, every
    /// other key is a row to triage; the last run's `rows` beyond the
    /// records are [`Rows::unseen`].
    pub fn from_log(log: &Log) -> Rows {
        let mut rows = Rows::default();
        for rec in log.table.iter() {
            let row = RowRef {
                key: rec.key.clone(),
                row: rec.row,
                to_number: rec.to_number.clone(),
            };
            rows.order.push(row.clone());
            match rec.status {
                Status::Invalid => rows.invalid.push((row, rec.error.to_string())),
                Status::Suppressed => rows.suppressed.push(row),
                _ => {
                    rows.zones.push(None);
                    rows.targets.push(Target {
                        key: row.key.to_string(),
                        row: row.row,
                        to_number: row.to_number.to_string(),
                        variables: Default::default(),
                        metadata: Default::default(),
                        from_number: rec.from_number.to_string(),
                        agent_version_id: rec.agent_version_id.to_string(),
                    });
                }
            }
        }
        let recorded = log.table.len() as u64;
        rows.unseen = log.header.rows.unwrap_or(0).saturating_sub(recorded);
        rows.rows_read = recorded + rows.unseen;
        rows
    }
}

/// The input validated: its rows, the report, and whether anything
/// outside the rows (the plan, the header) has an error, which no
/// `--skip-invalid` can skip.
#[derive(Debug)]
pub struct Validated {
    pub rows: Rows,
    pub report: Report,
    /// An error of the plan or the header: no row can be dialled.
    pub blocked: bool,
}

impl Validated {
    /// Errors stop the run: any without `--skip-invalid`, those outside the
    /// rows even with it.
    pub fn stops_a_run(&self, skip_invalid: bool) -> bool {
        self.report.has_errors() && (!skip_invalid || self.blocked)
    }
}

/// Keys are written one per line: a line break in a key becomes a space,
/// here as in the file, so that the key read back is the key dialled.
fn clean_key(key: &str, row: u64) -> String {
    let k = key.replace(['\r', '\n'], " ");
    if k.trim().is_empty() {
        format!("row-{row}")
    } else {
        k
    }
}

/// Validates every row of `recipients` against `plan` (do-not-call lists
/// included) and sorts them into [`Rows`]. Prints nothing: what to say
/// about the report is the caller's.
pub fn read(plan: &Plan, recipients: &Path) -> Result<Validated, InputError> {
    let mut rows = Rows::default();
    let mut invalid = Vec::new();
    let mut first_problem: HashMap<u64, String> = HashMap::new();
    let mut blocked = false;
    let report = validate::validate_with(
        plan,
        recipients,
        &mut |f| {
            if f.severity != Severity::Error {
                return;
            }
            match f.row {
                Some(r) if r > 1 => {
                    first_problem
                        .entry(r)
                        .or_insert_with(|| format!("{}: {}", f.kind.as_str(), f.problem));
                }
                // The plan or the header: no row can be dialled.
                _ => blocked = true,
            }
        },
        |row| {
            let reference = RowRef {
                key: clean_key(&row.key, row.row).into(),
                row: row.row,
                to_number: row.to_number.as_str().into(),
            };
            rows.order.push(reference.clone());
            if row.errors > 0 {
                invalid.push(reference);
            } else if row.suppressed {
                rows.suppressed.push(reference);
            } else {
                rows.zones.push(row.timezone);
                rows.targets.push(Target {
                    key: reference.key.into(),
                    row: row.row,
                    to_number: row.to_number,
                    variables: row.variables,
                    metadata: row.metadata,
                    from_number: row.from_number,
                    agent_version_id: row.agent_version_id,
                });
            }
        },
    )?;
    rows.rows_read = report.rows_read;
    rows.invalid = invalid
        .into_iter()
        .map(|r| {
            let why = first_problem
                .remove(&r.row)
                .unwrap_or_else(|| "failed validation".into());
            (r, why)
        })
        .collect();
    Ok(Validated {
        rows,
        report,
        blocked,
    })
}
