//! `run`'s finish step: the log compacted (one line per recipient, in
//! input order), then how the run ended, in the summary on stdout (the
//! counts of the compacted file, why it stopped, the command that
//! resumes; as text, or with `--format json` as [`RunReport`]) and in the
//! exit code.

use std::io::Write;
use std::path::Path;

use super::Prepared;
use super::execute::{Executed, Outcome};
use super::report::RunReport;
use crate::cli::{Format, RunArgs};
use crate::dispatch::StopReason;
use crate::exit::Exit;
use crate::plan::{self, Plan};
use crate::progress::{Stats, Summary};
use crate::results;
use crate::triage::{Counts, ResumeCommand};

/// What the run knew before the engine started.
pub(super) struct Start {
    /// Triage's counts (for `track`, of the triage it did not act on).
    pub(super) triaged: Counts,
    /// Notes decided before the engine ran (rows left for later).
    pub(super) notes: Vec<String>,
}

/// Compacts the results file, then prints the summary; the exit code.
pub(super) fn finish(
    args: &RunArgs,
    input: &Prepared,
    run: Executed,
    mut start: Start,
) -> anyhow::Result<Exit> {
    // Calls per caller ID and agent version, when more than one was used.
    start
        .notes
        .extend(crate::callerid::usage(&run.table).lines());
    let compacted = run.write_error.is_none()
        // Every recipient in input order, derived from the targets and the
        // invalid rows as the lines stream out (no list of them is built).
        && results::compact(
            &input.results_path,
            &input.header,
            input.rows.in_order(),
            &run.table,
        )
            .map_err(|e| tracing::error!("{e}; the log is intact and a rerun resumes from it"))
            .is_ok();
    let ending = Ending {
        counts: results::tally(input.rows.keys_in_order(), &run.table),
        outcome: run.outcome,
        write_error: run.write_error,
        compacted,
        start,
    };
    summarize(args, &input.plan, &input.results_path, ending)
}

/// `track` with no call in progress: nothing ran. Exit 0; with `--format
/// json`, the document says so (the text was said on stderr already).
pub(super) fn nothing_to_track(
    args: &RunArgs,
    input: &Prepared,
    triaged: &Counts,
) -> anyhow::Result<Exit> {
    if args.format == Format::Json {
        let mut report = super::report::before_dialling(args, input, Exit::Ok, triaged);
        report
            .notes
            .push("nothing to track: no call of this results file is in progress".into());
        report.print()?;
    }
    Ok(Exit::Ok)
}

/// The recipients file changed between validation and the first dial (or
/// a dry run's read-back): nothing was sent, nothing written. The message
/// on stderr (and, with `--format json`, in the document's notes); exit
/// [`Exit::RecipientsChanged`].
pub(super) fn refused(
    args: &RunArgs,
    input: &Prepared,
    triaged: &Counts,
    changed: &crate::recipients::Changed,
) -> anyhow::Result<Exit> {
    let exit = Exit::RecipientsChanged;
    eprintln!("{}", crate::redact::mask(&format!("error: {changed}")));
    if args.format == Format::Json {
        let mut report = super::report::before_dialling(args, input, exit, triaged);
        report.notes.push(changed.to_string());
        report.print()?;
    }
    Ok(exit)
}

/// How the engine ended, and what the results file holds after it.
struct Ending {
    /// Rows per status word, as compacted.
    counts: std::collections::BTreeMap<String, u64>,
    outcome: Outcome,
    write_error: Option<results::WriteFailed>,
    compacted: bool,
    start: Start,
}

impl Ending {
    fn n(&self, status: &str) -> u64 {
        self.counts.get(status).copied().unwrap_or(0)
    }

    fn exit(&self) -> Exit {
        match (&self.outcome.stop, &self.write_error) {
            (_, Some(_)) | (Some(StopReason::WriteFailed), _) => Exit::Unwritable,
            (Some(StopReason::Interrupted), _) => Exit::Interrupted,
            (Some(StopReason::RecipientsChanged(_)), _) => Exit::RecipientsChanged,
            (
                Some(
                    StopReason::Fatal { .. }
                    | StopReason::Breaker { .. }
                    | StopReason::WaitedTooLong { .. },
                ),
                _,
            ) => Exit::Stopped,
            (None, None) => {
                let unsettled =
                    self.n("rejected") + self.n("error") + self.n("in_doubt") + self.n("invalid");
                if unsettled > 0 {
                    Exit::Partial
                } else {
                    Exit::Ok
                }
            }
        }
    }

