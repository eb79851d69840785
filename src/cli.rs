//! The command line: clap definitions only. Doc comments are the help text.

use std::num::NonZeroU32;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Validate, dispatch and resume DialNexa outbound-call campaigns.
///
/// A plan (YAML) names the caller number, the agent version, variable
/// defaults and pacing; recipients live in a CSV. callplan checks every row
/// before anyone is dialled, dials under a concurrency cap and a rate limit,
/// and keeps a durable results file so that a rerun dials only what is left.
#[derive(Debug, Parser)]
#[command(name = "callplan", version, verbatim_doc_comment)]
pub struct Cli {
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Validate(ValidateArgs),
    Run(RunArgs),
    Status(StatusArgs),
    Track(TrackArgs),
    Sandbox(SandboxArgs),
    Init(InitArgs),
    Completions(CompletionsArgs),
    Man(ManArgs),
    Export(ExportArgs),
}

/// Output format of reports; defined with the report writer.
pub use crate::validate::Format;

/// Check a plan and its recipients; report every problem in one pass.
///
/// Examples:
///   callplan validate plans/appointment-reminders.yaml
///   callplan validate plans/appointment-reminders.yaml --recipients fixed.csv
///   callplan validate plans/appointment-reminders.yaml --format json
///   callplan validate plans/appointment-reminders.yaml --errors-out to-fix.csv
///
/// Exit codes: 0 no errors (warnings allowed), 1 errors, 2 unreadable input.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ValidateArgs {
    /// The plan file (YAML).
    pub plan: PathBuf,
    /// Recipients CSV to use instead of the plan's `recipients`.
    #[arg(long, value_name = "CSV")]
    pub recipients: Option<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write every finding as `row,to_number,column,problem` to this CSV.
    #[arg(long, value_name = "CSV")]
    pub errors_out: Option<PathBuf>,
}

/// Validate, then dial every row not yet settled by the results file.
///
/// Examples:
///   callplan run plans/appointment-reminders.yaml --sandbox
///   callplan run plans/appointment-reminders.yaml --dry-run
///   callplan run plans/appointment-reminders.yaml --limit 20
///   callplan run plans/appointment-reminders.yaml --sandbox --format json
///   DIALNEXA_API_KEY=... callplan run plans/appointment-reminders.yaml
///
/// Exit codes: 0 done, 1 validation errors (nobody dialled), 2 usage,
/// 3 stopped on a workspace-wide API error, 4 some rows rejected or in doubt,
/// 130 interrupted. After 3 or 130, the same command resumes.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct RunArgs {
    /// The plan file (YAML).
    pub plan: PathBuf,
    /// Recipients CSV to use instead of the plan's `recipients`.
    #[arg(long, value_name = "CSV")]
    pub recipients: Option<PathBuf>,
    /// Results file to use instead of the plan's `results`.
    #[arg(long, value_name = "CSV")]
    pub results: Option<PathBuf>,
    /// Create requests in flight at most (overrides dispatch.concurrency;
    /// 1 to 10000).
    #[arg(long, value_name = "N", value_parser = crate::bounds::parse_concurrency)]
    pub concurrency: Option<NonZeroU32>,
    /// Requests per second at most (overrides dispatch.rate_per_second;
    /// from one a day, 0.0000116, to 1000000).
    #[arg(long, value_name = "PER_SECOND", value_parser = crate::bounds::parse_rate)]
    pub rate: Option<f64>,
    /// Dial at most N rows this run (a pilot before the whole list).
    #[arg(long, value_name = "N", value_parser = crate::bounds::parse_limit)]
    pub limit: Option<u64>,
    /// Validate and show what would be sent; send nothing.
    #[arg(long, conflicts_with = "sandbox")]
    pub dry_run: bool,
    /// Run against the embedded DialNexa simulator: no key, no network.
    #[arg(long)]
    pub sandbox: bool,
    /// Record rows that fail validation as `invalid` and dial the rest.
    #[arg(long)]
    pub skip_invalid: bool,
    /// Dial again rows whose earlier call could not be confirmed or ruled out.
    #[arg(long)]
    pub redial_in_doubt: bool,
    /// After the last dial, poll every call of the results file until it
    /// ends and record its outcome (status, end_reason, duration_s).
    #[arg(long)]
    pub wait: bool,
    /// Time between two polls of one call (with --wait; 1s to 1day).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = crate::bounds::parse_poll_every)]
    pub poll_every: humantime::Duration,
    /// Do not wait for calling windows or redials that are not due yet:
    /// dial what may be dialled now, then exit 0 and say when to come back.
    #[arg(long, conflicts_with = "wait")]
    pub no_wait: bool,
    /// No progress bar; a plain log line every few seconds.
    #[arg(short, long)]
    pub quiet: bool,
    /// Summary format: `json` prints one JSON document on stdout at the
    /// end (progress and logs stay on stderr).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Poll the calls a results file left in progress until each has ended;
