//! `callplan run`: validate every row, then dial what the results file does
//! not already settle, durably, and say what happened.
//!
//! Order of work: load the plan; read the API key (exit 2 before anything
//! else if it is missing); validate every row (exit 1 on errors unless
//! `--skip-invalid`); read the results file (refusing one of another
//! campaign); sort rows into settled / to look up / to dial; then, on a
//! tokio runtime, open the log, start the engine and the progress display,
//! and wait. At the end the log is compacted, the summary printed, and the
//! exit code says how it ended.
//!
//! Sorting also applies issue 5's rules: do-not-call rows are recorded
//! `suppressed`, rows outside their calling window wait (`pending` with
//! `next_at`), ended calls the plan redials come back in their next round
//! when due. `--wait` polls every call to its end; `callplan track` is this
//! same path with the dialling taken out.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use crate::api::{self, CallRequest, Campaign, Client, ClientConfig};
use crate::cli::{Format, RunArgs};
use crate::dispatch::{Engine, Job, Resume, Settings, StopReason, Target, Tracked};
use crate::exit::Exit;
use crate::plan::{self, Plan};
use crate::progress::{Mode, Reporter, Stats, Summary};
use crate::results::{self, Disposition, Header, Identity, Record, RowRef, Status};
use crate::validate;

/// Test-only: an RFC 3339 instant taken as "now" when the run starts (the
/// clock then moves on in real time from there), so integration tests can
/// check calling windows on a chosen date. Not for production use.
pub const TEST_NOW_ENV: &str = "CALLPLAN_TEST_NOW";

/// A clock that starts at a chosen instant and runs in real time.
struct OffsetClock {
    base: jiff::Timestamp,
    started: Instant,
}

impl crate::clock::Clock for OffsetClock {
    fn now(&self) -> jiff::Timestamp {
        let run = jiff::SignedDuration::try_from(self.started.elapsed()).unwrap_or_default();
        self.base.checked_add(run).unwrap_or(self.base)
    }
}

/// The run's clock: the system's, or [`TEST_NOW_ENV`]'s.
pub(crate) fn clock() -> anyhow::Result<crate::dispatch::Now> {
    match std::env::var(TEST_NOW_ENV) {
        Ok(v) if !v.trim().is_empty() => {
            let base: jiff::Timestamp = v.trim().parse().with_context(|| {
                format!("{TEST_NOW_ENV}={v:?} is not an RFC 3339 instant (it is for tests only)")
            })?;
            Ok(crate::dispatch::Now(Arc::new(OffsetClock {
                base,
                started: Instant::now(),
            })))
        }
        _ => Ok(crate::dispatch::Now::default()),
    }
}

