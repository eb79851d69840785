//! `callplan run`: validate every row, then dial what the results file does
//! not already settle, durably, and say what happened.
//!
//! [`run`] is five steps: `prepare` (load the plan, read the API key and
//! exit 2 before anything else if it is missing, take the lock, validate
//! every row while the results file is read, refuse a file of another
//! campaign); [`crate::triage`] (what to do with each row now: the same
//! decision `status` reports); `settings` from the plan and the flags;
//! `execute` (the engine on a tokio runtime); `finish` (compaction, the
//! summary, the exit code). `--dry-run` stops after triage and prints it;
//! `callplan track` is this same path with the dialling taken out.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use secrecy::SecretString;

use crate::api::{self, CallRequest, Campaign};
use crate::cli::{Format, RunArgs};
use crate::dispatch::{Now, Settings, Tracked};
use crate::exit::Exit;
use crate::plan::{self, Plan};
use crate::results::{self, Header, Log};
use crate::triage::{self, Counts, Rows, Rules, Triage, local_time};
use crate::validate;

mod execute;
mod finish;
mod report;

use execute::{RunContext, execute};
use finish::{Start, finish};

pub use crate::clock::TEST_NOW_ENV;

/// Test-only: a path. After validation and before the recipients file is
/// checked and the first request is sent, the run creates this file and
/// waits until it is removed, so an integration test can change the
/// recipients file "between validation and dialling" at a known moment.
/// Not for production use.
pub const TEST_HOLD_ENV: &str = "CALLPLAN_TEST_HOLD";

/// Requests `--dry-run` prints in full.
const DRY_RUN_SHOWN: usize = 3;

/// The environment variable that overrides the plan's base URL.
pub const BASE_URL_ENV: &str = "DIALNEXA_BASE_URL";

/// Runs `callplan run`; see the module doc and the README.
pub fn main(args: RunArgs) -> anyhow::Result<Exit> {
    run(args, false)
}

/// `callplan run`, or with `track_only` `callplan track`: the same work
/// with no dial, no reconciliation and no row recorded, only the calls in
/// progress polled to their end.
pub fn run(args: RunArgs, track_only: bool) -> anyhow::Result<Exit> {
    let origin = Instant::now();
    let Some(mut input) = prepare(&args)? else {
        return Ok(Exit::Invalid);
    };
    let clock = Now(crate::clock::clock()?);
    let t = Instant::now();
    let table = input.log.as_ref().map(|l| &l.table);
    let mut sorted = triage::triage(Rules::Plan(&input.plan), &input.rows, table, clock.now());
    tracing::debug!("rows triaged in {:?}", t.elapsed());
    let triaged = sorted.counts.clone();
    let tracked = in_progress(&args, &input);
    if track_only {
        if !announce_tracking(&input, &tracked) {
            return finish::nothing_to_track(&args, &input, &triaged);
        }
        sorted = Triage::default();
    } else if args.dry_run {
        return dry_run(&input, &sorted, &args);
    } else {
        announce(&args, &input, &sorted.counts);
        hold_for_test();
        // Rows added or removed since validation: refused before any is
        // dialled (a row edited in place is caught when it is read back).
        if let Err(changed) = input.rows.targets.check_unchanged() {
            return finish::refused(&args, &input, &triaged, &changed);
        }
    }
    let settings = settings(&args, &input, clock, origin, track_only);
    let notes = later_notes(&args, &sorted.counts);
    let log = input.log.take();
    let ctx = RunContext {
        plan: &input.plan,
        args: &args,
        key: input.key.take(),
        settings,
        results_path: &input.results_path,
        header: &input.header,
    };
    let executed = execute(ctx, log, sorted, tracked)?;
    finish(&args, &input, executed, Start { triaged, notes })
}

