//! The in-flight cap, adjusted by AIMD: repeated 409s (the workspace's
//! concurrency limit) halve it, successes raise it back slowly to the plan's
//! cap. A row holds its permit while it waits to resend after a 409, 429 or
//! 5xx, so a storm of refusals slows the whole run instead of piling up
//! more first attempts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// The AIMD rule, on its own so it can be tested without a runtime.
#[derive(Debug, Clone)]
pub struct Aimd {
    max: u32,
    cap: f64,
    streak: u32,
    last_cut: Option<Instant>,
    cooldown: Duration,
}

/// 409s in a row (without a success between) before the cap is cut.
const STREAK: u32 = 2;

impl Aimd {
    /// Starts at the plan's cap `max`; cuts at most once per `cooldown`.
    pub fn new(max: u32, cooldown: Duration) -> Aimd {
        let max = max.max(1);
        Aimd {
            max,
            cap: f64::from(max),
            streak: 0,
            last_cut: None,
            cooldown,
        }
    }

    /// The cap now: at least 1.
    pub fn cap(&self) -> u32 {
        (self.cap.floor() as u32).clamp(1, self.max)
    }

    /// A 409: halve the cap on the second in a row, at most once per cooldown
    /// (a burst of 409s from requests already in flight is one signal).
    /// Returns true when the cap was cut.
    pub fn on_conflict(&mut self, now: Instant) -> bool {
        self.streak += 1;
        let cooled = self
            .last_cut
            .is_none_or(|t| now.saturating_duration_since(t) >= self.cooldown);
        if self.streak >= STREAK && cooled {
            self.cap = (self.cap / 2.0).max(1.0);
            self.last_cut = Some(now);
            self.streak = 0;
            true
        } else {
            false
        }
    }

    /// A success: +1 per `cap` successes, up to the plan's cap.
    pub fn on_success(&mut self) {
        self.streak = 0;
        self.cap = (self.cap + 1.0 / self.cap.max(1.0)).min(f64::from(self.max));
    }
}

#[derive(Debug)]
struct State {
    aimd: Aimd,
    in_flight: u32,
}

/// Permits for sends, under the AIMD cap.
#[derive(Debug)]
pub struct Limiter {
    state: Mutex<State>,
    notify: Notify,
}

/// Held while a row sends (and while it waits to resend); released on drop.
#[derive(Debug)]
pub struct Permit {
    limiter: Arc<Limiter>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        {
            let mut s = self.limiter.lock();
            s.in_flight = s.in_flight.saturating_sub(1);
        }
        self.limiter.notify.notify_one();
    }
}

impl Limiter {
    /// A limiter of at most `max` permits (see [`Aimd::new`]).
    pub fn new(max: u32, cooldown: Duration) -> Arc<Limiter> {
        Arc::new(Limiter {
            state: Mutex::new(State {
                aimd: Aimd::new(max, cooldown),
                in_flight: 0,
            }),
            notify: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a permit.
    pub async fn acquire(self: &Arc<Self>) -> Permit {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = self.lock();
                if s.in_flight < s.aimd.cap() {
                    s.in_flight += 1;
                    return Permit {
                        limiter: self.clone(),
                    };
                }
            }
            notified.await;
        }
    }

    /// Reports a 409; returns the cap now and whether this 409 cut it.
    pub fn on_conflict(&self) -> (u32, bool) {
        let mut s = self.lock();
        let cut = s.aimd.on_conflict(Instant::now());
        (s.aimd.cap(), cut)
    }

    /// Reports a success; returns the cap now.
    pub fn on_success(&self) -> u32 {
        let mut s = self.lock();
        let before = s.aimd.cap();
        s.aimd.on_success();
        let after = s.aimd.cap();
        drop(s);
        if after > before {
            self.notify.notify_one();
        }
        after
    }

    /// The cap now.
    pub fn cap(&self) -> u32 {
        self.lock().aimd.cap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_conflicts_halve_then_successes_restore() {
        let t0 = Instant::now();
        let mut a = Aimd::new(16, Duration::from_secs(1));
        assert!(!a.on_conflict(t0), "one 409 is not yet a pattern");
        assert!(a.on_conflict(t0));
        assert_eq!(a.cap(), 8);
        // A burst within the cooldown cuts once.
        for _ in 0..10 {
            a.on_conflict(t0 + Duration::from_millis(10));
        }
        assert_eq!(a.cap(), 8);
        a.on_conflict(t0 + Duration::from_secs(2));
        assert_eq!(a.cap(), 4);
        for i in 0..8 {
            a.on_conflict(t0 + Duration::from_secs(10 * i + 10));
            a.on_conflict(t0 + Duration::from_secs(10 * i + 10));
        }
        assert_eq!(a.cap(), 1, "never below one");
        let mut n = 0;
        while a.cap() < 16 {
            a.on_success();
            n += 1;
        }
        // Additive: about cap successes per step, so ~ (1+..+15) in all.
        assert!((100..=140).contains(&n), "{n}");
        for _ in 0..100 {
            a.on_success();
        }
        assert_eq!(a.cap(), 16, "never above the plan's cap");
    }

    #[test]
    fn a_success_between_conflicts_resets_the_streak() {
        let t0 = Instant::now();
        let mut a = Aimd::new(8, Duration::ZERO);
        for _ in 0..5 {
            a.on_conflict(t0);
            a.on_success();
        }
        assert_eq!(a.cap(), 8);
    }

    #[tokio::test]
    async fn permits_never_exceed_the_cap() {
        let l = Limiter::new(3, Duration::ZERO);
        let a = l.acquire().await;
        let _b = l.acquire().await;
        let _c = l.acquire().await;
        let l2 = l.clone();
        let waiter = tokio::spawn(async move { l2.acquire().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        drop(a);
        let _d = tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn lowered_cap_holds_new_permits() {
        let l = Limiter::new(4, Duration::ZERO);
        let a = l.acquire().await;
        let b = l.acquire().await;
        l.on_conflict();
        assert_eq!(l.on_conflict(), (2, true));
        let l2 = l.clone();
        let waiter = tokio::spawn(async move { l2.acquire().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "2 in flight at cap 2");
        drop(a);
        drop(b);
        tokio::time::timeout(Duration::from_secs(1), waiter)
            .await
            .unwrap()
            .unwrap();
    }
}
