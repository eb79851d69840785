//! `run`'s execute step: on a tokio runtime, the embedded sandbox when
//! rehearsing, the API client, the results log (the records triage decided
//! first), the engine and the progress display, and the Ctrl-C handling
//! that winds them down.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use super::{base_url, campaign, seconds};
use crate::api::{Client, ClientConfig};
use crate::cli::RunArgs;
use crate::dispatch::{Engine, Settings, StopReason, Tracked};
use crate::exit::Exit;
use crate::plan::Plan;
use crate::progress::{Mode, Reporter, Stats};
use crate::results::{self, Header, Log};
use crate::triage::Triage;

/// Everything the async part needs.
pub(super) struct RunContext<'a> {
    pub(super) plan: &'a Plan,
    pub(super) args: &'a RunArgs,
    pub(super) key: Option<SecretString>,
    pub(super) settings: Settings,
    pub(super) results_path: &'a Path,
    pub(super) header: &'a Header,
}

pub(super) struct Outcome {
    pub(super) stop: Option<StopReason>,
    pub(super) stats: Arc<Stats>,
    pub(super) wall: Duration,
    pub(super) abandoned: usize,
}

/// What the engine did, and what the writer holds after it.
pub(super) struct Executed {
    pub(super) outcome: Outcome,
    /// Every key's last record, as written.
    pub(super) table: results::Table,
    /// The write that failed, if one did (dialling stopped then).
    pub(super) write_error: Option<results::WriteFailed>,
}

/// Runs the engine on its own runtime until it ends; then every handle on
/// the log is gone and the writer has written all it was sent.
pub(super) fn execute(
    ctx: RunContext<'_>,
    log: Option<Log>,
    sorted: Triage,
    tracked: Vec<Tracked>,
) -> anyhow::Result<Executed> {
    // One thread runs the engine (the results writer has its own): on two
    // cores, two workers handing tasks to each other cost more CPU per call
    // than they gained (BENCHMARKS.md, issue 11).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (outcome, writer) = runtime.block_on(drive(ctx, log, sorted, tracked))?;
    runtime.shutdown_timeout(Duration::from_secs(1));
    let (table, write_error) = writer.finish();
    Ok(Executed {
        outcome,
        table,
        write_error,
    })
}

/// The async part: the sandbox if asked, the client, the log, the engine
/// and the progress display.
async fn drive(
    ctx: RunContext<'_>,
    log: Option<Log>,
    sorted: Triage,
    tracked: Vec<Tracked>,
) -> anyhow::Result<(Outcome, results::Writer)> {
    let interrupt = CancellationToken::new();
    spawn_signal_handler(interrupt.clone());

    let sandbox = if ctx.args.sandbox {
        let mut config = sandbox_config(ctx.plan);
        // The rows' own agent versions are published in the rehearsal too.
        let jobs = sorted.dial.iter().chain(sorted.wait.iter().map(|(_, j)| j));
        let targets = &ctx.settings.targets;
        for target in jobs.filter_map(|job| targets.get(job.target)) {
            let own = target.agent_version_id.as_str();
            if !own.is_empty() && !config.agent_versions.contains_key(own) {
                let published = crate::sandbox::VersionState::Published;
                config.agent_versions.insert(own.to_string(), published);
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
    let (appender, writer) = results::open(ctx.results_path, ctx.header, log, halt.clone())?;
    for rec in sorted.record {
        appender.append(rec);
    }
    let stats = Arc::new(Stats::default());
    let engine = Engine::new(
        client,
        campaign(ctx.plan),
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
    let end = engine
        .run(sorted.look_up, sorted.dial, tracked, sorted.wait)
        .await;
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
