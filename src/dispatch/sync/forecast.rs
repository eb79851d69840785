//! When the outcome sync lists next while its sightings of ends are what
//! the run waits for. A list costs one request however many ends it
//! shows, so a list that shows about [`ENDS_PER_LIST`] ends spends about
//! `1 / ENDS_PER_LIST` requests per call: the budget that fixes how often
//! lists may come, and so how long an ended call holds its place unseen.
//!
//! - While dials wait for a live-call place ([`Forecast::steady`]): ends
//!   come as a stream (every end frees a place that a new call takes), so
//!   lists are spaced evenly, `ENDS_PER_LIST` / the rate of ends seen,
//!   which for a stream gives the shortest wait for a given budget.
//! - While the run waits for its last calls ([`Forecast::next_list`]): no
//!   new call replaces an ended one, so from the lifetimes seen so far,
//!   each call's chance of having ended since its last sighting, and the
//!   list comes once the ends expected reach `ENDS_PER_LIST` (half the
//!   calls, when fewer are left): soon when the last calls are due, late
//!   when they have long to go. A fixed cycle would list as often either
//!   way, and the run's end waits up to a whole cycle for the last one.
//!
//! Pure: times are seconds handed in, so tests need no clock. What it
//! learnt of the API's clock (how far its `created_at` lies from our own
//! record of a creation) is here too, to keep list windows small.

use std::collections::VecDeque;
use std::time::Duration;

/// Ends a list is expected to show, when the forecast picks its time.
pub const ENDS_PER_LIST: f64 = 4.0;

/// Lifetimes kept (the latest): enough for a distribution, small enough
/// to sort every cycle.
pub const SAMPLES: usize = 256;

/// Lists the forecast may spend past `ends seen / ENDS_PER_LIST` before
/// it holds every list to the latest moment allowed (a distribution that
/// misleads it cannot spend the request budget).
pub const SLACK_LISTS: u64 = 4;

/// The step at which candidate moments are tried.
const STEP: Duration = Duration::from_millis(50);

/// The weight of the latest cycle in the smoothed rate of ends.
const RATE_WEIGHT: f64 = 0.3;

/// A live call as the forecast sees it, at the moment of asking: its age,
/// and its age when a sighting last showed it alive (seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Live {
    pub age: f64,
    pub alive_at_age: f64,
}

/// What the sync has learnt from its sightings.
#[derive(Debug, Default)]
pub struct Forecast {
    /// The latest lifetimes seen, in seconds, oldest first.
    recent: VecDeque<f64>,
    /// `recent`, sorted (rebuilt when stale).
    sorted: Vec<f64>,
    stale: bool,
    /// Lists sent and ends seen, for the budget.
    lists: u64,
    ends: u64,
    /// The API's `created_at` of a call less our own time for it, the
    /// smallest seen (seconds; negative when the API's record is earlier).
    offset: Option<f64>,
    /// Ends seen per second, smoothed over cycles.
    rate: Option<f64>,
}

impl Forecast {
    /// A call seen ended after `lifetime` seconds.
    pub fn ended(&mut self, lifetime: f64) {
        self.ends += 1;
        if !lifetime.is_finite() || lifetime < 0.0 {
            return;
        }
        if self.recent.len() == SAMPLES {
            self.recent.pop_front();
        }
        self.recent.push_back(lifetime);
        self.stale = true;
    }

    /// One list page was requested.
    pub fn listed(&mut self) {
        self.lists += 1;
    }

    /// Ends seen so far.
    pub fn ends_seen(&self) -> u64 {
        self.ends
    }

    /// A cycle saw `ends` ends, `gap` seconds after the one before began.
    pub fn cycled(&mut self, ends: u64, gap: f64) {
        if !gap.is_finite() || gap <= 0.0 {
            return;
        }
        let now = ends as f64 / gap;
        self.rate = Some(self.rate.map_or(now, |r| r + RATE_WEIGHT * (now - r)));
    }

