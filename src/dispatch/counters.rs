//! The engine's counters: what a run has done so far, as atomics.
//!
//! The engine (dial tasks, the poller, reconciliation) counts into one
//! shared [`Stats`]; the progress bar and the run's summary only read it.
//! Atomics with relaxed ordering, not a lock: they are counts for people to
//! read, never used to synchronize, and a lock on every answer would be
//! contended by every dial task at once.

use std::sync::atomic::{AtomicU64, Ordering};

/// What the engine has done so far in this run. Counters only grow, except
/// the gauges (`in_flight`, `retrying`, `cap`, `awaiting`, `redials_waiting`).
#[derive(Debug, Default)]
pub struct Stats {
    /// Rows this run will handle: to reconcile plus to dial.
    pub total: AtomicU64,
    /// Rows finished this run, whatever the outcome.
    pub done: AtomicU64,
    /// Calls created (201) this run.
    pub created: AtomicU64,
    /// Calls found by reconciliation and adopted.
    pub adopted: AtomicU64,
    pub rejected: AtomicU64,
    pub errors: AtomicU64,
    /// Rows left in doubt this run.
    pub in_doubt: AtomicU64,
    /// Requests in flight now.
    pub in_flight: AtomicU64,
    /// Rows waiting to send again now (409/429/5xx backoff).
    pub retrying: AtomicU64,
    /// The in-flight cap now (AIMD).
    pub cap: AtomicU64,
    /// 409 answers, 429 answers, transient failures, in-doubt answers.
    pub answers_409: AtomicU64,
    pub answers_429: AtomicU64,
    pub transient: AtomicU64,
    pub lost: AtomicU64,
    /// Created calls whose outcome is being polled now.
    pub awaiting: AtomicU64,
    /// Calls polled to their end this run.
    pub ended: AtomicU64,
    /// Redials waiting for their time now.
    pub redials_waiting: AtomicU64,
}

impl Stats {
    /// Adds to a counter (relaxed: counts, not synchronization).
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
    /// Takes from a gauge.
    pub fn sub(c: &AtomicU64, n: u64) {
        c.fetch_sub(n, Ordering::Relaxed);
    }
    /// Sets a gauge.
    pub fn set(c: &AtomicU64, n: u64) {
        c.store(n, Ordering::Relaxed);
    }
    /// Reads a counter.
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}
