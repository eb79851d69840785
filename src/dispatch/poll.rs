//! Outcome polling: `GET /v1/calls/{id}` for calls not yet terminal, until
//! each ends, recording the final status, `end_reason` and `duration_s`.
//!
//! One task owns a queue of calls ordered by when each is next due. Each
//! poll takes an in-flight permit and a pacing slot from the same limiter
//! and pacer as the dials, so dials and polls together never exceed the
//! plan's rate. A call is polled at most once per [`MIN_INTERVAL`]. A
//! record is appended only when a call's status changes (the log stays
//! small; compaction keeps the last). The task ends once dialling is over
//! and no call is left to watch, or when the run stops (the rows keep
//! their last known status and `callplan track` takes over).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Shared, StopReason};
use crate::progress::Stats;
use crate::results::{Record, Status};
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

/// A created call whose outcome is awaited.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracked {
    pub key: String,
    pub row: u64,
    pub to_number: String,
    pub round: u32,
    pub call_id: String,
    pub attempts: u32,
    pub http_status: Option<u16>,
    /// The last status recorded.
    pub status: CallStatus,
    /// Holds a `max_active_calls` place, given back when it ends.
    pub holds_slot: bool,
}

impl Tracked {
    /// A results record that names a call not yet terminal; None otherwise.
    pub fn from_record(r: &Record) -> Option<Tracked> {
        match &r.status {
            Status::Call(s) if !s.is_terminal() && !r.call_id.is_empty() => Some(Tracked {
                key: r.key.clone(),
                row: r.row,
                to_number: r.to_number.clone(),
                round: r.round,
                call_id: r.call_id.clone(),
                attempts: r.attempts,
                http_status: r.http_status,
                status: s.clone(),
                holds_slot: false,
            }),
            _ => None,
        }
    }

    fn record(&self, call: &Call, status: CallStatus) -> Record {
        let mut r = Record::new(
            &self.key,
            self.row,
            &self.to_number,
            self.round,
            Status::Call(status),
        );
        r.call_id = self.call_id.clone();
        r.attempts = self.attempts;
        r.http_status = self.http_status;
        r.end_reason = crate::text::clean_message(call.end_reason.as_deref().unwrap_or(""));
        r.duration_s = call
            .duration_s
            .filter(|d| d.is_finite() && *d >= 0.0)
            .map(|d| format!("{d}"))
            .unwrap_or_default();
        r
    }
}

/// A call in the queue, with its counters.
#[derive(Debug)]
struct Entry {
    call: Tracked,
    unknown: u32,
    failed: u32,
}

/// The poller's inbox and its end signal.
pub(super) struct Poller {
    pub(crate) tx: mpsc::UnboundedSender<Tracked>,
    pub(crate) rx: mpsc::UnboundedReceiver<Tracked>,
    /// Cancelled once no new call can come (dialling is over).
    pub(crate) closed: CancellationToken,
}

impl Poller {
    pub(crate) fn new() -> Poller {
        let (tx, rx) = mpsc::unbounded_channel();
        Poller {
            tx,
            rx,
            closed: CancellationToken::new(),
        }
    }
}