    /// False once the lists have outrun the ends they showed: lists then
    /// come at the latest moment allowed.
    fn within_budget(&self) -> bool {
        self.lists <= (self.ends as f64 / ENDS_PER_LIST) as u64 + SLACK_LISTS
    }

    /// The time to the next list while ends come as a stream: long enough
    /// for about [`ENDS_PER_LIST`] of them at the rate seen, in
    /// `[earliest, latest]`; `latest` once over budget. None before any
    /// rate is known.
    pub fn steady(&self, earliest: Duration, latest: Duration) -> Option<Duration> {
        let rate = self.rate.filter(|r| *r > 0.0)?;
        if !self.within_budget() {
            return Some(latest);
        }
        let gap = Duration::try_from_secs_f64(ENDS_PER_LIST / rate).unwrap_or(latest);
        Some(gap.clamp(earliest.min(latest), latest))
    }

    /// The API said a call was created `offset` seconds from our own time
    /// for it.
    pub fn clock_offset(&mut self, offset: f64) {
        if offset.is_finite() {
            self.offset = Some(self.offset.map_or(offset, |o| o.min(offset)));
        }
    }

    /// The smallest offset seen between the API's creation times and ours.
    pub fn offset(&self) -> Option<f64> {
        self.offset
    }

    /// The chance a call alive at age `from` has ended by age `to`, from
    /// the lifetimes seen (smoothed: never 0 or 1 for want of samples).
    fn ended_between(&self, from: f64, to: f64) -> f64 {
        let n = self.sorted.len() as f64;
        let survive = |age: f64| {
            let longer = self.sorted.len() - self.sorted.partition_point(|l| *l <= age);
            (longer as f64 + 1.0) / (n + 1.0)
        };
        let at_from = survive(from);
        (1.0 - survive(to.max(from)) / at_from).clamp(0.0, 1.0)
    }

