//! The state every task of one run shares ([`Shared`]), a row's progress
//! within the run ([`RowState`]) and why a run stopped ([`StopReason`]).
//!
//! One `Arc<Shared>` is handed to every dial task, reconciliation task and
//! the poller. It holds the gates a request passes (pipeline place, pacing
//! slot, in-flight permit, live-call place), the one stop token, the
//! breaker, and the bookkeeping of work still to come. The helpers here are
//! the steps several phases take alike: wait for a gate unless the run
//! stops, build a row's record, look a call up, adopt a found call, hand a
//! call to the poller, schedule a redial.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::backoff::{Backoff, Breaker};
use super::call_owners::CallOwners;
use super::calls_api::CallsApi;
use super::counters::Stats;
use super::job::{Job, Target, Tracked};
use super::limiter::{Limiter, Permit};
use super::pacer::Pacer;
use super::reconcile::{self, Lookup, Wanted};
use super::settings::Settings;
use crate::api::{Campaign, LookupError};
use crate::results::{Appender, Record, Status};
use crate::wire::{Call, CallList, CallStatus};

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
    /// The recipients file is not what was validated (edited, rows added
    /// or removed) or cannot be read again: the message says which row.
    RecipientsChanged(String),
    /// The API kept answering `Retry-After` until the run's budget for such
    /// waits ([`Settings::retry_after_budget`]) was spent.
    WaitedTooLong {
        /// The HTTP status of the last answer that asked to wait.
        http_status: u16,
        /// How long the run had waited on `Retry-After` so far.
        waited: Duration,
        /// The budget it would have passed.
        budget: Duration,
    },
}

impl StopReason {
    /// The lines the summary prints for a reason the engine alone words
    /// (the others are worded by the command); empty for those.
    pub fn notes(&self) -> Vec<String> {
        match self {
            StopReason::WaitedTooLong {
                http_status,
                waited,
                budget,
            } => vec![
                format!(
                    "stopped: the API kept asking to wait (HTTP {http_status} with Retry-After): \
                     {} of waits this run, and the next would pass the {} callplan allows",
                    minutes(*waited),
                    minutes(*budget)
                ),
                "fix: everything so far is saved; rerun later to resume, or lower \
                 dispatch.rate_per_second / dispatch.concurrency if the API limits this workspace"
                    .into(),
            ],
            _ => Vec::new(),
        }
    }

    /// The call list was refused while looking a call up.
    pub(super) fn list_refused(e: LookupError) -> StopReason {
        StopReason::Fatal {
            http_status: e.http_status,
            message: e.message,
            fix: "check the API key and the workspace (the call list was refused)".into(),
        }
    }
}

/// `d` in minutes, for people ("31.5 min").
fn minutes(d: Duration) -> String {
    format!("{:.1} min", d.as_secs_f64() / 60.0)
}

/// The run's waits on `Retry-After`, counted as wall time during which at
/// least one row was told to wait (rows told at once count once).
#[derive(Debug, Default)]
pub(super) struct RetryWaits {
    /// When the latest wait asked for ends.
    until: Option<Instant>,
    /// Wall time covered by waits so far.
    total: Duration,
}

