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

pub mod backoff; // waits before resends, and the breaker
pub mod limiter; // the in-flight cap (AIMD)
pub mod pacer; // the steady rate
pub mod poll; // outcomes of created calls
pub mod reconcile; // did a lost request create a call?

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::api::{Answer, CallRequest, Campaign, Client};
use crate::progress::Stats;
use crate::results::{Appender, Record, Status};
use crate::wire::CallStatus;

use backoff::{Backoff, Breaker};
use limiter::{Limiter, Permit};
use pacer::Pacer;
use reconcile::{Lookup, Wanted};

pub use poll::Tracked;

/// 409/429 answers in a row after which a row gives up as `error` (nothing
/// was created; a rerun dials it again).
pub const MAX_WAITS: u32 = 100;

/// The oldest an intent may be when its request leaves (at most; see
/// [`Settings::max_intent_age`]). A row writes its intent before it waits
/// for an in-flight permit (so fsyncs overlap with requests); if the wait
/// was longer, a fresh intent is written first. So every send happens
/// within this of the time on its latest intent, and a run restarting after
/// a crash waits `request timeout + max intent age` from that time before
/// it trusts a lookup.
pub const MAX_INTENT_AGE: Duration = Duration::from_secs(1);

/// Numbers (E.164) on a do-not-call list: each is probed just before its
/// request's intent is written, so nothing listed is ever dialled, whatever
/// path (first dial, reconciled resend, redial) led there.
pub type Suppressed = rustc_hash::FxHashSet<String>;

/// One recipient, as the engine needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub key: String,
    /// The row number a spreadsheet shows.
    pub row: u64,
    /// E.164.
    pub to_number: String,
    pub variables: BTreeMap<String, String>,
    pub metadata: BTreeMap<String, String>,
}

/// A row to dial.
#[derive(Debug, Clone)]
pub struct Job {
    pub target: Target,
    pub round: u32,
    /// Sends already recorded for this round (the `attempts` column).
    pub attempts: u32,
    /// The row's last durable record is an intent known to have created
    /// nothing (confirmed absent): if the run stops before it is sent, it
    /// is written back as `pending`.
    pub open_intent: bool,
}

/// A row an earlier run left `dispatching` or `in_doubt`.
#[derive(Debug, Clone)]
pub struct Resume {
    pub target: Target,
    pub last: Record,
}

/// How the engine behaves; see the README, "Running a campaign".
#[derive(Debug, Clone)]
pub struct Settings {
    /// Requests in flight at most (the AIMD ceiling).
    pub concurrency: u32,
    /// Requests per second at most (<= 0: unpaced).
    pub rate_per_second: f64,
    /// Sends per row per run for transient failures.
    pub max_attempts: u32,
    /// A request is looked up only this long after it was sent, when it can
    /// no longer be in flight (the request timeout).
    pub lookup_after: Duration,
    /// The oldest an intent may be when its request leaves: half the
    /// request timeout, at most [`MAX_INTENT_AGE`].
    pub max_intent_age: Duration,
    /// `start_date` of a lookup is the intent time minus this (the request
    /// timeout plus 300 s of clock skew).
    pub lookup_margin: Duration,
    /// How long requests in flight may take to finish after a stop.
    pub drain: Duration,
    pub redial_in_doubt: bool,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// The AIMD cap is cut at most once per this.
    pub aimd_cooldown: Duration,
    /// Rows dialled at most this run.
    pub limit: Option<u64>,
    /// When the command started: the first send is logged relative to it
    /// (how long a resume takes to start dialling).
    pub origin: std::time::Instant,
    /// Do-not-call numbers, checked before every dial.
    pub suppressed: Arc<Suppressed>,
    /// Poll created calls this often until each is terminal, and wait for
    /// them before the run ends (`--wait`, `track`); None: fire and forget.
    pub poll_every: Option<Duration>,
    /// Wait for every polled call to end before the run ends (else polling
    /// stops with the last dial).
    pub wait: bool,
    /// Calls created by this run and not yet seen terminal, at most
    /// (`dispatch.max_active_calls`); needs `poll_every`.
    pub max_active: Option<u32>,
    /// The plan's redials: a call polled to a redialable end gets its next
    /// round's time in `next_at`, and (with `wait`) is dialled again then.
    pub redial: Option<crate::redial::Redial>,
    /// The plan's calling windows (redials move into them).
    pub schedule: Option<crate::schedule::Schedule>,
    /// Rows that may be dialled again, by key, with their zone (filled
    /// only when the plan redials).
    pub targets: Arc<Targets>,
    /// `callplan track`: poll only; a redial is recorded in `next_at`,
    /// never dialled.
    pub track_only: bool,
    /// `--no-wait`: rows waiting for their window (or a redial not due)
    /// are left for a later run instead of waited for.
    pub no_wait: bool,
    /// Where "now" comes from for calling windows.
    pub clock: Now,
}

