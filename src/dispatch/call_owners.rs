//! The call_ids this run recorded, each with its row ([`Owner`]): an API
//! that gives one call_id to two rows is caught here.
//!
//! Every created or found call claims its call_id for its row and round.
//! A call_id claimed again by the same row and round (a lookup finding the
//! call an idempotent resend created) is fine; claimed by another row, it
//! names no one call: a warning names both rows, both are recorded
//! `in_doubt` with that reason (their next run looks each up by its own
//! metadata), and the call is no longer polled. One small entry per call
//! (the map lives in [`Shared::call_owners`]), its strings inline (no
//! allocation for ids, keys, numbers and times up to 24 bytes); a hash of
//! the id alone would be smaller but could, rarely, accuse two innocent rows.

use compact_str::CompactString;

use super::calls_api::CallsApi;
use super::counters::Stats;
use super::job::Target;
use super::state::{RowState, Shared, lock};
use crate::results::{Record, Status};

/// The row a call_id of this run was recorded for: enough to name it and
/// to mark it `in_doubt` if the API gives the same call_id to another row.
#[derive(Debug, Clone)]
pub(super) struct Owner {
    pub(super) key: CompactString,
    pub(super) row: u64,
    pub(super) to_number: CompactString,
    pub(super) round: u32,
    pub(super) attempts: u32,
    /// The time of the intent its request left under (an in-doubt record
    /// is stamped with it, so a later lookup's list starts early enough).
    pub(super) intent_at: CompactString,
    /// Its call_id was also given to another row: no longer polled.
    pub(super) disputed: bool,
}

impl<A: CallsApi> Shared<A> {
    /// Records `call_id` as the call of `target`'s `round`. Some: the API
    /// gave it to another row (or round) earlier this run, returned here.
    pub(super) fn claim(
        &self,
        call_id: &str,
        target: &Target,
        round: u32,
        row: &RowState,
    ) -> Option<Owner> {
        let mut owners = lock(&self.call_owners);
        match owners.get_mut(call_id) {
            Some(first) if *first.key == *target.key && first.round == round => None,
            Some(first) => {
                first.disputed = true;
                Some(first.clone())
            }
            None => {
                owners.insert(
                    call_id.into(),
                    Owner {
                        key: target.key.clone(),
                        row: target.row,
                        to_number: target.to_number.clone(),
                        round,
                        attempts: row.attempts,
                        intent_at: row.intent_at.as_str().into(),
                        disputed: false,
                    },
                );
                None
            }
        }
    }

    /// True when `call_id` was given to two rows this run: its call is not
    /// polled (whose outcome would it be?).
    pub(super) fn disputed(&self, call_id: &str) -> bool {
        lock(&self.call_owners)
            .get(call_id)
            .is_some_and(|o| o.disputed)
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
        tracing::warn!(
            "the API returned call_id {call_id} for row {} (key {}) and again for row {} \
             (key {}): both are marked in_doubt and looked up by their own metadata on the \
             next run",
            first.row,
            first.key,
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
        rec.error = why(first.row, &first.key).into();
        self.appender.append(rec);
        let mut earlier = Record::new(
            &first.key,
            first.row,
            &first.to_number,
            first.round,
            Status::InDoubt,
        );
        earlier.call_id = call_id.into();
        earlier.attempts = first.attempts;
        earlier.error = why(target.row, &target.key).into();
        if !first.intent_at.is_empty() {
            earlier.updated_at = (*first.intent_at).into();
        }
        self.appender.append(earlier);
        Stats::add(&self.stats.in_doubt, 2);
        Stats::add(&self.stats.done, 1);
    }
}
