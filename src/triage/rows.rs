//! The rows triage sorts: every recipient of the input, validated once and
//! split into the dialable ones (with their calling zone), the ones on a
//! do-not-call list and the invalid ones. [`read`] builds them from the
//! plan and the recipients file, as `run` and `status` both do;
//! [`Rows::from_log`] from a results file alone, for `status` when the
//! plan cannot be read.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use compact_str::CompactString;

use crate::dispatch::{Target, Targets};
use crate::plan::Plan;
use crate::results::{Log, RowRef, Status};
use crate::validate::{self, InputError, Report, Severity};

/// The recipients of one input.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    /// Rows without errors, in input order: the ones to dial, and those
    /// whose number is on a do-not-call list loaded now
    /// ([`Target::listed`]: recorded `suppressed`, never dialled). The one
    /// owner of every row's state; jobs name them by index.
    pub targets: Arc<Targets>,
    /// Rows that failed validation, each with its first problem.
    pub invalid: Vec<(RowRef, String)>,
    /// Recipient rows read.
    pub rows_read: u64,
    /// Rows known to exist but not to triage by key: with [`Rows::from_log`],
    /// input rows of the last run that no record mentions yet (a log cut
    /// short). Triage counts them as rows to dial now.
    pub unseen: u64,
}

impl Rows {
    /// The keys of [`Rows::in_order`]: what `results::tally` takes.
    pub fn keys_in_order(&self) -> impl Iterator<Item = CompactString> + '_ {
        self.in_order().map(|(key, _, _)| key)
    }

    /// Every recipient in input order (by row), as compaction writes them:
    /// (key, row, number), from the targets and the invalid rows, which
    /// are both in input order (nothing is kept beside them).
    pub fn in_order(&self) -> impl Iterator<Item = (CompactString, u64, CompactString)> + '_ {
        let mut targets = self.targets.iter().map(|(_, t)| t).peekable();
        let mut invalid = self.invalid.iter().map(|(r, _)| r).peekable();
        std::iter::from_fn(move || {
            let take_target = match (targets.peek(), invalid.peek()) {
                (Some(t), Some(r)) => t.row <= r.row,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if take_target {
                targets.next().map(|t| (t.key, t.row, t.to_number))
            } else {
                invalid
                    .next()
                    .map(|r| (r.key.clone(), r.row, r.to_number.clone()))
            }
        })
    }

    /// The rows as a results file records them, without the plan or the
    /// recipients file: `invalid` and `suppressed` records stay so, every
    /// other key is a row to triage; the last run's `rows` beyond the
    /// records are [`Rows::unseen`].
    pub fn from_log(log: &Log) -> Rows {
        let mut rows = Rows::default();
        let mut targets = Targets::default();
        for rec in log.table.iter() {
            if rec.status == Status::Invalid {
                let row = RowRef {
                    key: rec.key.clone(),
                    row: rec.row,
                    to_number: rec.to_number.clone(),
                };
                rows.invalid.push((row, rec.error.to_string()));
                continue;
            }
            let mut target = Target::new(&rec.key, rec.row, &rec.to_number);
            target.from_number = rec.from_number.as_str().into();
            target.agent_version_id = rec.agent_version_id.as_str().into();
            target.listed = rec.status == Status::Suppressed;
            targets.push(target, None);
        }
        rows.targets = Arc::new(targets);
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
    let mut targets = Targets::default();
    let mut invalid = Vec::new();
    let mut first_problem: HashMap<u64, String> = HashMap::new();
    let mut blocked = false;
    let validation = validate::validate_for_run(
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
            let key = clean_key(&row.key, row.row);
            if row.errors > 0 {
                invalid.push(RowRef {
                    key: key.into(),
                    row: row.row,
                    to_number: row.to_number.into(),
                });
                return;
            }
            let target = Target {
                key: key.into(),
                row: row.row,
                to_number: row.to_number.into(),
                from_number: row.from_number.into(),
                agent_version_id: row.agent_version_id.into(),
                at: row.at,
                zone: 0,
                listed: row.suppressed,
            };
            targets.push(target, row.timezone);
        },
    )?;
    let report = validation.report;
    targets.set_fetch(validation.fetch);
    let invalid = invalid
        .into_iter()
        .map(|r| {
            let why = first_problem
                .remove(&r.row)
                .unwrap_or_else(|| "failed validation".into());
            (r, why)
        })
        .collect();
    let rows = Rows {
        targets: Arc::new(targets),
        invalid,
        rows_read: report.rows_read,
        unseen: 0,
    };
    Ok(Validated {
        rows,
        report,
        blocked,
    })
}
