//! `callplan status`: where a campaign stands, without touching its files.
//!
//! Counts per status (last record of each key), what a rerun would do with
//! every row, the in-doubt rows one by one, and the exact command that
//! resumes. "What a rerun would do" is [`crate::triage`], the decision
//! `run` itself makes: the plan named in the file's identity line is loaded
//! and its recipients validated (calling windows, `end_at`, do-not-call
//! lists) exactly as `run` does. When that plan cannot be used, the
//! counts come from the file alone, and the report says so. Safe while a
//! run is writing the file: a torn last line is ignored.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use crate::cli::{Format, StatusArgs};
use crate::exit::Exit;
use crate::plan::{self, Plan};
use crate::results::{self, Log, Status};
use crate::triage::{self, Counts, ResumeCommand, Rows, Rules, Triage};

/// The report, as JSON prints it.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub results: String,
    pub campaign: String,
    pub from_number: String,
    pub agent_version_id: String,
    /// Latest status of every key in the file.
    pub counts: BTreeMap<String, u64>,
    /// Recipient rows: of the plan's recipients file now, or (from the file
    /// alone) in the input of the last run, when known.
    pub rows: Option<u64>,
    /// `plan`: rows were triaged by the plan (its path in `plan`), as `run`
    /// does; `results file`: the plan could not be used (`note` says why)
    /// and the counts come from the file alone (no calling window, `end_at`
    /// or do-not-call list is checked).
    pub triaged_by: &'static str,
    /// The plan the rows were triaged by.
    pub plan: Option<String>,
    /// Why the plan could not be used, when it could not.
    pub note: Option<String>,
    /// Rows with nothing left to do (a call exists, or the API refused the
    /// row for good); do-not-call rows are counted apart, in `suppressed`.
    pub settled: u64,
    /// Those rows by status.
    pub settled_by_status: BTreeMap<String, u64>,
    /// Rows a rerun dials, now or once their window opens (first dials and
    /// retries, and due redials waiting for a window).
    pub to_dial: u64,
    /// Rows a rerun looks up before anything else (left `dispatching`, or
    /// `in_doubt`: listed in `in_doubt`).
    pub to_look_up: u64,
    /// Rows that fail validation (dialled once they validate).
    pub invalid: u64,
    /// Rows on a do-not-call list.
    pub suppressed: u64,
    /// Rows not dialled because the schedule's `end_at` has passed.
    pub past_end_at: u64,
    /// Rows whose key an earlier row holds (dialled once, for that row).
    pub duplicate_keys: u64,
    pub in_doubt: Vec<InDoubtRow>,
    /// Every row by reason, in the words `run` and `run --dry-run` print.
    pub rows_by_reason: String,
    /// The command that resumes the campaign.
    pub resume: String,
    /// Ended calls per final status, then per `end_reason` (`""` when the
    /// API gave none).
    pub outcomes: BTreeMap<String, BTreeMap<String, u64>>,
    /// Calls created and not yet seen ended (queued, ringing, in progress):
    /// `callplan track` records how they end.
    pub in_progress: u64,
    /// Redials due now (part of `to_dial_now`).
    pub redials_due: u64,
    /// Redials not due yet.
    pub redials_pending: u64,
    /// The earliest of their times (RFC 3339, UTC).
    pub next_redial_at: Option<String>,
    /// Rows due whose calling window is closed.
    pub waiting_for_window: u64,
    /// The earliest time one of them may be dialled.
    pub next_window_at: Option<String>,
    /// Rows a rerun would dial right now (window open, redial due).
    pub to_dial_now: u64,
    /// One line: done, N to dial now, or when the next work is due.
    pub verdict: String,
    /// What the calls learned: per post-call analysis field, its values and
    /// their counts (each recipient once, its latest call), from the store
    /// beside the results file.
    pub analysis: crate::outcomes::Tally,
    /// Calls per caller ID and per agent version (every row naming a call).
    pub usage: crate::callerid::UsageCounts,
}

/// One row left in doubt, to look into.
#[derive(Debug, Serialize)]
pub struct InDoubtRow {
    pub row: u64,
    pub key: String,
    pub to_number: String,
    pub attempts: u32,
    pub error: String,
    pub updated_at: String,
}