/// An instant in the user's own zone, for messages.
fn local_time(t: jiff::Timestamp) -> String {
    t.to_zoned_datetime(jiff::tz::TimeZone::system())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}

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
    let plan = plan::load(&args.plan)?;
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
    let recipients = match &args.recipients {
        Some(p) => plan::absolute(p),
        None => plan.recipients.clone(),
    };
    let results_path = match &args.results {
        Some(p) => plan::absolute(p),
        None if args.sandbox => sandbox_results_path(plan.results_path()),
        None => plan.results_path().to_path_buf(),
    };

    // One run per results file at a time, held until the process ends.
    let _lock = if args.dry_run {
        None
    } else {
        let lock = results::lock(&results_path)?;
        results::remove_stale_temp_files(&results_path);
        Some(lock)
    };
    // Validation and reading the log are independent: do both at once (a
    // resume of a long campaign starts dialling sooner).
    let (input, existing) = std::thread::scope(|s| {
        let log = s.spawn(|| {
            let t = Instant::now();
            let log = results::read(&results_path);
            tracing::debug!("results file read in {:?}", t.elapsed());
            log
        });
        let t = Instant::now();
        let input = read_input(&plan, &recipients, args.skip_invalid);
        tracing::debug!("recipients validated in {:?}", t.elapsed());
        let log = log.join().unwrap_or_else(|_| {
            Err(results::ResultsError::NotResults {
                path: results_path.clone(),
            })
        });
        (input, log)
    });
    let mut input = input?;
    if let Some(exit) = input.blocked {
        return Ok(exit);
    }
    let existing = existing?;
    crate::callerid::assign(
        &plan,
        &mut input.targets,
        existing.as_ref().map(|l| &l.table),
    );

    let identity = Identity {
        campaign: plan.name.clone(),
        from_number: plan.from_number.clone(),
        agent_version_id: plan.agent_version_id.clone(),
        sandbox: args.sandbox,
    };
    let header = Header {
        identity: identity.clone(),
        plan: plan.path.display().to_string(),
        recipients: args
            .recipients
            .as_ref()
            .map(|p| plan::absolute(p).display().to_string()),
        results: args
            .results
            .as_ref()
            .map(|p| plan::absolute(p).display().to_string()),
        rows: Some(input.rows_read),
        skip_invalid: args.skip_invalid,
    };
    if let Some(log) = &existing
        && log.header.identity != identity
    {
        return Err(results::ResultsError::OtherCampaign {
            path: results_path.clone(),
            found: Box::new(log.header.identity.clone()),
            expected: Box::new(identity),
        }
        .into());
    }
    let t = Instant::now();
    let now = clock()?;
    let mut work = sort_work(
        &plan,
        &input,
        existing.as_ref().map(|l| &l.table),
        now.now(),
    );
    tracing::debug!("work sorted in {:?}", t.elapsed());
    // Calls in progress (this run's or earlier), polled with --wait.
    let tracked: Vec<Tracked> = if args.wait {
        existing
            .as_ref()
            .map(|l| l.table.iter().filter_map(Tracked::from_record).collect())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    if track_only {
        eprintln!(
            "tracking {} calls in progress in {}",
            tracked.len(),
            plan::display_path(&results_path)
        );
        work.dial.clear();
        work.resume.clear();
        work.invalid.clear();
        work.later.clear();
        if tracked.is_empty() {
            eprintln!("nothing to track: no call of this results file is in progress");
            return Ok(Exit::Ok);
        }
    }
    let campaign = Campaign {
        name: plan.name.clone(),
        from_number: plan.from_number.clone(),
        agent_version_id: plan.agent_version_id.clone(),
        metadata: plan.metadata.clone(),
    };

    if args.dry_run {
        return dry_run(&plan, &campaign, &work, &results_path, args.limit);
    }
    let to_dial = (work.dial.len() as u64).min(args.limit.unwrap_or(u64::MAX));
    if !track_only {
        eprintln!(
            "validated {} rows: {} to dial{}, {} already settled, {} to look up first, {} invalid{}; results: {}",
            input.rows_read,
            to_dial,
            if to_dial < work.dial.len() as u64 {
                format!(
                    " (--limit; {} more later)",
                    work.dial.len() as u64 - to_dial
                )
            } else {
                String::new()
            },
            work.settled,
            work.resume.len(),
            input.invalid.len(),
            later_summary(&work),
            plan::display_path(&results_path)
        );
    }

    let mut settings = Settings::new(
        args.concurrency
            .map_or(plan.dispatch.concurrency, |c| c.get()),
        args.rate.unwrap_or(plan.dispatch.rate_per_second),
        plan.dispatch.max_attempts,
        seconds(plan.api.request_timeout_s, 30.0),
    );
    settings.redial_in_doubt = args.redial_in_doubt;
    settings.limit = args.limit;
    settings.origin = origin;
    settings.suppressed = input.dnc.clone();
    settings.wait = args.wait;
    settings.track_only = track_only;
    settings.no_wait = args.no_wait;
    settings.clock = now.clone();
    settings.redial = plan.redial.clone();
    settings.schedule = plan.schedule.clone();
    if plan.redial.is_some() || plan.schedule.is_some() {
        settings.targets = Arc::new(
            input
                .targets
                .iter()
                .zip(&input.zones)
                .map(|(t, z)| (t.key.clone(), (t.clone(), z.clone())))
                .collect(),
        );
    }
    settings.max_active = plan.dispatch.max_active_calls;
    if args.wait || settings.max_active.is_some() {
        settings.poll_every = Some(args.poll_every.into());
    }

    // What is left for later: said now (a wait) or at the end (--no-wait).
    let mut later_notes = Vec::new();
    if let Some(next) = work.later.iter().map(|(t, _)| *t).min() {
        if args.no_wait {
            later_notes.push(format!(
                "{} rows wait for their calling window or redial time; the next is due at {} ({}): rerun then",
                work.later.len(),
                local_time(next),
                crate::text::format_ts(next)
            ));
        } else if work.dial.is_empty() && work.resume.is_empty() {
            eprintln!(
                "nothing to dial now: waiting until {} ({}) for the next calling window or redial; \
                 Ctrl-C stops (a rerun resumes), --no-wait exits instead",
                local_time(next),
                crate::text::format_ts(next)
            );
        }
    }
    if work.ended > 0 {
        later_notes.push(format!(
            "{} rows were not dialled: the schedule's end_at has passed",
            work.ended
        ));
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let ctx = RunContext {
        plan: &plan,
        args: &args,
        key,
        campaign,
        settings,
        results_path: &results_path,
        header: &header,
    };
    let (outcome, writer) = runtime.block_on(execute(
        ctx,
        existing,
        work.invalid,
        work.resume,
        work.dial,
        tracked,
        work.later,
    ))?;
    // Every task (and with it every handle on the log) is gone after the
    // runtime; then the writer has written all it was sent.
    runtime.shutdown_timeout(Duration::from_secs(1));
    let (table, write_error) = writer.finish();

    // Compact: one line per recipient, in input order.
    let compacted = if write_error.is_none() {
        results::compact(&results_path, &header, &input.order, &table)
            .map_err(|e| tracing::error!("{e}; the log is intact and a rerun resumes from it"))
            .is_ok()
    } else {
        false
    };
    let counts = results::tally(&input.order, &table);
    finish(
        &args,
        &results_path,
        &counts,
        outcome,
        write_error,
        compacted,
        later_notes,
    )
}

/// Everything the async part needs.
struct RunContext<'a> {
    plan: &'a Plan,
    args: &'a RunArgs,
    key: Option<SecretString>,
    campaign: Campaign,
    settings: Settings,
    results_path: &'a Path,
    header: &'a Header,
}

