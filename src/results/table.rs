//! The [`Table`]: the last record of each key, in the order keys first
//! appeared, kept small and fixed per key so that a million rows fit in
//! about 130 MB.
//!
//! Each key's record is kept in a slim form ([`Slim`], 112 bytes, no heap
//! for a typical row): the key and the rarely filled text columns (among
//! them the number, when it is not the key) as inline strings
//! (`compact_str`: up to 24 bytes need no heap), a call id of the API's
//! shape (`call_` and a ULID, 31 bytes) as its 128 bits, the `updated_at`
//! of callplan's layout as its digits in a `u64`, and the
//! caller ID, agent version, end reason and status as numbers into pools of
//! the values repeated across rows. The index is a `hashbrown::HashTable`
//! of record numbers (4 bytes a slot) that hashes the key where the record
//! keeps it, rather than a map holding a second copy of every key.
//! [`Table::get`] and [`Table::iter`] hand out an owned [`Record`], built
//! on the spot (no allocation for a typical row).

use std::sync::atomic::{AtomicUsize, Ordering};

use compact_str::CompactString;
use hashbrown::HashTable;

use super::record::{COLUMNS, LineValues, Parsed, Record, Status};
use super::slim::{
    CallId, Pool, Stamp, TAIL_FIELDS, Tail, call_id_of, call_id_text, hash_of, stamp_of, stamp_text,
};

/// A record as the table keeps it. Text that repeats across rows is a
/// number into [`Table`]'s pools.
#[derive(Debug, Clone)]
struct Slim {
    key: CompactString,
    /// `error`, `duration_s`, `next_at`, `updated_at` when it is of no
    /// layout of callplan's ([`Stamp::Text`]), `to_number` when it is
    /// not the key ([`Slim::own_number`]; the key is the number unless the
    /// plan names a key column), and `call_id` when it is not of the API's
    /// shape ([`CallId::Text`]).
    tail: Tail,
    /// The bits of a `call_id` of the API's shape (see [`call_id_of`]).
    call_bits: [u64; 2],
    /// The digits of `updated_at` (see [`stamp_of`]).
    updated: u64,
    row: u64,
    round: u32,
    attempts: u32,
    from_number: u32,
    agent_version_id: u32,
    end_reason: u32,
    status: u32,
    http_status: Option<u16>,
    updated_layout: Stamp,
    call_form: CallId,
    /// `to_number` is not the key: it is in the tail.
    own_number: bool,
}

/// The last record of each key, in the order keys first appeared.
#[derive(Debug, Clone)]
pub struct Table {
    records: Vec<Slim>,
    /// Record numbers, hashed by their record's key. Keys are the
    /// recipients' own values, not an adversary's: a fast non-keyed hash
    /// is fine (and a third of the cost of reading a log).
    index: HashTable<u32>,
    /// Caller IDs, agent versions, end reasons.
    from_numbers: Pool<CompactString>,
    agent_versions: Pool<CompactString>,
    end_reasons: Pool<CompactString>,
    statuses: Pool<Status>,
    /// The record after the last one looked up: lookups mostly come in
    /// the table's order (a log's lines go key by key, a resume walks the
    /// input in the order the log recorded it), so that one, or the last
    /// one again, is tried before the index (no hash, no cache miss).
    cursor: Cursor,
}

/// [`Table::cursor`]: atomic only so that a table stays `Sync` (a hint,
/// read and written relaxed; a stale one costs a comparison).
#[derive(Debug, Default)]
struct Cursor(AtomicUsize);

impl Cursor {
    fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, i: usize) {
        self.0.store(i, Ordering::Relaxed);
    }
}

impl Clone for Cursor {
    fn clone(&self) -> Cursor {
        Cursor(AtomicUsize::new(self.get()))
    }
}

impl Default for Table {
    fn default() -> Table {
        Table::with_capacity(0)
    }
}

/// Keys a table holds at most: its index numbers records with a `u32`.
const MAX_KEYS: usize = u32::MAX as usize;

impl Table {
    /// An empty table with room for about `n` keys.
    pub fn with_capacity(n: usize) -> Table {
        Table {
            records: Vec::with_capacity(n),
            index: HashTable::with_capacity(n),
            from_numbers: Pool::new(CompactString::default()),
            agent_versions: Pool::new(CompactString::default()),
            end_reasons: Pool::new(CompactString::default()),
            statuses: Pool::new(Status::Pending),
            cursor: Cursor::default(),
        }
    }

    /// Where the record of `key` is kept.
    pub(super) fn position(&self, key: &str) -> Option<usize> {
        let records = &self.records;
        let next = self.cursor.get();
        let found = [next, next.wrapping_sub(1)]
            .into_iter()
            .find(|&i| records.get(i).is_some_and(|r| r.key == key))
            .or_else(|| {
                self.index
                    .find(hash_of(key), |&i| records[i as usize].key == key)
                    .map(|&i| i as usize)
            });
        if let Some(i) = found {
            self.cursor.set(i + 1);
        }
        found
    }