/// Polls until every call is terminal and `closed` is cancelled, or the
/// run stops.
pub(super) async fn run(
    sh: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Tracked>,
    closed: CancellationToken,
    every: Duration,
) {
    let every = every.max(MIN_INTERVAL);
    let mut queue: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut entries: rustc_hash::FxHashMap<u64, Entry> = Default::default();
    let mut next_id: u64 = 0;
    let mut set: JoinSet<(u64, Result<Call, crate::api::LookupError>)> = JoinSet::new();
    let max_parallel = sh.settings.concurrency.max(1) as usize;
    loop {
        if sh.stop.is_cancelled() {
            break;
        }
        // Start the polls that are due.
        let now = Instant::now();
        while set.len() < max_parallel
            && let Some(Reverse((due, id))) = queue.peek().copied()
            && due <= now
        {
            queue.pop();
            let Some(e) = entries.get(&id) else { continue };
            let call_id = e.call.call_id.clone();
            let sh = sh.clone();
            set.spawn(async move {
                let Some(_permit) = sh.gate().await else {
                    return (
                        id,
                        Err(crate::api::LookupError {
                            http_status: None,
                            message: "the run stopped".into(),
                            fatal: false,
                        }),
                    );
                };
                Stats::add(&sh.stats.in_flight, 1);
                let r = sh.client.get_call(&call_id).await;
                Stats::sub(&sh.stats.in_flight, 1);
                (id, r)
            });
        }
        if closed.is_cancelled() && !sh.settings.wait {
            break;
        }
        if entries.is_empty() && set.is_empty() && closed.is_cancelled() {
            // Anything sent before `closed` is in the channel already.
            match rx.try_recv() {
                Ok(t) => {
                    add(&mut entries, &mut queue, &mut next_id, t, Instant::now());
                    continue;
                }
                Err(_) => break,
            }
        }
        let next_due = queue.peek().map(|Reverse((d, _))| *d);
        tokio::select! {
            biased;
            _ = sh.stop.cancelled() => break,
            Some(t) = rx.recv() => {
                add(&mut entries, &mut queue, &mut next_id, t, Instant::now() + every);
            }
            Some(res) = set.join_next(), if !set.is_empty() => {
                let Ok((id, answer)) = res else { continue };
                let Some(mut e) = entries.remove(&id) else { continue };
                match answer {
                    Ok(call) => {
                        e.failed = 0;
                        let status = CallStatus::parse(&call.status);
                        if status.is_terminal() {
                            let now = sh.settings.clock.now();
                            let ended = call
                                .ended_at
                                .as_deref()
                                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                                .filter(|t| *t <= now)
                                .unwrap_or(now);
                            let due = sh.next_due(&e.call.key, &status, e.call.round, ended);
                            let mut rec = e.call.record(&call, status.clone());
                            if let Some(due) = due {
                                rec.next_at = crate::text::format_ts(due);
                                if sh.settings.wait
                                    && !sh.settings.track_only
                                    && let Some((target, _)) = sh.settings.targets.get(&e.call.key)
                                {
                                    sh.schedule_redial(
                                        due,
                                        super::Job {
                                            target: target.clone(),
                                            round: e.call.round + 1,
                                            attempts: 0,
                                            open_intent: false,
                                        },
                                    );
                                }
                            }
                            sh.appender.append(rec);
                        } else if status != e.call.status {
                            sh.appender.append(e.call.record(&call, status.clone()));
                        }
                        if status.is_terminal() {
                            if e.call.holds_slot {
                                sh.release_active();
                            }
                            sh.untrack();
                            Stats::add(&sh.stats.ended, 1);
                            continue;
                        }
                        if matches!(status, CallStatus::Other(_)) {
                            e.unknown += 1;
                            if e.unknown >= UNKNOWN_POLLS {
                                tracing::warn!(key = %e.call.key, call_id = %e.call.call_id,
                                    "status {:?} is not one callplan knows; left as it is (`callplan track` looks again)",
                                    status.as_str());
                                sh.untrack();
                                if e.call.holds_slot {
                                    sh.release_active();
                                }
                                continue;
                            }
                        } else {
                            e.unknown = 0;
                        }
                        e.call.status = status;
                    }
                    Err(err) if err.fatal => {
                        sh.stop_with(StopReason::Fatal {
                            http_status: err.http_status,
                            message: err.message,
                            fix: "check the API key and the workspace (a call could not be read)".into(),
                        });
                        break;
                    }
                    Err(err) => {
                        e.failed += 1;
                        // 404: this API does not know the call (a rehearsal's
                        // call asked of a new sandbox, or another base URL);
                        // asking again cannot help.
                        if e.failed >= FAILED_POLLS || err.http_status == Some(404) {
                            tracing::warn!(key = %e.call.key, call_id = %e.call.call_id,
                                "could not read the call {} times in a row ({err}); left as it is (`callplan track` looks again)",
                                e.failed);
                            sh.untrack();
                            if e.call.holds_slot {
                                sh.release_active();
                            }
                            continue;
                        }
                    }
                }
                queue.push(Reverse((Instant::now() + every, id)));
                entries.insert(id, e);
            }
            _ = sleep_until(next_due) => {}
            _ = closed.cancelled(), if !closed.is_cancelled() => {}
        }
    }
    set.abort_all();
    while set.join_next().await.is_some() {}
}

fn add(
    entries: &mut rustc_hash::FxHashMap<u64, Entry>,
    queue: &mut BinaryHeap<Reverse<(Instant, u64)>>,
    next_id: &mut u64,
    call: Tracked,
    due: Instant,
) {
    let id = *next_id;
    *next_id += 1;
    entries.insert(
        id,
        Entry {
            call,
            unknown: 0,
            failed: 0,
        },
    );
    queue.push(Reverse((due, id)));
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
