//! The [`Engine`] and the phases of a run: reconcile what an earlier run
//! left open, dial in input order, dial redials as they come due, drain.
//!
//! [`Engine::run`] reads as that sequence; each phase is a function here.
//! The poller (when polling) and a watcher (Ctrl-C, a failed write) run
//! beside the phases from start to end. Everything the phases share is in
//! [`super::state::Shared`]; what one row does is in [`super::dial`] and
//! [`super::resume`].

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use super::calls_api::CallsApi;
use super::counters::Stats;
use super::dial::dial;
use super::job::{Job, Resume, Tracked, taken_in_order};
use super::poll::{self, Poller};
use super::resume::{resume_one, taken_sent_at};
use super::settings::Settings;
use super::state::{Shared, StopReason, lock};
use crate::api::{Campaign, Client};
use crate::results::Appender;

/// What a run did.
#[derive(Debug)]
pub struct RunEnd {
    pub stop: Option<StopReason>,
    /// Rows that had at least one request sent this run.
    pub dialled: u64,
    /// Tasks still running when the drain time ran out (their rows stay
    /// `dispatching` and are reconciled on the next run).
    pub abandoned: usize,
}

/// The dispatcher; [`Engine::run`] consumes it. `A`: how it reaches the
/// API (the real [`Client`] but in tests).
pub struct Engine<A = Client> {
    shared: Arc<Shared<A>>,
    interrupt: CancellationToken,
    halt: CancellationToken,
    poller: Option<Poller>,
    redial_rx: mpsc::UnboundedReceiver<Job>,
}

/// The poller's task and its "no new call can come" signal.
type PollerTask = (JoinHandle<()>, CancellationToken);

impl<A: CallsApi> Engine<A> {
    /// `interrupt` is cancelled on Ctrl-C/SIGTERM; `halt` by the results
    /// writer when a write fails.
    pub fn new(
        api: A,
        campaign: Campaign,
        appender: Appender,
        settings: Settings,
        stats: Arc<Stats>,
        interrupt: CancellationToken,
        halt: CancellationToken,
    ) -> Engine<A> {
        let poller = settings.poll_every.map(|_| Poller::new());
        let (redial_tx, redial_rx) = mpsc::unbounded_channel();
        let poll_tx = poller.as_ref().map(|p| p.tx.clone());
        let shared = Shared::new(api, campaign, appender, settings, stats, poll_tx, redial_tx);
        Engine {
            shared: Arc::new(shared),
            interrupt,
            halt,
            poller,
            redial_rx,
        }
    }

    /// Reconciles `resume`, then dials `jobs` (input order), until done or
    /// stopped. When polling, `tracked` (calls of earlier runs not yet
    /// terminal) and every call created now are polled until terminal
    /// before this returns; otherwise `tracked` is ignored.
    /// `later`: rows waiting for their calling window and redials not due
    /// yet, dialled when due unless `Settings::no_wait`.
    pub async fn run(
        self,
        resume: Vec<Resume>,
        jobs: Vec<Job>,
        tracked: Vec<Tracked>,
        later: Vec<(jiff::Timestamp, Job)>,
    ) -> RunEnd {
        let Engine {
            shared,
            interrupt,
            halt,
            poller,
            mut redial_rx,
        } = self;
        let settings = &shared.settings;
        // Work that comes due later is waited for unless --no-wait.
        let in_run_redials = !settings.no_wait && !settings.track_only;
        // Whether dials may come after the first pass: rows waiting, a
        // window that may close on a row, or redials of polled calls.
        let more_may_come = in_run_redials
            && (!later.is_empty()
                || settings.schedule.is_some()
                || (settings.wait && settings.redial.is_some() && poller.is_some()));
        if in_run_redials {
            for (due, job) in later {
                shared.schedule_redial(due, job);
            }
        }
        let poller = poller.map(|p| start_poller(&shared, p, tracked));
        let watcher = watch_for_stop(&shared, interrupt, halt);
        let limit = shared.settings.limit.unwrap_or(u64::MAX);
        let planned = (jobs.len() as u64).min(limit);
        Stats::add(&shared.stats.total, resume.len() as u64 + planned);

        // Rows an earlier run left open wait until their requests can no
        // longer be in flight (a request timeout). Without `--limit` the
        // other rows (never the ones looked up) are dialled meanwhile and
        // the resends after them; with it, the resends come first.
        let lookups = {
            let shared = shared.clone();
            tokio::spawn(async move { reconcile_open_rows(&shared, resume).await })
        };
        let resends_first = shared.settings.limit.is_some();
        let mut dials = JoinSet::new();
        let mut jobs = Some(jobs);
        if !resends_first && !shared.stop.is_cancelled() {
            let fresh = jobs.take().into_iter().flat_map(taken_in_order);
            dial_in_order(&shared, &mut dials, fresh, limit).await;
        }
        let resent = lookups.await.unwrap_or_else(|e| {
            tracing::error!("the reconciliation task failed: {e}");
            Vec::new()
        });
        if !shared.stop.is_cancelled() {
            let extra = (resent.len() as u64).min(limit.saturating_sub(planned));
            Stats::add(&shared.stats.total, extra);
            let rest = resent
                .into_iter()
                .chain(jobs.into_iter().flat_map(taken_in_order));
            dial_in_order(&shared, &mut dials, rest, limit).await;
        }
        if more_may_come && !shared.stop.is_cancelled() {
            dial_redials_as_due(&shared, &mut dials, &mut redial_rx).await;
        }
        let abandoned = drain(&shared, dials).await;
        if let Some((task, closed)) = poller {
            // Every dial task has ended: no new call can come.
            closed.cancel();
            if let Err(e) = task.await {
                tracing::error!("the outcome poller failed: {e}");
            }
        }
        watcher.abort();
        // Its handle on the log must be gone before the writer is joined.
        let _ = watcher.await;
        let stop = lock(&shared.reason).clone();
        RunEnd {
            stop,
            dialled: shared.dialled.load(Ordering::Relaxed),
            abandoned,
        }
    }
}

