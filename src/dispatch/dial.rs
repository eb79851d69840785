//! The dial loop: one row from its checks to its recorded outcome.
//!
//! A row is first screened (do-not-call list, calling window, a live-call
//! place when `max_active_calls` is set). Then, per send: a durable
//! `dispatching` intent at most [`super::MAX_INTENT_AGE`] old, an in-flight
//! permit, the request, and one handler per classified [`Answer`], which
//! records what it must and says what comes next ([`Next`]): done, wait and
//! send again (409/429 without counting an attempt, 5xx and connection
//! failures counting one), or look the call up (the answer was lost). A
//! row the run stops for while it waits to send is written back `pending`
//! when its intent is open. A lost answer is never simply sent again: the
//! lookup adopts the call it finds, and only a call confirmed absent is
//! resent.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::calls_api::CallsApi;
use super::counters::Stats;
use super::job::{Job, Target};
use super::limiter::Permit;
use super::state::{RowState, Shared, StopReason};
use crate::api::{Answer, CallRequest};
use crate::results::{Record, Status};
use crate::schedule::{Window, calling_window};

/// What a row does once an answer has been handled.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Next {
    /// Its outcome for this run is recorded, or the run stopped with
    /// nothing left to write.
    Done,
    /// Wait `delay` and a pacing slot, then send again; `counted`: the
    /// resend is a new attempt (not after a 409/429).
    RetryAfter { delay: Duration, counted: bool },
    /// Confirmed not created: send again (a new attempt) after a pacing slot.
    Resend,
    /// The answer was lost: look the call up once the request can no
    /// longer be in flight.
    LookUp,
}

/// When a request left, by tokio's clock (when to look it up) and by the
/// wall clock (where a lookup's list starts).
#[derive(Debug, Clone, Copy)]
pub(super) struct Sent {
    pub(super) at: Instant,
    pub(super) at_utc: jiff::Timestamp,
}

/// Where the intent refresh left the row.
enum Intent {
    /// A fresh intent is on disk and the permit is held: send now.
    Ready,
    /// The run is stopping: leave the row `pending`.
    Stopping,
    /// The intent could not be written; the run is stopped.
    WriteFailed,
}

/// Dials one row to its outcome for this run. `slot`: its place in the
/// pipeline, held until the row is done or in doubt (a row waiting for its
/// lookup gives it up, so the rows behind it keep dialling).
pub(super) async fn dial<A: CallsApi>(
    shared: Arc<Shared<A>>,
    job: Job,
    slot: OwnedSemaphorePermit,
) {
    let Some(target) = shared.settings.targets.of_job(&job) else {
        tracing::error!(
            "a job names target {}, which this run does not have",
            job.target
        );
        return;
    };
    if !may_dial_now(&shared, &job, &target) {
        return;
    }
    let Ok(live_place) = take_live_place(&shared).await else {
        return leave_pending(&shared, &target, &job, &RowState::of_job(&job));
    };
    let Some(request) = request_of(&shared, &target, job.round) else {
        return leave_pending(&shared, &target, &job, &RowState::of_job(&job));
    };
    RowDial::new(&shared, &job, &target, request, slot, live_place)
        .run()
        .await;
}

/// The request of `target`'s `round`, its variables and metadata read back
/// from the recipients file now; None when the file changed since it was
/// validated (the run is stopped: nothing more is dialled, and nothing of
/// this row leaves).
fn request_of<A: CallsApi>(shared: &Shared<A>, target: &Target, round: u32) -> Option<CallRequest> {
    match shared.settings.targets.cells(target) {
        Ok((variables, metadata)) => Some(
            CallRequest::of_row(
                &shared.campaign,
                &target.key,
                round,
                &target.to_number,
                variables,
                metadata,
            )
            .with_caller(&target.from_number, &target.agent_version_id),
        ),
        Err(changed) => {
            shared.stop_with(StopReason::RecipientsChanged(changed.to_string()));
            None
        }
    }
}

