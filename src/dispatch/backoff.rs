//! Waiting before a resend (capped exponential backoff with full jitter)
//! and the breaker that stops a misconfigured run early. The waits are
//! total: any base, cap and attempt number gives a finite wait, never a
//! panic.

use std::sync::Mutex;
use std::time::Duration;

use rand::{Rng, SeedableRng, rngs::SmallRng};

/// Capped exponential backoff with full jitter: the n-th wait (n from 1) is
/// uniform in `[0, min(cap, base * 2^(n-1))]`, so many rows refused at once
/// do not come back at once.
#[derive(Debug)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    rng: Mutex<SmallRng>,
}

impl Backoff {
    /// Waits from `base` doubling up to `cap`; `seed` feeds the jitter.
    pub fn new(base: Duration, cap: Duration, seed: u64) -> Backoff {
        Backoff {
            base,
            cap,
            rng: Mutex::new(SmallRng::seed_from_u64(seed)),
        }
    }

    /// The ceiling of the n-th wait.
    pub fn ceiling(&self, n: u32) -> Duration {
        let exp = n.saturating_sub(1).min(30);
        self.base.saturating_mul(1u32 << exp).min(self.cap)
    }

    /// The n-th wait.
    pub fn delay(&self, n: u32) -> Duration {
        let ceiling = self.ceiling(n);
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        let wait = rng.random_range(0.0..=ceiling.as_secs_f64());
        // The f64 may round above the ceiling; never past it.
        Duration::try_from_secs_f64(wait).map_or(ceiling, |d| d.min(ceiling))
    }
}

/// How many first answers the breaker looks at.
pub const BREAKER_WINDOW: u32 = 10;

/// Trips when the first [`BREAKER_WINDOW`] answers of a run are all
/// rejections with one message: a plan that every row fails for the same
/// reason must not burn through a 100,000-row list.
#[derive(Debug, Default)]
pub struct Breaker {
    seen: u32,
    message: Option<String>,
    broken: bool,
    tripped: bool,
}

impl Breaker {
    /// Feeds one answer: `Some(message)` for a rejection, None for a created
    /// call. Returns the message when this answer trips the breaker.
    /// Messages are compared with their numbers masked: "destination
    /// +16502530001 is blocked" and "... +16502530002 ..." are one reason.
    pub fn observe(&mut self, rejection: Option<&str>) -> Option<String> {
        if self.seen >= BREAKER_WINDOW || self.broken {
            return None;
        }
        self.seen += 1;
        match (rejection, &self.message) {
            (None, _) => self.broken = true,
            (Some(m), None) => self.message = Some(m.to_string()),
            (Some(m), Some(first)) if mask_numbers(m) == mask_numbers(first) => {}
            (Some(_), Some(_)) => self.broken = true,
        }
        if self.seen == BREAKER_WINDOW && !self.broken {
            self.tripped = true;
            return self.message.clone();
        }
        None
    }

    /// True once it has tripped.
    pub fn tripped(&self) -> bool {
        self.tripped
    }

    /// True while the first answers may still trip it (a rejection seen
    /// now may turn out to be the plan's fault, not the row's).
    pub fn deciding(&self) -> bool {
        !self.broken && !self.tripped && self.seen < BREAKER_WINDOW
    }
}

/// A message with every run of digits (and a leading `+`) replaced by `#`.
fn mask_numbers(m: &str) -> String {
    let mut out = String::with_capacity(m.len());
    let mut in_number = false;
    for c in m.chars() {
        if c.is_ascii_digit() || (c == '+' && !in_number) {
            if !in_number {
                out.push('#');
                in_number = true;
            }
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Any base, cap and attempt give a wait under the ceiling, no panic.
        #[test]
        fn any_base_cap_and_attempt_give_a_bounded_wait(
            base_s in proptest::num::u64::ANY,
            base_ns in 0u32..1_000_000_000,
            cap_s in proptest::num::u64::ANY,
            n in proptest::num::u32::ANY,
            seed in proptest::num::u64::ANY,
        ) {
            let b = Backoff::new(Duration::new(base_s, base_ns), Duration::from_secs(cap_s), seed);
            let d = b.delay(n);
            prop_assert!(d <= b.ceiling(n));
            prop_assert!(b.ceiling(n) <= b.cap);
        }
    }

    #[test]
    fn delays_stay_under_a_doubling_capped_ceiling() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2), 7);
        assert_eq!(b.ceiling(1), Duration::from_millis(100));
        assert_eq!(b.ceiling(2), Duration::from_millis(200));
        assert_eq!(b.ceiling(5), Duration::from_millis(1600));
        assert_eq!(b.ceiling(6), Duration::from_secs(2));
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(2));
        let mut distinct = std::collections::HashSet::new();
        for n in 1..200 {
            let d = b.delay(n % 8 + 1);
            assert!(d <= b.ceiling(n % 8 + 1));
            distinct.insert(d);
        }
        assert!(distinct.len() > 100, "jittered, not fixed");
    }

    #[test]
    fn breaker_trips_on_ten_identical_rejections_only() {
        let mut b = Breaker::default();
        for i in 0..9 {
            assert_eq!(b.observe(Some("from_number not allowed")), None, "{i}");
        }
        assert_eq!(
            b.observe(Some("from_number not allowed")).as_deref(),
            Some("from_number not allowed")
        );
        assert!(b.tripped());
        assert_eq!(b.observe(Some("from_number not allowed")), None);

        let mut b = Breaker::default();
        for _ in 0..9 {
            b.observe(Some("x"));
        }
        assert_eq!(b.observe(Some("y")), None, "different messages");
        let mut b = Breaker::default();
        for i in 0..9 {
            b.observe(Some(&format!("destination +1650253{i:04} is blocked")));
        }
        assert!(
            b.observe(Some("destination +16502539999 is blocked"))
                .is_some(),
            "one reason, different numbers"
        );
        assert_eq!(mask_numbers("a +44 20 7946, b 3"), "a # # #, b #");
        let mut b = Breaker::default();
        b.observe(None);
        for _ in 0..20 {
            assert_eq!(b.observe(Some("x")), None, "a success came first");
        }
        assert!(!b.tripped());
    }
}