/// The state of one run, shared by all its tasks.
pub(super) struct Shared<A> {
    pub(super) api: A,
    pub(super) campaign: Campaign,
    pub(super) appender: Appender,
    pub(super) settings: Settings,
    pub(super) stats: Arc<Stats>,
    pub(super) limiter: Arc<Limiter>,
    /// Rows between their pacing slot and the end of their request: the
    /// in-flight cap plus as many writing their intent ahead.
    pub(super) ahead: Arc<Semaphore>,
    pub(super) pacer: Pacer,
    pub(super) backoff: Backoff,
    pub(super) breaker: Mutex<Breaker>,
    /// The rejections recorded while the breaker was deciding: if it trips,
    /// they were the plan's fault and are written back `pending`. Locked
    /// only under `breaker`.
    pub(super) breaker_window: Mutex<Vec<Record>>,
    pub(super) stop: CancellationToken,
    pub(super) reason: Mutex<Option<StopReason>>,
    /// Rows that had at least one request sent this run.
    pub(super) dialled: AtomicU64,
    /// Where created calls go to be polled (when polling).
    pub(super) poll_tx: Option<mpsc::UnboundedSender<Tracked>>,
    /// One permit per call that may be live (`max_active_calls`): taken
    /// before a row's intent, kept (forgotten) by a created call, given back
    /// by the poller when the call is seen terminal.
    pub(super) active: Option<Arc<Semaphore>>,
    /// Redials that have come due, to the producer.
    pub(super) redial_tx: mpsc::UnboundedSender<Job>,
    /// Redials and rows waiting for their time, plus (with `wait`) calls
    /// being polled: while non-zero, more dials may come.
    pub(super) outstanding: AtomicU64,
    /// The run's waits on `Retry-After`, against its budget.
    pub(super) retry_waits: Mutex<RetryWaits>,
    /// Every call_id this run recorded (created or found), with its row:
    /// one entry per call, to catch an API that gives one call_id to two
    /// rows.
    pub(super) call_owners: Mutex<CallOwners>,
}

/// A row's progress within this run.
#[derive(Debug, Default)]
pub(super) struct RowState {
    pub(super) attempts: u32,
    pub(super) sends: u32,
    pub(super) waits: u32,
    pub(super) last_http: Option<u16>,
    pub(super) last_error: String,
    pub(super) open_intent: bool,
    /// `updated_at` of the intent the last request left under (empty: no
    /// request sent yet); what an in-doubt record is stamped with.
    pub(super) intent_at: String,
}

impl RowState {
    /// A row about to be dialled: what its job carries over.
    pub(super) fn of_job(job: &Job) -> RowState {
        RowState {
            attempts: job.attempts,
            open_intent: job.open_intent,
            ..RowState::default()
        }
    }
}