struct Outcome {
    stop: Option<StopReason>,
    stats: Arc<Stats>,
    wall: Duration,
    abandoned: usize,
}

async fn execute(
    ctx: RunContext<'_>,
    existing: Option<results::Log>,
    invalid: Vec<Record>,
    resume: Vec<Resume>,
    dial: Vec<Job>,
    tracked: Vec<Tracked>,
    later: Vec<(jiff::Timestamp, Job)>,
) -> anyhow::Result<(Outcome, results::Writer)> {
    let interrupt = CancellationToken::new();
    spawn_signal_handler(interrupt.clone());

    let sandbox = if ctx.args.sandbox {
        let mut config = sandbox_config(ctx.plan);
        // The rows' own agent versions are published in the rehearsal too.
        for j in dial.iter().chain(later.iter().map(|(_, j)| j)) {
            let own = &j.target.agent_version_id;
            if !own.is_empty() && !config.agent_versions.contains_key(own) {
                let published = crate::sandbox::VersionState::Published;
                config.agent_versions.insert(own.clone(), published);
            }
        }
        let sb = crate::sandbox::Sandbox::start(config, ([127, 0, 0, 1], 0).into())
            .await
            .context("cannot start the embedded sandbox")?;
        eprintln!("sandbox: simulated DialNexa API at {}", sb.base_url());
        Some(sb)
    } else {
        None
    };
    let (base_url, key) = match (&sandbox, ctx.key) {
        (Some(sb), _) => (sb.base_url(), SecretString::from("sandbox-key")),
        (None, Some(k)) => (base_url(ctx.plan), k),
        (None, None) => bail!("no API key"),
    };
    let client = Client::new(ClientConfig {
        base_url,
        key,
        connect_timeout: seconds(ctx.plan.api.connect_timeout_s, 5.0),
        request_timeout: seconds(ctx.plan.api.request_timeout_s, 30.0),
    })?;

    let halt = CancellationToken::new();
    let (appender, writer) = results::open(ctx.results_path, ctx.header, existing, halt.clone())?;
    for rec in invalid {
        appender.append(rec);
    }
    let stats = Arc::new(Stats::default());
    let engine = Engine::new(
        client,
        ctx.campaign,
        appender,
        ctx.settings,
        stats.clone(),
        interrupt,
        halt,
    );
    let reporter = Reporter::start(
        stats.clone(),
        Mode::detect(ctx.args.quiet),
        Duration::from_secs(5),
    );
    let started = Instant::now();
    let end = engine.run(resume, dial, tracked, later).await;
    let wall = started.elapsed();
    reporter.finish().await;
    if let Some(sb) = sandbox {
        sb.shutdown().await;
    }
    Ok((
        Outcome {
            stop: end.stop,
            stats,
            wall,
            abandoned: end.abandoned,
        },
        writer,
    ))
}

