//! The per-key rate limit: a token bucket per API key on real time (a rate
//! limit is about the client's pace, not the simulated clock). Its state is
//! reported on every `/v1` answer as `X-RateLimit-Limit` (requests per
//! second), `X-RateLimit-Remaining` (whole tokens left) and
//! `X-RateLimit-Reset` (Unix seconds when the bucket is full again); a
//! refusal carries `Retry-After` (whole seconds, at least 1).

use std::collections::HashMap;
use std::sync::Mutex;

use super::config::RateLimit;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_us: u64,
}

/// Buckets beyond this many are pruned of full (idle) ones.
const PRUNE_AT: usize = 10_000;

/// The buckets of every key seen.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    config: RateLimit,
    buckets: Mutex<HashMap<Box<str>, Bucket>>,
}

/// A bucket's state after a request, for the headers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RateInfo {
    pub(crate) limit: u64,
    pub(crate) remaining: u64,
    /// Unix seconds when the bucket is full again.
    pub(crate) reset: i64,
    /// Set when the request was refused: seconds to wait.
    pub(crate) retry_after: Option<u64>,
}

impl RateLimiter {
    pub(crate) fn new(config: RateLimit) -> RateLimiter {
        RateLimiter {
            config,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key` at `now_us` (monotonic), or says how long to
    /// wait. `now_unix_us` only dates the reset header. None when unlimited.
    pub(crate) fn take(&self, key: &str, now_us: u64, now_unix_us: i64) -> Option<RateInfo> {
        self.step(key, now_us, now_unix_us, true)
    }

    /// The bucket of `key` without taking a token (answers that do not count).
    pub(crate) fn peek(&self, key: &str, now_us: u64, now_unix_us: i64) -> Option<RateInfo> {
        self.step(key, now_us, now_unix_us, false)
    }

    fn step(&self, key: &str, now_us: u64, now_unix_us: i64, take: bool) -> Option<RateInfo> {
        if self.config.is_unlimited() {
            return None;
        }
        let rate = self.config.per_second;
        let cap = self.config.capacity();
        let refill =
            |b: &Bucket| (b.tokens + now_us.saturating_sub(b.at_us) as f64 / 1e6 * rate).min(cap);
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= PRUNE_AT && !buckets.contains_key(key) {
            buckets.retain(|_, b| refill(b) < cap);
        }
        let fresh = Bucket {
            tokens: cap,
            at_us: now_us,
        };
        let mut b = buckets.get(key).copied().unwrap_or(fresh);
        b.tokens = refill(&b);
        b.at_us = now_us;
        let mut retry_after = None;
        if take {
            if b.tokens >= 1.0 {
                b.tokens -= 1.0;
            } else {
                retry_after = Some(((1.0 - b.tokens) / rate).ceil().max(1.0) as u64);
            }
            buckets.insert(key.into(), b);
        }
        let to_full = ((cap - b.tokens) / rate).ceil() as i64;
        Some(RateInfo {
            limit: rate.ceil() as u64,
            remaining: b.tokens.floor().max(0.0) as u64,
            reset: now_unix_us.div_euclid(1_000_000) + to_full,
            retry_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refuses_then_refills() {
        let rl = RateLimiter::new(RateLimit {
            per_second: 2.0,
            burst: 3,
        });
        let t0 = 1_000_000;
        for left in [2, 1, 0] {
            let i = rl.take("k", t0, 0).unwrap();
            assert_eq!((i.remaining, i.retry_after), (left, None));
        }
        let refused = rl.take("k", t0, 0).unwrap();
        assert_eq!(refused.retry_after, Some(1));
        assert_eq!(refused.limit, 2);
        assert_eq!(refused.reset, 2); // 3 tokens at 2/s: 1.5 s, rounded up
        // Another key has its own bucket.
        assert_eq!(rl.take("other", t0, 0).unwrap().retry_after, None);
        // Half a second later one token is back.
        assert_eq!(rl.take("k", t0 + 500_000, 0).unwrap().retry_after, None);
        assert_eq!(rl.peek("k", t0 + 500_000, 0).unwrap().remaining, 0);
        let unlimited = RateLimiter::new(RateLimit {
            per_second: 0.0,
            burst: 0,
        });
        assert_eq!(unlimited.take("k", 0, 0), None);
    }

    #[test]
    fn many_keys_are_pruned() {
        let rl = RateLimiter::new(RateLimit {
            per_second: 1000.0,
            burst: 1,
        });
        for i in 0..(PRUNE_AT * 2) {
            rl.take(&format!("k{i}"), i as u64 * 10_000, 0);
        }
        assert!(rl.buckets.lock().unwrap().len() <= PRUNE_AT);
    }
}