/// dial nothing.
///
/// Examples:
///   callplan track plans/appointment-reminders.yaml
///   callplan track plans/appointment-reminders.yaml --poll-every 10s
///   callplan track plans/appointment-reminders.yaml --format json
///
/// Exit codes: as `callplan run`.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct TrackArgs {
    /// The plan file (YAML).
    pub plan: PathBuf,
    /// Recipients CSV to use instead of the plan's `recipients`.
    #[arg(long, value_name = "CSV")]
    pub recipients: Option<PathBuf>,
    /// Results file to use instead of the plan's `results`.
    #[arg(long, value_name = "CSV")]
    pub results: Option<PathBuf>,
    /// Time between two polls of one call (1s to 1day).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = crate::bounds::parse_poll_every)]
    pub poll_every: humantime::Duration,
    /// No progress bar; a plain log line every few seconds.
    #[arg(short, long)]
    pub quiet: bool,
    /// Summary format: `json` prints one JSON document on stdout at the
    /// end (progress and logs stay on stderr).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Summarize a results file: counts per status, rows left, in-doubt rows.
///
/// Examples:
///   callplan status plans/appointment-reminders.results.csv
///   callplan status plans/appointment-reminders.results.csv --format json
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct StatusArgs {
    /// The results file (CSV).
    pub results: PathBuf,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Serve the DialNexa simulator on loopback.
///
/// Prints `listening on http://ADDR` once it accepts connections and serves
/// until Ctrl-C or SIGTERM.
///
/// Examples:
///   callplan sandbox
///   callplan sandbox --listen 127.0.0.1:0 --config sandbox.yaml
///   callplan sandbox --print-config > sandbox.yaml
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct SandboxArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8787", value_name = "ADDR")]
    pub listen: String,
    /// Simulator configuration (YAML); see --print-config.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the default configuration as commented YAML and exit.
    #[arg(long, conflicts_with = "config")]
    pub print_config: bool,
    /// Allow listening on a non-loopback address.
    #[arg(long)]
    pub allow_remote: bool,
    /// Worker threads (default: half the CPU cores, at least 1, leaving the
    /// rest to the client it serves on the same machine).
    #[arg(long, value_name = "N")]
    pub workers: Option<std::num::NonZeroUsize>,
}

/// Write a commented starting plan for a recipients file.
///
/// The number column is found by its header (to_number, phone,
/// phone_number, mobile, any case) or by its cells; every other column
/// becomes a variable, those never empty are required; default_region is
/// set when most numbers are written nationally. from_number and
/// agent_version_id are left to fill in: validate reports them until then.
/// Never overwrites a file.
///
/// Examples:
///   callplan init examples/appointment-reminders.csv
///   callplan init june.csv --out plans/june.yaml
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct InitArgs {
    /// The recipients file: CSV, or a workbook (.xlsx, .xlsm, .xls, .ods;
    /// its first visible sheet).
    pub recipients: PathBuf,
    /// Where to write the plan [default: STEM.plan.yaml beside RECIPIENTS].
    #[arg(long, value_name = "PLAN")]
    pub out: Option<PathBuf>,
}

/// Print a shell completion script on stdout.
///
/// Generated from the same definitions as `--help`, so it never drifts.
///
/// Examples:
///   callplan completions bash > ~/.local/share/bash-completion/completions/callplan
///   callplan completions zsh > ~/.zfunc/_callplan
///   callplan completions fish > ~/.config/fish/completions/callplan.fish
///   callplan completions powershell >> $PROFILE
///   callplan completions elvish >> ~/.config/elvish/rc.elv
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Print the man page (roff) on stdout: every command, option and exit code.
///
/// Examples:
///   callplan man | man -l -
///   callplan man > ~/.local/share/man/man1/callplan.1
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ManArgs {}
/// Write one row per recipient: its own columns, then its call's outcome
/// and what the call learned (summary, sentiment, recording URL, analysis
/// fields as `analysis.<field>`): the file a CRM imports.
///
/// Rows come in the recipients' order; a recipient never dialled has empty
/// call columns. A call column whose name an input column already has is
/// prefixed `callplan.`. In CSV, cells a spreadsheet would run as a
/// formula are quoted with `'`.
///
/// Examples:
///   callplan export plans/appointment-reminders.yaml --out outcomes.csv
///   callplan export plans/appointment-reminders.yaml --transcripts --out outcomes.csv
///   callplan export plans/appointment-reminders.yaml --format jsonl > outcomes.jsonl
///   callplan export plans/appointment-reminders.yaml --sandbox
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ExportArgs {
    /// The plan file (YAML).
    pub plan: PathBuf,
    /// Results file to use instead of the plan's `results`.
    #[arg(long, value_name = "CSV")]
    pub results: Option<PathBuf>,
    /// Export the `--sandbox` rehearsal (`<name>.results.sandbox.csv`).
    #[arg(long, conflicts_with = "results")]
    pub sandbox: bool,
    /// Write to this file (atomically) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Output format: CSV, or JSON Lines (one object per recipient with
    /// `input`, `call`, `analysis` and, with --transcripts, `transcript`).
    #[arg(long, value_enum, default_value_t = crate::outcomes::export::Format::Csv)]
    pub format: crate::outcomes::export::Format,
    /// Add each call's transcript (`agent: ...` / `user: ...` lines).
    #[arg(long)]
    pub transcripts: bool,
}