/// The checks before the intent: a number on a do-not-call list is
/// recorded `suppressed`; outside the recipient's calling window the row is
/// recorded `pending` with when it opens (and waited for unless the run
/// does not wait), or with why it never will.
fn may_dial_now<A: CallsApi>(shared: &Arc<Shared<A>>, job: &Job, target: &Target) -> bool {
    let record = |status: Status| {
        let mut rec = Record::new(
            &target.key,
            target.row,
            &target.to_number,
            job.round,
            status,
        );
        rec.attempts = job.attempts;
        let (from, agent) = shared.caller_of(target);
        (rec.from_number, rec.agent_version_id) = (from.into(), agent.into());
        rec
    };
    if target.listed {
        shared.appender.append(record(Status::Suppressed));
        Stats::add(&shared.stats.done, 1);
        tracing::info!(key = %target.key, "on a do-not-call list: not dialled");
        return false;
    }
    let zone = shared
        .settings
        .targets
        .zone(target)
        .cloned()
        .unwrap_or(jiff::tz::TimeZone::UTC);
    let now = shared.settings.clock.now();
    let mut rec = record(Status::Pending);
    match calling_window(shared.settings.schedule.as_ref(), Some(&zone), now) {
        Window::OpenNow => return true,
        Window::WaitUntil(opens_at) => {
            rec.next_at = crate::text::format_ts(opens_at).into();
            shared.appender.append(rec);
            if !shared.settings.no_wait && !shared.settings.track_only {
                shared.schedule_redial(opens_at, job.clone());
            }
        }
        Window::Ended => {
            rec.error = "not dialled: the schedule's end_at has passed".into();
            shared.appender.append(rec);
        }
    }
    Stats::add(&shared.stats.done, 1);
    false
}

/// The run stopped while a row waited for something.
struct Stopped;

/// A place among the live calls (`max_active_calls`), when the run limits
/// them: dropped unless a call is created, in which case the poller gives
/// it back.
async fn take_live_place<A: CallsApi>(
    shared: &Shared<A>,
) -> Result<Option<OwnedSemaphorePermit>, Stopped> {
    let Some(places) = &shared.active else {
        return Ok(None);
    };
    let place = tokio::select! {
        biased;
        _ = shared.stop.cancelled() => None,
        place = places.clone().acquire_owned() => place.ok(),
    };
    place.map(Some).ok_or(Stopped)
}

/// Writes the row back as `pending` when the run stops before its request
/// leaves and its last record is an intent known to have created nothing.
fn leave_pending<A: CallsApi>(shared: &Shared<A>, target: &Target, job: &Job, row: &RowState) {
    if row.open_intent {
        shared
            .appender
            .append(shared.record(target, job.round, Status::Pending, row));
    }
}

/// One row being dialled: its request, its progress, and the permits it
/// holds.
pub(super) struct RowDial<'a, A> {
    pub(super) shared: &'a Shared<A>,
    pub(super) job: &'a Job,
    /// The row, as it is sent (see [`super::Targets::of_job`]).
    pub(super) target: &'a Target,
    request: CallRequest,
    pub(super) row: RowState,
    /// Its place in the pipeline: held from its pacing slot to its answer,
    /// and while waiting to resend; not while in doubt (see `doubt`).
    pub(super) slot: Option<OwnedSemaphorePermit>,
    /// Held while the request is in flight and while waiting to resend.
    pub(super) permit: Option<Permit>,
    pub(super) live_place: Option<OwnedSemaphorePermit>,
}

