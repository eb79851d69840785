//! Client-side pacing: requests leave at a steady rate, never in bursts.
//!
//! A reservation scheduler (GCRA): each send reserves the next free slot,
//! `period` after the previous one, and sleeps until it. A slot may lag
//! `now` by at most [`TOLERANCE`], which absorbs the timer's millisecond
//! granularity at high rates without allowing a burst at low ones (at 5/s a
//! 10 ms tolerance never lets two requests out together). It runs on
//! tokio's clock, so tests pause time instead of waiting; governor's own
//! timer does not, which is why it is not used here.
//!
//! Every step is total: a rate too small for a timer gives the longest
//! period that fits ([`MAX_PERIOD`]) and slot arithmetic saturates, so a
//! value that slipped past the plan's bounds (`crate::bounds`) waits long
//! instead of panicking.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How far behind `now` a reserved slot may be.
pub const TOLERANCE: Duration = Duration::from_millis(10);

/// The longest gap between two sends (a year): far past any bound, and
/// small enough that `now + period` fits tokio's clock.
pub const MAX_PERIOD: Duration = Duration::from_secs(365 * 86_400);

/// Spaces requests `1 / rate` apart; shared by every worker.
#[derive(Debug)]
pub struct Pacer {
    period: Duration,
    next: Mutex<Instant>,
    /// End of the latest [`Pacer::pause_until`]: rows that took their slot
    /// before the pause honour it too ([`Pacer::held_until`]).
    hold: Mutex<Option<Instant>>,
}

impl Pacer {
    /// `rate_per_second` <= 0, NaN or infinite means no pacing.
    pub fn new(rate_per_second: f64) -> Pacer {
        let period = if rate_per_second.is_finite() && rate_per_second > 0.0 {
            Duration::try_from_secs_f64(1.0 / rate_per_second)
                .map_or(MAX_PERIOD, |p| p.min(MAX_PERIOD))
        } else {
            Duration::ZERO
        };
        Pacer {
            period,
            next: Mutex::new(Instant::now()),
            hold: Mutex::new(None),
        }
    }

    /// Reserves the next slot and returns when it starts.
    pub fn reserve(&self, now: Instant) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let floor = now.checked_sub(TOLERANCE).unwrap_or(now);
        let at = (*next).max(floor);
        *next = saturating_add(at, self.period);
        at
    }

    /// Waits for this caller's slot.
    pub async fn ready(&self) {
        let at = self.reserve(Instant::now());
        if at > Instant::now() {
            tokio::time::sleep_until(at).await;
        }
    }

    /// Holds every send until `until` (a 429's `Retry-After` applies to the
    /// whole key, not to one row).
    pub fn pause_until(&self, until: Instant) {
        {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            if *next < until {
                *next = until;
            }
        }
        let mut hold = self.hold.lock().unwrap_or_else(|e| e.into_inner());
        if hold.is_none_or(|h| h < until) {
            *hold = Some(until);
        }
    }

    /// When a pause is in force, its end: a send already paced must still
    /// wait for it.
    pub fn held_until(&self, now: Instant) -> Option<Instant> {
        let hold = self.hold.lock().unwrap_or_else(|e| e.into_inner());
        hold.filter(|h| *h > now)
    }
}

/// `at + d`, or the latest instant reachable from `at` when that overflows
/// the clock (a year at a time, then not at all).
pub fn saturating_add(at: Instant, d: Duration) -> Instant {
    at.checked_add(d)
        .or_else(|| at.checked_add(d.min(MAX_PERIOD)))
        .unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[tokio::test(start_paused = true)]
    async fn sends_are_evenly_spaced() {
        let p = Pacer::new(5.0);
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..6 {
            p.ready().await;
            at.push(Instant::now() - start);
        }
        let gaps: Vec<u128> = at.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
        assert_eq!(gaps, [200, 200, 200, 200, 200], "{at:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn no_burst_after_idle() {
        let p = Pacer::new(5.0);
        tokio::time::sleep(Duration::from_secs(10)).await;
        let start = Instant::now();
        p.ready().await;
        p.ready().await;
        assert!(Instant::now() - start >= Duration::from_millis(190));
    }

    #[tokio::test(start_paused = true)]
    async fn many_workers_share_the_rate() {
        let p = std::sync::Arc::new(Pacer::new(100.0));
        let start = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let p = p.clone();
            set.spawn(async move { p.ready().await });
        }
        while set.join_next().await.is_some() {}
        let took = Instant::now() - start;
        assert!(
            took >= Duration::from_millis(480) && took <= Duration::from_millis(500),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn pause_holds_everyone() {
        let p = Pacer::new(1000.0);
        let start = Instant::now();
        assert_eq!(p.held_until(start), None);
        p.pause_until(start + Duration::from_secs(2));
        assert_eq!(p.held_until(start), Some(start + Duration::from_secs(2)));
        p.ready().await;
        assert!(Instant::now() - start >= Duration::from_secs(2));
        assert_eq!(p.held_until(Instant::now()), None);
    }

    #[test]
    fn unlimited_never_waits() {
        let p = Pacer::new(0.0);
        let now = Instant::now();
        for _ in 0..1000 {
            assert!(p.reserve(now) <= now);
        }
        let p = Pacer::new(f64::NAN);
        let now = Instant::now();
        assert!(p.reserve(now) <= now);
    }

    #[test]
    fn rates_too_small_for_a_timer_give_the_longest_period() {
        for rate in [1e-300, 1e-19, f64::MIN_POSITIVE, 5e-324] {
            let p = Pacer::new(rate);
            assert_eq!(p.period, MAX_PERIOD, "{rate}");
            let now = Instant::now();
            assert!(p.reserve(now) <= now, "the first send leaves at once");
            assert!(
                p.reserve(now) > now + Duration::from_secs(86_400),
                "the second waits"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// No rate, pause or clock reading panics the pacer, and a slot
        /// never comes before the tolerance allows.
        #[test]
        fn any_rate_and_pause_never_panic_the_pacer(
            rate in proptest::num::f64::ANY,
            pause_s in proptest::num::u64::ANY,
            sends in 1usize..20,
        ) {
            let p = Pacer::new(rate);
            let now = Instant::now();
            p.pause_until(saturating_add(now, Duration::from_secs(pause_s)));
            let mut last = None;
            for _ in 0..sends {
                let at = p.reserve(now);
                prop_assert!(at + TOLERANCE >= now);
                if let Some(l) = last {
                    prop_assert!(at >= l);
                }
                last = Some(at);
            }
            let _ = p.held_until(now);
        }

        #[test]
        fn saturating_add_never_panics_and_never_goes_back(
            secs in proptest::num::u64::ANY,
            nanos in 0u32..1_000_000_000,
        ) {
            let now = Instant::now();
            prop_assert!(saturating_add(now, Duration::new(secs, nanos)) >= now);
        }
    }
}