    /// The last record of a key.
    pub fn get(&self, key: &str) -> Option<Record> {
        self.position(key).map(|i| self.record(i))
    }

    /// The caller ID of a key's last record, without building the record
    /// (a resume looks up every row's, to keep it).
    pub fn from_number(&self, key: &str) -> Option<&str> {
        self.position(key)
            .map(|i| self.from_numbers.get(self.records[i].from_number).as_str())
    }

    /// True when `key` has a record.
    #[cfg(test)]
    pub fn contains(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// The status of a key's last record, without building the record.
    pub fn status(&self, key: &str) -> Option<&Status> {
        self.position(key).map(|i| self.status_at(i))
    }

    /// The status of the record at `i`.
    pub(super) fn status_at(&self, i: usize) -> &Status {
        self.statuses.get(self.records[i].status)
    }

    /// The record at `i` ([`Table::position`]), as an owned record.
    pub(super) fn record(&self, i: usize) -> Record {
        let s = &self.records[i];
        let [error, duration_s, next_at, updated_text, number, call_text] = s.tail.fields();
        Record {
            key: s.key.clone(),
            row: s.row,
            to_number: if s.own_number {
                number.into()
            } else {
                s.key.clone()
            },
            from_number: self.from_numbers.get(s.from_number).clone(),
            agent_version_id: self.agent_versions.get(s.agent_version_id).clone(),
            round: s.round,
            status: self.statuses.get(s.status).clone(),
            call_id: call_id_text(s.call_form, s.call_bits, call_text),
            attempts: s.attempts,
            http_status: s.http_status,
            error: error.into(),
            end_reason: self.end_reasons.get(s.end_reason).clone(),
            duration_s: duration_s.into(),
            next_at: next_at.into(),
            updated_at: stamp_text(s.updated_layout, s.updated, updated_text),
        }
    }

    /// Records this one as the key's latest.
    pub fn upsert(&mut self, rec: Record) {
        // Past u32::MAX keys the records alone would be 600 GB: memory
        // runs out long before.
        self.put(&rec.parsed())
            .unwrap_or_else(|e| panic!("results table: {e}"));
    }

    /// Records a line's fields as its key's latest.
    pub(super) fn assign(&mut self, fields: &[&str; COLUMNS.len()]) -> Result<(), String> {
        let values = LineValues::of(fields)?;
        self.put(&values.with(fields))
    }

    /// Records `p` as its key's latest, in place of the key's record or
    /// as a new key.
    fn put(&mut self, p: &Parsed<'_>) -> Result<(), String> {
        let slim = self.slim(p);
        self.put_slim(slim)
    }

    /// Takes the records of `later`, the table of the lines that follow
    /// this table's, as the latest of their keys: the table one pass over
    /// all the lines would have built (keys first seen in `later` come
    /// after this table's, in their order).
    pub(super) fn absorb(&mut self, later: Table) -> Result<(), String> {
        for mut s in later.records {
            s.from_number = self
                .from_numbers
                .intern(later.from_numbers.get(s.from_number));
            s.agent_version_id = self
                .agent_versions
                .intern(later.agent_versions.get(s.agent_version_id));
            s.end_reason = self.end_reasons.intern(later.end_reasons.get(s.end_reason));
            s.status = self.statuses.intern_value(later.statuses.get(s.status));
            self.put_slim(s)?;
        }
        Ok(())
    }

    /// Records `slim` as its key's latest (see [`Table::put`]).
    fn put_slim(&mut self, slim: Slim) -> Result<(), String> {
        match self.position(&slim.key) {
            Some(i) => self.records[i] = slim,
            None => {
                let n = self.records.len();
                if n >= MAX_KEYS {
                    return Err(format!("more than {MAX_KEYS} keys"));
                }
                let hash = hash_of(slim.key.as_str());
                self.records.push(slim);
                self.cursor.set(n + 1);
                let records = &self.records;
                self.index.insert_unique(hash, n as u32, |&i| {
                    hash_of(records[i as usize].key.as_str())
                });
            }
        }
        Ok(())
    }

    /// The slim form of `p`, its repeated values added to the pools.
    fn slim(&mut self, p: &Parsed<'_>) -> Slim {
        let (updated_layout, updated) = stamp_of(p.updated_at);
        let updated_text = if updated_layout == Stamp::Text {
            p.updated_at
        } else {
            ""
        };
        let own_number = p.to_number != p.key;
        let number = if own_number { p.to_number } else { "" };
        let (call_form, call_bits) = call_id_of(p.call_id);
        let call_text = if call_form == CallId::Text {
            p.call_id
        } else {
            ""
        };
        let tail: [&str; TAIL_FIELDS] = [
            p.error,
            p.duration_s,
            p.next_at,
            updated_text,
            number,
            call_text,
        ];
        Slim {
            key: p.key.into(),
            tail: Tail::new(tail),
            call_bits,
            updated,
            row: p.row,
            round: p.round,
            attempts: p.attempts,
            from_number: self.from_numbers.intern(p.from_number),
            agent_version_id: self.agent_versions.intern(p.agent_version_id),
            end_reason: self.end_reasons.intern(p.end_reason),
            status: self.statuses.intern_value(p.status),
            http_status: p.http_status,
            updated_layout,
            call_form,
            own_number,
        }
    }

    /// Latest records, in the order keys first appeared.
    pub fn iter(&self) -> impl Iterator<Item = Record> + '_ {
        (0..self.records.len()).map(|i| self.record(i))
    }

