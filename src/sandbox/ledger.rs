//! The ledger: every call the simulator ever created, in creation order, in
//! compact records (about 64 bytes plus one allocation for the idempotency
//! key, variables and metadata), with the indices the API needs: the newest
//! call per destination (each record links to the previous call to the same
//! number, so `GET /v1/calls?to=` walks only that number's calls, newest
//! first), idempotency keys, and the end times of live calls for the
//! concurrency limit. It lives behind one mutex held only for these
//! in-memory steps, never across I/O.

use std::cmp::Reverse;
use std::collections::hash_map::DefaultHasher;
use std::collections::hash_map::Entry;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{Hash, Hasher};

use super::clock::Clock;
use super::config::Config;
use super::ids;
use super::lifecycle::{Phase, Script};
use super::request::NewCall;
use super::rng::SplitMix64;
use super::workspace::Admitted;

/// Stream salt of per-call randomness.
const CALL_STREAM: u64 = 0xCA11_CA11_CA11_CA11;
const NO_LINK: u32 = u32::MAX;
const NO_KEY: u16 = u16::MAX;
/// Longest accepted `Idempotency-Key`.
pub(crate) const MAX_KEY_LEN: usize = 255;

/// One created call.
#[derive(Debug)]
pub(crate) struct CallRec {
    /// Real microseconds from the clock's origin to creation.
    pub(crate) created_us: u64,
    /// The destination's digits (an E.164 number fits in 15 digits).
    pub(crate) to: u64,
    prev_same_to: u32,
    pub(crate) script: Script,
    pub(crate) from: u16,
    pub(crate) agent: u16,
    idem_len: u16,
    vars_len: u32,
    /// Idempotency key, variables JSON and metadata JSON, back to back.
    blob: Box<str>,
}

impl CallRec {
    pub(crate) fn idempotency_key(&self) -> Option<&str> {
        (self.idem_len != NO_KEY)
            .then(|| self.blob.get(..usize::from(self.idem_len)))
            .flatten()
    }

    fn key_len(&self) -> usize {
        if self.idem_len == NO_KEY {
            0
        } else {
            usize::from(self.idem_len)
        }
    }

    /// Variables as compact JSON; "" for none.
    pub(crate) fn variables(&self) -> &str {
        let start = self.key_len();
        let end = start + self.vars_len as usize;
        self.blob.get(start..end).unwrap_or("")
    }

    /// Metadata as compact JSON; "" for none.
    pub(crate) fn metadata(&self) -> &str {
        let start = self.key_len() + self.vars_len as usize;
        self.blob.get(start..).unwrap_or("")
    }

    /// Where the call is at `now_us`.
    pub(crate) fn phase(&self, clock: &Clock, now_us: u64) -> Phase {
        self.script
            .phase(now_us.saturating_sub(self.created_us), |ms| {
                clock.real_us(ms)
            })
    }

    fn same_request(&self, call: &NewCall, admitted: Admitted, to: u64) -> bool {
        self.from == admitted.from
            && self.agent == admitted.agent
            && self.to == to
            && self.variables() == call.variables
            && self.metadata() == call.metadata
    }
}

/// The digits of an E.164 number (already checked) as an integer.
pub(crate) fn phone_digits(e164: &str) -> Option<u64> {
    let digits = e164.strip_prefix('+')?;
    if digits.is_empty() || digits.len() > 15 {
        return None;
    }
    digits.parse().ok()
}

/// What a create request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A new call at this index.
    New(u32),
    /// The same Idempotency-Key and body as this earlier call: nothing created.
    Replay(u32),
    /// The same Idempotency-Key as this earlier call with another body.
    Conflict(u32),
    /// Live calls are at the limit: nothing created.
    AtLimit { live: usize },
    /// The ledger holds u32::MAX - 1 calls: nothing created.
    Full,
}

/// What `GET /v1/calls` filters on (all optional, all must match).
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    pub(crate) to: Option<u64>,
    pub(crate) from: Option<u16>,
    pub(crate) status: Option<&'static str>,
    /// Unix microseconds, inclusive.
    pub(crate) since: Option<i64>,
    /// Unix microseconds, inclusive.
    pub(crate) until: Option<i64>,
    pub(crate) index: Option<u32>,
    /// Real microseconds after its creation before a call is listed
    /// (`list_lag_ms`); 0: at once.
    pub(crate) lag_us: u64,
}

