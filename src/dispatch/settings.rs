//! How the engine behaves: [`Settings`], frozen before the first request,
//! and [`Now`], the clock calling windows are judged by.
//!
//! Every knob of a run (caps, pacing, retry limits, the lookup timings that
//! keep a resend from ringing someone twice, polling and redials) is one
//! field here, filled by the command from the plan and the flags. The
//! engine never reads the plan or the flags itself.

use std::sync::Arc;
use std::time::Duration;

use super::targets::Targets;

/// The oldest an intent may be when its request leaves (at most; see
/// [`Settings::max_intent_age`]). A row writes its intent before it waits
/// for an in-flight permit (so fsyncs overlap with requests); if the wait
/// was longer, a fresh intent is written first. So every send happens
/// within this of the time on its latest intent, and a run restarting after
/// a crash waits `request timeout + max intent age` from that time before
/// it trusts a lookup.
pub const MAX_INTENT_AGE: Duration = Duration::from_secs(1);

/// How far apart callplan's clock and the API's (or another machine's
/// that wrote the results file) may be: a lookup's list starts this much
/// earlier, and an intent time at most this far in the future is still
/// trusted for a lookup (see `resume`).
pub const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Time a run may spend waiting on the API's `Retry-After` before it stops
/// (exit 3, everything saved). The documented rate limit resets every
/// minute, so a well-paced run waits seconds in all; half an hour is three
/// waits at the 600 s cap, or thirty full rate-limit windows: by then the
/// API is not letting the run through, and the user learns it at once
/// (and can lower the rate, or rerun later) instead of after hours.
pub const RETRY_AFTER_BUDGET: Duration = Duration::from_secs(30 * 60);

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
    /// How long a created call may take to show in the call list
    /// (`api.list_lag_s`): a lookup that finds nothing is taken as "not
    /// created" only when it started at least this long after the request
    /// could last have reached the server; an earlier one is looked again.
    pub list_lag: Duration,
    /// How long the run may wait in all for the API's `Retry-After`
    /// (counted once however many rows wait at the same time); past it the
    /// run stops ([`super::StopReason::WaitedTooLong`]).
    pub retry_after_budget: Duration,
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
    /// Poll created calls this often until each is terminal, and wait for
    /// them before the run ends (`--wait`, `track`); None: fire and forget.
    pub poll_every: Option<Duration>,
    /// How outcomes are watched: list pages, or (for benchmarks,
    /// `CALLPLAN_POLL=per-call`) one read per call.
    pub poll_by: super::poll::PollBy,
    /// Where ended calls' post-call data is kept (the store beside the
    /// results file); None: not kept.
    pub outcomes: Option<Arc<crate::outcomes::Store>>,
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
    /// Every recipient of the run (jobs name them by index), with their
    /// zones and the reader of their cells; keys indexed when the plan
    /// redials or has calling windows.
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

impl Settings {
    /// Defaults for a plan's dispatch section and request timeout.
    /// The request timeout is held to its documented bounds
    /// ([`crate::bounds`]): the plan and the flags are checked before this,
    /// but every timer below adds to it, and none may overflow.
    pub fn new(concurrency: u32, rate: f64, max_attempts: u32, request_timeout: Duration) -> Self {
        let request_timeout = request_timeout.clamp(
            Duration::from_secs_f64(crate::bounds::MIN_TIMEOUT_S),
            Duration::from_secs_f64(crate::bounds::MAX_TIMEOUT_S),
        );
        Settings {
            concurrency: concurrency.max(1),
            rate_per_second: rate,
            max_attempts: max_attempts.max(1),
            lookup_after: request_timeout,
            max_intent_age: (request_timeout / 2).min(MAX_INTENT_AGE),
            // The request may have left up to max_intent_age after its
            // intent and been created any time before its timeout; 300 s
            // more for clocks that disagree.
            lookup_margin: CLOCK_SKEW + request_timeout,
            list_lag: Duration::from_secs_f64(crate::plan::DEFAULT_LIST_LAG_S),
            retry_after_budget: RETRY_AFTER_BUDGET,
            drain: request_timeout + Duration::from_secs(2),
            redial_in_doubt: false,
            backoff_base: Duration::from_millis(250),
            backoff_cap: Duration::from_secs(30),
            aimd_cooldown: Duration::from_millis(500),
            limit: None,
            origin: std::time::Instant::now(),
            poll_every: None,
            poll_by: super::poll::PollBy::from_env(),
            outcomes: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_request_timeout_gives_timers_within_bounds() {
        let max = Duration::from_secs_f64(crate::bounds::MAX_TIMEOUT_S);
        for t in [Duration::ZERO, Duration::from_nanos(1), max, Duration::MAX] {
            let s = Settings::new(1, 1.0, 1, t);
            assert!(s.lookup_after <= max, "{t:?}");
            assert!(s.lookup_after > Duration::ZERO, "{t:?}");
            assert!(s.drain <= max + Duration::from_secs(2), "{t:?}");
            assert!(s.lookup_margin <= CLOCK_SKEW + max, "{t:?}");
            // Added to an instant, as the engine does: no overflow.
            let _ = std::time::Instant::now() + s.drain + s.lookup_margin;
        }
    }
}
