//! `run --format json` and `track --format json`: the one JSON document
//! a pipeline reads at the end of a run, instead of the summary's prose.
//!
//! It says what the summary says (counts per status over the results file,
//! rows handled this run, the exit code and its meaning, the command that
//! resumes, the results path), plus what triage found at the start. It is
//! built from the same values as the text summary, in [`super::finish`],
//! so the two cannot disagree; progress and logs stay on stderr, so stdout
//! holds this document alone. Every way a run ends prints one: a dry run,
//! a run stopped by validation (exit 1, with `validate`'s own JSON report
//! inside), a `track` with nothing to track.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use jiff::Timestamp;
use serde::Serialize;

use super::Prepared;
use crate::cli::{Format, RunArgs};
use crate::exit::Exit;
use crate::results;
use crate::triage::{Counts, Triage};
use crate::validate::Report;
use crate::{plan, validate};

/// The document, as it is printed.
#[derive(Debug, Serialize)]
pub(super) struct RunReport {
    /// The plan file, absolute.
    pub plan: String,
    /// True for a rehearsal against the embedded simulator (`--sandbox`).
    pub sandbox: bool,
    /// The results file, absolute (null when validation stopped the run
    /// first).
    pub results: Option<String>,
    /// Latest status of every recipient in the results file, after this
    /// run (for a dry run: as it stands).
    pub counts: BTreeMap<String, u64>,
    /// The sum of `counts`.
    pub total: u64,
    /// Rows this run handled (dialled or looked up), as the text
    /// summary's `this run: N rows`.
    pub handled: u64,
    /// Calls this run polled to their end (`--wait`, `track`).
    pub ended: u64,
    /// How long the engine ran, in seconds.
    pub wall_s: f64,
    pub answers_409: u64,
    pub answers_429: u64,
    /// What the run found to do with each row at its start (null when
    /// validation stopped it first).
    pub triage: Option<TriageJson>,
    pub exit: ExitJson,
    /// The command that resumes the campaign, when anything is left.
    pub resume: Option<String>,
    /// What the text summary says after its table (why the run stopped,
    /// calls still in progress, rows in doubt), one sentence each.
    pub notes: Vec<String>,
    /// With `--dry-run`: what would be sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<DryRunJson>,
    /// When validation stopped the run (exit 1): `callplan validate
    /// --format json`'s report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<serde_json::Value>,
}

/// How the process ends.
#[derive(Debug, Serialize)]
pub(super) struct ExitJson {
    pub code: u8,
    pub meaning: &'static str,
}

impl From<Exit> for ExitJson {
    fn from(e: Exit) -> Self {
        ExitJson {
            code: e.code(),
            meaning: e.meaning(),
        }
    }
}

/// [`Counts`]: every row under one reason (the reasons add up to `rows`;
/// `in_doubt` is "of which" of `to_look_up`), with the names `status
/// --format json` uses.
#[derive(Debug, Serialize)]
pub(super) struct TriageJson {
    pub rows: u64,
    /// First dials, retries and due redials, dialled now (before `--limit`).
    pub to_dial_now: u64,
    /// Of `to_dial_now`, redials.
    pub redials_due: u64,
    pub to_look_up: u64,
    /// Of `to_look_up`, rows `in_doubt`.
    pub in_doubt: u64,
    pub waiting_for_window: u64,
    pub redials_pending: u64,
    pub past_end_at: u64,
    pub settled: u64,
    pub invalid: u64,
    pub suppressed: u64,
    pub duplicate_keys: u64,
    /// When the first row not dialled now becomes due (RFC 3339, UTC).
    pub next_due_at: Option<String>,
}

impl From<&Counts> for TriageJson {
    fn from(c: &Counts) -> Self {
        TriageJson {
            rows: c.rows,
            to_dial_now: c.dial_now(),
            redials_due: c.redials_due,
            to_look_up: c.to_look_up,
            in_doubt: c.in_doubt,
            waiting_for_window: c.waiting_for_window,
            redials_pending: c.redials_later,
            past_end_at: c.past_end_at,
            settled: c.settled_total(),
            invalid: c.invalid,
            suppressed: c.suppressed,
            duplicate_keys: c.duplicate_keys,
            next_due_at: c.next_due_at().map(ts),
        }
    }
}

/// What `--dry-run` would send.
#[derive(Debug, Serialize)]
pub(super) struct DryRunJson {
    /// Calls a run would send now (`--limit` applied).
    pub would_send: u64,
    /// Where they would go.
    pub url: String,
    /// The first of them in full, key masked.
    pub requests: Vec<serde_json::Value>,
    /// Why nothing would be sent, when nothing would.
    pub nothing_because: Option<String>,
}