    /// The latest status of each key, in the order keys first appeared.
    pub fn statuses(&self) -> impl Iterator<Item = &Status> + '_ {
        self.records.iter().map(|s| self.statuses.get(s.status))
    }

    /// Keys in the table.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when no key has a record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::test_support::rec;
    use crate::wire::CallStatus;

    /// What a table keeps per key, all in: the slim record (no heap for a
    /// typical row: key, numbers and timestamp are inline, the call id of
    /// the API's shape its bits, the caller ID and agent version pooled)
    /// and its index slot (4 bytes and a control byte, at hashbrown's 7/8
    /// load at most, up to twice that just after it doubles).
    #[test]
    fn a_key_costs_at_most_128_bytes_index_included() {
        assert_eq!(std::mem::size_of::<Slim>(), 112);
        let mut t = Table::with_capacity(0);
        let n = 100_000;
        for i in 0..n {
            let mut r = rec(&format!("+1650{i:07}"), Status::Call(CallStatus::Queued));
            r.to_number = r.key.clone();
            // `call_` and a ULID (31 bytes): what the API hands out.
            r.call_id = CompactString::default();
            crate::wire::ulid::push_call_id(0x019a_f3c2_7e10 << 80 | i as u128, &mut r.call_id);
            r.http_status = Some(201);
            r.attempts = 1;
            t.upsert(r);
        }
        assert!(t.records.iter().all(|s| !s.key.is_heap_allocated()
            && !s.own_number
            && s.call_form == CallId::Ulid
            && s.tail.is_empty()
            && s.updated_layout == Stamp::Millis));
        assert_eq!(t.from_numbers.len(), 2, "the empty value, one caller ID");
        assert_eq!(t.agent_versions.len(), 2);
        assert_eq!(t.end_reasons.len(), 1);
        assert_eq!(t.statuses.len(), 2, "pending (number 0), queued");
        // With the table sized for its keys, as reading a log sizes it.
        let mut sized = Table::with_capacity(n);
        for r in t.iter() {
            sized.upsert(r);
        }
        let per_key = (sized.records.capacity() * std::mem::size_of::<Slim>()
            + sized.index.capacity() * 5 * 8 / 7)
            / n;
        assert!(per_key <= 128, "{per_key} bytes per key");
        // And each reads back as it went in.
        for (a, b) in t.iter().zip(sized.iter()) {
            assert_eq!(a, b);
            assert_eq!(a.call_id.len(), 31);
            assert!(a.call_id.starts_with("call_01k"), "{}", a.call_id);
        }
    }

    #[test]
    fn a_record_reads_back_as_it_went_in() {
        let mut t = Table::default();
        let mut a = rec("a", Status::Call(CallStatus::Other("teleported".into())));
        a.error = "x".repeat(1000).into();
        a.duration_s = "31.5".into();
        a.next_at = "2026-06-08T13:00:00Z".into();
        a.end_reason = "customer_hangup".into();
        a.updated_at = "2026-01-01T00:00:00+01:00".into();
        a.http_status = Some(0);
        a.attempts = u32::MAX;
        a.round = u32::MAX;
        a.row = u64::MAX;
        // A call id of another shape, beside the other tail fields.
        a.call_id = "call_D5E9aac82253fc87-retry".into();
        t.upsert(a.clone());
        assert_eq!(t.get("a"), Some(a.clone()));
        a.call_id = "call_01kbrz3v2x8k9m4n5p6q7r8s9t".into();
        t.upsert(a.clone());
        assert_eq!(t.get("a"), Some(a.clone()));
        let mut b = rec("b", Status::Dispatching);
        b.updated_at = CompactString::default();
        t.upsert(b.clone());
        // A number that is not the key, or none, reads back as it was.
        for number in ["+16505550100", ""] {
            let mut c = rec("c", Status::Pending);
            c.to_number = number.into();
            let mut t = Table::default();
            t.upsert(c.clone());
            assert_eq!(t.get("c"), Some(c));
        }
        // The last record of a key replaces it, in its place.
        a.status = Status::InDoubt;
        a.error = CompactString::default();
        t.upsert(a.clone());
        assert_eq!(t.iter().collect::<Vec<_>>(), [a, b]);
        assert_eq!(t.len(), 2);
        assert!(t.contains("b") && !t.contains("c"));
        assert!(t.get("c").is_none());
    }
}