/// [`TEST_HOLD_ENV`]: creates its file and waits until it is removed.
fn hold_for_test() {
    let Some(path) = std::env::var_os(TEST_HOLD_ENV) else {
        return;
    };
    let path = PathBuf::from(path);
    if std::fs::write(&path, b"validated; remove this file to go on\n").is_err() {
        return;
    }
    while path.exists() {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Calls in progress (this run's or earlier), polled with `--wait` (and
/// by `track`).
fn in_progress(args: &RunArgs, input: &Prepared) -> Vec<Tracked> {
    match &input.log {
        Some(log) if args.wait => log
            .table
            .iter()
            .filter_map(|r| Tracked::from_record(&r))
            .collect(),
        _ => Vec::new(),
    }
}

/// `track`'s first words; false when there is nothing to track.
fn announce_tracking(input: &Prepared, tracked: &[Tracked]) -> bool {
    eprintln!(
        "tracking {} calls in progress in {}",
        tracked.len(),
        plan::display_path(&input.results_path)
    );
    if tracked.is_empty() {
        eprintln!("nothing to track: no call of this results file is in progress");
    }
    !tracked.is_empty()
}

/// A run made ready: the plan, the key, where the results go (locked),
/// every row validated and the results file read.
struct Prepared {
    plan: Plan,
    /// None for `--sandbox` and `--dry-run`, which need none.
    key: Option<SecretString>,
    results_path: PathBuf,
    header: Header,
    rows: Rows,
    /// The rows are the last run's validation, reused: nothing it read
    /// has changed.
    reused: bool,
    log: Option<Log>,
    /// The seal of this run's validation being written (waited for when
    /// dropped, before the lock).
    _sealing: triage::seal::Sealing,
    /// One run per results file at a time, held until the process ends.
    _lock: Option<results::RunLock>,
}

/// Everything before triage. `None`: validation found errors that stop
/// the run (printed; exit 1).
fn prepare(args: &RunArgs) -> anyhow::Result<Option<Prepared>> {
    let plan = plan::load(&args.plan)?;
    crate::redact::register_env(&plan.api.api_key_env);
    if let Some(r) = args.rate
        && !(r.is_finite() && r > 0.0)
    {
        bail!("--rate must be a positive number of requests per second, not {r}");
    }
    // The key first: a run that cannot dial must not do any work.
    let key = if args.sandbox || args.dry_run {
        None
    } else {
        Some(read_key(&plan)?)
    };
    let recipients = args
        .recipients
        .as_ref()
        .map_or_else(|| plan.recipients.clone(), |p| plan::absolute(p));
    let results_path = match &args.results {
        Some(p) => plan::absolute(p),
        None if args.sandbox => sandbox_results_path(plan.results_path()),
        None => plan.results_path().to_path_buf(),
    };
    let lock = if args.dry_run {
        None
    } else {
        let lock = results::lock(&results_path)?;
        results::remove_stale_temp_files(&results_path);
        Some(lock)
    };
    // The last run's validation is reused when nothing it read changed
    // (`triage::seal`); --dry-run, which writes nothing, only reads it.
    // Validation and reading the log are independent: do both at once (a
    // resume of a long campaign starts dialling sooner). With the seal of
    // these inputs, validation is a read of it: the log may take both
    // cores.
    let seal = triage::Seal::of(&plan, &recipients, &results_path);
    let sealed = seal.as_ref().is_some_and(triage::Seal::matches);
    let (validated, log) = std::thread::scope(|s| {
        let log = s.spawn(|| {
            let t = Instant::now();
            let log = if sealed {
                results::read(&results_path)
            } else {
                results::read_beside_other_work(&results_path)
            };
            tracing::debug!("results file read in {:?}", t.elapsed());
            log
        });
        let t = Instant::now();
        let store = !args.dry_run;
        let validated = triage::seal::validate(&plan, &recipients, seal.as_ref(), store);
        tracing::debug!("recipients validated in {:?}", t.elapsed());
        let log = log.join().unwrap_or_else(|_| {
            Err(results::ResultsError::NotResults {
                path: results_path.clone(),
            })
        });
        (validated, log)
    });
    let triage::seal::Checked {
        mut validated,
        reused,
        sealing,
    } = validated?;
    if validated.stops_a_run(args.skip_invalid) {
        print_stopping_report(&validated, args)?;
        return Ok(None);
    }
    let log = log?;
    // Each recipient's caller ID: its own cell, else the one it was called
    // from before (sticky), else the plan's local rules.
    let targets = Arc::make_mut(&mut validated.rows.targets);
    crate::callerid::assign(&plan, targets, log.as_ref().map(|l| &l.table));
    // Redials and calling windows find a row by its key.
    if plan.redial.is_some() || plan.schedule.is_some() {
        targets.index_keys();
    }
    let identity = triage::identity(&plan, args.sandbox);
    if let Some(log) = &log
        && !log.header.identity.admits(&identity)
    {
        return Err(results::ResultsError::OtherCampaign {
            path: results_path.clone(),
            found: Box::new(log.header.identity.clone()),
            expected: Box::new(identity),
        }
        .into());
    }
    let shown = |p: &Option<PathBuf>| p.as_ref().map(|p| plan::absolute(p).display().to_string());
    let header = Header {
        identity,
        plan: plan.path.display().to_string(),
        recipients: shown(&args.recipients),
        results: shown(&args.results),
        rows: Some(validated.rows.rows_read),
        skip_invalid: args.skip_invalid,
    };
    Ok(Some(Prepared {
        plan,
        key,
        results_path,
        header,
        rows: validated.rows,
        reused,
        log,
        _sealing: sealing,
        _lock: lock,
    }))
}

/// The validation report, and why nothing was dialled.
fn print_stopping_report(validated: &triage::Validated, args: &RunArgs) -> anyhow::Result<()> {
    let why = if args.skip_invalid {
        "nothing was dialled: the plan or the header has errors, which --skip-invalid cannot skip"
    } else {
        "nothing was dialled: fix the rows above (or pass --skip-invalid to record them as `invalid` and dial the rest)"
    };
    if args.format == Format::Json {
        return report::stopped_by_validation(args, &validated.report, why);
    }
    let stdout = std::io::stdout();
    let mut out = crate::redact::Masked::new(stdout.lock());
    validate::write_report(&validated.report, Format::Text, &mut out)?;
    writeln!(out, "{why}")?;
    Ok(())
}

/// What the run is about to do, on stderr (stdout is for the summary).
fn announce(args: &RunArgs, input: &Prepared, counts: &Counts) {
    if counts.invalid > 0 {
        eprintln!(
            "{} rows failed validation and are recorded as `invalid` (see `callplan validate`)",
            counts.invalid
        );
    }
    let reused = if input.reused {
        " (as the last run did: the file, the plan and callplan are unchanged)"
    } else {
        ""
    };
    eprintln!(
        "validated {} rows{reused}: {}; results: {}",
        counts.rows,
        counts.describe(args.limit),
        plan::display_path(&input.results_path)
    );
    if let Some(next) = counts.next_due_at()
        && !args.no_wait
        && counts.dial_now() == 0
        && counts.to_look_up == 0
    {
        eprintln!(
            "nothing to dial now: waiting until {} ({}) for the next calling window or redial; \
             Ctrl-C stops (a rerun resumes), --no-wait exits instead",
            local_time(next),
            crate::text::format_ts(next)
        );
    }
}

/// What is left for later, said in the summary: rows left for a rerun
/// (`--no-wait`) and rows past `end_at`.
fn later_notes(args: &RunArgs, counts: &Counts) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(next) = counts.next_due_at()
        && args.no_wait
    {
        notes.push(format!(
            "{} rows wait for their calling window or redial time; the next is due at {} ({}): rerun then",
            counts.waiting_for_window + counts.redials_later,
            local_time(next),
            crate::text::format_ts(next)
        ));
    }
    if counts.past_end_at > 0 {
        notes.push(format!(
            "{} rows were not dialled: the schedule's end_at has passed",
            counts.past_end_at
        ));
    }
    notes
}

/// The engine's settings: the plan's, overridden by the flags.
fn settings(
    args: &RunArgs,
    input: &Prepared,
    clock: Now,
    origin: Instant,
    track_only: bool,
) -> Settings {
    let plan = &input.plan;
    let mut settings = Settings::new(
        args.concurrency
            .map_or(plan.dispatch.concurrency, |c| c.get()),
        args.rate.unwrap_or(plan.dispatch.rate_per_second),
        plan.dispatch.max_attempts,
        seconds(plan.api.request_timeout_s, 30.0),
    );
    settings.list_lag = plan.api.list_lag();
    settings.redial_in_doubt = args.redial_in_doubt;
    settings.limit = args.limit;
    settings.origin = origin;
    settings.wait = args.wait;
    settings.track_only = track_only;
    settings.no_wait = args.no_wait;
    settings.clock = clock;
    settings.redial = plan.redial.clone();
    settings.schedule = plan.schedule.clone();
    settings.targets = input.rows.targets.clone();
    settings.max_active = plan.dispatch.max_active_calls;
    if args.wait || settings.max_active.is_some() {
        settings.poll_every = Some(args.poll_every.into());
        let store = crate::outcomes::store_path(&input.results_path);
        match crate::outcomes::Store::open(&store) {
            Ok(s) => settings.outcomes = Some(Arc::new(s)),
            Err(e) => tracing::warn!(
                "cannot open the post-call store {}: {e}; outcomes are recorded without their post-call data",
                store.display()
            ),
        }
    }
    settings
}

fn campaign(plan: &Plan) -> Campaign {
    Campaign {
        name: plan.name.clone(),
        from_number: plan.from_number.clone(),
        agent_version_id: plan.agent_version_id.clone(),
        metadata: plan.metadata.clone(),
    }
}

/// Prints the first requests in full and what would be done. Sends nothing.
fn dry_run(input: &Prepared, sorted: &Triage, args: &RunArgs) -> anyhow::Result<Exit> {
    let limit = args.limit;
    let calls_url = api::calls_url(&base_url(&input.plan));
    // A real run would stop at once on an unusable URL: so does its dry run
    // (exit 2), after showing everything else.
    let exit = if calls_url.is_err() {
        Exit::Usage
    } else {
        Exit::Ok
    };
    let url = calls_url
        .map(|u| api::shown_url(u.as_str()))
        .unwrap_or_else(|e| format!("(unusable base URL: {e})"));
    let counts = &sorted.counts;
    let dialled = counts.dial_now().min(limit.unwrap_or(u64::MAX));
    let campaign = campaign(&input.plan);
    let targets = &input.rows.targets;
    let mut shown = Vec::new();
    for job in sorted.dial.iter().take(DRY_RUN_SHOWN.min(dialled as usize)) {
        let Some(t) = targets.of_job(job) else {
            continue;
        };
        let (variables, metadata) = match targets.cells(&t) {
            Ok(cells) => cells,
            Err(changed) => return finish::refused(args, input, counts, &changed),
        };
        let req = CallRequest::of_row(
            &campaign,
            &t.key,
            job.round,
            &t.to_number,
            variables,
            metadata,
        )
        .with_caller(&t.from_number, &t.agent_version_id);
        shown.push(req.dry_run_json(&url));
    }
    if args.format == Format::Json {
        return report::dry_run(args, input, sorted, dialled, url, shown, exit);
    }
    let stdout = std::io::stdout();
    let mut out = crate::redact::Masked::new(stdout.lock());
    for req in &shown {
        serde_json::to_writer_pretty(&mut out, req)?;
        writeln!(out)?;
    }
    let why = match counts.nothing_now_because() {
        Some(why) if dialled == 0 => format!(" (nothing to dial now: {why})"),
        _ => String::new(),
    };
    writeln!(
        out,
        "dry run: {dialled} calls would be sent to {url}{why}; {} rows: {}; results would go to {}. \
         Nothing was sent.",
        counts.rows,
        counts.describe(limit),
        plan::display_path(&input.results_path)
    )?;
    if exit != Exit::Ok {
        eprintln!("the base URL is unusable: a real run would stop before dialling anyone");
    }
    Ok(exit)
}

/// The API key from the variable the plan names. Never printed.
fn read_key(plan: &Plan) -> anyhow::Result<SecretString> {
    let var = &plan.api.api_key_env;
    match std::env::var(var) {
        Ok(k) if !k.trim().is_empty() => Ok(SecretString::from(k.trim().to_string())),
        Ok(_) => bail!(
            "the API key variable {var} is empty: set it to your DialNexa key (Settings > API \
             Keys), or rehearse with --sandbox"
        ),
        Err(std::env::VarError::NotUnicode(_)) => {
            bail!(
                "the API key variable {var} is not valid text: set it again from Settings > API Keys"
            )
        }
        Err(std::env::VarError::NotPresent) => bail!(
            "no API key: set {var} to your DialNexa key (Settings > API Keys; the plan's \
             api.api_key_env names the variable), or rehearse with --sandbox, or look first \
             with --dry-run"
        ),
    }
}

fn base_url(plan: &Plan) -> String {
    match std::env::var(BASE_URL_ENV) {
        Ok(u) if !u.trim().is_empty() => u,
        _ => plan.api.base_url.clone(),
    }
}

fn seconds(s: f64, default: f64) -> Duration {
    Duration::try_from_secs_f64(s)
        .ok()
        .filter(|d| !d.is_zero())
        .unwrap_or_else(|| Duration::from_secs_f64(default))
}

/// `june.results.csv` -> `june.results.sandbox.csv`: a rehearsal never
/// writes into the real campaign's file.
pub(crate) fn sandbox_results_path(real: &Path) -> PathBuf {
    let stem = real
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "results".into());
    let name = match real.extension() {
        Some(ext) => format!("{stem}.sandbox.{}", ext.to_string_lossy()),
        None => format!("{stem}.sandbox"),
    };
    real.with_file_name(name)
}