/// Locks a mutex whose holder may have panicked (the data stays usable:
/// every critical section leaves it consistent).
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<A: CallsApi> Shared<A> {
    /// The state of a run that polls (when `poll_tx` is given) and sends
    /// due redials to `redial_tx`.
    pub(super) fn new(
        api: A,
        campaign: Campaign,
        appender: Appender,
        settings: Settings,
        stats: Arc<Stats>,
        poll_tx: Option<mpsc::UnboundedSender<Tracked>>,
        redial_tx: mpsc::UnboundedSender<Job>,
    ) -> Shared<A> {
        let targets_len = settings.targets.len();
        // The backoff's jitter differs between runs (and processes).
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            ^ u64::from(std::process::id());
        Stats::add(&stats.cap, u64::from(settings.concurrency));
        let active = settings
            .max_active
            .filter(|_| poll_tx.is_some())
            .map(|n| Arc::new(Semaphore::new(n.max(1) as usize)));
        Shared {
            redial_tx,
            outstanding: AtomicU64::new(0),
            poll_tx,
            active,
            api,
            campaign,
            appender,
            limiter: Limiter::new(settings.concurrency, settings.aimd_cooldown),
            ahead: Arc::new(Semaphore::new(2 * settings.concurrency.max(1) as usize)),
            pacer: Pacer::new(settings.rate_per_second),
            backoff: Backoff::new(settings.backoff_base, settings.backoff_cap, seed),
            settings,
            stats,
            breaker: Mutex::new(Breaker::default()),
            breaker_window: Mutex::new(Vec::new()),
            stop: CancellationToken::new(),
            reason: Mutex::new(None),
            dialled: AtomicU64::new(0),
            retry_waits: Mutex::new(RetryWaits::default()),
            call_owners: Mutex::new(CallOwners::with_capacity(targets_len)),
        }
    }

    /// Hands a created call to the poller (when polling) if it is not
    /// terminal yet.
    pub(super) fn track(&self, call: Tracked) {
        let holds = call.holds_slot;
        if let Some(tx) = &self.poll_tx
            && !call.status.is_terminal()
        {
            // Only a run that waits for outcomes waits for this call.
            let counted = u64::from(self.settings.wait);
            self.outstanding.fetch_add(counted, Ordering::SeqCst);
            if tx.send(call).is_ok() {
                Stats::add(&self.stats.awaiting, 1);
            } else {
                self.outstanding.fetch_sub(counted, Ordering::SeqCst);
                if holds {
                    self.release_active();
                }
            }
        } else if holds {
            self.release_active();
        }
    }

    /// The poller let go of a call (ended, or no longer watched).
    pub(super) fn untrack(&self) {
        Stats::sub(&self.stats.awaiting, 1);
        self.outstanding
            .fetch_sub(u64::from(self.settings.wait), Ordering::SeqCst);
    }

    /// Dials `job` again at `due` (by the settings' clock; counted as
    /// outstanding until the producer takes it).
    pub(super) fn schedule_redial(self: &Arc<Self>, due: jiff::Timestamp, job: Job) {
        self.outstanding.fetch_add(1, Ordering::SeqCst);
        Stats::add(&self.stats.redials_waiting, 1);
        let shared = self.clone();
        tokio::spawn(async move {
            let wait = Duration::try_from(due.duration_since(shared.settings.clock.now()))
                .unwrap_or(Duration::ZERO);
            let sent = shared.sleep(wait).await && shared.redial_tx.send(job).is_ok();
            Stats::sub(&shared.stats.redials_waiting, 1);
            if !sent {
                shared.outstanding.fetch_sub(1, Ordering::SeqCst);
            }
        });
    }

    /// The calling zone of a row (UTC when it has none or is unknown).
    pub(super) fn zone_of(&self, key: &str) -> jiff::tz::TimeZone {
        let targets = &self.settings.targets;
        targets
            .find(key)
            .and_then(|i| targets.get(i))
            .and_then(|t| targets.zone(&t))
            .cloned()
            .unwrap_or(jiff::tz::TimeZone::UTC)
    }

    /// When a call that ended with `status` is due again, if ever.
    pub(super) fn next_due(
        &self,
        key: &str,
        status: &CallStatus,
        round: u32,
        ended_at: jiff::Timestamp,
    ) -> Option<jiff::Timestamp> {
        let redial = self.settings.redial.as_ref()?;
        redial.next_due(
            status.as_str(),
            round,
            ended_at,
            self.settings.schedule.as_ref(),
            &self.zone_of(key),
        )
    }

    /// Gives back a live-call place (a call held one and has ended, or is
    /// no longer watched).
    pub(super) fn release_active(&self) {
        if let Some(places) = &self.active {
            places.add_permits(1);
        }
    }

    /// Stops the run; the first reason given is the one reported.
    pub(super) fn stop_with(&self, reason: StopReason) {
        {
            let mut first = lock(&self.reason);
            if first.is_none() {
                tracing::debug!("stopping: {reason:?}");
                *first = Some(reason);
            }
        }
        self.stop.cancel();
    }

    /// A place in the pipeline and a pacing slot, or None once the run is
    /// stopping.
    pub(super) async fn slot(&self) -> Option<OwnedSemaphorePermit> {
        let slot = tokio::select! {
            biased;
            _ = self.stop.cancelled() => return None,
            s = self.ahead.clone().acquire_owned() => s.ok()?,
        };
        self.paced().await.then_some(slot)
    }

    /// Waits for a pacing slot; false if the run stopped meanwhile.
    pub(super) async fn paced(&self) -> bool {
        tokio::select! {
            biased;
            _ = self.stop.cancelled() => false,
            _ = self.pacer.ready() => true,
        }
    }

    /// An in-flight permit (AIMD cap), or None once the run is stopping.
    pub(super) async fn permit(&self) -> Option<Permit> {
        tokio::select! {
            biased;
            _ = self.stop.cancelled() => None,
            p = self.limiter.acquire() => Some(p),
        }
    }

    /// A permit and a pacing slot (for lookups and polls), or None once
    /// stopping.
    pub(super) async fn gate(&self) -> Option<Permit> {
        let permit = self.permit().await?;
        self.paced().await.then_some(permit)
    }

    /// Sleeps; false if the run stopped meanwhile.
    pub(super) async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            biased;
            _ = self.stop.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }

    /// The caller ID and agent version `target`'s calls use: its own,
    /// else the campaign's.
    pub(super) fn caller_of<'t>(&'t self, target: &'t Target) -> (&'t str, &'t str) {
        let or = |own: &'t str, campaign: &'t str| if own.is_empty() { campaign } else { own };
        (
            or(&target.from_number, &self.campaign.from_number),
            or(&target.agent_version_id, &self.campaign.agent_version_id),
        )
    }

    /// The record of `target`'s round at `status`, with the row's counters.
    pub(super) fn record(
        &self,
        target: &Target,
        round: u32,
        status: Status,
        row: &RowState,
    ) -> Record {
        let mut r = Record::new(&target.key, target.row, &target.to_number, round, status);
        let (from, agent) = self.caller_of(target);
        r.from_number = from.into();
        r.agent_version_id = agent.into();
        r.attempts = row.attempts;
        r.http_status = row.last_http;
        r.error = row.last_error.as_str().into();
        // An in-doubt record keeps the time of the intent its request left
        // under: a later run looks the call up from that time, however
        // often the row stays in doubt meanwhile.
        if matches!(r.status, Status::InDoubt) && !row.intent_at.is_empty() {
            r.updated_at = row.intent_at.as_str().into();
        }
        r
    }

    /// `r` with the caller ID and agent version its call used, which the
    /// results file keeps per row: the record's own when it knows them (a
    /// row's own caller ID, a tracked call's), else the campaign's.
    pub(super) fn sent_as(&self, mut r: Record) -> Record {
        if r.from_number.is_empty() {
            r.from_number = self.campaign.from_number.as_str().into();
        }
        if r.agent_version_id.is_empty() {
            r.agent_version_id = self.campaign.agent_version_id.as_str().into();
        }
        r
    }

    /// Appends a row's final record of this run and counts it done.
    pub(super) fn settle(&self, target: &Target, round: u32, status: Status, row: &RowState) {
        self.appender
            .append(self.record(target, round, status, row));
        Stats::add(&self.stats.done, 1);
    }

    /// Looks a row's call up; every page request takes a permit and a slot.
    /// A page that could not be read (a timeout, a 5xx, a dropped
    /// connection) is asked for again after a backoff, up to
    /// [`LOOKUP_TRIES`] times in all: a GET is safe to repeat, and a row
    /// whose look-up fails stays in doubt for the rest of the run.
    pub(super) async fn lookup(
        &self,
        target: &Target,
        round: u32,
        sent: jiff::Timestamp,
    ) -> Lookup {
        let since = sent
            .checked_sub(
                jiff::SignedDuration::try_from(self.settings.lookup_margin).unwrap_or_default(),
            )
            .unwrap_or(sent)
            .strftime("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        let wanted = Wanted {
            campaign: &self.campaign.name,
            key: &target.key,
            round,
            from_number: self.caller_of(target).0,
            agent_version_id: self.caller_of(target).1,
        };
        let since = &since;
        reconcile::lookup(&wanted, |page| async move {
            let mut failed = 0;
            loop {
                match self.list_page(&target.to_number, since, page).await {
                    // A stopped run's gate answers `stopped()`: not a
                    // page that failed, so not asked for again.
                    Err(e)
                        if !e.fatal && failed + 1 < LOOKUP_TRIES && !self.stop.is_cancelled() =>
                    {
                        failed += 1;
                        tracing::debug!(
                            key = %target.key,
                            "call lookup failed ({}); asking again", e.message
                        );
                        if !self.sleep(self.backoff.delay(failed)).await {
                            return Err(e);
                        }
                    }
                    other => return other,
                }
            }
        })
        .await
    }

    /// One page of calls to `to` since `since`, asked once; the request
    /// takes a permit and a pacing slot.
    async fn list_page(&self, to: &str, since: &str, page: u32) -> Result<CallList, LookupError> {
        let Some(_permit) = self.gate().await else {
            return Err(stopped());
        };
        Stats::add(&self.stats.in_flight, 1);
        let list = self.api.list(to, since, page).await;
        Stats::sub(&self.stats.in_flight, 1);
        list
    }

    /// Records a call found by a lookup.
    /// `live_place`: the row's live-call place, kept by the call if it is live.
    pub(super) fn adopt(
        &self,
        at: u32,
        target: &Target,
        round: u32,
        row: &RowState,
        call: &Call,
        live_place: Option<OwnedSemaphorePermit>,
    ) {
        // As the API gave it (the list reader let only a sane id through):
        // cut or prefixed, it would name no call when polled or looked for.
        let call_id = call.call_id.trim();
        if let Some(first) = self.claim(call_id, at, target, round, row) {
            self.dispute(call_id, target, round, row, &first);
            return;
        }
        let status = Status::Call(CallStatus::parse(&call.status));
        let mut rec = self.record(target, round, status, row);
        rec.call_id = call_id.into();
        rec.http_status = None;
        rec.error.clear();
        // Found ended: no sighting will come, so what it learned is kept now.
        if let Status::Call(ended) = &rec.status
            && ended.is_terminal()
            && let Some(store) = &self.settings.outcomes
            && let Err(e) = store.keep(&target.key, round, call_id, call)
        {
            tracing::warn!(key = %target.key, call_id, "could not keep the call's post-call data: {e}");
        }
        self.watch(&rec, live_place);
        self.appender.append(rec);
        Stats::add(&self.stats.adopted, 1);
        Stats::add(&self.stats.done, 1);
        tracing::info!(key = %target.key, call_id = %call.call_id, "found the call of an unanswered request");
    }

    /// Hands the call `rec` names to the poller if it is not over; a live
    /// call keeps the row's live-call place until the poller sees it end.
    pub(super) fn watch(&self, rec: &Record, live_place: Option<OwnedSemaphorePermit>) {
        if let Some(mut call) = Tracked::from_record(rec) {
            if let Some(place) = live_place {
                place.forget();
                call.holds_slot = true;
            }
            self.track(call);
        }
    }
}