/// The clock windows are judged by (a [`crate::clock::Clock`]; Debug so
/// that [`Settings`] stays printable).
#[derive(Clone)]
pub struct Now(pub Arc<dyn crate::clock::Clock>);

impl Now {
    /// The current instant by this clock.
    pub fn now(&self) -> jiff::Timestamp {
        self.0.now()
    }
}

impl Default for Now {
    fn default() -> Self {
        Now(Arc::new(crate::clock::SystemClock))
    }
}

impl std::fmt::Debug for Now {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Now({})", self.now())
    }
}

/// Rows by key with their calling zone: what a redial needs to dial again.
pub type Targets = rustc_hash::FxHashMap<String, (Target, Option<jiff::tz::TimeZone>)>;

impl Settings {
    /// Defaults for a plan's dispatch section and request timeout.
    pub fn new(concurrency: u32, rate: f64, max_attempts: u32, request_timeout: Duration) -> Self {
        Settings {
            concurrency: concurrency.max(1),
            rate_per_second: rate,
            max_attempts: max_attempts.max(1),
            lookup_after: request_timeout,
            max_intent_age: (request_timeout / 2).min(MAX_INTENT_AGE),
            // The request may have left up to max_intent_age after its
            // intent and been created any time before its timeout; 300 s
            // more for clocks that disagree.
            lookup_margin: Duration::from_secs(300) + request_timeout,
            drain: request_timeout + Duration::from_secs(2),
            redial_in_doubt: false,
            backoff_base: Duration::from_millis(250),
            backoff_cap: Duration::from_secs(30),
            aimd_cooldown: Duration::from_millis(500),
            limit: None,
            origin: std::time::Instant::now(),
            suppressed: Arc::default(),
            poll_every: None,
            wait: false,
            max_active: None,
            redial: None,
            schedule: None,
            targets: Arc::default(),
            track_only: false,
            no_wait: false,
            clock: Now::default(),
        }
    }
}

/// Why a run stopped before its end.
#[derive(Debug, Clone, PartialEq)]
pub enum StopReason {
    /// Ctrl-C or SIGTERM.
    Interrupted,
    /// A workspace-wide answer: nothing more can succeed until it is fixed.
    Fatal {
        http_status: Option<u16>,
        message: String,
        fix: String,
    },
    /// The first answers were all the same rejection.
    Breaker { message: String },
    /// The results file could not be written.
    WriteFailed,
}

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

struct Shared {
    client: Client,
    campaign: Campaign,
    appender: Appender,
    settings: Settings,
    stats: Arc<Stats>,
    limiter: Arc<Limiter>,
    /// Rows between their pacing slot and the end of their request: the
    /// in-flight cap plus as many writing their intent ahead.
    ahead: Arc<tokio::sync::Semaphore>,
    pacer: Pacer,
    backoff: Backoff,
    breaker: Mutex<Breaker>,
    /// The rejections recorded while the breaker was deciding: if it trips,
    /// they were the plan's fault and are written back `pending`. Locked
    /// only under `breaker`.
    breaker_window: Mutex<Vec<Record>>,
    stop: CancellationToken,
    reason: Mutex<Option<StopReason>>,
    dialled: std::sync::atomic::AtomicU64,
    /// Where created calls go to be polled (when polling).
    poll_tx: Option<tokio::sync::mpsc::UnboundedSender<Tracked>>,
    /// One permit per call that may be live (`max_active_calls`): taken
    /// before a row's intent, kept (forgotten) by a created call, given back
    /// by the poller when the call is seen terminal.
    active: Option<Arc<tokio::sync::Semaphore>>,
    /// Redials that have come due, to the producer.
    redial_tx: tokio::sync::mpsc::UnboundedSender<Job>,
    /// Redials and rows waiting for their time, plus (with `wait`) calls
    /// being polled: while non-zero, more dials may come.
    outstanding: std::sync::atomic::AtomicU64,
}

/// The dispatcher; [`Engine::run`] consumes it.
pub struct Engine {
    shared: Arc<Shared>,
    interrupt: CancellationToken,
    halt: CancellationToken,
    poller: Option<poll::Poller>,
    redial_rx: tokio::sync::mpsc::UnboundedReceiver<Job>,
}

