//! The call_ids this run recorded, each with its row ([`CallOwners`]): an
//! API that gives one call_id to two rows is caught here.
//!
//! Every created or found call claims its call_id for its row and round.
//! A call_id claimed again by the same row and round (a lookup finding the
//! call an idempotent resend created) is fine; claimed by another row, it
//! names no one call: a warning names both rows, both are recorded
//! `in_doubt` with that reason (their next run looks each up by its own
//! metadata), and the call is no longer polled.
//!
//! One entry per call of the run, so it is kept small and fixed (24 bytes,
//! no heap, in one dense list, found through an index of 4-byte entry
//! numbers: 34 MB for a million calls, where a hash table of the entries
//! themselves, half empty as hash tables are, took 52): the call_id as a 96-bit hash keyed afresh each run (two
//! innocent rows would share one with odds of about n²/2⁹⁷, 10⁻¹⁷ for a
//! million calls; and an API cannot aim at a key it does not know), the
//! row as its index in the run's [`Targets`](super::targets::Targets), and
//! the intent's time in whole seconds. A row sent otherwise than its
//! target says (a resumed row's earlier number, caller ID or agent
//! version), whose intent time is of another layout, or whose round or
//! attempts pass what the slot holds, keeps its full [`Owner`] beside
//! (rare).

use std::hash::{BuildHasher, Hasher};

use compact_str::CompactString;
use hashbrown::HashTable;
use rustc_hash::FxHashMap;

use super::calls_api::CallsApi;
use super::counters::Stats;
use super::job::Target;
use super::state::{RowState, Shared, lock};
use crate::results::Status;

/// A call_id's 96-bit hash (see the module's note).
type CallHash = [u32; 3];

/// The row a call_id of this run was recorded for: enough to name it and
/// to mark it `in_doubt` if the API gives the same call_id to another row.
#[derive(Debug, Clone)]
pub(super) struct Owner {
    /// The row as its request was sent.
    pub(super) target: Target,
    pub(super) round: u32,
    pub(super) attempts: u32,
    /// The time of the intent its request left under (an in-doubt record
    /// is stamped with it, so a later lookup's list starts early enough).
    pub(super) intent_at: CompactString,
}

/// One call of the run: 24 bytes.
#[derive(Debug, Clone, Copy)]
struct Slot {
    id: CallHash,
    /// Its row's index in the run's targets.
    target: u32,
    /// The intent's time, whole seconds since the Unix epoch (0: none);
    /// floored, so a lookup from it starts no later than the intent.
    intent_s: u32,
    round: u16,
    attempts: u8,
    /// [`DISPUTED`], [`ODD`].
    flags: u8,
}

/// [`Slot::flags`]: its call_id was also given to another row (no longer
/// polled).
const DISPUTED: u8 = 1;
/// [`Slot::flags`]: its full [`Owner`] is kept in [`CallOwners::odd`].
const ODD: u8 = 2;