/// Every call, and the indices over them.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    calls: Vec<CallRec>,
    last_by_to: HashMap<u64, u32>,
    /// Hash of an idempotency key to the call that used it first.
    keys: HashMap<u64, u32>,
    /// Keys whose hash collided with another key's.
    keys_spill: HashMap<Box<str>, u32>,
    /// End times (real µs) of calls that have not ended, when a limit applies.
    live_ends: BinaryHeap<Reverse<u64>>,
}

fn key_hash(key: &str) -> u64 {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

impl Ledger {
    pub(crate) fn len(&self) -> usize {
        self.calls.len()
    }

    pub(crate) fn get(&self, index: u32) -> Option<&CallRec> {
        self.calls.get(index as usize)
    }

    pub(crate) fn calls(&self) -> &[CallRec] {
        &self.calls
    }

    /// The call `id` names under `id_key`: one of ours, and created at the
    /// time the id holds (a changed time digit is no call).
    pub(crate) fn find(&self, id_key: u64, clock: &Clock, id: &str) -> Option<(u32, &CallRec)> {
        let (i, ms) = ids::decode(id_key, id)?;
        let rec = self.get(i)?;
        (ids::millis(clock.wall_us(rec.created_us)) == ms).then_some((i, rec))
    }

    fn find_key(&self, key: &str) -> Option<u32> {
        if let Some(&i) = self.keys.get(&key_hash(key))
            && self.get(i).and_then(CallRec::idempotency_key) == Some(key)
        {
            return Some(i);
        }
        self.keys_spill.get(key).copied()
    }

    /// Calls not yet ended at `now_us` (only tracked while a limit applies).
    pub(crate) fn live(&mut self, now_us: u64) -> usize {
        while let Some(Reverse(end)) = self.live_ends.peek() {
            if *end > now_us {
                break;
            }
            self.live_ends.pop();
        }
        self.live_ends.len()
    }

    /// Creates a call unless an idempotency key or the concurrency limit
    /// says otherwise. `key` is recorded whether or not it is `honoured`.
    pub(crate) fn create(
        &mut self,
        config: &Config,
        clock: &Clock,
        call: &NewCall,
        admitted: Admitted,
        key: Option<&str>,
        honoured: bool,
    ) -> Outcome {
        let Some(to) = phone_digits(&call.to_number) else {
            // Unreachable after the field checks; refuse rather than panic.
            return Outcome::Full;
        };
        if honoured
            && let Some(k) = key
            && let Some(i) = self.find_key(k)
        {
            let same = self
                .get(i)
                .is_some_and(|rec| rec.same_request(call, admitted, to));
            return if same {
                Outcome::Replay(i)
            } else {
                Outcome::Conflict(i)
            };
        }
        let now_us = clock.now_us();
        let limit = config.concurrency_limit as usize;
        if limit > 0 {
            let live = self.live(now_us);
            if live >= limit {
                return Outcome::AtLimit { live };
            }
        }
        let Ok(index) = u32::try_from(self.calls.len()) else {
            return Outcome::Full;
        };
        if index >= NO_LINK - 1 {
            return Outcome::Full;
        }
        let script = Script::draw(
            config,
            &mut SplitMix64::stream(config.seed, CALL_STREAM, u64::from(index)),
        );
        let key = key.filter(|k| k.len() <= MAX_KEY_LEN);
        let mut blob = String::with_capacity(
            key.map_or(0, str::len) + call.variables.len() + call.metadata.len(),
        );
        blob.push_str(key.unwrap_or(""));
        blob.push_str(&call.variables);
        blob.push_str(&call.metadata);
        let prev_same_to = self.last_by_to.insert(to, index).unwrap_or(NO_LINK);
        if limit > 0 {
            self.live_ends.push(Reverse(
                now_us.saturating_add(clock.real_us(script.end_ms())),
            ));
        }
        if let Some(k) = key {
            let h = key_hash(k);
            match self.keys.entry(h) {
                Entry::Vacant(e) => {
                    e.insert(index);
                }
                Entry::Occupied(_) => {
                    self.keys_spill.entry(k.into()).or_insert(index);
                }
            }
        }
        self.calls.push(CallRec {
            created_us: now_us,
            to,
            prev_same_to,
            script,
            from: admitted.from,
            agent: admitted.agent,
            idem_len: key.map_or(NO_KEY, |k| k.len() as u16),
            vars_len: call.variables.len() as u32,
            blob: blob.into_boxed_str(),
        });
        Outcome::New(index)
    }

    /// The page `[skip, skip + take)` of the calls matching `f` and listed
    /// by `now_us` (created at least `f.lag_us` before), newest first, and
    /// how many match in all.
    pub(crate) fn list(
        &self,
        f: &Filter,
        clock: &Clock,
        now_us: u64,
        skip: usize,
        take: usize,
    ) -> (Vec<u32>, u64) {
        let listed = |rec: &CallRec| rec.created_us.saturating_add(f.lag_us) <= now_us;
        let matches = |i: u32, rec: &CallRec| {
            listed(rec)
                && f.from.is_none_or(|x| x == rec.from)
                && f.to.is_none_or(|x| x == rec.to)
                && f.index.is_none_or(|x| x == i)
                && f.since.is_none_or(|s| clock.wall_us(rec.created_us) >= s)
                && f.until.is_none_or(|u| clock.wall_us(rec.created_us) <= u)
                && f.status
                    .is_none_or(|s| rec.phase(clock, now_us).as_str() == s)
        };
        let mut page = Vec::with_capacity(take.min(256));
        let mut total = 0u64;
        let mut consider = |i: u32, rec: &CallRec| {
            if matches(i, rec) {
                if total as usize >= skip && page.len() < take {
                    page.push(i);
                }
                total += 1;
            }
        };
        if let Some(i) = f.index {
            if let Some(rec) = self.get(i) {
                consider(i, rec);
            }
        } else if let Some(to) = f.to {
            let mut next = self.last_by_to.get(&to).copied().unwrap_or(NO_LINK);
            while let Some(rec) = self.get(next) {
                if f.since.is_some_and(|s| clock.wall_us(rec.created_us) < s) {
                    break; // older ones are older still
                }
                consider(next, rec);
                next = rec.prev_same_to;
            }
        } else {
            let lo = f.since.map_or(0, |s| {
                self.calls
                    .partition_point(|r| clock.wall_us(r.created_us) < s)
            });
            let hi = f.until.map_or(self.calls.len(), |u| {
                self.calls
                    .partition_point(|r| clock.wall_us(r.created_us) <= u)
            });
            // Creation times grow with the index: the lagging calls are the newest.
            let hi = hi.min(self.calls.partition_point(listed));
            for i in (lo..hi.max(lo)).rev() {
                if let Some(rec) = self.calls.get(i) {
                    consider(i as u32, rec);
                }
            }
        }
        (page, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(to: &str, vars: &str) -> NewCall {
        NewCall {
            from_number: "+14155550100".into(),
            to_number: to.into(),
            agent_version_id: "av_sandbox".into(),
            variables: vars.into(),
            metadata: r#"{"callplan_key":"k"}"#.into(),
        }
    }
    const ADM: Admitted = Admitted { from: 0, agent: 1 };

    #[test]
    fn records_keep_their_strings_and_index_by_destination() {
        let config = Config::unlimited();
        let clock = Clock::new(60.0);
        let mut l = Ledger::default();
        let a = call("+16505550199", r#"{"n":"1"}"#);
        let b = call("+16505550100", "");
        assert_eq!(
            l.create(&config, &clock, &a, ADM, Some("k1"), true),
            Outcome::New(0)
        );
        assert_eq!(
            l.create(&config, &clock, &b, ADM, None, true),
            Outcome::New(1)
        );
        assert_eq!(
            l.create(&config, &clock, &a, ADM, Some("k2"), true),
            Outcome::New(2)
        );
        let r = l.get(0).unwrap();
        assert_eq!(r.idempotency_key(), Some("k1"));
        assert_eq!(r.variables(), r#"{"n":"1"}"#);
        assert_eq!(r.metadata(), r#"{"callplan_key":"k"}"#);
        assert_eq!(l.get(1).unwrap().idempotency_key(), None);
        let f = Filter {
            to: Some(16_505_550_199),
            ..Filter::default()
        };
        assert_eq!(l.list(&f, &clock, clock.now_us(), 0, 10), (vec![2, 0], 2));
        assert_eq!(l.list(&f, &clock, clock.now_us(), 1, 10), (vec![0], 2));
        let all = l.list(&Filter::default(), &clock, clock.now_us(), 0, 2);
        assert_eq!(all, (vec![2, 1], 3));
    }

    #[test]
    fn an_id_finds_its_call_only_with_its_creation_time() {
        let config = Config::unlimited();
        let clock = Clock::new(60.0);
        let mut l = Ledger::default();
        for to in ["+16505550199", "+16505550100"] {
            l.create(&config, &clock, &call(to, ""), ADM, None, true);
        }
        let key = 99;
        let at = clock.wall_us(l.get(1).unwrap().created_us);
        let id = ids::encode(key, 1, at);
        assert_eq!(l.find(key, &clock, &id).map(|(i, _)| i), Some(1));
        // Its time a second off: the same index, but no call of the ledger.
        let off = ids::encode(key, 1, at + 1_000_000);
        assert_eq!(ids::decode(key, &off).map(|(i, _)| i), Some(1));
        assert!(l.find(key, &clock, &off).is_none());
        // Another seed's id, and an index past the ledger.
        assert!(l.find(key + 1, &clock, &id).is_none());
        assert!(l.find(key, &clock, &ids::encode(key, 2, at)).is_none());
    }

    #[test]
    fn keys_replay_or_conflict_and_limit_counts_live_calls() {
        let mut config = Config {
            concurrency_limit: 1,
            ..Config::default()
        };
        let clock = Clock::new(1.0);
        let mut l = Ledger::default();
        let a = call("+16505550199", "");
        assert_eq!(
            l.create(&config, &clock, &a, ADM, Some("k"), true),
            Outcome::New(0)
        );
        assert_eq!(
            l.create(&config, &clock, &a, ADM, Some("k"), true),
            Outcome::Replay(0)
        );
        let other = call("+16505550100", "");
        assert_eq!(
            l.create(&config, &clock, &other, ADM, Some("k"), true),
            Outcome::Conflict(0)
        );
        assert_eq!(
            l.create(&config, &clock, &other, ADM, Some("k2"), true),
            Outcome::AtLimit { live: 1 }
        );
        // Not honoured: the key is recorded but does not deduplicate.
        config.concurrency_limit = 0;
        assert_eq!(
            l.create(&config, &clock, &a, ADM, Some("k"), false),
            Outcome::New(1)
        );
        assert_eq!(l.get(1).unwrap().idempotency_key(), Some("k"));
    }

    #[test]
    fn lagging_calls_are_left_out_of_lists_until_their_time() {
        let config = Config::unlimited();
        let clock = Clock::new(60.0);
        let mut l = Ledger::default();
        for to in ["+16505550199", "+16505550100"] {
            l.create(&config, &clock, &call(to, ""), ADM, None, true);
        }
        let t0 = l.get(0).unwrap().created_us;
        let t1 = l.get(1).unwrap().created_us;
        let lag = 1_000_000;
        let lagged = |extra: Filter| Filter {
            lag_us: lag,
            ..extra
        };
        let all = lagged(Filter::default());
        assert_eq!(l.list(&all, &clock, t0 + lag - 1, 0, 10), (vec![], 0));
        let (page, total) = l.list(&all, &clock, t0 + lag, 0, 10);
        assert_eq!(total, u64::from(t1 == t0) + 1, "{page:?}");
        assert_eq!(l.list(&all, &clock, t1 + lag, 0, 10), (vec![1, 0], 2));
        // The same for the per-destination walk and the id filter.
        let to = lagged(Filter {
            to: Some(16_505_550_100),
            ..Filter::default()
        });
        assert_eq!(l.list(&to, &clock, t1 + lag - 1, 0, 10), (vec![], 0));
        assert_eq!(l.list(&to, &clock, t1 + lag, 0, 10), (vec![1], 1));
        let id = lagged(Filter {
            index: Some(1),
            ..Filter::default()
        });
        assert_eq!(l.list(&id, &clock, t1 + lag - 1, 0, 10), (vec![], 0));
        assert_eq!(l.list(&id, &clock, t1 + lag, 0, 10), (vec![1], 1));
        // A lag longer than the clock has run hides everything, no underflow.
        let huge = Filter {
            lag_us: u64::MAX,
            ..Filter::default()
        };
        assert_eq!(l.list(&huge, &clock, t1, 0, 10), (vec![], 0));
    }

    #[test]
    fn records_stay_compact() {
        // The 1,000,000-call memory budget rests on this (BENCHMARKS.md).
        assert!(
            std::mem::size_of::<CallRec>() <= 64,
            "{}",
            std::mem::size_of::<CallRec>()
        );
    }

    #[test]
    fn phone_digits_round_trip() {
        assert_eq!(phone_digits("+14155550100"), Some(14_155_550_100));
        assert_eq!(phone_digits("+999999999999999"), Some(999_999_999_999_999));
        assert_eq!(phone_digits("14155550100"), None);
        assert_eq!(phone_digits("+"), None);
        assert_eq!(phone_digits("+1x"), None);
    }
}
