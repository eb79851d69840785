//! Where "now" comes from.
//!
//! Calling windows, redial times and `end_at` all depend on the current
//! instant. Code that needs it takes a [`Clock`] instead of calling
//! `Timestamp::now()`, so the run uses [`SystemClock`] and tests use
//! [`ManualClock`]: a test of a Monday-morning window or of the week clocks
//! change sets the date it needs and never waits for wall-clock time.
//!
//! The commands take theirs from [`clock`]: the system's, or for
//! integration tests an [`OffsetClock`] started at [`TEST_NOW_ENV`]'s
//! instant (a process the test spawns cannot be handed a `ManualClock`).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};

/// A source of the current instant, shared across threads and tasks.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The machine's clock: what a real run uses.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that moves only when told to: tests set it to the instant they
/// need (a Friday evening, the morning of a DST change) and advance it past
/// waits instead of sleeping.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    /// A clock stopped at `start`.
    pub fn new(start: Timestamp) -> ManualClock {
        ManualClock {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock to `at` (backwards too: a test may replay a moment).
    pub fn set(&self, at: Timestamp) {
        *self.lock() = at;
    }

    /// Moves the clock by `by` and returns the new instant. Saturates at
    /// jiff's representable range instead of panicking.
    pub fn advance(&self, by: SignedDuration) -> Timestamp {
        let mut now = self.lock();
        *now = now.checked_add(by).unwrap_or(if by.is_negative() {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        });
        *now
    }

    fn lock(&self) -> MutexGuard<'_, Timestamp> {
        // A Timestamp is always valid, so a panic elsewhere while the lock
        // was held cannot have left it half-written: ignore poisoning.
        self.now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.lock()
    }
}

/// Lets the engine hold an `Arc<dyn Clock>` (or `Arc<ManualClock>` shared
/// with the test that drives it) wherever a `Clock` is expected.
impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Timestamp {
        (**self).now()
    }
}

/// Test-only: an RFC 3339 instant taken as "now" when the command starts
/// (the clock then moves on in real time from there), so integration tests
/// can check calling windows on a chosen date. Not for production use.
pub const TEST_NOW_ENV: &str = "CALLPLAN_TEST_NOW";

/// [`TEST_NOW_ENV`] holds something that is not an instant.
#[derive(Debug, thiserror::Error)]
#[error("{TEST_NOW_ENV}={value:?} is not an RFC 3339 instant (it is for tests only)")]
pub struct BadTestNow {
    pub value: String,
}

/// A clock that starts at a chosen instant and runs in real time: what
/// [`clock`] returns under [`TEST_NOW_ENV`].
#[derive(Debug)]
pub struct OffsetClock {
    base: Timestamp,
    started: Instant,
}

impl OffsetClock {
    /// A clock reading `base` now, and moving on from there.
    pub fn starting_at(base: Timestamp) -> OffsetClock {
        OffsetClock {
            base,
            started: Instant::now(),
        }
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> Timestamp {
        let run = SignedDuration::try_from(self.started.elapsed()).unwrap_or_default();
        self.base.checked_add(run).unwrap_or(self.base)
    }
}

/// The commands' clock: the system's, or [`TEST_NOW_ENV`]'s when it is set
/// and not blank.
pub fn clock() -> Result<Arc<dyn Clock>, BadTestNow> {
    match std::env::var(TEST_NOW_ENV) {
        Ok(v) if !v.trim().is_empty() => {
            let base: Timestamp = v
                .trim()
                .parse()
                .map_err(|_| BadTestNow { value: v.clone() })?;
            Ok(Arc::new(OffsetClock::starting_at(base)))
        }
        _ => Ok(Arc::new(SystemClock)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("test timestamp")
    }

    #[test]
    fn manual_clock_stays_put_until_moved() {
        let clock = ManualClock::new(ts("2026-03-06T22:00:00Z"));
        assert_eq!(clock.now(), ts("2026-03-06T22:00:00Z"));
        assert_eq!(clock.now(), ts("2026-03-06T22:00:00Z"));
        let after = clock.advance(SignedDuration::from_hours(2));
        assert_eq!(after, ts("2026-03-07T00:00:00Z"));
        assert_eq!(clock.now(), after);
        clock.set(ts("2026-01-01T00:00:00Z"));
        assert_eq!(clock.now(), ts("2026-01-01T00:00:00Z"));
    }

    #[test]
    fn manual_clock_saturates_instead_of_panicking() {
        let clock = ManualClock::new(Timestamp::MAX);
        assert_eq!(clock.advance(SignedDuration::MAX), Timestamp::MAX);
        clock.set(Timestamp::MIN);
        assert_eq!(clock.advance(SignedDuration::MIN), Timestamp::MIN);
    }

    #[test]
    fn shared_clock_is_seen_through_arc_dyn() {
        let manual = Arc::new(ManualClock::new(ts("2026-06-01T12:00:00Z")));
        let shared: Arc<dyn Clock> = manual.clone();
        manual.advance(SignedDuration::from_secs(90));
        assert_eq!(shared.now(), ts("2026-06-01T12:01:30Z"));
        let from_thread = std::thread::spawn(move || shared.now())
            .join()
            .expect("thread");
        assert_eq!(from_thread, ts("2026-06-01T12:01:30Z"));
    }

    #[test]
    fn offset_clock_starts_at_its_base_and_moves_forward() {
        let base = ts("2026-06-02T15:00:00Z");
        let clock = OffsetClock::starting_at(base);
        let first = clock.now();
        assert!(
            first >= base && first < ts("2026-06-02T15:01:00Z"),
            "{first}"
        );
        assert!(clock.now() >= first);
    }

    #[test]
    fn system_clock_is_after_2025() {
        assert!(SystemClock.now() > ts("2025-01-01T00:00:00Z"));
    }
}