impl Slot {
    fn is(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// Every call_id this run recorded (created or found), with its row.
#[derive(Debug, Default)]
pub(super) struct CallOwners {
    keys: (std::hash::RandomState, std::hash::RandomState),
    /// In the order the calls were recorded.
    slots: Vec<Slot>,
    /// Numbers into `slots`, hashed by their slot's call_id hash.
    index: HashTable<u32>,
    odd: FxHashMap<CallHash, Owner>,
}

impl CallOwners {
    /// Room for `n` calls without growing.
    pub(super) fn with_capacity(n: usize) -> CallOwners {
        CallOwners {
            slots: Vec::with_capacity(n),
            index: HashTable::with_capacity(n),
            ..CallOwners::default()
        }
    }

    fn hash(&self, call_id: &str) -> CallHash {
        let one = |keys: &std::hash::RandomState| {
            let mut h = keys.build_hasher();
            h.write(call_id.as_bytes());
            h.finish()
        };
        let (a, b) = (one(&self.keys.0), one(&self.keys.1));
        [a as u32, (a >> 32) as u32, b as u32]
    }

    fn find(&self, call_id: &str) -> Option<&Slot> {
        let at = self.at(&self.hash(call_id))?;
        self.slots.get(at)
    }

    /// Where the slot of `id` is in `slots`.
    fn at(&self, id: &CallHash) -> Option<usize> {
        let slots = &self.slots;
        let found = self.index.find(slot_hash(id), |&i| {
            slots.get(i as usize).is_some_and(|s| s.id == *id)
        });
        found.map(|&i| i as usize)
    }

    /// Records `slot`, whose call_id is not recorded yet.
    fn insert(&mut self, slot: Slot) {
        let Ok(i) = u32::try_from(self.slots.len()) else {
            // Four billion calls in one run: past what an index holds.
            return;
        };
        let slots = &self.slots;
        self.index.insert_unique(slot_hash(&slot.id), i, |&j| {
            slots.get(j as usize).map_or(0, |s| slot_hash(&s.id))
        });
        self.slots.push(slot);
    }
}

/// Where the table puts a call: its hash's first 64 bits.
fn slot_hash(id: &CallHash) -> u64 {
    u64::from(id[0]) | u64::from(id[1]) << 32
}

/// Seconds since the epoch of an RFC 3339 time, if it is one that fits.
fn seconds_of(text: &str) -> Option<u32> {
    let t: jiff::Timestamp = text.parse().ok()?;
    u32::try_from(t.as_second()).ok()
}

impl<A: CallsApi> Shared<A> {
    /// Records `call_id` as the call of `target` (index `at` in the run's
    /// targets, as it was sent) for `round`. Some: the API gave it to
    /// another row (or round) earlier this run, returned here.
    pub(super) fn claim(
        &self,
        call_id: &str,
        at: u32,
        target: &Target,
        round: u32,
        row: &RowState,
    ) -> Option<Owner> {
        let mut guard = lock(&self.call_owners);
        let owners = &mut *guard;
        let id = owners.hash(call_id);
        if let Some(first) = owners.at(&id).and_then(|at| owners.slots.get_mut(at)) {
            let first_round = match first.is(ODD).then(|| owners.odd.get(&id)).flatten() {
                Some(owner) => owner.round,
                None => u32::from(first.round),
            };
            if first.target == at && first_round == round {
                return None;
            }
            first.flags |= DISPUTED;
            let first = *first;
            return Some(self.owner_of(owners, &first));
        }
        let intent_s = match row.intent_at.as_str() {
            "" => Some(0),
            text => seconds_of(text),
        };
        let as_listed = self.settings.targets.lists(at, target);
        let attempts = u8::try_from(row.attempts).ok();
        let slim_round = u16::try_from(round).ok();
        let odd = !as_listed || intent_s.is_none() || attempts.is_none() || slim_round.is_none();
        if odd {
            owners.odd.insert(
                id,
                Owner {
                    target: target.clone(),
                    round,
                    attempts: row.attempts,
                    intent_at: row.intent_at.as_str().into(),
                },
            );
        }
        let slot = Slot {
            id,
            target: at,
            intent_s: intent_s.unwrap_or(0),
            round: slim_round.unwrap_or(u16::MAX),
            attempts: attempts.unwrap_or(u8::MAX),
            flags: if odd { ODD } else { 0 },
        };
        owners.insert(slot);
        None
    }

    /// The full owner of `slot`.
    fn owner_of(&self, owners: &CallOwners, slot: &Slot) -> Owner {
        if slot.is(ODD)
            && let Some(owner) = owners.odd.get(&slot.id)
        {
            return owner.clone();
        }
        let target = self.settings.targets.get(slot.target);
        let intent = (slot.intent_s > 0)
            .then(|| jiff::Timestamp::from_second(i64::from(slot.intent_s)).ok())
            .flatten();
        Owner {
            target: target.unwrap_or_else(|| Target::new("", 0, "")),
            round: u32::from(slot.round),
            attempts: u32::from(slot.attempts),
            intent_at: intent
                .map_or_else(CompactString::default, |t| crate::text::format_ts(t).into()),
        }
    }

    /// True when `call_id` was given to two rows this run: its call is not
    /// polled (whose outcome would it be?).
    pub(super) fn disputed(&self, call_id: &str) -> bool {
        lock(&self.call_owners)
            .find(call_id)
            .is_some_and(|s| s.is(DISPUTED))
    }

    /// The API gave `call_id` to `target` after `first`: a warning naming
    /// both rows, and both recorded `in_doubt` with why (each is looked up
    /// by its own metadata on the next run; neither is dialled again
    /// unless `--redial-in-doubt`).
    pub(super) fn dispute(
        &self,
        call_id: &str,
        target: &Target,
        round: u32,
        row: &RowState,
        first: &Owner,
    ) {
        let earlier = &first.target;
        tracing::warn!(
            "the API returned call_id {call_id} for row {} (key {}) and again for row {} \
             (key {}): both are marked in_doubt and looked up by their own metadata on the \
             next run",
            earlier.row,
            earlier.key,
            target.row,
            target.key
        );
        let why = |other_row: u64, other_key: &str| {
            crate::text::clean_message(&format!(
                "the API returned call_id {call_id} for this row and for row {other_row} \
                 (key {other_key}): which one it called is not known"
            ))
        };
        let mut rec = self.record(target, round, Status::InDoubt, row);
        rec.call_id = call_id.into();
        rec.error = why(earlier.row, &earlier.key).into();
        self.appender.append(rec);
        let first_row = RowState {
            attempts: first.attempts,
            intent_at: first.intent_at.to_string(),
            ..RowState::default()
        };
        let mut rec = self.record(earlier, first.round, Status::InDoubt, &first_row);
        rec.call_id = call_id.into();
        rec.error = why(target.row, &target.key).into();
        self.appender.append(rec);
        Stats::add(&self.stats.in_doubt, 2);
        Stats::add(&self.stats.done, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake_api::{FakeApi, Rig, settings, target};
    use super::*;

    fn row(attempts: u32, intent_at: &str) -> RowState {
        RowState {
            attempts,
            intent_at: intent_at.into(),
            ..RowState::default()
        }
    }

    #[test]
    fn a_call_costs_its_slot_and_an_index_entry_not_a_half_empty_table_of_slots() {
        // 600,000 calls: a table of 2^20 places, 57% full (a million
        // calls fill 2^21 places to 48%).
        let n = 600_000;
        let mut owners = CallOwners::with_capacity(n);
        for i in 0..n {
            let id = owners.hash(&format!("call_{i}"));
            owners.insert(Slot {
                id,
                target: i as u32,
                intent_s: 0,
                round: 1,
                attempts: 1,
                flags: 0,
            });
        }
        assert!(
            owners
                .find("call_599999")
                .is_some_and(|s| s.target == 599_999)
        );
        assert!(owners.find("call_600000").is_none());
        let places = owners.index.capacity() * 8 / 7;
        let bytes = owners.slots.capacity() * std::mem::size_of::<Slot>() + places * 5;
        assert!(bytes / n <= 34, "{} bytes a call", bytes / n);
    }

    #[tokio::test]
    async fn a_row_as_listed_is_kept_in_24_bytes_and_named_back_whole() {
        assert_eq!(std::mem::size_of::<Slot>(), 24);
        let rig = Rig::new(FakeApi::default(), settings());
        let (k1, k2) = (target("k1"), target("k2"));
        let intent = row(2, "2026-03-01T10:00:00.250Z");
        assert!(rig.shared.claim("call_1", 0, &k1, 1, &intent).is_none());
        // Found again for the same row and round: the same call.
        assert!(rig.shared.claim("call_1", 0, &k1, 1, &row(3, "")).is_none());
        assert!(!rig.shared.disputed("call_1"));
        let first = rig
            .shared
            .claim("call_1", 1, &k2, 1, &row(1, ""))
            .expect("a dispute");
        assert_eq!(first.target, k1);
        assert_eq!((first.round, first.attempts), (1, 2));
        // Whole seconds, floored: a lookup from it starts no later.
        assert_eq!(first.intent_at, "2026-03-01T10:00:00Z");
        assert!(rig.shared.disputed("call_1"));
        assert!(lock(&rig.shared.call_owners).odd.is_empty());
        // Another round of the same row is another call.
        let again = rig.shared.claim("call_1", 0, &k1, 2, &row(1, ""));
        assert!(again.is_some_and(|o| o.round == 1));
        assert!(!rig.shared.disputed("call_2"));
    }

    #[tokio::test]
    async fn a_row_sent_otherwise_than_listed_is_named_as_it_was_sent() {
        let rig = Rig::new(FakeApi::default(), settings());
        let mut sent = target("k1");
        sent.to_number = "+16505550111".into();
        sent.from_number = "+14155550999".into();
        let odd_time = "2026-03-01 10:00:00.250+00:00[UTC] (not ours)";
        assert!(
            rig.shared
                .claim("call_9", 0, &sent, 4, &row(7, odd_time))
                .is_none()
        );
        let first = rig
            .shared
            .claim("call_9", 1, &target("k2"), 1, &row(1, ""))
            .expect("a dispute");
        assert_eq!(
            first.target, sent,
            "the number and caller ID it was sent with"
        );
        assert_eq!((first.round, first.attempts), (4, 7));
        assert_eq!(first.intent_at, odd_time, "kept as written");
    }
}