/// Builds the report for one results file.
pub fn report(path: &Path) -> anyhow::Result<StatusReport> {
    let log = results::read(path)?.with_context(|| {
        format!(
            "{} does not exist or holds no results yet; `callplan run PLAN` creates it",
            path.display()
        )
    })?;
    let now = crate::clock::clock()?.now();
    let (plan, rows, note) = match plan_of(path, &log) {
        Ok((plan, rows)) => (Some(plan), rows, None),
        Err(why) => (None, Rows::from_log(&log), Some(why)),
    };
    let rules = plan.as_ref().map_or(Rules::FileOnly, Rules::Plan);
    let sorted = triage::triage(rules, &rows, Some(&log.table), now);
    let rows_known = plan.is_some() || log.header.rows.is_some();
    let mut report = build(path, &log, plan.as_ref(), note, &sorted, rows_known);
    report.analysis = crate::outcomes::tally(&log.table, &crate::outcomes::store_path(path))
        .with_context(|| "cannot read the post-call store beside the results file")?;
    Ok(report)
}

/// The plan the file's identity line names, with its recipients validated
/// as `run` would; or why it cannot be used.
fn plan_of(path: &Path, log: &Log) -> Result<(Plan, Rows), String> {
    let header = &log.header;
    let plan = plan::load(Path::new(&header.plan))
        .map_err(|e| format!("the plan cannot be read ({e})"))?;
    let identity = triage::identity(&plan, header.identity.sandbox);
    if !header.identity.admits(&identity) {
        return Err(format!(
            "the plan {} now describes another campaign ({identity})",
            plan::display_path(&plan.path)
        ));
    }
    let recipients = header
        .recipients
        .as_ref()
        .map_or_else(|| plan.recipients.clone(), PathBuf::from);
    // The last run's validation, when nothing it read has changed.
    let seal = triage::Seal::of(&plan, &recipients, path);
    let validated = triage::seal::validate(&plan, &recipients, seal.as_ref(), false)
        .map_err(|e| format!("the recipients cannot be read ({e})"))?
        .validated;
    if validated.blocked {
        return Err(format!(
            "the plan or the recipients' header has errors (see `callplan validate {}`)",
            crate::text::shell_quote(&plan::display_path(&plan.path))
        ));
    }
    Ok((plan, validated.rows))
}

fn build(
    path: &Path,
    log: &Log,
    plan: Option<&Plan>,
    note: Option<String>,
    sorted: &Triage,
    rows_known: bool,
) -> StatusReport {
    let c = &sorted.counts;
    let mut outcomes: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for r in log.table.iter() {
        if let Status::Call(call) = &r.status
            && call.is_terminal()
        {
            *outcomes
                .entry(call.as_str().to_string())
                .or_default()
                .entry(r.end_reason.to_string())
                .or_insert(0) += 1;
        }
    }
    let mut in_doubt: Vec<InDoubtRow> = sorted
        .look_up
        .iter()
        .map(|r| &r.last)
        .filter(|r| r.status == Status::InDoubt)
        .map(|r| InDoubtRow {
            row: r.row,
            key: r.key.to_string(),
            to_number: r.to_number.to_string(),
            attempts: r.attempts,
            error: r.error.to_string(),
            updated_at: r.updated_at.to_string(),
        })
        .collect();
    in_doubt.sort_by_key(|r| r.row);
    let fmt = |t: Option<jiff::Timestamp>| t.map(crate::text::format_ts);
    let id = &log.header.identity;
    StatusReport {
        results: path.display().to_string(),
        campaign: id.campaign.clone(),
        from_number: id.from_number.clone(),
        agent_version_id: id.agent_version_id.clone(),
        counts: results::counts(&log.table),
        rows: rows_known.then_some(c.rows),
        triaged_by: if plan.is_some() {
            "plan"
        } else {
            "results file"
        },
        plan: plan.map(|p| p.path.display().to_string()),
        note,
        settled: c.settled_total(),
        settled_by_status: c.settled.clone(),
        to_dial: c.dial + c.waiting_for_window,
        to_look_up: c.to_look_up,
        invalid: c.invalid,
        suppressed: c.suppressed,
        past_end_at: c.past_end_at,
        duplicate_keys: c.duplicate_keys,
        in_doubt,
        rows_by_reason: c.describe(None),
        analysis: crate::outcomes::Tally::default(),
        usage: crate::callerid::usage(&log.table),
        resume: ResumeCommand::from_header(&log.header).to_string(),
        outcomes,
        in_progress: c.in_progress,
        redials_due: c.redials_due,
        redials_pending: c.redials_later,
        next_redial_at: fmt(c.next_redial_at),
        waiting_for_window: c.waiting_for_window,
        next_window_at: fmt(c.next_window_at),
        to_dial_now: c.dial_now(),
        verdict: verdict(c),
    }
}