    /// Why the engine stopped early, and the fix.
    fn stop_notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        match &self.outcome.stop {
            Some(StopReason::Fatal {
                http_status,
                message,
                fix,
            }) => {
                let code = http_status
                    .map(|c| format!("HTTP {c}: "))
                    .unwrap_or_default();
                notes.push(format!(
                    "stopped: the API refused the workspace ({code}{message})"
                ));
                notes.push(format!("fix: {fix}"));
            }
            Some(StopReason::Breaker { message }) => {
                notes.push(format!(
                    "stopped: the first {} answers were all the same rejection: {message}",
                    crate::dispatch::backoff::BREAKER_WINDOW
                ));
                notes.push(
                    "fix: this looks like a problem of the plan, not of the rows; fix it, then rerun"
                        .into(),
                );
            }
            Some(stop @ StopReason::WaitedTooLong { .. }) => notes.extend(stop.notes()),
            Some(StopReason::RecipientsChanged(message)) => {
                notes.push(format!("stopped: {message}"));
                notes.push("what was dialled is recorded; rows not dialled stay pending".into());
            }
            _ => {}
        }
        if self.outcome.abandoned > 0 {
            notes.push(format!(
                "{} requests were still in flight; the next run looks them up before dialling",
                self.outcome.abandoned
            ));
        }
        if !self.compacted && self.write_error.is_none() {
            notes.push(
                "the results file was left as a log (not compacted); a rerun reads it".into(),
            );
        }
        notes
    }
}

/// The summary on stdout (text or JSON) and the exit code.
fn summarize(
    args: &RunArgs,
    plan: &Plan,
    results_path: &Path,
    ending: Ending,
) -> anyhow::Result<Exit> {
    let exit = ending.exit();
    let n = |s: &str| ending.n(s);
    let mut before = ending.start.notes.clone();
    before.extend(ending.stop_notes());
    let left = n("pending") + n("error") + n("dispatching") + n("in_doubt");
    let stopped = matches!(
        exit,
        Exit::Interrupted | Exit::Stopped | Exit::RecipientsChanged
    );
    let resume = (left > 0 || stopped).then(|| {
        ResumeCommand::new(
            &plan.path,
            args.recipients.as_deref(),
            args.results.as_deref(),
            args.skip_invalid,
            args.sandbox,
        )
        .to_string()
    });
    let mut after = Vec::new();
    let live = n("queued") + n("ringing") + n("in_progress");
    if live > 0 && !args.wait && args.sandbox {
        after.push(format!(
            "{live} calls were still in progress when the rehearsal ended: add --wait to see how they end"
        ));
    } else if live > 0 && !args.wait {
        after.push(format!(
            "{live} calls were still in progress when last seen: `callplan track {}` records how they end",
            crate::text::shell_quote(&args.plan.display().to_string())
        ));
    }
    if n("in_doubt") > 0 {
        after.push(format!(
            "{} rows are in doubt (sent, answer lost, not found): see `callplan status {}`; \
             --redial-in-doubt dials them again",
            n("in_doubt"),
            crate::text::shell_quote(&plan::display_path(results_path))
        ));
    }
    let stats = &ending.outcome.stats;
    if args.format == Format::Json {
        let mut report =
            RunReport::new(args, exit).with_counts(results_path, ending.counts.clone());
        report.handled = Stats::get(&stats.done);
        report.ended = Stats::get(&stats.ended);
        report.wall_s = (ending.outcome.wall.as_secs_f64() * 1000.0).round() / 1000.0;
        report.answers_409 = Stats::get(&stats.answers_409);
        report.answers_429 = Stats::get(&stats.answers_429);
        report.triage = Some((&ending.start.triaged).into());
        report.resume = resume;
        report.notes = before.into_iter().chain(after).collect();
        report.print()?;
    } else {
        let mut notes = before;
        notes.extend(resume.map(|r| format!("resume: {r}")));
        notes.extend(after);
        let summary = Summary {
            counts: ending.counts.clone(),
            handled: Stats::get(&stats.done),
            wall: ending.outcome.wall,
            answers_409: Stats::get(&stats.answers_409),
            answers_429: Stats::get(&stats.answers_429),
            results_path: plan::display_path(results_path),
            exit_code: exit.code(),
            exit_meaning: exit.meaning().to_string(),
            notes,
        };
        let stdout = std::io::stdout();
        let mut out = crate::redact::Masked::new(stdout.lock());
        summary.write(&mut out)?;
        out.flush()?;
    }
    if let Some(e) = ending.write_error {
        return Err(anyhow::Error::new(e).context(
            "dialling stopped: no call is sent whose intent is not on disk; free space (or restore \
             the folder), then rerun to resume",
        ));
    }
    Ok(exit)
}
