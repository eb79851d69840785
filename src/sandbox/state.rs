//! The server's shared state: the frozen configuration and what was derived
//! from it, the ledger behind its mutex, the rate limiter and the counters.

use std::sync::{Mutex, MutexGuard};

use super::clock::Clock;
use super::config::Config;
use super::json::Ctx;
use super::ledger::Ledger;
use super::ratelimit::RateLimiter;
use super::rng::mix;
use super::stats::Stats;
use super::workspace::Workspace;

/// Everything a request handler reads or changes.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) config: Config,
    pub(crate) workspace: Workspace,
    pub(crate) clock: Clock,
    /// Key of the call-id permutation, derived from the seed.
    pub(crate) id_key: u64,
    ledger: Mutex<Ledger>,
    pub(crate) limiter: RateLimiter,
    pub(crate) stats: Stats,
}

impl State {
    pub(crate) fn new(config: Config) -> State {
        State {
            workspace: Workspace::new(&config),
            clock: Clock::new(config.time_scale),
            id_key: mix(config.seed ^ 0x1D_1D_1D_1D),
            ledger: Mutex::new(Ledger::default()),
            limiter: RateLimiter::new(config.rate_limit),
            stats: Stats::default(),
            config,
        }
    }

    /// What the record writer needs, at `now_us`.
    pub(crate) fn ctx(&self, now_us: u64) -> Ctx<'_> {
        Ctx {
            clock: &self.clock,
            workspace: &self.workspace,
            id_key: self.id_key,
            now_us,
            seed: self.config.seed,
            post_call: &self.config.post_call_analysis,
        }
    }

    /// The ledger, locked. Hold it for in-memory work only, never across
    /// an await. A panic elsewhere cannot poison the simulator.
    pub(crate) fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }
}
