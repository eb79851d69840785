//! Outcome polling: watching calls not yet terminal until each ends,
//! recording the final status, `end_reason` and `duration_s`. By default
//! the calls are watched by list pages ([`super::sync`]); what a sighting
//! does to a call (a changed status recorded, an ending recorded with its
//! redial, a live-call place given back) is decided here, once, for both.
//! The per-call poller below (`GET /v1/calls/{id}` per call) is what the
//! sync falls back to for one call, and as a whole is reachable with
//! `CALLPLAN_POLL=per-call` for benchmarks that compare the two.
//!
//! The per-call poller: one task owns a queue of calls ordered by when each is next due. Each
//! poll takes an in-flight permit and a pacing slot from the same limiter
//! and pacer as the dials, so dials and polls together never exceed the
//! plan's rate. A call is polled at most once per [`MIN_INTERVAL`]. A
//! record is appended only when a call's status changes (the log stays
//! small; compaction keeps the last). A call polled to an ending the plan
//! redials gets its next round's time in `next_at` and, when the run waits,
//! is dialled again then. The task ends once dialling is over and no call
//! is left to watch, or when the run stops (the rows keep their last known
//! status and `callplan track` takes over).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::calls_api::CallsApi;
use super::counters::Stats;
use super::job::{Job, Tracked};
use super::state::{Shared, StopReason, stopped};
use crate::api::LookupError;
use crate::wire::{Call, CallStatus};

/// No call is polled more often than this.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// The default time between two polls of one call.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// Polls in a row of a call whose status word is unknown (so whose end
/// cannot be told) before it is left as it is.
pub const UNKNOWN_POLLS: u32 = 12;

/// Failed polls in a row of one call before it is left to a later
/// `callplan track`.
pub const FAILED_POLLS: u32 = 10;

/// How outcomes are watched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollBy {
    /// List pages per caller ID ([`super::sync`]): the default.
    List,
    /// `GET /v1/calls/{id}` per call: the old poller, kept reachable for
    /// benchmarks as `CALLPLAN_POLL=per-call`.
    PerCall,
}

impl PollBy {
    /// `CALLPLAN_POLL=per-call` picks the per-call poller (for benchmarks
    /// that compare the two); anything else, or nothing, lists.
    pub fn from_env() -> PollBy {
        match std::env::var("CALLPLAN_POLL").as_deref() {
            Ok("per-call") => PollBy::PerCall,
            _ => PollBy::List,
        }
    }
}

/// A call being watched, with its counters.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) call: Tracked,
    /// Polls in a row that read an unknown status word.
    unknown: u32,
    /// Polls in a row that failed.
    failed: u32,
}

impl Entry {
    pub(super) fn new(call: Tracked) -> Entry {
        Entry {
            call,
            unknown: 0,
            failed: 0,
        }
    }
}

/// What becomes of a call after one of its polls.
#[derive(Debug)]
pub(super) enum Watch {
    /// Poll it again later.
    Again(Entry),
    /// It ended, or is no longer watched.
    LetGo,
    /// The key or workspace was refused: the run stops.
    Stop,
}

/// The poller's inbox and its end signal.
pub(super) struct Poller {
    pub(super) tx: mpsc::UnboundedSender<Tracked>,
    pub(super) rx: mpsc::UnboundedReceiver<Tracked>,
    /// Cancelled once no new call can come (dialling is over).
    pub(super) closed: CancellationToken,
}

impl Poller {
    pub(super) fn new() -> Poller {
        let (tx, rx) = mpsc::unbounded_channel();
        Poller {
            tx,
            rx,
            closed: CancellationToken::new(),
        }
    }
}

/// Calls being watched, by when each is next due.
#[derive(Default)]
struct Queue {
    due: BinaryHeap<Reverse<(Instant, u64)>>,
    /// Every call watched, including those being polled now.
    entries: rustc_hash::FxHashMap<u64, Entry>,
    next_id: u64,
}

impl Queue {
    fn add(&mut self, call: Tracked, due: Instant) {
        let id = self.next_id;
        self.next_id += 1;
        self.put_back(id, Entry::new(call), due);
    }

    fn put_back(&mut self, id: u64, entry: Entry, due: Instant) {
        self.entries.insert(id, entry);
        self.due.push(Reverse((due, id)));
    }

    /// The next call due by `now`: its id and call_id.
    fn pop_due(&mut self, now: Instant) -> Option<(u64, String)> {
        while let Some(Reverse((due, id))) = self.due.peek().copied()
            && due <= now
        {
            self.due.pop();
            if let Some(entry) = self.entries.get(&id) {
                return Some((id, entry.call.call_id.clone()));
            }
        }
        None
    }

