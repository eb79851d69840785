//! A call's life, decided once when it is created and read lazily: the
//! outcome and phase lengths are drawn from the call's own seeded stream,
//! and its status at any moment follows from its creation time and those
//! lengths on the scaled clock. No timer runs per call.
//!
//! - `completed`, `voicemail`: queued, ringing, in progress, then ended;
//! - `no_answer`: rings for the longest `ring_seconds`, never answered;
//! - `busy`: rings at most two seconds;
//! - `failed`: never rings (could not be connected).

use super::config::Config;
use super::rng::SplitMix64;

/// How a call ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Outcome {
    Completed = 0,
    NoAnswer = 1,
    Busy = 2,
    Voicemail = 3,
    Failed = 4,
}

impl Outcome {
    const ALL: [Outcome; 5] = [
        Outcome::Completed,
        Outcome::NoAnswer,
        Outcome::Busy,
        Outcome::Voicemail,
        Outcome::Failed,
    ];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::NoAnswer => "no_answer",
            Outcome::Busy => "busy",
            Outcome::Voicemail => "voicemail",
            Outcome::Failed => "failed",
        }
    }
}

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Queued,
    Ringing,
    InProgress,
    Ended(Outcome),
}

impl Phase {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Phase::Queued => "queued",
            Phase::Ringing => "ringing",
            Phase::InProgress => "in_progress",
            Phase::Ended(o) => o.as_str(),
        }
    }

    /// Every status word the sandbox answers with, for `?status=` checks.
    pub(crate) const WORDS: [&'static str; 8] = [
        "queued",
        "ringing",
        "in_progress",
        "completed",
        "no_answer",
        "busy",
        "voicemail",
        "failed",
    ];
}

/// The pre-drawn life of one call, in simulated milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Script {
    pub(crate) outcome: Outcome,
    /// For completed calls: the customer (false) or the agent (true) hung up.
    pub(crate) agent_hung_up: bool,
    pub(crate) queue_ms: u32,
    pub(crate) ring_ms: u32,
    pub(crate) talk_ms: u32,
}

/// Seconds to milliseconds, clamped to what a u32 holds.
fn ms(seconds: f64) -> u32 {
    (seconds * 1000.0).round().clamp(0.0, f64::from(u32::MAX)) as u32
}

impl Script {
    /// Draws the life of a call from its stream.
    pub(crate) fn draw(config: &Config, rng: &mut SplitMix64) -> Script {
        let outcome = Outcome::ALL[rng.weighted(&config.outcomes.weights())];
        let queue_ms = ms(rng.between(0.5, 2.0));
        let ring = rng.between(config.ring_seconds.min, config.ring_seconds.max);
        let talk = rng.between(config.talk_seconds.min, config.talk_seconds.max);
        let agent_hung_up = rng.unit() < 0.5;
        let (ring_ms, talk_ms) = match outcome {
            Outcome::Completed | Outcome::Voicemail => (ms(ring), ms(talk)),
            Outcome::NoAnswer => (ms(config.ring_seconds.max), 0),
            Outcome::Busy => (ms(ring.min(2.0)), 0),
            Outcome::Failed => (0, 0),
        };
        Script {
            outcome,
            agent_hung_up,
            queue_ms,
            ring_ms,
            talk_ms,
        }
    }

    /// Simulated milliseconds from creation to being answered.
    pub(crate) fn answer_ms(&self) -> u64 {
        u64::from(self.queue_ms) + u64::from(self.ring_ms)
    }

    /// Simulated milliseconds from creation to the end.
    pub(crate) fn end_ms(&self) -> u64 {
        self.answer_ms() + u64::from(self.talk_ms)
    }

    /// True for calls that are answered (they have a `started_at`).
    pub(crate) fn answered(&self) -> bool {
        self.talk_ms > 0
    }

    /// The phase after `elapsed_real_us`, with `real_us` converting simulated
    /// milliseconds to real microseconds (the same conversion the
    /// concurrency limit uses, so both agree on when a call ends).
    pub(crate) fn phase(&self, elapsed_real_us: u64, real_us: impl Fn(u64) -> u64) -> Phase {
        if elapsed_real_us >= real_us(self.end_ms()) {
            Phase::Ended(self.outcome)
        } else if elapsed_real_us < real_us(u64::from(self.queue_ms)) {
            Phase::Queued
        } else if elapsed_real_us < real_us(self.answer_ms()) {
            Phase::Ringing
        } else {
            Phase::InProgress
        }
    }

    /// Why the call ended, as the record's `end_reason`.
    pub(crate) fn end_reason(&self) -> &'static str {
        match self.outcome {
            Outcome::Completed if self.agent_hung_up => "agent_hangup",
            Outcome::Completed => "customer_hangup",
            Outcome::NoAnswer => "no_answer",
            Outcome::Busy => "line_busy",
            Outcome::Voicemail => "voicemail_reached",
            Outcome::Failed => "carrier_error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_follow_the_script() {
        let s = Script {
            outcome: Outcome::Completed,
            agent_hung_up: false,
            queue_ms: 1000,
            ring_ms: 2000,
            talk_ms: 3000,
        };
        let id = |ms: u64| ms * 1000; // time_scale 1
        assert_eq!(s.phase(0, id), Phase::Queued);
        assert_eq!(s.phase(999_999, id), Phase::Queued);
        assert_eq!(s.phase(1_000_000, id), Phase::Ringing);
        assert_eq!(s.phase(3_000_000, id), Phase::InProgress);
        assert_eq!(s.phase(6_000_000, id), Phase::Ended(Outcome::Completed));
        let failed = Script {
            outcome: Outcome::Failed,
            ring_ms: 0,
            talk_ms: 0,
            ..s
        };
        assert_eq!(failed.phase(999_999, id), Phase::Queued);
        assert_eq!(failed.phase(1_000_000, id), Phase::Ended(Outcome::Failed));
    }

    #[test]
    fn draws_respect_weights_and_ranges() {
        let mut config = Config {
            outcomes: crate::sandbox::Outcomes {
                completed: 0.0,
                no_answer: 1.0,
                busy: 0.0,
                voicemail: 0.0,
                failed: 0.0,
            },
            ..Config::default()
        };
        for n in 0..100 {
            let s = Script::draw(&config, &mut SplitMix64::stream(1, 2, n));
            assert_eq!(s.outcome, Outcome::NoAnswer);
            assert_eq!(s.ring_ms, 25_000);
            assert_eq!(s.talk_ms, 0);
            assert!((500..=2000).contains(&s.queue_ms));
        }
        config.outcomes.completed = 1.0;
        config.outcomes.no_answer = 0.0;
        for n in 0..100 {
            let s = Script::draw(&config, &mut SplitMix64::stream(1, 2, n));
            assert!((3_000..=25_000).contains(&s.ring_ms));
            assert!((20_000..=180_000).contains(&s.talk_ms));
        }
    }
}