/// Hands the calls of earlier runs to the poller and starts it.
fn start_poller<A: CallsApi>(
    shared: &Arc<Shared<A>>,
    poller: Poller,
    tracked: Vec<Tracked>,
) -> PollerTask {
    let closed = poller.closed.clone();
    for call in tracked {
        shared.track(call);
    }
    let every = shared.settings.poll_every.unwrap_or(poll::DEFAULT_INTERVAL);
    let task = tokio::spawn(poll::run(shared.clone(), poller.rx, poller.closed, every));
    (task, closed)
}

/// Stops the run on Ctrl-C/SIGTERM (`interrupt`) or a failed write (`halt`).
fn watch_for_stop<A: CallsApi>(
    shared: &Arc<Shared<A>>,
    interrupt: CancellationToken,
    halt: CancellationToken,
) -> JoinHandle<()> {
    let shared = shared.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = interrupt.cancelled() => shared.stop_with(StopReason::Interrupted),
            _ = halt.cancelled() => shared.stop_with(StopReason::WriteFailed),
            _ = shared.stop.cancelled() => {}
        }
    })
}

/// Phase 1: what an earlier run left open. Returns the rows confirmed
/// absent (and, with `--redial-in-doubt`, those in doubt), in input order.
async fn reconcile_open_rows<A: CallsApi>(
    shared: &Arc<Shared<A>>,
    resume: Vec<Resume>,
) -> Vec<Job> {
    let mut resent = Vec::new();
    if resume.is_empty() {
        return resent;
    }
    let settle = shared.settings.lookup_after + shared.settings.max_intent_age;
    let now = jiff::Timestamp::now();
    let latest = resume
        .iter()
        .filter_map(|r| taken_sent_at(&r.last, now))
        .map(|(t, _)| t)
        .max();
    if let Some(ready) = latest
        .map(|t| t + settle)
        .filter(|t| *t > jiff::Timestamp::now())
    {
        tracing::warn!(
            "{} rows were left open by an earlier run; looking them up once their \
             requests can no longer be in flight (by {})",
            resume.len(),
            ready.strftime("%H:%M:%S UTC")
        );
    }
    let mut lookups = JoinSet::new();
    for open in resume {
        lookups.spawn(resume_one(shared.clone(), open));
    }
    while let Some(res) = lookups.join_next().await {
        match res {
            Ok(Some(job)) => resent.push(job),
            Ok(None) => {}
            Err(e) => tracing::error!("a reconciliation task failed: {e}"),
        }
    }
    // Targets are in input order: by index is by row.
    resent.sort_by_key(|j: &Job| j.target);
    resent
}

/// Phase 2: dials `jobs` in order, at most `limit`, each once it has a
/// pipeline place and a pacing slot.
async fn dial_in_order<A: CallsApi>(
    shared: &Arc<Shared<A>>,
    dials: &mut JoinSet<()>,
    jobs: impl Iterator<Item = Job>,
    limit: u64,
) {
    for job in jobs.take(limit.min(usize::MAX as u64) as usize) {
        let Some(slot) = shared.slot().await else {
            break;
        };
        dials.spawn(dial(shared.clone(), job, slot));
        while dials.try_join_next().is_some() {}
    }
}

/// Phase 3: redials (and rows whose window opened) as they come due, until
/// no call is left to end and no redial is waiting.
async fn dial_redials_as_due<A: CallsApi>(
    shared: &Arc<Shared<A>>,
    dials: &mut JoinSet<()>,
    redial_rx: &mut mpsc::UnboundedReceiver<Job>,
) {
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            biased;
            _ = shared.stop.cancelled() => break,
            Some(job) = redial_rx.recv() => {
                let Some(slot) = shared.slot().await else { break };
                Stats::add(&shared.stats.total, 1);
                dials.spawn(dial(shared.clone(), job, slot));
                shared.outstanding.fetch_sub(1, Ordering::SeqCst);
                while dials.try_join_next().is_some() {}
            }
            _ = tick.tick() => {
                while dials.try_join_next().is_some() {}
                if dials.is_empty()
                    && redial_rx.is_empty()
                    && shared.outstanding.load(Ordering::SeqCst) == 0
                {
                    break;
                }
            }
        }
    }
}

/// Phase 4: waits for every dial task; a stopped run gives requests in
/// flight a bounded time. Returns how many were abandoned.
async fn drain<A: CallsApi>(shared: &Shared<A>, mut dials: JoinSet<()>) -> usize {
    let drained = async {
        while let Some(res) = dials.join_next().await {
            if let Err(e) = res {
                tracing::error!("a dial task failed: {e}");
            }
        }
    };
    let out_of_time = async {
        shared.stop.cancelled().await;
        tokio::time::sleep(shared.settings.drain).await;
    };
    tokio::select! {
        _ = drained => return 0,
        _ = out_of_time => {}
    }
    let abandoned = dials.len();
    tracing::warn!(
        "{abandoned} requests did not finish in time; their rows will be reconciled on the next run"
    );
    dials.abort_all();
    while dials.join_next().await.is_some() {}
    abandoned
}
