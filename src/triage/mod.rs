//! Triage: what a run does with each row, decided once for every command.
//!
//! Given the rules (the plan's calling windows and redials, see [`Rules`]),
//! the validated rows (do-not-call lists applied, see [`read`]), the
//! results table of earlier runs and the instant, [`triage`] returns what
//! to dial now, what to look up first, what waits and until when, what to
//! record before dialling, and [`Counts`] of every row by reason. `run`
//! dials from it, `run --dry-run` prints it, `status` reports it: their
//! counts agree because they are the same numbers. The calling-window
//! decision itself is [`calling_window`] (in [`crate::schedule`], so that
//! the dial loop can ask it again before each request without importing
//! triage, which imports the engine's job types).
//!
//! Also here, because `run` and `status` both print it: [`ResumeCommand`],
//! the command that resumes a campaign.

mod counts;
mod resume;
mod rows;
mod rules;
pub mod seal;
mod sort;

use jiff::Timestamp;

pub use crate::schedule::{Window, calling_window};
pub use counts::{Counts, local_time};
pub use resume::ResumeCommand;
pub use rows::{Rows, Validated, read};
pub use rules::Rules;
pub use seal::Seal;
pub use sort::triage;

use crate::dispatch::{Job, Resume};
use crate::plan::Plan;
use crate::results::{Identity, Record};

/// What to do with every row, as [`triage`] decided it.
#[derive(Debug, Default)]
pub struct Triage {
    /// Rows to dial now, in input order.
    pub dial: Vec<Job>,
    /// Rows a call may exist for: looked up before anything is dialled.
    pub look_up: Vec<Resume>,
    /// Rows that wait: until when, and the round to dial then (rows
    /// waiting for their window, redials not due yet).
    pub wait: Vec<(Timestamp, Job)>,
    /// Records to write before dialling: `invalid` and `suppressed` rows,
    /// and rows waiting for their window (`pending`, the opening in
    /// `next_at`).
    pub record: Vec<Record>,
    /// Every row by reason.
    pub counts: Counts,
}

/// The identity a results file of this plan carries (`sandbox`: written by
/// a `--sandbox` rehearsal): a file with another one is not this
/// campaign's.
pub fn identity(plan: &Plan, sandbox: bool) -> Identity {
    Identity {
        campaign: plan.name.clone(),
        from_number: plan.from_number.clone(),
        agent_version_id: plan.agent_version_id.clone(),
        sandbox,
    }
}

#[cfg(test)]
mod tests;