impl<A: CallsApi> Shared<A> {
    /// Counts a wait the API asked for (`Retry-After` of `asked`) against
    /// the run's budget. Ok: how much wall time it adds to the run's
    /// waiting (0 when other rows already wait as long); Err: it would pass
    /// the budget, and the run is to stop.
    pub(super) fn count_retry_after(
        &self,
        http_status: u16,
        asked: Duration,
    ) -> Result<Duration, StopReason> {
        let now = Instant::now();
        let until = now + asked;
        let mut waits = lock(&self.retry_waits);
        let from = waits.until.map_or(now, |u| u.max(now));
        let added = until.saturating_duration_since(from);
        let budget = self.settings.retry_after_budget;
        if waits.total + added > budget {
            return Err(StopReason::WaitedTooLong {
                http_status,
                waited: waits.total,
                budget,
            });
        }
        waits.total += added;
        waits.until = Some(waits.until.map_or(until, |u| u.max(until)));
        Ok(added)
    }

    /// The run's waits on `Retry-After` so far.
    pub(super) fn retry_after_waited(&self) -> Duration {
        lock(&self.retry_waits).total
    }
}

/// Times a look-up asks for a page it could not read before the row stays
/// in doubt ([`Shared::lookup`]).
pub(super) const LOOKUP_TRIES: u32 = 3;

/// What a gated request answers when the run stopped before it could leave.
pub(super) fn stopped() -> LookupError {
    LookupError {
        http_status: None,
        message: "the run stopped".into(),
        fatal: false,
    }
}