/// First Ctrl-C or SIGTERM: stop dialling and wind down. Second: exit now
/// (every intent is already on disk; the next run reconciles).
fn spawn_signal_handler(interrupt: CancellationToken) {
    tokio::spawn(async move {
        let mut count = 0;
        loop {
            if !wait_for_signal().await {
                return;
            }
            count += 1;
            if count == 1 {
                crate::progress::eprintln(
                    "interrupted: no new calls; waiting for requests in flight, then saving \
                     (press Ctrl-C again to quit at once)",
                );
                interrupt.cancel();
            } else {
                crate::progress::eprintln(
                    "interrupted twice: quitting now; the results file is safe, rerun to resume",
                );
                std::process::exit(i32::from(Exit::Interrupted.code()));
            }
        }
    });
}

/// Waits for Ctrl-C or SIGTERM; false if signals cannot be watched.
async fn wait_for_signal() -> bool {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut term) = signal(SignalKind::terminate()) else {
            return tokio::signal::ctrl_c().await.is_ok();
        };
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.is_ok(),
            r = term.recv() => r.is_some(),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.is_ok()
    }
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
fn sandbox_results_path(real: &Path) -> PathBuf {
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

/// The simulator seeded from the plan: its caller ID in the workspace, its
/// agent version published, realistic outcomes on a fast clock.
fn sandbox_config(plan: &Plan) -> crate::sandbox::Config {
    let mut config = crate::sandbox::Config::default();
    for n in crate::callerid::Pool::of(plan).numbers() {
        if !config.numbers.iter().any(|c| c == n) {
            config.numbers.push(n.to_string());
        }
    }
    config.agent_versions.insert(
        plan.agent_version_id.clone(),
        crate::sandbox::VersionState::Published,
    );
    config
}

/// The validated input: rows to dial, rows that failed, the input order.
struct Input {
    targets: Vec<Target>,
    /// Each target's calling zone (with a schedule), aligned with `targets`.
    zones: Vec<Option<jiff::tz::TimeZone>>,
    /// Dialable rows whose number is on a do-not-call list loaded at this
    /// run's start: recorded `suppressed`, never dialled.
    suppressed: Vec<RowRef>,
    /// Their numbers: what the engine probes just before each dial (every
    /// number this run can dial is a row of this input, so the listed
    /// numbers among them are the whole of the list that matters).
    dnc: Arc<crate::dispatch::Suppressed>,
    /// Invalid rows to record as `invalid` (with --skip-invalid), with the
    /// first problem found.
    invalid: Vec<(RowRef, String)>,
    /// Every recipient, in input order, for compaction.
    order: Vec<RowRef>,
    rows_read: u64,
    /// Validation failed and nothing may be dialled: the exit code.
    blocked: Option<Exit>,
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

fn read_input(plan: &Plan, recipients: &Path, skip_invalid: bool) -> anyhow::Result<Input> {
    let mut targets = Vec::new();
    let mut zones = Vec::new();
    let mut invalid_rows = Vec::new();
    let mut suppressed = Vec::new();
    let mut order = Vec::new();
    let mut first_problem: HashMap<u64, String> = HashMap::new();
    let mut blocking = false;
    let report = validate::validate_with(
        plan,
        recipients,
        &mut |f| {
            if f.severity != validate::Severity::Error {
                return;
            }
            match f.row {
                Some(r) if r > 1 => {
                    first_problem
                        .entry(r)
                        .or_insert_with(|| format!("{}: {}", f.kind.as_str(), f.problem));
                }
                // The plan or the header: no row can be dialled.
                _ => blocking = true,
            }
        },
        |row| {
            let key = clean_key(&row.key, row.row);
            order.push(RowRef {
                key: key.clone(),
                row: row.row,
                to_number: row.to_number.clone(),
            });
            if row.errors == 0 && row.suppressed {
                suppressed.push(RowRef {
                    key,
                    row: row.row,
                    to_number: row.to_number,
                });
            } else if row.errors == 0 {
                zones.push(row.timezone);
                targets.push(Target {
                    key,
                    row: row.row,
                    to_number: row.to_number,
                    variables: row.variables,
                    metadata: row.metadata,
                    from_number: row.from_number,
                    agent_version_id: row.agent_version_id,
                });
            } else {
                invalid_rows.push(RowRef {
                    key,
                    row: row.row,
                    to_number: row.to_number,
                });
            }
        },
    )?;
    let dnc = suppressed.iter().map(|r| r.to_number.clone()).collect();
    let mut input = Input {
        targets,
        zones,
        suppressed,
        dnc: Arc::new(dnc),
        invalid: Vec::new(),
        order,
        rows_read: report.rows_read,
        blocked: None,
    };
    if report.has_errors() && (!skip_invalid || blocking) {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        validate::write_report(&report, Format::Text, &mut out)?;
        if skip_invalid {
            writeln!(
                out,
                "nothing was dialled: the plan or the header has errors, which --skip-invalid cannot skip"
            )?;
        } else {
            writeln!(
                out,
                "nothing was dialled: fix the rows above (or pass --skip-invalid to record them as `invalid` and dial the rest)"
            )?;
        }
        input.blocked = Some(Exit::Invalid);
        return Ok(input);
    }
    if !invalid_rows.is_empty() {
        eprintln!(
            "{} rows failed validation and are recorded as `invalid` (see `callplan validate`)",
            invalid_rows.len()
        );
    }
    input.invalid = invalid_rows
        .into_iter()
        .map(|r| {
            let why = first_problem
                .remove(&r.row)
                .unwrap_or_else(|| "failed validation".into());
            (r, why)
        })
        .collect();
    Ok(input)
}

/// What this run does with each row.
struct Work {
    resume: Vec<Resume>,
    dial: Vec<Job>,
    /// Invalid and suppressed rows to record (written to the log before
    /// dialling).
    invalid: Vec<Record>,
    /// Rows already settled, skipped.
    settled: u64,
    /// Rows on a do-not-call list, recorded `suppressed` this run.
    suppressed: u64,
    /// Redials not due yet and rows waiting for their calling window:
    /// when, and the round to dial.
    later: Vec<(jiff::Timestamp, Job)>,
    /// Of `later`, rows waiting for their window (not redials).
    waiting: u64,
    /// Rows not dialled because the schedule's `end_at` has passed.
    ended: u64,
}

fn sort_work(
    plan: &Plan,
    input: &Input,
    table: Option<&results::Table>,
    now: jiff::Timestamp,
) -> Work {
    let mut work = Work {
        resume: Vec::new(),
        dial: Vec::new(),
        invalid: Vec::new(),
        settled: 0,
        suppressed: 0,
        later: Vec::new(),
        waiting: 0,
        ended: 0,
    };
    // A key is dialled for its first row only; validate reports duplicates.
    let mut seen: rustc_hash::FxHashSet<&str> =
        rustc_hash::FxHashSet::with_capacity_and_hasher(input.targets.len(), Default::default());
    for (t, zone) in input.targets.iter().zip(&input.zones) {
        if !seen.insert(t.key.as_str()) {
            tracing::warn!(row = t.row, "key {} appears twice; dialled once", t.key);
            continue;
        }
        let last = table.and_then(|tb| tb.get(&t.key));
        // The lists are read afresh every run: a row suppressed earlier
        // whose number has left every list is dialled like a new one.
        let last = last.filter(|r| r.status != Status::Suppressed);
        let zone_ref = zone.as_ref();
        match last.map(|r| r.status.disposition()) {
            None => work.place(
                plan,
                zone_ref,
                now,
                Job {
                    target: t.clone(),
                    round: 1,
                    attempts: 0,
                    open_intent: false,
                },
            ),
            Some(Disposition::Settled) => {
                let r = last.expect("a disposition comes from a record");
                match redial_due(plan, r, zone.as_ref()) {
                    Some(due) => {
                        let job = Job {
                            target: t.clone(),
                            round: r.round.max(1) + 1,
                            attempts: 0,
                            open_intent: false,
                        };
                        if due <= now {
                            work.place(plan, zone_ref, now, job);
                        } else {
                            work.later.push((due, job));
                        }
                    }
                    None => work.settled += 1,
                }
            }
            Some(Disposition::Dial) => {
                let r = last.expect("a disposition comes from a record");
                work.place(
                    plan,
                    zone_ref,
                    now,
                    Job {
                        target: t.clone(),
                        round: r.round.max(1),
                        attempts: r.attempts,
                        open_intent: false,
                    },
                );
            }
            Some(Disposition::Reconcile) => work.resume.push(Resume {
                target: t.clone(),
                last: last.expect("a disposition comes from a record").clone(),
            }),
        }
    }
    for r in &input.suppressed {
        if !seen.insert(r.key.as_str()) {
            continue; // another row holds this key: never overwrite its record
        }
        let last = table.and_then(|tb| tb.get(&r.key));
        match last.map(|l| l.status.disposition()) {
            None | Some(Disposition::Dial) => {
                let rec = Record::new(&r.key, r.row, &r.to_number, 1, Status::Suppressed);
                work.invalid.push(rec);
                work.suppressed += 1;
            }
            // A request may have left before the number was listed: look
            // it up; the engine's check before dialling refuses a redial.
            Some(Disposition::Reconcile) => {
                if let Some(l) = last {
                    work.resume.push(Resume {
                        target: Target {
                            key: r.key.clone(),
                            row: r.row,
                            to_number: r.to_number.clone(),
                            variables: Default::default(),
                            metadata: Default::default(),
                            from_number: l.from_number.clone(),
                            agent_version_id: l.agent_version_id.clone(),
                        },
                        last: l.clone(),
                    });
                }
            }
            Some(Disposition::Settled) => {
                if last.is_some_and(|l| l.status == Status::Suppressed) {
                    work.suppressed += 1;
                } else {
                    work.settled += 1;
                }
            }
        }
    }
    for (r, why) in &input.invalid {
        if seen.contains(r.key.as_str()) {
            continue; // another row holds this key: never overwrite its record
        }
        let last = table.and_then(|tb| tb.get(&r.key));
        match last.map(|l| l.status.disposition()) {
            None | Some(Disposition::Dial) => {
                let mut rec = Record::new(&r.key, r.row, &r.to_number, 1, Status::Invalid);
                rec.error = crate::text::clean_message(why);
                work.invalid.push(rec);
            }
            // A call exists or may exist for this key: keep that record.
            Some(_) => {}
        }
        seen.insert(r.key.as_str());
    }
    work
}

impl Work {
    /// Dial `job` now if its recipient's window is open (or the plan has
    /// no schedule); else wait for the opening, or drop it past `end_at`.
    fn place(
        &mut self,
        plan: &Plan,
        zone: Option<&jiff::tz::TimeZone>,
        now: jiff::Timestamp,
        job: Job,
    ) {
        use crate::schedule::WindowState;
        let Some(schedule) = &plan.schedule else {
            return self.dial.push(job);
        };
        let utc = jiff::tz::TimeZone::UTC;
        match schedule.window_state(zone.unwrap_or(&utc), now) {
            WindowState::Open { .. } => self.dial.push(job),
            WindowState::Closed { opens_at } | WindowState::NotStarted { opens_at } => {
                let mut rec = Record::new(
                    &job.target.key,
                    job.target.row,
                    &job.target.to_number,
                    job.round,
                    Status::Pending,
                );
                rec.attempts = job.attempts;
                rec.from_number = job.target.from_number.clone();
                rec.agent_version_id = job.target.agent_version_id.clone();
                rec.next_at = crate::text::format_ts(opens_at);
                self.invalid.push(rec);
                self.waiting += 1;
                self.later.push((opens_at, job));
            }
            WindowState::Ended => self.ended += 1,
        }
    }
}

/// The part of the `validated ...` line about rows not dialled now.
fn later_summary(work: &Work) -> String {
    let mut s = String::new();
    if work.suppressed > 0 {
        s.push_str(&format!(", {} suppressed (do-not-call)", work.suppressed));
    }
    if let Some(t) = work.later.iter().map(|(t, _)| *t).min() {
        s.push_str(&format!(
            ", {} waiting for their window, {} redials not due yet (next at {})",
            work.waiting,
            work.later.len() as u64 - work.waiting,
            local_time(t),
        ));
    }
    if work.ended > 0 {
        s.push_str(&format!(
            ", {} past the schedule's end_at (not dialled)",
            work.ended
        ));
    }
    s
}

/// When a row whose last call ended (`rec`) is due for its next round, if
/// the plan redials it: the `next_at` written when the call ended, else
/// computed from the ending and the time it was recorded.
fn redial_due(
    plan: &Plan,
    rec: &Record,
    zone: Option<&jiff::tz::TimeZone>,
) -> Option<jiff::Timestamp> {
    let redial = plan.redial.as_ref()?;
    let Status::Call(status) = &rec.status else {
        return None;
    };
    if !status.is_terminal() || rec.call_id.is_empty() {
        return None;
    }
    let zone = zone.cloned().unwrap_or(jiff::tz::TimeZone::UTC);
    let computed = || {
        let ended = rec.updated_at.parse().ok()?;
        redial.next_due(
            status.as_str(),
            rec.round,
            ended,
            plan.schedule.as_ref(),
            &zone,
        )
    };
    // `next_at` is only believed for an ending the plan (still) redials.
    if !redial.redials(status.as_str()) || rec.round.max(1) > redial.max() {
        return None;
    }
    match rec.next_at.parse::<jiff::Timestamp>() {
        Ok(t) => Some(t),
        Err(_) => computed(),
    }
}

fn dry_run(
    plan: &Plan,
    campaign: &Campaign,
    work: &Work,
    results_path: &Path,
    limit: Option<u64>,
) -> anyhow::Result<Exit> {
    let url = api::calls_url(&base_url(plan))
        .map(|u| u.to_string())
        .unwrap_or_else(|e| format!("(unusable base URL: {e})"));
    let dialled = (work.dial.len() as u64).min(limit.unwrap_or(u64::MAX));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for job in work.dial.iter().take(DRY_RUN_SHOWN.min(dialled as usize)) {
        let t = &job.target;
        let req = CallRequest::new(
            campaign,
            &t.key,
            job.round,
            &t.to_number,
            &t.variables,
            &t.metadata,
        )
        .with_caller(&t.from_number, &t.agent_version_id);
        serde_json::to_writer_pretty(&mut out, &req.dry_run_json(&url))?;
        writeln!(out)?;
    }
    writeln!(
        out,
        "dry run: {dialled} calls would be sent to {url}; {} rows already settled, {} to look up \
         first, {} invalid; results would go to {}. Nothing was sent.",
        work.settled,
        work.resume.len(),
        work.invalid.len(),
        plan::display_path(results_path)
    )?;
    Ok(Exit::Ok)
}

fn finish(
    args: &RunArgs,
    results_path: &Path,
    counts: &std::collections::BTreeMap<String, u64>,
    outcome: Outcome,
    write_error: Option<results::WriteFailed>,
    compacted: bool,
    later_notes: Vec<String>,
) -> anyhow::Result<Exit> {
    let stats = &outcome.stats;
    let n = |s: &str| counts.get(s).copied().unwrap_or(0);
    let mut notes = later_notes;
    let exit = match (&outcome.stop, &write_error) {
        (_, Some(_)) | (Some(StopReason::WriteFailed), _) => Exit::Usage,
        (Some(StopReason::Interrupted), _) => Exit::Interrupted,
        (Some(StopReason::Fatal { .. } | StopReason::Breaker { .. }), _) => Exit::Stopped,
        (None, None) => {
            if n("rejected") + n("error") + n("in_doubt") + n("invalid") > 0 {
                Exit::Partial
            } else {
                Exit::Ok
            }
        }
    };
    match &outcome.stop {
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
        _ => {}
    }
    if outcome.abandoned > 0 {
        notes.push(format!(
            "{} requests were still in flight; the next run looks them up before dialling",
            outcome.abandoned
        ));
    }
    if !compacted && write_error.is_none() {
        notes.push("the results file was left as a log (not compacted); a rerun reads it".into());
    }
    let left = n("pending") + n("error") + n("dispatching") + n("in_doubt");
    if left > 0 || exit == Exit::Interrupted || exit == Exit::Stopped {
        let mut cmd = format!(
            "callplan run {}",
            crate::text::shell_quote(&args.plan.display().to_string())
        );
        if let Some(r) = &args.recipients {
            cmd.push_str(&format!(
                " --recipients {}",
                crate::text::shell_quote(&r.display().to_string())
            ));
        }
        if let Some(r) = &args.results {
            cmd.push_str(&format!(
                " --results {}",
                crate::text::shell_quote(&r.display().to_string())
            ));
        }
        if args.skip_invalid {
            cmd.push_str(" --skip-invalid");
        }
        if args.sandbox {
            cmd.push_str(" --sandbox");
        }
        notes.push(format!("resume: {cmd}"));
    }
    let live = n("queued") + n("ringing") + n("in_progress");
    if live > 0 && !args.wait && args.sandbox {
        notes.push(format!(
            "{live} calls were still in progress when the rehearsal ended: add --wait to see how they end"
        ));
    } else if live > 0 && !args.wait {
        notes.push(format!(
            "{live} calls were still in progress when last seen: `callplan track {}` records how they end",
            crate::text::shell_quote(&args.plan.display().to_string())
        ));
    }
    if n("in_doubt") > 0 {
        notes.push(format!(
            "{} rows are in doubt (sent, answer lost, not found): see `callplan status {}`; \
             --redial-in-doubt dials them again",
            n("in_doubt"),
            crate::text::shell_quote(&plan::display_path(results_path))
        ));
    }
    let summary = Summary {
        counts: counts.clone(),
        handled: Stats::get(&stats.done),
        wall: outcome.wall,
        answers_409: Stats::get(&stats.answers_409),
        answers_429: Stats::get(&stats.answers_429),
        results_path: plan::display_path(results_path),
        exit_code: exit.code(),
        exit_meaning: exit.meaning().to_string(),
        notes,
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    summary.write(&mut out)?;
    out.flush()?;
    if let Some(e) = write_error {
        return Err(anyhow::Error::new(e).context(
            "dialling stopped: no call is sent whose intent is not on disk; free space (or restore \
             the folder), then rerun to resume",
        ));
    }
    Ok(exit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(extra: &str) -> Plan {
        let yaml = format!(
            "name: t\nfrom_number: \"+14155550100\"\nagent_version_id: av\nrecipients: r.csv\n{extra}"
        );
        plan::from_yaml(&yaml, Path::new("/tmp/plan.yaml")).expect("plan")
    }

    const WINDOWED: &str = "schedule:\n  timezone: America/New_York\n  hours: \"09:00-18:00\"\n  \
         days: [mon, tue, wed, thu, fri]\nredial:\n  on: [no_answer, busy]\n  max: 2\n  after: 2h\n";

    fn ended(status: &str, round: u32, at: &str, next_at: &str) -> Record {
        let mut r = Record::new("k", 2, "+12125550100", round, Status::parse(status));
        r.call_id = "call_1".into();
        r.updated_at = at.into();
        r.next_at = next_at.into();
        r
    }

    fn ny() -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get("America/New_York").expect("zone")
    }

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn a_redial_due_outside_the_window_moves_to_the_next_opening() {
        let p = plan(WINDOWED);
        // Tuesday 2026-06-02 17:00 EDT (21:00 UTC), no answer, 2 h wait:
        // 19:00 is closed, so Wednesday 09:00 EDT (13:00 UTC).
        let r = ended("no_answer", 1, "2026-06-02T21:00:00Z", "");
        assert_eq!(
            redial_due(&p, &r, Some(&ny())),
            Some(ts("2026-06-03T13:00:00Z"))
        );
        // Friday 17:00 EDT: Monday 09:00.
        let r = ended("busy", 1, "2026-06-05T21:00:00Z", "");
        assert_eq!(
            redial_due(&p, &r, Some(&ny())),
            Some(ts("2026-06-08T13:00:00Z"))
        );
        // next_at written when the call ended wins.
        let r = ended(
            "no_answer",
            2,
            "2026-06-02T21:00:00Z",
            "2026-06-04T14:00:00Z",
        );
        assert_eq!(
            redial_due(&p, &r, Some(&ny())),
            Some(ts("2026-06-04T14:00:00Z"))
        );
    }

    #[test]
    fn endings_not_listed_and_used_up_rounds_are_never_redialled() {
        let p = plan(WINDOWED);
        for (status, round) in [
            ("completed", 1),
            ("voicemail", 1),
            ("no_answer", 3),
            ("queued", 1),
        ] {
            let r = ended(
                status,
                round,
                "2026-06-02T15:00:00Z",
                "2026-06-02T17:00:00Z",
            );
            assert_eq!(redial_due(&p, &r, Some(&ny())), None, "{status} {round}");
        }
        for status in [
            Status::Rejected,
            Status::Suppressed,
            Status::InDoubt,
            Status::Invalid,
        ] {
            let mut r = ended(
                "no_answer",
                1,
                "2026-06-02T15:00:00Z",
                "2026-06-02T17:00:00Z",
            );
            r.status = status.clone();
            assert_eq!(redial_due(&p, &r, Some(&ny())), None, "{status}");
        }
        // Without a redial section nothing is.
        let r = ended("no_answer", 1, "2026-06-02T15:00:00Z", "");
        assert_eq!(redial_due(&plan(""), &r, Some(&ny())), None);
        // A hostile next_at is ignored, the time is computed instead.
        let r = ended("no_answer", 1, "2026-06-02T15:00:00Z", "=cmd|' /C calc'!A0");
        assert_eq!(
            redial_due(&p, &r, Some(&ny())),
            Some(ts("2026-06-02T17:00:00Z"))
        );
    }
}