    /// How long after now the next list should come for `calls`: the first
    /// step in `[earliest, latest]` by which the calls expected to have
    /// ended reach [`ENDS_PER_LIST`] (or half the calls, when fewer are
    /// left), else `latest`; `latest` once its lists have outrun the ends
    /// they showed. None before any lifetime is seen.
    pub fn next_list(
        &mut self,
        calls: &[Live],
        earliest: Duration,
        latest: Duration,
    ) -> Option<Duration> {
        if self.recent.is_empty() {
            return None;
        }
        if !self.within_budget() {
            return Some(latest);
        }
        if self.stale {
            self.sorted.clear();
            self.sorted.extend(self.recent.iter().copied());
            self.sorted.sort_by(f64::total_cmp);
            self.stale = false;
        }
        let want = ENDS_PER_LIST.min(0.5 * calls.len().max(1) as f64);
        let mut after = earliest.min(latest);
        while after < latest {
            let ahead = after.as_secs_f64();
            let expected: f64 = calls
                .iter()
                .map(|c| self.ended_between(c.alive_at_age, c.age + ahead))
                .sum();
            if expected >= want {
                return Some(after);
            }
            after += STEP;
        }
        Some(latest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOON: Duration = Duration::from_millis(250);
    const LATE: Duration = Duration::from_secs(2);

    fn live(age: f64) -> Live {
        Live {
            age,
            alive_at_age: age,
        }
    }

    fn seen(lifetimes: &[f64]) -> Forecast {
        let mut f = Forecast::default();
        for l in lifetimes {
            f.ended(*l);
        }
        f
    }

    #[test]
    fn nothing_seen_ended_yet_cannot_steer() {
        let mut f = Forecast::default();
        assert_eq!(f.next_list(&[live(1.0)], SOON, LATE), None);
    }

    #[test]
    fn calls_about_to_end_are_listed_for_soon_and_young_ones_late() {
        // Every call seen so far lived 6 s.
        let mut f = seen(&[6.0; 40]);
        let old: Vec<Live> = (0..8).map(|_| live(5.9)).collect();
        assert_eq!(f.next_list(&old, SOON, LATE), Some(SOON));
        let young: Vec<Live> = (0..8).map(|_| live(1.0)).collect();
        assert_eq!(f.next_list(&young, SOON, LATE), Some(LATE));
        // Half of them due at 6 s: the list comes once they are.
        let mut mixed = young.clone();
        mixed.extend((0..5).map(|_| live(5.0)));
        let at = f.next_list(&mixed, SOON, LATE).expect("steers");
        assert!(
            at > Duration::from_millis(900) && at <= Duration::from_millis(1050),
            "{at:?}"
        );
    }

    #[test]
    fn the_last_calls_are_listed_for_once_each_is_likely_over() {
        // Lifetimes spread 1..=10 s: a last call seen alive at 4 s is as
        // likely as not over by 8 s (of the six lifetimes past 4 s, three
        // are past 8 s; smoothed, a little under half).
        let lifetimes: Vec<f64> = (1..=10).map(f64::from).collect();
        let mut f = seen(&lifetimes);
        let at = f
            .next_list(&[live(4.0)], Duration::ZERO, Duration::from_secs(10))
            .expect("steers");
        assert!(
            at >= Duration::from_secs(3) && at <= Duration::from_millis(4500),
            "{at:?}"
        );
    }

    #[test]
    fn a_stream_of_ends_is_listed_for_evenly_at_the_rate_seen() {
        let mut f = seen(&[5.0; 40]);
        assert_eq!(f.steady(SOON, LATE), None, "no rate yet");
        // Five ends a second: a list every 0.8 s shows about four.
        f.cycled(5, 1.0);
        assert_eq!(f.steady(SOON, LATE), Some(Duration::from_millis(800)));
        // Smoothed: one quiet cycle slows the lists, within the bounds.
        f.cycled(0, 1.0);
        let slower = f.steady(SOON, LATE).expect("steers");
        assert!(
            slower > Duration::from_millis(800) && slower <= LATE,
            "{slower:?}"
        );
        f.cycled(100, 1.0);
        assert_eq!(f.steady(SOON, LATE), Some(SOON));
        f.cycled(3, f64::NAN);
        f.cycled(3, 0.0);
        assert_eq!(
            f.steady(SOON, LATE),
            Some(SOON),
            "nonsense gaps are ignored"
        );
    }

    #[test]
    fn lists_that_outrun_the_ends_they_show_wait_as_long_as_allowed() {
        let mut f = seen(&[1.0; 8]);
        let budget = (8.0 / ENDS_PER_LIST) as u64 + SLACK_LISTS;
        for _ in 0..budget {
            f.listed();
        }
        f.cycled(8, 1.0);
        assert!(f.next_list(&[live(0.9)], SOON, LATE).is_some());
        assert!(f.steady(SOON, LATE).is_some());
        // Eight ends a second: four in half a second.
        assert_eq!(f.steady(SOON, LATE), Some(Duration::from_millis(500)));
        f.listed();
        assert_eq!(f.next_list(&[live(0.9)], SOON, LATE), Some(LATE));
        assert_eq!(f.steady(SOON, LATE), Some(LATE));
    }

    #[test]
    fn hostile_numbers_never_panic_or_poison_the_forecast() {
        let mut f = seen(&[f64::NAN, -1.0, f64::INFINITY, 2.0]);
        let calls = [
            live(f64::NAN),
            live(-5.0),
            live(f64::INFINITY),
            Live {
                age: 1.0,
                alive_at_age: 9.0,
            },
        ];
        assert!(f.next_list(&calls, SOON, LATE).is_some());
        f.clock_offset(f64::NAN);
        assert_eq!(f.offset(), None);
        f.clock_offset(-0.5);
        f.clock_offset(0.2);
        assert_eq!(f.offset(), Some(-0.5));
    }
}