impl Engine {
    /// `interrupt` is cancelled on Ctrl-C/SIGTERM; `halt` by the results
    /// writer when a write fails.
    pub fn new(
        client: Client,
        campaign: Campaign,
        appender: Appender,
        settings: Settings,
        stats: Arc<Stats>,
        interrupt: CancellationToken,
        halt: CancellationToken,
    ) -> Engine {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ u64::from(std::process::id());
        Stats::add(&stats.cap, u64::from(settings.concurrency));
        let poller = settings.poll_every.map(|_| poll::Poller::new());
        let (redial_tx, redial_rx) = tokio::sync::mpsc::unbounded_channel();
        let shared = Shared {
            redial_tx,
            outstanding: std::sync::atomic::AtomicU64::new(0),
            poll_tx: poller.as_ref().map(|p| p.tx.clone()),
            active: settings
                .max_active
                .filter(|_| poller.is_some())
                .map(|n| Arc::new(tokio::sync::Semaphore::new(n.max(1) as usize))),
            client,
            campaign,
            appender,
            limiter: Limiter::new(settings.concurrency, settings.aimd_cooldown),
            ahead: Arc::new(tokio::sync::Semaphore::new(
                2 * settings.concurrency.max(1) as usize,
            )),
            pacer: Pacer::new(settings.rate_per_second),
            backoff: Backoff::new(settings.backoff_base, settings.backoff_cap, seed),
            settings,
            stats,
            breaker: Mutex::new(Breaker::default()),
            breaker_window: Mutex::new(Vec::new()),
            stop: CancellationToken::new(),
            reason: Mutex::new(None),
            dialled: std::sync::atomic::AtomicU64::new(0),
        };
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
        let sh = self.shared;
        let mut redial_rx = self.redial_rx;
        // Work that comes due later is waited for unless --no-wait.
        let in_run_redials = !sh.settings.no_wait && !sh.settings.track_only;
        // Whether dials may come after the first pass: rows waiting, a
        // window that may close on a row, or redials of polled calls.
        let more_may_come = in_run_redials
            && (!later.is_empty()
                || sh.settings.schedule.is_some()
                || (sh.settings.wait && sh.settings.redial.is_some() && self.poller.is_some()));
        if in_run_redials {
            for (due, job) in later {
                sh.schedule_redial(due, job);
            }
        }
        let poller = self.poller.map(|p| {
            let closed = p.closed.clone();
            for t in tracked {
                sh.track(t);
            }
            let every = sh.settings.poll_every.unwrap_or(poll::DEFAULT_INTERVAL);
            let task = tokio::spawn(poll::run(sh.clone(), p.rx, p.closed, every));
            (task, closed)
        });
        let watcher = {
            let sh = sh.clone();
            let (interrupt, halt) = (self.interrupt, self.halt);
            tokio::spawn(async move {
                tokio::select! {
                    _ = interrupt.cancelled() => sh.stop_with(StopReason::Interrupted),
                    _ = halt.cancelled() => sh.stop_with(StopReason::WriteFailed),
                    _ = sh.stop.cancelled() => {}
                }
            })
        };
        let limit = sh.settings.limit.unwrap_or(u64::MAX);
        let planned = (jobs.len() as u64).min(limit);
        Stats::add(&sh.stats.total, resume.len() as u64 + planned);

        // Phase 1: what an earlier run left open.
        let mut redial = Vec::new();
        if !resume.is_empty() {
            let latest = resume
                .iter()
                .filter_map(|r| sent_at(&r.last))
                .max()
                .map(|t| t + sh.settings.lookup_after + sh.settings.max_intent_age);
            if let Some(t) = latest.filter(|t| *t > jiff::Timestamp::now()) {
                tracing::warn!(
                    "{} rows were left open by an earlier run; looking them up once their \
                     requests can no longer be in flight (by {})",
                    resume.len(),
                    t.strftime("%H:%M:%S UTC")
                );
            }
            let mut set = JoinSet::new();
            for r in resume {
                set.spawn(resume_one(sh.clone(), r));
            }
            while let Some(res) = set.join_next().await {
                match res {
                    Ok(Some(job)) => redial.push(job),
                    Ok(None) => {}
                    Err(e) => tracing::error!("a reconciliation task failed: {e}"),
                }
            }
            redial.sort_by_key(|j: &Job| j.target.row);
        }

        // Phase 2: dial, in input order.
        let mut set = JoinSet::new();
        if !sh.stop.is_cancelled() {
            let extra = (redial.len() as u64).min(limit.saturating_sub(planned));
            Stats::add(&sh.stats.total, extra);
            let all = redial
                .into_iter()
                .chain(jobs)
                .take(limit.min(usize::MAX as u64) as usize);
            for job in all {
                let Some(slot) = sh.slot().await else {
                    break;
                };
                set.spawn(dial(sh.clone(), job, slot));
                while set.try_join_next().is_some() {}
            }
        }

        // Redials as they come due, until no call is left to end and no
        // redial is waiting (only when the run waits for outcomes).
        if more_may_come && !sh.stop.is_cancelled() {
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            loop {
                tokio::select! {
                    biased;
                    _ = sh.stop.cancelled() => break,
                    Some(job) = redial_rx.recv() => {
                        let Some(slot) = sh.slot().await else { break };
                        Stats::add(&sh.stats.total, 1);
                        set.spawn(dial(sh.clone(), job, slot));
                        sh.outstanding.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                        while set.try_join_next().is_some() {}
                    }
                    _ = tick.tick() => {
                        while set.try_join_next().is_some() {}
                        if set.is_empty()
                            && redial_rx.is_empty()
                            && sh.outstanding.load(std::sync::atomic::Ordering::SeqCst) == 0
                        {
                            break;
                        }
                    }
                }
            }
        }

        // Drain: a stopped run gives requests in flight a bounded time.
        let mut abandoned = 0;
        let drained = async {
            while let Some(res) = set.join_next().await {
                if let Err(e) = res {
                    tracing::error!("a dial task failed: {e}");
                }
            }
        };
        tokio::select! {
            _ = drained => {}
            _ = async {
                sh.stop.cancelled().await;
                tokio::time::sleep(sh.settings.drain).await;
            } => {
                abandoned = set.len();
                tracing::warn!("{abandoned} requests did not finish in time; their rows will be reconciled on the next run");
                set.abort_all();
                while set.join_next().await.is_some() {}
            }
        }
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
        let stop = sh.reason.lock().unwrap_or_else(|e| e.into_inner()).clone();
        RunEnd {
            stop,
            dialled: sh.dialled.load(std::sync::atomic::Ordering::Relaxed),
            abandoned,
        }
    }
}