impl<'a, A: CallsApi> RowDial<'a, A> {
    fn new(
        shared: &'a Shared<A>,
        job: &'a Job,
        target: &'a Target,
        request: CallRequest,
        slot: OwnedSemaphorePermit,
        live_place: Option<OwnedSemaphorePermit>,
    ) -> RowDial<'a, A> {
        RowDial {
            shared,
            job,
            target,
            request,
            row: RowState::of_job(job),
            slot: Some(slot),
            permit: None,
            live_place,
        }
    }

    /// Sends until the answer settles the row. The pacing slot of each
    /// send has been taken before the loop comes round (by the producer,
    /// or by the wait that decided to resend).
    async fn run(mut self) {
        // The send is a new attempt, not a resend after 409/429.
        let mut counted = true;
        loop {
            let first = counted && self.count_attempt();
            match self.refresh_intent().await {
                Intent::Ready => {}
                Intent::Stopping => return self.leave_pending(),
                Intent::WriteFailed => return,
            }
            if self.shared.stop.is_cancelled() {
                return self.leave_pending();
            }
            if first {
                tracing::info!(
                    "first request sent {:.3} s after start ({:.3} s of CPU)",
                    self.shared.settings.origin.elapsed().as_secs_f64(),
                    cpu_seconds()
                );
            }
            let sent = Sent {
                at: Instant::now(),
                at_utc: jiff::Timestamp::now(),
            };
            let next = self.send().await;
            match self.follow(next, sent).await {
                Some(resend_counted) => counted = resend_counted,
                None => return,
            }
        }
    }

    /// Does what a handler said comes next. Some(counted): send again (as
    /// a new attempt or not); None: the row is done for this run (written
    /// back `pending` if the run stopped while it waited to resend).
    async fn follow(&mut self, mut next: Next, sent: Sent) -> Option<bool> {
        loop {
            match next {
                Next::Done => return None,
                Next::LookUp => next = self.look_up(sent).await,
                Next::RetryAfter { delay, counted } => {
                    if self.wait_to_resend(delay).await {
                        return Some(counted);
                    }
                    break;
                }
                Next::Resend => {
                    // Back into the pipeline (a row in doubt gave its
                    // place up), then a pacing slot.
                    let ready = match self.slot {
                        Some(_) => self.shared.paced().await,
                        None => {
                            self.slot = self.shared.slot().await;
                            self.slot.is_some()
                        }
                    };
                    if ready {
                        return Some(true);
                    }
                    break;
                }
            }
        }
        self.leave_pending();
        None
    }

    /// Counts a new attempt; true when it is the run's first request.
    fn count_attempt(&mut self) -> bool {
        // Read from a file that may say anything (u32::MAX).
        self.row.attempts = self.row.attempts.saturating_add(1);
        self.row.sends = self.row.sends.saturating_add(1);
        self.row.sends == 1 && self.shared.dialled.fetch_add(1, Relaxed) == 0
    }

    /// Makes sure a durable intent at most `max_intent_age` old stands
    /// behind the send, and an in-flight permit is held: the intent is
    /// written before the permit is waited for (so fsyncs overlap with
    /// requests), and written again if that wait outlasted its age.
    async fn refresh_intent(&mut self) -> Intent {
        let shared = self.shared;
        let max_age = shared.settings.max_intent_age;
        let mut written: Option<Instant> = None;
        loop {
            if shared.stop.is_cancelled() {
                return Intent::Stopping;
            }
            if written.is_none_or(|at| at.elapsed() > max_age) {
                let intent = self.record(Status::Dispatching);
                let intent_at = intent.updated_at.clone();
                if let Err(e) = shared.appender.append_durable(intent).await {
                    // Every worker waiting on the failed write gets this
                    // error; the run's `error:` line says it, once.
                    tracing::debug!("{e}; no request is sent without its intent on disk");
                    shared.stop_with(StopReason::WriteFailed);
                    return Intent::WriteFailed;
                }
                self.row.open_intent = true;
                self.row.intent_at = intent_at.to_string();
                written = Some(Instant::now());
            }
            if self.permit.is_none() {
                match shared.permit().await {
                    Some(p) => self.permit = Some(p),
                    None => return Intent::Stopping,
                }
            }
            // A 429 paused everyone after this row took its pacing slot.
            if let Some(until) = shared.pacer.held_until(Instant::now())
                && !shared
                    .sleep(until.saturating_duration_since(Instant::now()))
                    .await
            {
                return Intent::Stopping;
            }
            if written.is_some_and(|at| at.elapsed() <= max_age) {
                return Intent::Ready;
            }
        }
    }

    /// Sends the request and hands its classified answer to its handler.
    async fn send(&mut self) -> Next {
        let shared = self.shared;
        Stats::add(&shared.stats.in_flight, 1);
        let answer = shared.api.create(&self.request).await;
        Stats::sub(&shared.stats.in_flight, 1);
        let target = self.target;
        tracing::debug!(key = %target.key, row = target.row, ?answer, "answer");
        match answer {
            Answer::Created {
                http_status,
                call_id,
                status,
            } => self.on_created(http_status, call_id, status),
            Answer::Rejected {
                http_status,
                message,
            } => self.on_rejected(http_status, message),
            Answer::Fatal {
                http_status,
                message,
                fix,
            } => self.on_fatal(http_status, message, fix.to_string()),
            Answer::Wait {
                http_status,
                retry_after,
                message,
            } => self.on_wait(http_status, retry_after, message),
            Answer::Transient {
                http_status,
                message,
            } => self.on_transient(http_status, message),
            Answer::InDoubt {
                http_status,
                message,
            } => self.on_in_doubt(http_status, message),
        }
    }

    /// Transient failures outlasted their limit: recorded `error` (nothing
    /// was created; a rerun dials the row again).
    pub(super) fn give_up(&mut self) -> Next {
        Stats::add(&self.shared.stats.errors, 1);
        self.settle(Status::Error);
        Next::Done
    }

    pub(super) fn record(&self, status: Status) -> Record {
        self.shared
            .record(self.target, self.job.round, status, &self.row)
    }

    pub(super) fn settle(&self, status: Status) {
        self.shared
            .settle(self.target, self.job.round, status, &self.row);
    }

    fn leave_pending(&self) {
        leave_pending(self.shared, self.target, self.job, &self.row);
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

#[cfg(test)]
mod tests {
    use super::super::fake_api::{FakeApi, Rig, job, last, ours, page, settings, unavailable};
    use super::super::state::lock;
    use super::*;
    use crate::api::RETRY_AFTER_CAP;
    use crate::wire::CallStatus;

    fn created(call_id: &str) -> Answer {
        Answer::Created {
            http_status: 201,
            call_id: call_id.into(),
            status: CallStatus::Queued,
        }
    }

    fn busy_workspace() -> Answer {
        Answer::Wait {
            http_status: 409,
            retry_after: Some(Duration::from_secs(2)),
            message: "concurrency limit reached".into(),
        }
    }

    fn lost() -> Answer {
        Answer::InDoubt {
            http_status: None,
            message: "connection closed before the answer".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_409_then_a_201_resends_under_the_same_key_without_counting_an_attempt() {
        let api = FakeApi::default().creating(vec![busy_workspace(), created("call_1")]);
        let rig = Rig::new(api, settings());
        rig.dial(job("k1")).await;

        let sent = rig.api().sent();
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[0].0.idempotency_key, sent[1].0.idempotency_key);
        // Each send left with its intent on disk.
        for (_, on_disk) in &sent {
            assert_eq!(on_disk, &Some(Status::Dispatching));
        }
        assert_eq!(rig.stat(|s| &s.answers_409), 1);
        assert_eq!(rig.stat(|s| &s.created), 1);
        assert_eq!(rig.stat(|s| &s.done), 1);
        assert_eq!(rig.stat(|s| &s.retrying), 0);
        assert!(!rig.shared.stop.is_cancelled());
        let rec = last(&rig.finish().await, "k1");
        assert_eq!(rec.status, Status::Call(CallStatus::Queued));
        assert_eq!(rec.call_id, "call_1");
        assert_eq!(rec.attempts, 1, "a 409 resend is not an attempt");
        assert_eq!(rec.http_status, Some(201));
        assert_eq!(rec.error, "");
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_answer_is_looked_up_and_the_found_call_adopted_not_resent() {
        let api = FakeApi::default()
            .creating(vec![lost()])
            .listing(vec![Ok(page(vec![ours("call_7", "k1")]))]);
        let rig = Rig::new(api, settings());
        rig.dial(job("k1")).await;

        assert_eq!(rig.api().sent().len(), 1, "a lost answer is never resent");
        assert_eq!(rig.api().lists_asked.load(Relaxed), 1);
        assert_eq!(rig.stat(|s| &s.lost), 1);
        assert_eq!(rig.stat(|s| &s.adopted), 1);
        assert_eq!(rig.stat(|s| &s.in_doubt), 0);
        assert_eq!(rig.stat(|s| &s.done), 1);
        let rec = last(&rig.finish().await, "k1");
        assert_eq!(rec.status, Status::Call(CallStatus::Ringing));
        assert_eq!(rec.call_id, "call_7");
        assert_eq!(rec.attempts, 1);
        assert_eq!(rec.error, "");
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_answer_confirmed_absent_is_sent_again_as_a_new_attempt() {
        // Empty at the first look and again once the list's lag has passed.
        let api = FakeApi::default()
            .creating(vec![lost(), created("call_2")])
            .listing(vec![Ok(page(vec![])), Ok(page(vec![]))]);
        let rig = Rig::new(api, settings());
        rig.dial(job("k1")).await;

        assert_eq!(rig.api().lists_asked.load(Relaxed), 2);
        let sent = rig.api().sent();
        assert_eq!(sent.len(), 2);
        // The resend left under a fresh intent, not the in-doubt record.
        assert_eq!(sent[1].1, Some(Status::Dispatching));
        assert_eq!(rig.stat(|s| &s.in_doubt), 0);
        let rec = last(&rig.finish().await, "k1");
        assert_eq!(rec.status, Status::Call(CallStatus::Queued));
        assert_eq!(rec.call_id, "call_2");
        assert_eq!(rec.attempts, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_answer_nobody_can_vouch_for_stays_in_doubt() {
        // The list stays unavailable however often it is asked for.
        let tries = super::super::state::LOOKUP_TRIES;
        let api = FakeApi::default()
            .creating(vec![lost()])
            .listing((0..tries).map(|_| Err(unavailable())).collect());
        let rig = Rig::new(api, settings());
        rig.dial(job("k1")).await;

        assert_eq!(rig.api().sent().len(), 1, "never sent again blind");
        assert_eq!(rig.api().lists_asked.load(Relaxed), tries, "asked again");
        assert_eq!(rig.stat(|s| &s.in_doubt), 1);
        let rec = last(&rig.finish().await, "k1");
        assert_eq!(rec.status, Status::InDoubt);
        assert!(rec.error.contains("list unavailable"), "{}", rec.error);
    }

    #[tokio::test(start_paused = true)]
    async fn a_401_stops_the_run_leaves_the_row_pending_and_nothing_more_is_sent() {
        let api = FakeApi::default().creating(vec![
            Answer::Fatal {
                http_status: 401,
                message: "invalid API key".into(),
                fix: "check DIALNEXA_API_KEY",
            },
            created("never"),
        ]);
        let rig = Rig::new(api, settings());
        rig.dial(job("k1")).await;
        assert!(rig.shared.stop.is_cancelled());
        // The run is stopping: a row after it is not sent.
        let second = tokio::spawn(dial(
            rig.shared.clone(),
            job("k2"),
            rig.shared
                .ahead
                .clone()
                .try_acquire_owned()
                .expect("a place"),
        ));
        second.await.expect("the second dial");

        assert_eq!(rig.api().sent().len(), 1);
        assert_eq!(
            *lock(&rig.shared.reason),
            Some(StopReason::Fatal {
                http_status: Some(401),
                message: "invalid API key".into(),
                fix: "check DIALNEXA_API_KEY".into(),
            })
        );
        assert_eq!(rig.stat(|s| &s.done), 0);
        let table = rig.finish().await;
        let rec = last(&table, "k1");
        assert_eq!(rec.status, Status::Pending, "a rerun dials it");
        assert_eq!(rec.http_status, Some(401));
        assert_eq!(rec.error, "invalid API key");
        assert!(table.get("k2").is_none(), "k2 had no intent to take back");
    }

    #[tokio::test(start_paused = true)]
    async fn server_errors_give_up_as_error_after_max_attempts() {
        let failing = || Answer::Transient {
            http_status: Some(503),
            message: "service unavailable".into(),
        };
        let api = FakeApi::default().creating(vec![failing(), failing(), failing()]);
        let rig = Rig::new(api, settings());
        rig.dial(job("k1")).await;

        assert_eq!(rig.api().sent().len(), 3);
        assert_eq!(rig.stat(|s| &s.transient), 3);
        assert_eq!(rig.stat(|s| &s.errors), 1);
        let rec = last(&rig.finish().await, "k1");
        assert_eq!(rec.status, Status::Error);
        assert_eq!(rec.attempts, 3);
        assert!(
            rec.error.starts_with("gave up after 3 attempts"),
            "{}",
            rec.error
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_number_on_a_do_not_call_list_is_never_sent() {
        let mut settings = settings();
        let mut targets = crate::dispatch::Targets::default();
        let mut listed = super::super::fake_api::target("k1");
        listed.listed = true;
        targets.push(listed, None);
        settings.targets = Arc::new(targets);
        let rig = Rig::new(FakeApi::default(), settings);
        rig.dial(job("k1")).await;

        assert!(rig.api().sent().is_empty());
        let rec = last(&rig.finish().await, "k1");
        assert_eq!(rec.status, Status::Suppressed);
    }

    fn told_to_wait_10_minutes() -> Answer {
        Answer::Wait {
            http_status: 429,
            // As the API client gives a Retry-After cut to its cap.
            retry_after: Some(RETRY_AFTER_CAP),
            message: "Too many requests".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_api_that_keeps_asking_to_wait_stops_the_run_at_the_budget_with_the_row_saved() {
        let api = FakeApi::default().creating(vec![
            told_to_wait_10_minutes(),
            told_to_wait_10_minutes(),
            told_to_wait_10_minutes(),
            told_to_wait_10_minutes(),
            created("never"),
        ]);
        let rig = Rig::new(api, settings());
        rig.dial(job("k1")).await;

        // 3 x 600 s fill the 30 min budget; the 4th wait would pass it.
        assert_eq!(rig.api().sent().len(), 4);
        assert_eq!(
            *lock(&rig.shared.reason),
            Some(StopReason::WaitedTooLong {
                http_status: 429,
                waited: Duration::from_secs(1800),
                budget: crate::dispatch::RETRY_AFTER_BUDGET,
            })
        );
        let notes = lock(&rig.shared.reason).clone().expect("a reason").notes();
        assert!(
            notes[0].starts_with("stopped: the API kept asking to wait (HTTP 429"),
            "{notes:?}"
        );
        let rec = last(&rig.finish().await, "k1");
        assert_eq!(rec.status, Status::Pending, "a rerun dials it");
        assert_eq!(rec.http_status, Some(429));
    }

    #[tokio::test(start_paused = true)]
    async fn rows_told_to_wait_at_once_count_once_against_the_retry_after_budget() {
        let rig = Rig::new(FakeApi::default(), settings());
        let ten = Duration::from_secs(600);
        assert_eq!(rig.shared.count_retry_after(429, ten), Ok(ten));
        // A second row told the same at the same moment adds nothing.
        assert_eq!(rig.shared.count_retry_after(429, ten), Ok(Duration::ZERO));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(
            rig.shared.count_retry_after(409, ten),
            Ok(Duration::from_secs(60))
        );
        assert_eq!(rig.shared.retry_after_waited(), Duration::from_secs(660));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_id_returned_for_a_second_row_marks_both_rows_in_doubt() {
        let api = FakeApi::default().creating(vec![created("call_1"), created("call_1")]);
        let mut settings = settings();
        let mut targets = crate::dispatch::Targets::default();
        let mut k2 = super::super::fake_api::target("k2");
        k2.row = 3;
        k2.to_number = "+16505550198".into();
        targets.push(super::super::fake_api::target("k1"), None);
        targets.push(k2, None);
        settings.targets = Arc::new(targets);
        let rig = Rig::new(api, settings);
        rig.dial(job("k1")).await;
        rig.dial(job("k2")).await;

        assert!(rig.shared.disputed("call_1"), "no longer polled");
        assert_eq!(rig.stat(|s| &s.in_doubt), 2);
        let table = rig.finish().await;
        let (first, again) = (last(&table, "k1"), last(&table, "k2"));
        for (rec, other) in [(&first, "row 3 (key k2)"), (&again, "row 2 (key k1)")] {
            assert_eq!(rec.status, Status::InDoubt, "{rec:?}");
            assert_eq!(rec.call_id, "call_1", "the call_id is kept");
            assert!(rec.error.contains(other), "{}", rec.error);
        }
        assert_eq!(first.to_number, "+16505550199");
        assert_eq!(again.to_number, "+16505550198");
        assert!(!first.updated_at.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_same_call_id_found_again_for_the_same_row_is_not_a_dispute() {
        let api = FakeApi::default()
            .creating(vec![lost()])
            .listing(vec![Ok(page(vec![ours("call_7", "k1")]))]);
        let rig = Rig::new(api, settings());
        let row = RowState::default();
        let k1 = super::super::fake_api::target("k1");
        assert!(rig.shared.claim("call_7", 0, &k1, 1, &row).is_none());
        rig.dial(job("k1")).await;
        assert!(!rig.shared.disputed("call_7"));
        assert_eq!(last(&rig.finish().await, "k1").call_id, "call_7");
    }
}
