//! The engine: dials rows under a concurrency cap and a steady rate, acts on
//! every classified answer, and never sends a request whose intent is not on
//! disk.
//!
//! A run has two phases. First, rows that an earlier run left `dispatching`
//! or `in_doubt` are reconciled (once their request can no longer be in
//! flight): found calls are adopted, rows confirmed absent join the dial
//! list, rows nobody can vouch for stay `in_doubt`. Then rows are dialled in
//! input order. Per row: take a permit (AIMD cap) and a pacing slot, write
//! the `dispatching` intent and wait for its fsync, send, classify
//! ([`crate::api::classify`]), and record the outcome. 409/429 wait and
//! resend under the same intent; 5xx and connection failures retry with
//! capped, fully jittered backoff up to `max_attempts`; an answer lost after
//! the request left is recorded `in_doubt` and reconciled within the run.
//!
//! Before its intent, each row is checked against the do-not-call numbers
//! and (with a schedule) its recipient's calling window, and takes a
//! live-call place when `max_active_calls` is set. With polling on
//! ([`poll`]), created calls are watched until they end; a redialled ending
//! schedules the next round, and rows waiting for a window or a redial are
//! dialled when due unless the run was told not to wait.
//!
//! Anything that stops the run (Ctrl-C, a workspace-wide answer, the
//! breaker, a failed write) cancels one token: no new request leaves, rows
//! waiting to resend are written back as `pending`, requests in flight get
//! a bounded time to finish.
//!
//! Where each part lives: `settings` (how a run behaves), `job` (the rows
//! and calls it works on), `state` (what its tasks share), `engine` (the
//! phases), `call_owners` (which row each call_id of the run is for),
//! `resume` (rows an earlier run left open), `dial` (one row,
//! send by send), `doubt` (a row whose answer was lost, waiting for its
//! lookup without holding a slot), `poll` (outcomes), `sync` (outcomes by
//! list pages), `reconcile` (the lookup), `calls_api`
//! (the API as the engine sees it) and `counters` (what the progress bar
//! and the summary read).

mod answers; // what a row does with each classified answer
pub mod backoff; // waits before resends, and the breaker
mod call_owners; // call_ids of this run and their rows
pub mod calls_api; // the three calls the engine makes, as a trait
pub mod counters; // what the run has done so far
mod dial; // one row, from its checks to its outcome
mod doubt; // a row whose answer was lost, looked up outside the slots
mod engine; // the phases of a run
pub mod job; // targets, jobs, rows to resume, calls to track
pub mod limiter; // the in-flight cap (AIMD)
pub mod pacer; // the steady rate
pub mod poll; // outcomes of created calls
pub mod reconcile; // did a lost request create a call?
mod resume; // rows an earlier run left open
pub mod settings; // how the engine behaves
mod state; // what a run's tasks share
mod sync; // outcomes by list pages
pub mod targets; // every recipient of the run, kept small

#[cfg(test)]
mod fake_api; // canned answers for the unit tests of dial and poll

pub use answers::MAX_WAITS;
pub use calls_api::CallsApi;
pub use counters::Stats;
pub use engine::{Engine, RunEnd};
pub use job::{Job, Resume, Target, Tracked};
pub use settings::{CLOCK_SKEW, MAX_INTENT_AGE, Now, RETRY_AFTER_BUDGET, Settings};
pub use state::StopReason;
pub use targets::Targets;