    fn next_due(&self) -> Option<Instant> {
        self.due.peek().map(|Reverse((due, _))| *due)
    }

    fn take(&mut self, id: u64) -> Option<Entry> {
        self.entries.remove(&id)
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

type Polls = JoinSet<(u64, Result<Call, LookupError>)>;

/// Watches until every call is terminal and `closed` is cancelled, or the
/// run stops: by list pages unless the settings say per call.
pub(super) async fn run<A: CallsApi>(
    shared: Arc<Shared<A>>,
    rx: mpsc::UnboundedReceiver<Tracked>,
    closed: CancellationToken,
    every: Duration,
) {
    let every = every.max(MIN_INTERVAL);
    match shared.settings.poll_by {
        PollBy::List => super::sync::run(shared, rx, closed, every).await,
        PollBy::PerCall => run_per_call(shared, rx, closed, every).await,
    }
}

/// The per-call poller: each call read on its own every `every`.
async fn run_per_call<A: CallsApi>(
    shared: Arc<Shared<A>>,
    mut rx: mpsc::UnboundedReceiver<Tracked>,
    closed: CancellationToken,
    every: Duration,
) {
    let mut queue = Queue::default();
    let mut polls = Polls::new();
    loop {
        if shared.stop.is_cancelled() {
            break;
        }
        start_due_polls(&shared, &mut queue, &mut polls);
        if closed.is_cancelled() && !shared.settings.wait {
            break;
        }
        if queue.is_empty() && polls.is_empty() && closed.is_cancelled() {
            // Anything sent before `closed` is in the channel already.
            match rx.try_recv() {
                Ok(call) => {
                    queue.add(call, Instant::now());
                    continue;
                }
                Err(_) => break,
            }
        }
        let next_due = queue.next_due();
        tokio::select! {
            biased;
            _ = shared.stop.cancelled() => break,
            Some(call) = rx.recv() => queue.add(call, Instant::now() + every),
            Some(res) = polls.join_next(), if !polls.is_empty() => {
                let Ok((id, answer)) = res else { continue };
                let Some(entry) = queue.take(id) else { continue };
                match on_answer(&shared, entry, answer) {
                    Watch::Again(entry) => queue.put_back(id, entry, Instant::now() + every),
                    Watch::LetGo => {}
                    Watch::Stop => break,
                }
            }
            _ = sleep_until(next_due) => {}
            _ = closed.cancelled(), if !closed.is_cancelled() => {}
        }
    }
    polls.abort_all();
    while polls.join_next().await.is_some() {}
}

/// Starts the polls that are due, as many at once as the run's concurrency.
fn start_due_polls<A: CallsApi>(shared: &Arc<Shared<A>>, queue: &mut Queue, polls: &mut Polls) {
    let max_parallel = shared.settings.concurrency.max(1) as usize;
    let now = Instant::now();
    while polls.len() < max_parallel
        && let Some((id, call_id)) = queue.pop_due(now)
    {
        let shared = shared.clone();
        polls.spawn(async move {
            let Some(_permit) = shared.gate().await else {
                return (id, Err(stopped()));
            };
            Stats::add(&shared.stats.in_flight, 1);
            let answer = shared.api.get(&call_id).await;
            Stats::sub(&shared.stats.in_flight, 1);
            (id, answer)
        });
    }
}

/// Acts on one poll's answer (a single read or a list's sighting).
pub(super) fn on_answer<A: CallsApi>(
    shared: &Arc<Shared<A>>,
    entry: Entry,
    answer: Result<Call, LookupError>,
) -> Watch {
    match answer {
        Ok(call) => on_call(shared, entry, &call),
        Err(err) if err.fatal => {
            shared.stop_with(StopReason::Fatal {
                http_status: err.http_status,
                message: err.message,
                fix: "check the API key and the workspace (a call could not be read)".into(),
            });
            Watch::Stop
        }
        Err(err) => on_failed_poll(shared, entry, &err),
    }
}

/// A call was read: an ending is recorded (with its redial, if any), a
/// changed status is recorded, an unknown word is watched a while.
fn on_call<A: CallsApi>(shared: &Arc<Shared<A>>, mut entry: Entry, call: &Call) -> Watch {
    if shared.disputed(&entry.call.call_id) {
        // Given to two rows: both are in doubt, neither row's outcome.
        let_go(shared, &entry);
        return Watch::LetGo;
    }
    entry.failed = 0;
    let status = CallStatus::parse(&call.status);
    if status.is_terminal() {
        record_end(shared, &entry.call, call, status);
        Stats::add(&shared.stats.ended, 1);
        let_go(shared, &entry);
        return Watch::LetGo;
    }
    if status != entry.call.status {
        shared
            .appender
            .append(shared.sent_as(entry.call.record(call, status.clone())));
    }
    if matches!(status, CallStatus::Other(_)) {
        entry.unknown += 1;
        if entry.unknown >= UNKNOWN_POLLS {
            tracing::warn!(key = %entry.call.key, call_id = %entry.call.call_id,
                "status {:?} is not one callplan knows; left as it is (`callplan track` looks again)",
                status.as_str());
            let_go(shared, &entry);
            return Watch::LetGo;
        }
    } else {
        entry.unknown = 0;
    }
    entry.call.status = status;
    Watch::Again(entry)
}

/// Records how a call ended; an ending the plan redials gets the next
/// round's time in `next_at`, and is dialled then when the run waits.
fn record_end<A: CallsApi>(
    shared: &Arc<Shared<A>>,
    tracked: &Tracked,
    call: &Call,
    status: CallStatus,
) {
    let now = shared.settings.clock.now();
    let ended = call
        .ended_at
        .as_deref()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .filter(|t| *t <= now)
        .unwrap_or(now);
    keep_outcome(shared, tracked, call);
    let due = shared.next_due(&tracked.key, &status, tracked.round, ended);
    let mut rec = shared.sent_as(tracked.record(call, status));
    if let Some(due) = due {
        rec.next_at = crate::text::format_ts(due).into();
        if shared.settings.wait
            && !shared.settings.track_only
            && let Some(target) = shared.settings.targets.find(&tracked.key)
        {
            shared.schedule_redial(due, Job::new(target, tracked.round + 1, 0));
        }
    }
    shared.appender.append(rec);
}

/// Keeps what an ended call learned (summary, analysis, transcript...) in
/// the post-call store beside the results file, once per call, fsynced
/// before the ending is recorded: a crash loses nothing already fetched.
/// A failed write is a warning, not a stop: the outcome itself is in the
/// results file, and `track` cannot fetch an ended call's data again.
pub(super) fn keep_outcome<A: CallsApi>(shared: &Shared<A>, tracked: &Tracked, call: &Call) {
    let Some(store) = &shared.settings.outcomes else {
        return;
    };
    if let Err(e) = store.keep(&tracked.key, tracked.round, &tracked.call_id, call) {
        tracing::warn!(key = %tracked.key, call_id = %tracked.call_id,
            "could not keep the call's post-call data in {}: {e}", store.path().display());
    }
}

/// A poll failed: asked again later, unless it failed too often or the API
/// does not know the call.
fn on_failed_poll<A: CallsApi>(shared: &Shared<A>, mut entry: Entry, err: &LookupError) -> Watch {
    entry.failed += 1;
    // 404: this API does not know the call (a rehearsal's call asked of a
    // new sandbox, or another base URL); asking again cannot help.
    if entry.failed >= FAILED_POLLS || err.http_status == Some(404) {
        tracing::warn!(key = %entry.call.key, call_id = %entry.call.call_id,
            "could not read the call {} times in a row ({err}); left as it is (`callplan track` looks again)",
            entry.failed);
        let_go(shared, &entry);
        return Watch::LetGo;
    }
    Watch::Again(entry)
}

/// Stops watching a call, giving back its live-call place.
fn let_go<A: CallsApi>(shared: &Shared<A>, entry: &Entry) {
    shared.untrack();
    if entry.call.holds_slot {
        shared.release_active();
    }
}

pub(super) async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake_api::{FakeApi, Rig, call, last, settings, target};
    use super::super::settings::{Now, Settings};
    use super::*;
    use crate::redial::{Redial, RedialSpec};
    use crate::results::Status;
    use std::sync::atomic::Ordering::Relaxed;

    fn at(s: &str) -> jiff::Timestamp {
        s.parse().expect("a timestamp")
    }

    /// A run that waits for outcomes and redials no_answer once after 1 h.
    fn redialling(now: jiff::Timestamp) -> Settings {
        let mut settings = settings();
        settings.poll_every = Some(Duration::from_secs(5));
        settings.wait = true;
        settings.poll_by = PollBy::PerCall;
        settings.redial = Some(
            Redial::from_spec(&RedialSpec {
                on: vec!["no_answer".into()],
                max: 1,
                after: "1h".into(),
            })
            .expect("a redial rule"),
        );
        settings.clock = Now(Arc::new(crate::clock::ManualClock::new(now)));
        let mut targets = super::super::Targets::default();
        targets.push(target("k1"), None);
        targets.index_keys();
        settings.targets = Arc::new(targets);
        settings
    }

    fn ringing(key: &str) -> Tracked {
        Tracked {
            key: key.into(),
            row: 2,
            to_number: "+16505550199".into(),
            from_number: "+14155550100".into(),
            agent_version_id: "av_1".into(),
            round: 1,
            call_id: "call_1".into(),
            attempts: 1,
            http_status: Some(201),
            status: CallStatus::Ringing,
            holds_slot: false,
            seen_at: None,
        }
    }

    /// Polls every call the rig's calls handed over until the poller ends.
    async fn poll_to_the_end(rig: &mut Rig, calls: Vec<Tracked>) {
        for call in calls {
            rig.shared.track(call);
        }
        let rx = rig.poll_rx.take().expect("a polling run");
        let closed = CancellationToken::new();
        // Dialling is over: only the calls handed over are left.
        closed.cancel();
        let every = rig.shared.settings.poll_every.expect("polling");
        run(rig.shared.clone(), rx, closed, every).await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_polled_to_no_answer_with_a_redial_rule_gets_its_next_round_due() {
        let now = at("2026-06-01T15:00:00Z");
        let ended = Call {
            ended_at: Some("2026-06-01T14:59:00Z".into()),
            end_reason: Some("no one picked up".into()),
            duration_s: Some(0.0),
            ..call("call_1", "no_answer")
        };
        let api = FakeApi::default().getting(vec![Ok(call("call_1", "ringing")), Ok(ended)]);
        let mut rig = Rig::new(api, redialling(now));
        poll_to_the_end(&mut rig, vec![ringing("k1")]).await;

        assert_eq!(
            rig.api().gets_asked.load(Relaxed),
            2,
            "polled until it ended"
        );
        assert_eq!(rig.stat(|s| &s.ended), 1);
        assert_eq!(rig.stat(|s| &s.awaiting), 0);
        // The next round comes due an hour after the call ended.
        assert_eq!(rig.stat(|s| &s.redials_waiting), 1);
        let next = rig.redial_rx.recv().await.expect("the next round");
        assert_eq!(next.round, 2);
        assert_eq!(next.attempts, 0);
        assert_eq!(next.target, 0, "k1");
        assert_eq!(rig.shared.settings.clock.now(), now, "no real time passed");
        let rec = last(&rig.finish().await, "k1");
        assert_eq!(rec.status, Status::Call(CallStatus::NoAnswer));
        assert_eq!(rec.next_at, "2026-06-01T15:59:00Z");
        assert_eq!(rec.end_reason, "no one picked up");
        assert_eq!(rec.duration_s, "0");
        assert_eq!(rec.call_id, "call_1");
    }

    #[tokio::test(start_paused = true)]
    async fn a_completed_call_is_not_redialled() {
        let now = at("2026-06-01T15:00:00Z");
        let api = FakeApi::default().getting(vec![Ok(call("call_1", "completed"))]);
        let mut rig = Rig::new(api, redialling(now));
        poll_to_the_end(&mut rig, vec![ringing("k1")]).await;

        assert_eq!(rig.stat(|s| &s.redials_waiting), 0);
        assert!(rig.redial_rx.try_recv().is_err());
        let rec = last(&rig.finish().await, "k1");
        assert_eq!(rec.status, Status::Call(CallStatus::Completed));
        assert_eq!(rec.next_at, "");
    }

    #[tokio::test(start_paused = true)]
    async fn a_401_while_polling_stops_the_run() {
        let refused = LookupError {
            http_status: Some(401),
            message: "invalid API key".into(),
            fatal: true,
        };
        let api = FakeApi::default().getting(vec![Err(refused)]);
        let mut rig = Rig::new(api, redialling(at("2026-06-01T15:00:00Z")));
        poll_to_the_end(&mut rig, vec![ringing("k1")]).await;

        assert!(rig.shared.stop.is_cancelled());
        let reason = rig.shared.reason.lock().unwrap().clone();
        assert!(
            matches!(
                reason,
                Some(StopReason::Fatal {
                    http_status: Some(401),
                    ..
                })
            ),
            "{reason:?}"
        );
        assert!(
            rig.finish().await.get("k1").is_none(),
            "nothing new was learnt"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_the_api_does_not_know_is_let_go_after_one_404() {
        let unknown = LookupError {
            http_status: Some(404),
            message: "call not found".into(),
            fatal: false,
        };
        let api = FakeApi::default().getting(vec![Err(unknown)]);
        let mut rig = Rig::new(api, redialling(at("2026-06-01T15:00:00Z")));
        poll_to_the_end(&mut rig, vec![ringing("k1")]).await;

        assert_eq!(rig.api().gets_asked.load(Relaxed), 1);
        assert!(!rig.shared.stop.is_cancelled());
        assert_eq!(rig.stat(|s| &s.awaiting), 0);
        assert_eq!(rig.stat(|s| &s.ended), 0);
    }
}