impl RunReport {
    /// A document for `args` ending with `exit`, its counts still empty.
    pub(super) fn new(args: &RunArgs, exit: Exit) -> RunReport {
        RunReport {
            plan: plan::absolute(&args.plan).display().to_string(),
            sandbox: args.sandbox,
            results: None,
            counts: BTreeMap::new(),
            total: 0,
            handled: 0,
            ended: 0,
            wall_s: 0.0,
            answers_409: 0,
            answers_429: 0,
            triage: None,
            exit: exit.into(),
            resume: None,
            notes: Vec::new(),
            dry_run: None,
            validation: None,
        }
    }

    /// The results file and its counts per status.
    pub(super) fn with_counts(mut self, results: &Path, counts: BTreeMap<String, u64>) -> Self {
        self.results = Some(plan::absolute(results).display().to_string());
        self.total = counts.values().sum();
        self.counts = counts;
        self
    }

    /// Prints the document on stdout, pretty, with a final newline.
    pub(super) fn print(&self) -> anyhow::Result<()> {
        let stdout = std::io::stdout();
        let mut out = crate::redact::Masked::new(stdout.lock());
        serde_json::to_writer_pretty(&mut out, self)?;
        writeln!(out)?;
        out.flush()?;
        Ok(())
    }
}

/// The document of a run that ends before dialling (a dry run, nothing to
/// track, a changed recipients file): the results file's counts as they
/// stand, and the triage.
pub(super) fn before_dialling(
    args: &RunArgs,
    input: &Prepared,
    exit: Exit,
    triaged: &Counts,
) -> RunReport {
    let counts = match &input.log {
        Some(log) => results::tally(input.rows.keys_in_order(), &log.table),
        None => BTreeMap::new(),
    };
    let mut report = RunReport::new(args, exit).with_counts(&input.results_path, counts);
    report.triage = Some(triaged.into());
    report
}

/// `--dry-run --format json`: what would be sent, the file's counts as
/// they stand, triage's counts; exit 0, or 2 when
/// the base URL is unusable. `shown` are the requests printed
/// in full, `would_send` all that would be sent.
pub(super) fn dry_run(
    args: &RunArgs,
    input: &Prepared,
    sorted: &Triage,
    would_send: u64,
    url: String,
    shown: Vec<serde_json::Value>,
    exit: Exit,
) -> anyhow::Result<Exit> {
    let mut report = before_dialling(args, input, exit, &sorted.counts);
    report.dry_run = Some(DryRunJson {
        would_send,
        url,
        requests: shown,
        nothing_because: sorted
            .counts
            .nothing_now_because()
            .filter(|_| would_send == 0),
    });
    report.notes.push("nothing was sent".into());
    if exit != Exit::Ok {
        report
            .notes
            .push("the base URL is unusable: a real run would stop before dialling anyone".into());
    }
    report.print()?;
    Ok(exit)
}

/// Validation stopped the run (exit 1): the document holds `validate`'s
/// JSON report and `why` nothing was dialled.
pub(super) fn stopped_by_validation(
    args: &RunArgs,
    validation: &Report,
    why: &str,
) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    validate::write_report(validation, Format::Json, &mut buf)?;
    let mut report = RunReport::new(args, Exit::Invalid);
    report.validation = Some(serde_json::from_slice(&buf)?);
    report.notes.push(why.to_string());
    report.print()
}

fn ts(t: Timestamp) -> String {
    crate::text::format_ts(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triage_counts_keep_their_sum_and_name_the_next_due_time() {
        let counts = Counts {
            rows: 10,
            dial: 4,
            redials_due: 1,
            to_look_up: 2,
            in_doubt: 1,
            settled: BTreeMap::from([("completed".into(), 3)]),
            next_redial_at: Some("2025-06-01T09:30:00Z".parse().unwrap()),
            ..Counts::default()
        };
        let json = serde_json::to_value(TriageJson::from(&counts)).unwrap();
        assert_eq!(json["to_dial_now"], 5);
        assert_eq!(json["settled"], 3);
        assert_eq!(json["to_look_up"], 2);
        assert_eq!(json["next_due_at"], "2025-06-01T09:30:00Z");
    }

    #[test]
    fn the_exit_carries_its_code_and_meaning() {
        let json = serde_json::to_value(ExitJson::from(Exit::Partial)).unwrap();
        assert_eq!(json["code"], 4);
        assert_eq!(json["meaning"], Exit::Partial.meaning());
    }
}
