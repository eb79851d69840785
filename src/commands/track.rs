//! `callplan track`: poll the calls a results file left in progress until
//! each has ended, recording their outcomes; nothing is dialled. It is
//! `callplan run --wait` with the dialling taken out (same plan, same
//! results file and lock, same rate limit), so it lives in [`super::run`].

use crate::cli::{RunArgs, TrackArgs};
use crate::exit::Exit;

/// Runs `callplan track`.
pub fn main(args: TrackArgs) -> anyhow::Result<Exit> {
    let run = RunArgs {
        plan: args.plan,
        recipients: args.recipients,
        results: args.results,
        concurrency: None,
        rate: None,
        limit: None,
        dry_run: false,
        sandbox: false,
        skip_invalid: true,
        redial_in_doubt: false,
        wait: true,
        poll_every: args.poll_every,
        no_wait: false,
        quiet: args.quiet,
        format: args.format,
    };
    super::run::run(run, true)
}