/// CPU time (user + system) this process has used so far, for the
/// first-request log line (how much work a resume does before dialling).
fn cpu_seconds() -> f64 {
    #[cfg(unix)]
    {
        let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is valid.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) };
        if rc == 0 {
            // SAFETY: getrusage succeeded, so the struct is initialized.
            let ru = unsafe { ru.assume_init() };
            let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            return secs(ru.ru_utime) + secs(ru.ru_stime);
        }
    }
    f64::NAN
}

/// The send time recorded in an intent.
fn sent_at(rec: &Record) -> Option<jiff::Timestamp> {
    rec.updated_at.parse().ok()
}

impl Shared {
    /// Hands a created call to the poller (when polling) if it is not
    /// terminal yet.
    fn track(&self, t: Tracked) {
        let holds = t.holds_slot;
        if let Some(tx) = &self.poll_tx
            && !t.status.is_terminal()
        {
            // Only a run that waits for outcomes waits for this call.
            let counted = u64::from(self.settings.wait);
            self.outstanding
                .fetch_add(counted, std::sync::atomic::Ordering::SeqCst);
            if tx.send(t).is_ok() {
                Stats::add(&self.stats.awaiting, 1);
            } else {
                self.outstanding
                    .fetch_sub(counted, std::sync::atomic::Ordering::SeqCst);
                if holds {
                    self.release_active();
                }
            }
        } else if holds {
            self.release_active();
        }
    }

    /// The poller let go of a call (ended, or no longer watched).
    fn untrack(&self) {
        Stats::sub(&self.stats.awaiting, 1);
        self.outstanding.fetch_sub(
            u64::from(self.settings.wait),
            std::sync::atomic::Ordering::SeqCst,
        );
    }