/// One line: what a rerun does first, or when, or that nothing is left.
fn verdict(c: &Counts) -> String {
    if c.dial_now() + c.to_look_up > 0 {
        let mut v = format!("{} to dial now", c.dial_now());
        if c.to_look_up > 0 {
            v.push_str(&format!(", {} to look up first", c.to_look_up));
        }
        v
    } else if let Some(t) = c.next_due_at() {
        format!(
            "nothing to dial now; next at {} ({} waiting for their window, {} redials pending)",
            crate::text::format_ts(t),
            c.waiting_for_window,
            c.redials_later
        )
    } else if c.in_progress > 0 {
        format!(
            "{} calls in progress: `callplan track PLAN` records how they end",
            c.in_progress
        )
    } else if c.past_end_at > 0 {
        format!(
            "done: the schedule's end_at has passed ({} rows not dialled)",
            c.past_end_at
        )
    } else {
        "done".to_string()
    }
}

impl StatusReport {
    /// The text form.
    pub fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(
            out,
            "campaign {} (from {}, agent version {})",
            self.campaign, self.from_number, self.agent_version_id
        )?;
        writeln!(out, "results  {}", self.results)?;
        crate::progress::write_counts(&self.counts, out)?;
        for line in self.usage.lines() {
            writeln!(out, "{line}")?;
        }
        if self.analysis.calls > 0 {
            writeln!(
                out,
                "what the calls learned ({} calls):",
                self.analysis.calls
            )?;
            for line in self.analysis.lines() {
                writeln!(out, "  {line}")?;
            }
        }
        match (&self.plan, self.rows) {
            (Some(plan), Some(rows)) => writeln!(
                out,
                "input rows: {rows} (triaged by the plan {}, as a rerun would)",
                plan::display_path(Path::new(plan))
            )?,
            (_, rows) => {
                if let Some(rows) = rows {
                    writeln!(out, "input rows at the last run: {rows}")?;
                }
                writeln!(
                    out,
                    "counted from this file alone: {}; calling windows, end_at and do-not-call \
                     lists are not checked",
                    self.note.as_deref().unwrap_or("no plan")
                )?;
            }
        }
        writeln!(
            out,
            "settled {}; a rerun dials {}, looks up {} first; in doubt {}; invalid {}; \
             suppressed {}; past end_at {}",
            self.settled,
            self.to_dial,
            self.to_look_up,
            self.in_doubt.len(),
            self.invalid,
            self.suppressed,
            self.past_end_at
        )?;
        writeln!(out, "a rerun: {}", self.rows_by_reason)?;
        if !self.in_doubt.is_empty() {
            writeln!(
                out,
                "in doubt (sent, answer lost, call not found nor ruled out; not dialled again \
                 unless you pass --redial-in-doubt):"
            )?;
            for r in &self.in_doubt {
                writeln!(
                    out,
                    "  row {} key {} {} ({} attempts, {}): {}",
                    r.row, r.key, r.to_number, r.attempts, r.updated_at, r.error
                )?;
            }
        }
        if !self.outcomes.is_empty() {
            writeln!(out, "outcomes (status, end reason):")?;
            for (status, reasons) in &self.outcomes {
                for (reason, n) in reasons {
                    let reason = if reason.is_empty() { "-" } else { reason };
                    writeln!(out, "  {status:<12} {reason:<24} {n:>8}")?;
                }
            }
        }
        if self.in_progress > 0 {
            writeln!(out, "in progress: {}", self.in_progress)?;
        }
        if self.redials_pending > 0 {
            writeln!(
                out,
                "redials pending: {} (next due {})",
                self.redials_pending,
                self.next_redial_at.as_deref().unwrap_or("-")
            )?;
        }
        if self.waiting_for_window > 0 {
            writeln!(
                out,
                "waiting for their calling window: {} (next opens {})",
                self.waiting_for_window,
                self.next_window_at.as_deref().unwrap_or("-")
            )?;
        }
        writeln!(out, "verdict: {}", self.verdict)?;
        let left = self.to_dial + self.to_look_up + self.redials_due + self.redials_pending;
        if left == 0 && self.invalid == 0 {
            writeln!(out, "nothing left to dial")?;
        } else {
            writeln!(out, "resume: {}", self.resume)?;
        }
        Ok(())
    }
}

/// Runs `callplan status`: exit 0 when the file could be read.
pub fn main(args: StatusArgs) -> anyhow::Result<Exit> {
    let report = report(&args.results)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match args.format {
        Format::Text => report.write_text(&mut out)?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
    }
    Ok(Exit::Ok)
}
