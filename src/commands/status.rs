//! `callplan status`: what a results file says, without touching it.
//!
//! Counts per status (last record of each key), what a rerun would do with
//! the rest (dial, look up, leave in doubt), the in-doubt rows one by one,
//! and the exact command that resumes. Safe while a run is writing the
//! file: a torn last line is ignored.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::Context;
use serde::Serialize;

use crate::cli::{Format, StatusArgs};
use crate::exit::Exit;
use crate::results::{self, Disposition, Status};

/// The report, as JSON prints it.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub results: String,
    pub campaign: String,
    pub from_number: String,
    pub agent_version_id: String,
    /// Latest status of every key in the file.
    pub counts: BTreeMap<String, u64>,
    /// Recipient rows in the input of the last run, when known.
    pub rows: Option<u64>,
    /// Rows with a call or refused for good (rejected, suppressed).
    pub settled: u64,
    /// Rows a rerun dials: pending, error, and input rows not yet in the file.
    pub to_dial: u64,
    /// Rows a rerun looks up first (left `dispatching` by a stopped run).
    pub to_look_up: u64,
    /// Rows that failed validation (dialled once they validate).
    pub invalid: u64,
    pub in_doubt: Vec<InDoubtRow>,
    /// The command that resumes the campaign.
    pub resume: String,
    /// Ended calls per final status, then per `end_reason` (`""` when the
    /// API gave none).
    pub outcomes: BTreeMap<String, BTreeMap<String, u64>>,
    /// Calls created and not yet seen ended (queued, ringing, in progress):
    /// `callplan track` records how they end.
    pub in_progress: u64,
    /// Rows whose last call ended in a redialled way, with the next round's
    /// time in `next_at`.
    pub redials_pending: u64,
    /// The earliest of those times (RFC 3339, UTC).
    pub next_redial_at: Option<String>,
    /// Rows not dialled yet because their calling window is closed.
    pub waiting_for_window: u64,
    /// The earliest time one of them may be dialled.
    pub next_window_at: Option<String>,
    /// Rows a rerun would dial right now (window open, redial due).
    pub to_dial_now: u64,
    /// One line: done, N to dial now, or when the next work is due.
    pub verdict: String,
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
pub fn report(path: &std::path::Path) -> anyhow::Result<StatusReport> {
    let log = results::read(path)?.with_context(|| {
        format!(
            "{} does not exist or holds no results yet; `callplan run PLAN` creates it",
            path.display()
        )
    })?;
    let mut settled = 0;
    let mut to_dial = 0;
    let mut to_look_up = 0;
    let mut invalid = 0;
    let mut in_doubt = Vec::new();
    let now = crate::commands::run::clock()?.now();
    let mut outcomes: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let (mut in_progress, mut redials, mut waiting, mut due_now) = (0, 0, 0, 0);
    let (mut next_redial, mut next_window): (Option<jiff::Timestamp>, Option<jiff::Timestamp>) =
        (None, None);
    let earliest = |slot: &mut Option<jiff::Timestamp>, t: jiff::Timestamp| {
        *slot = Some(slot.map_or(t, |s| s.min(t)));
    };
    for r in log.table.iter() {
        let next_at = r.next_at.parse::<jiff::Timestamp>().ok();
        match &r.status {
            Status::Call(c) if c.is_terminal() => {
                *outcomes
                    .entry(c.as_str().to_string())
                    .or_default()
                    .entry(r.end_reason.clone())
                    .or_insert(0) += 1;
                if let Some(t) = next_at {
                    if t <= now {
                        due_now += 1;
                    } else {
                        redials += 1;
                        earliest(&mut next_redial, t);
                    }
                }
            }
            Status::Call(_) => in_progress += 1,
            Status::Pending => {
                if let Some(t) = next_at.filter(|t| *t > now) {
                    waiting += 1;
                    earliest(&mut next_window, t);
                }
            }
            _ => {}
        }
        match (&r.status, r.status.disposition()) {
            (Status::Invalid, _) => invalid += 1,
            (Status::InDoubt, _) => in_doubt.push(InDoubtRow {
                row: r.row,
                key: r.key.clone(),
                to_number: r.to_number.clone(),
                attempts: r.attempts,
                error: r.error.clone(),
                updated_at: r.updated_at.clone(),
            }),
            (_, Disposition::Settled) => settled += 1,
            (_, Disposition::Dial) => to_dial += 1,
            (_, Disposition::Reconcile) => to_look_up += 1,
        }
    }
    in_doubt.sort_by_key(|r| r.row);
    // Rows of the input that no record mentions yet (a log cut short).
    if let Some(rows) = log.header.rows {
        to_dial += rows.saturating_sub(log.table.len() as u64);
    }
    let to_dial_now = to_dial.saturating_sub(waiting) + due_now;
    let fmt = |t: Option<jiff::Timestamp>| t.map(crate::text::format_ts);
    let verdict = if to_dial_now + to_look_up > 0 {
        format!(
            "{to_dial_now} to dial now{}",
            if to_look_up > 0 {
                format!(", {to_look_up} to look up first")
            } else {
                String::new()
            }
        )
    } else if let Some(t) = [next_window, next_redial].into_iter().flatten().min() {
        format!(
            "nothing to dial now; next at {} ({} waiting for their window, {} redials pending)",
            crate::text::format_ts(t),
            waiting,
            redials
        )
    } else if in_progress > 0 {
        format!("{in_progress} calls in progress: `callplan track PLAN` records how they end")
    } else {
        "done".to_string()
    };
    let id = &log.header.identity;
    Ok(StatusReport {
        outcomes,
        in_progress,
        redials_pending: redials,
        next_redial_at: fmt(next_redial),
        waiting_for_window: waiting,
        next_window_at: fmt(next_window),
        to_dial_now,
        verdict,
        results: path.display().to_string(),
        campaign: id.campaign.clone(),
        from_number: id.from_number.clone(),
        agent_version_id: id.agent_version_id.clone(),
        counts: results::counts(&log.table),
        rows: log.header.rows,
        settled,
        to_dial,
        to_look_up,
        invalid,
        in_doubt,
        resume: log.header.resume_command(),
    })
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
        if let Some(rows) = self.rows {
            writeln!(out, "input rows at the last run: {rows}")?;
        }
        writeln!(
            out,
            "settled {}; a rerun dials {}, looks up {} first; in doubt {}; invalid {}",
            self.settled,
            self.to_dial,
            self.to_look_up,
            self.in_doubt.len(),
            self.invalid
        )?;
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
        let left = self.to_dial + self.to_look_up + self.in_doubt.len() as u64;
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