    /// Dials `job` again at `due` (by the settings' clock; counted as outstanding until the
    /// producer takes it).
    fn schedule_redial(self: &Arc<Self>, due: jiff::Timestamp, job: Job) {
        self.outstanding
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Stats::add(&self.stats.redials_waiting, 1);
        let sh = self.clone();
        tokio::spawn(async move {
            let wait = Duration::try_from(due.duration_since(sh.settings.clock.now()))
                .unwrap_or(Duration::ZERO);
            let ok = sh.sleep(wait).await && sh.redial_tx.send(job).is_ok();
            Stats::sub(&sh.stats.redials_waiting, 1);
            if !ok {
                sh.outstanding
                    .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
    }

    /// When a call that ended with `status` is due again, if ever.
    fn next_due(
        &self,
        key: &str,
        status: &CallStatus,
        round: u32,
        ended_at: jiff::Timestamp,
    ) -> Option<jiff::Timestamp> {
        let redial = self.settings.redial.as_ref()?;
        let zone = self
            .settings
            .targets
            .get(key)
            .and_then(|(_, z)| z.clone())
            .unwrap_or(jiff::tz::TimeZone::UTC);
        redial.next_due(
            status.as_str(),
            round,
            ended_at,
            self.settings.schedule.as_ref(),
            &zone,
        )
    }

    /// Gives back a live-call place (a call held one and has ended, or is
    /// no longer watched).
    fn release_active(&self) {
        if let Some(sem) = &self.active {
            sem.add_permits(1);
        }
    }

    fn stop_with(&self, r: StopReason) {
        {
            let mut g = self.reason.lock().unwrap_or_else(|e| e.into_inner());
            if g.is_none() {
                tracing::debug!("stopping: {r:?}");
                *g = Some(r);
            }
        }
        self.stop.cancel();
    }

    /// A place in the pipeline and a pacing slot, or None once the run is
    /// stopping.
    async fn slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let slot = tokio::select! {
            biased;
            _ = self.stop.cancelled() => return None,
            s = self.ahead.clone().acquire_owned() => s.ok()?,
        };
        self.paced().await.then_some(slot)
    }

    /// Waits for a pacing slot; false if the run stopped meanwhile.
    async fn paced(&self) -> bool {
        tokio::select! {
            biased;
            _ = self.stop.cancelled() => false,
            _ = self.pacer.ready() => true,
        }
    }

    /// An in-flight permit (AIMD cap), or None once the run is stopping.
    async fn permit(&self) -> Option<Permit> {
        tokio::select! {
            biased;
            _ = self.stop.cancelled() => None,
            p = self.limiter.acquire() => Some(p),
        }
    }

    /// A permit and a pacing slot (for lookups), or None once stopping.
    async fn gate(&self) -> Option<Permit> {
        let permit = self.permit().await?;
        self.paced().await.then_some(permit)
    }

    /// Sleeps; false if the run stopped meanwhile.
    async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            biased;
            _ = self.stop.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }

    fn record(&self, t: &Target, round: u32, status: Status, st: &RowState) -> Record {
        let mut r = Record::new(&t.key, t.row, &t.to_number, round, status);
        r.attempts = st.attempts;
        r.http_status = st.last_http;
        r.error = st.last_error.clone();
        // An in-doubt record keeps the time of the intent its request left
        // under: a later run looks the call up from that time, however
        // often the row stays in doubt meanwhile.
        if status_is_in_doubt(&r.status) && !st.intent_at.is_empty() {
            r.updated_at = st.intent_at.clone();
        }
        r
    }

    /// Looks a row's call up; every page request takes a permit and a slot.
    async fn lookup(&self, t: &Target, round: u32, sent: jiff::Timestamp) -> Lookup {
        let since = sent
            .checked_sub(
                jiff::SignedDuration::try_from(self.settings.lookup_margin).unwrap_or_default(),
            )
            .unwrap_or(sent)
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let wanted = Wanted {
            campaign: &self.campaign.name,
            key: &t.key,
            round,
            from_number: &self.campaign.from_number,
            agent_version_id: &self.campaign.agent_version_id,
        };
        let since = &since;
        reconcile::lookup(&wanted, |page| async move {
            let Some(_permit) = self.gate().await else {
                return Err(crate::api::LookupError {
                    http_status: None,
                    message: "the run stopped".into(),
                    fatal: false,
                });
            };
            Stats::add(&self.stats.in_flight, 1);
            let r = self.client.list_calls(&t.to_number, since, page).await;
            Stats::sub(&self.stats.in_flight, 1);
            r
        })
        .await
    }

    /// Records a call found by a lookup.
    /// `active`: the row's live-call place, kept by the call if it is live.
    fn adopt(
        &self,
        t: &Target,
        round: u32,
        st: &RowState,
        call: &crate::wire::Call,
        active: Option<tokio::sync::OwnedSemaphorePermit>,
    ) {
        let mut rec = self.record(t, round, Status::Call(CallStatus::parse(&call.status)), st);
        // As the API gave it (the list reader let only a sane id through):
        // cut or prefixed, it would name no call when polled or looked for.
        rec.call_id = call.call_id.trim().to_string();
        rec.http_status = None;
        rec.error.clear();
        if let Some(mut t) = Tracked::from_record(&rec) {
            if let Some(p) = active {
                p.forget();
                t.holds_slot = true;
            }
            self.track(t);
        }
        self.appender.append(rec);
        Stats::add(&self.stats.adopted, 1);
        Stats::add(&self.stats.done, 1);
        tracing::info!(key = %t.key, call_id = %call.call_id, "found the call of an unanswered request");
    }
}

/// A row's progress within this run.
#[derive(Debug, Default)]
struct RowState {
    attempts: u32,
    sends: u32,
    waits: u32,
    last_http: Option<u16>,
    last_error: String,
    open_intent: bool,
    /// `updated_at` of the intent the last request left under (empty: no
    /// request sent yet); what an in-doubt record is stamped with.
    intent_at: String,
}

fn status_is_in_doubt(s: &Status) -> bool {
    matches!(s, Status::InDoubt)
}

async fn resume_one(sh: Arc<Shared>, r: Resume) -> Option<Job> {
    let now = jiff::Timestamp::now();
    // Without the intent's time there is no window to search: never guess
    // one (a guess too late misses the call and dials again).
    let sent = sent_at(&r.last);
    if let Some(sent) = sent {
        // The request left at most max_intent_age after its intent was stamped.
        let settle = sh.settings.lookup_after + sh.settings.max_intent_age;
        let ready = sent
            .checked_add(jiff::SignedDuration::try_from(settle).unwrap_or_default())
            .unwrap_or(sent);
        if let Ok(wait) = Duration::try_from(ready.duration_since(now))
            && !sh.sleep(wait).await
        {
            return None;
        }
    }
    let st = RowState {
        attempts: r.last.attempts,
        last_http: r.last.http_status,
        last_error: r.last.error.clone(),
        // An intent's time, or an in-doubt record's (which is its intent's).
        intent_at: r.last.updated_at.clone(),
        ..RowState::default()
    };
    // The request went to the number its intent was written for, which the
    // CSV may have changed since: look that number up, and record what is
    // found (or stays in doubt) under it.
    let csv = r.target;
    let logged = r.last.to_number.trim();
    let moved = !logged.is_empty() && logged != csv.to_number;
    let t = if moved {
        Target {
            to_number: logged.to_string(),
            ..csv.clone()
        }
    } else {
        csv.clone()
    };
    let round = r.last.round;
    let mut found = match sent {
        Some(sent) => sh.lookup(&t, round, sent).await,
        None => Lookup::Unknown(format!(
            "its last line's updated_at {:?} is not a time, so the call cannot be \
             looked up; fix it to when the request was sent",
            r.last.updated_at
        )),
    };
    if moved && found == Lookup::Absent {
        found = Lookup::Unknown(format!(
            "no call to {} found, but the CSV now has {} for this key; \
             check which number was meant",
            t.to_number, csv.to_number
        ));
    }
    match found {
        Lookup::Found(call) => {
            sh.adopt(&t, round, &st, &call, None);
            None
        }
        Lookup::Absent => Some(Job {
            target: t,
            round,
            attempts: st.attempts,
            open_intent: true,
        }),
        Lookup::Unknown(why) if sh.settings.redial_in_doubt => {
            let t = csv;
            tracing::warn!(key = %t.key, "dialling again although in doubt (--redial-in-doubt): {why}");
            Some(Job {
                target: t,
                round,
                attempts: st.attempts,
                open_intent: false,
            })
        }
        Lookup::Unknown(_) if sh.stop.is_cancelled() => None,
        Lookup::Unknown(why) => {
            let mut rec = sh.record(&t, round, Status::InDoubt, &st);
            rec.error = crate::text::clean_message(&why);
            sh.appender.append(rec);
            Stats::add(&sh.stats.in_doubt, 1);
            Stats::add(&sh.stats.done, 1);
            None
        }
        Lookup::Fatal(e) => {
            sh.stop_with(StopReason::Fatal {
                http_status: e.http_status,
                message: e.message,
                fix: "check the API key and the workspace (the call list was refused)".into(),
            });
            None
        }
    }
}

/// Writes the row back as `pending` when the run stops before its request
/// leaves and its last record is an intent known to have created nothing.
fn leave_pending(sh: &Shared, job: &Job, st: &RowState) {
    if st.open_intent {
        sh.appender
            .append(sh.record(&job.target, job.round, Status::Pending, st));
    }
}

async fn dial(sh: Arc<Shared>, job: Job, _slot: tokio::sync::OwnedSemaphorePermit) {
    let t = &job.target;
    if sh.settings.suppressed.contains(&t.to_number) {
        let mut rec = Record::new(&t.key, t.row, &t.to_number, job.round, Status::Suppressed);
        rec.attempts = job.attempts;
        sh.appender.append(rec);
        Stats::add(&sh.stats.done, 1);
        tracing::info!(key = %t.key, "on a do-not-call list: not dialled");
        return;
    }
    // Only inside the recipient's calling window.
    if let Some(schedule) = &sh.settings.schedule {
        let zone = sh
            .settings
            .targets
            .get(&t.key)
            .and_then(|(_, z)| z.clone())
            .unwrap_or(jiff::tz::TimeZone::UTC);
        let state = schedule.window_state(&zone, sh.settings.clock.now());
        let mut rec = Record::new(&t.key, t.row, &t.to_number, job.round, Status::Pending);
        rec.attempts = job.attempts;
        match state {
            crate::schedule::WindowState::Open { .. } => {}
            crate::schedule::WindowState::Closed { opens_at }
            | crate::schedule::WindowState::NotStarted { opens_at } => {
                rec.next_at = crate::text::format_ts(opens_at);
                sh.appender.append(rec);
                Stats::add(&sh.stats.done, 1);
                if !sh.settings.no_wait && !sh.settings.track_only {
                    sh.schedule_redial(opens_at, job.clone());
                }
                return;
            }
            crate::schedule::WindowState::Ended => {
                rec.error = "not dialled: the schedule's end_at has passed".into();
                sh.appender.append(rec);
                Stats::add(&sh.stats.done, 1);
                return;
            }
        }
    }
    // A place among the live calls (max_active_calls): dropped unless a
    // call is created, in which case the poller gives it back.
    let mut active = match &sh.active {
        None => None,
        Some(sem) => {
            let got = tokio::select! {
                biased;
                _ = sh.stop.cancelled() => None,
                p = sem.clone().acquire_owned() => p.ok(),
            };
            match got {
                Some(p) => Some(p),
                None => {
                    return leave_pending(
                        &sh,
                        &job,
                        &RowState {
                            attempts: job.attempts,
                            open_intent: job.open_intent,
                            ..RowState::default()
                        },
                    );
                }
            }
        }
    };
    let req = CallRequest::new(
        &sh.campaign,
        &t.key,
        job.round,
        &t.to_number,
        &t.variables,
        &t.metadata,
    );
    let mut st = RowState {
        attempts: job.attempts,
        open_intent: job.open_intent,
        ..RowState::default()
    };
    // Held while the request is in flight and while waiting to resend.
    let mut permit: Option<Permit> = None;
    // Every send is preceded by a durable intent at most max_intent_age
    // old. `counted`: the send is a new attempt, not a resend after 409/429.
    // The pacing slot of each send has been taken before the loop comes
    // round (by the producer, or by the branch that decided to resend).
    let mut counted = true;
    let finish = |st: &RowState, status: Status| {
        sh.appender.append(sh.record(t, job.round, status, st));
        Stats::add(&sh.stats.done, 1);
    };
    loop {
        let mut first = false;
        if counted {
            // Read from a file that may say anything (u32::MAX).
            st.attempts = st.attempts.saturating_add(1);
            st.sends = st.sends.saturating_add(1);
            first = st.sends == 1
                && sh
                    .dialled
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    == 0;
        }
        let mut written: Option<Instant> = None;
        loop {
            if sh.stop.is_cancelled() {
                return leave_pending(&sh, &job, &st);
            }
            let age = sh.settings.max_intent_age;
            if written.is_none_or(|w| w.elapsed() > age) {
                let intent = sh.record(t, job.round, Status::Dispatching, &st);
                let intent_at = intent.updated_at.clone();
                if let Err(e) = sh.appender.append_durable(intent).await {
                    tracing::error!("{e}; no request is sent without its intent on disk");
                    sh.stop_with(StopReason::WriteFailed);
                    return;
                }
                st.open_intent = true;
                st.intent_at = intent_at;
                written = Some(Instant::now());
            }
            if permit.is_none() {
                match sh.permit().await {
                    Some(p) => permit = Some(p),
                    None => return leave_pending(&sh, &job, &st),
                }
            }
            // A 429 paused everyone after this row took its pacing slot.
            if let Some(until) = sh.pacer.held_until(Instant::now())
                && !sh
                    .sleep(until.saturating_duration_since(Instant::now()))
                    .await
            {
                return leave_pending(&sh, &job, &st);
            }
            if written.is_some_and(|w| w.elapsed() <= age) {
                break;
            }
        }
        if sh.stop.is_cancelled() {
            return leave_pending(&sh, &job, &st);
        }
        if first {
            tracing::info!(
                "first request sent {:.3} s after start ({:.3} s of CPU)",
                sh.settings.origin.elapsed().as_secs_f64(),
                cpu_seconds()
            );
        }
        let sent = (Instant::now(), jiff::Timestamp::now());
        Stats::add(&sh.stats.in_flight, 1);
        let answer = sh.client.create_call(&req).await;
        Stats::sub(&sh.stats.in_flight, 1);
        tracing::debug!(key = %t.key, row = t.row, ?answer, "answer");
        match answer {
            Answer::Created {
                http_status,
                call_id,
                status,
            } => {
                drop(permit.take());
                let cap = sh.limiter.on_success();
                sh.stats
                    .cap
                    .store(u64::from(cap), std::sync::atomic::Ordering::Relaxed);
                sh.breaker
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .observe(None);
                st.last_http = Some(http_status);
                st.last_error.clear();
                let mut rec = sh.record(t, job.round, Status::Call(status), &st);
                rec.call_id = call_id;
                if let Some(mut tr) = Tracked::from_record(&rec) {
                    if let Some(p) = active.take() {
                        p.forget();
                        tr.holds_slot = true;
                    }
                    sh.track(tr);
                }
                sh.appender.append(rec);
                Stats::add(&sh.stats.created, 1);
                Stats::add(&sh.stats.done, 1);
                return;
            }
            Answer::Rejected {
                http_status,
                message,
            } => {
                drop(permit.take());
                st.last_http = Some(http_status);
                // Observed and recorded under the breaker's lock, so that
                // the window's lines are rewritten after all of them.
                let mut breaker = sh.breaker.lock().unwrap_or_else(|e| e.into_inner());
                let tripped = breaker.observe(Some(&message));
                st.last_error = message;
                if breaker.tripped() {
                    // The plan's fault, not the row's (the run stops for the
                    // user to fix it): `pending`, so a rerun dials it.
                    finish(&st, Status::Pending);
                    if tripped.is_some() {
                        let window = std::mem::take(
                            &mut *sh.breaker_window.lock().unwrap_or_else(|e| e.into_inner()),
                        );
                        for mut rec in window {
                            rec.status = Status::Pending;
                            rec.updated_at = crate::text::now_rfc3339();
                            sh.appender.append(rec);
                            Stats::sub(&sh.stats.rejected, 1);
                        }
                    }
                } else {
                    let rec = sh.record(t, job.round, Status::Rejected, &st);
                    if breaker.deciding() {
                        sh.breaker_window
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(rec.clone());
                    } else {
                        sh.breaker_window
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .clear();
                    }
                    sh.appender.append(rec);
                    Stats::add(&sh.stats.done, 1);
                    Stats::add(&sh.stats.rejected, 1);
                }
                drop(breaker);
                if let Some(message) = tripped {
                    sh.stop_with(StopReason::Breaker { message });
                }
                return;
            }
            Answer::Fatal {
                http_status,
                message,
                fix,
            } => {
                st.last_http = Some(http_status);
                st.last_error = message.clone();
                sh.appender
                    .append(sh.record(t, job.round, Status::Pending, &st));
                sh.stop_with(StopReason::Fatal {
                    http_status: Some(http_status),
                    message,
                    fix: fix.to_string(),
                });
                return;
            }
            Answer::Wait {
                http_status,
                retry_after,
                message,
            } => {
                st.waits = st.waits.saturating_add(1);
                st.last_http = Some(http_status);
                st.last_error = message;
                if http_status == 409 {
                    Stats::add(&sh.stats.answers_409, 1);
                    let (cap, cut) = sh.limiter.on_conflict();
                    sh.stats
                        .cap
                        .store(u64::from(cap), std::sync::atomic::Ordering::Relaxed);
                    if cut {
                        tracing::info!("409s keep coming: in-flight cap lowered to {cap}");
                    }
                } else {
                    Stats::add(&sh.stats.answers_429, 1);
                }
                if st.waits > MAX_WAITS {
                    st.last_error =
                        format!("still refused after {MAX_WAITS} waits: {}", st.last_error);
                    Stats::add(&sh.stats.errors, 1);
                    return finish(&st, Status::Error);
                }
                let delay = retry_after.unwrap_or_else(|| sh.backoff.delay(st.waits));
                if http_status == 429 {
                    sh.pacer.pause_until(Instant::now() + delay);
                }
                Stats::add(&sh.stats.retrying, 1);
                let slept = sh.sleep(delay).await;
                let paced = slept && sh.paced().await;
                Stats::sub(&sh.stats.retrying, 1);
                if !paced {
                    return leave_pending(&sh, &job, &st);
                }
                counted = false;
            }
            Answer::Transient {
                http_status,
                message,
            } => {
                Stats::add(&sh.stats.transient, 1);
                st.last_http = http_status;
                st.last_error = message;
                if st.sends >= sh.settings.max_attempts {
                    st.last_error =
                        format!("gave up after {} attempts: {}", st.sends, st.last_error);
                    Stats::add(&sh.stats.errors, 1);
                    return finish(&st, Status::Error);
                }
                Stats::add(&sh.stats.retrying, 1);
                let slept = sh.sleep(sh.backoff.delay(st.sends)).await;
                let paced = slept && sh.paced().await;
                Stats::sub(&sh.stats.retrying, 1);
                if !paced {
                    return leave_pending(&sh, &job, &st);
                }
                counted = true;
            }
            Answer::InDoubt {
                http_status,
                message,
            } => {
                drop(permit.take());
                Stats::add(&sh.stats.lost, 1);
                Stats::add(&sh.stats.in_doubt, 1);
                st.last_http = http_status;
                st.last_error = message;
                st.open_intent = false;
                sh.appender
                    .append(sh.record(t, job.round, Status::InDoubt, &st));
                tracing::info!(key = %t.key, row = t.row, "in doubt: {}", st.last_error);
                // Look it up once the request can no longer be in flight.
                let ready = sent.0 + sh.settings.lookup_after;
                if !sh
                    .sleep(ready.saturating_duration_since(Instant::now()))
                    .await
                {
                    return;
                }
                match sh.lookup(t, job.round, sent.1).await {
                    Lookup::Found(call) => {
                        Stats::sub(&sh.stats.in_doubt, 1);
                        sh.adopt(t, job.round, &st, &call, active.take());
                        return;
                    }
                    Lookup::Absent => {
                        Stats::sub(&sh.stats.in_doubt, 1);
                        st.open_intent = true;
                        if st.sends >= sh.settings.max_attempts {
                            st.last_error = format!(
                                "gave up after {} attempts (the last one confirmed not created): {}",
                                st.sends, st.last_error
                            );
                            Stats::add(&sh.stats.errors, 1);
                            return finish(&st, Status::Error);
                        }
                        if !sh.paced().await {
                            return leave_pending(&sh, &job, &st);
                        }
                        counted = true;
                    }
                    Lookup::Unknown(_) if sh.stop.is_cancelled() => return,
                    Lookup::Unknown(why) => {
                        st.last_error = format!("{}; {why}", st.last_error);
                        return finish(&st, Status::InDoubt);
                    }
                    Lookup::Fatal(e) => {
                        sh.stop_with(StopReason::Fatal {
                            http_status: e.http_status,
                            message: e.message,
                            fix: "check the API key and the workspace (the call list was refused)"
                                .into(),
                        });
                        return;
                    }
                }
            }
        }
    }
}
