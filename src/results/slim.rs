//! How [`Table`](super::Table) keeps a record small and fixed: the pieces
//! of its slim form. A timestamp of callplan's own layout is its digits in
//! a `u64` ([`Stamp`]); a call id of the API's shape is its 128 bits
//! ([`CallId`]); the rarely filled text columns share one inline string
//! ([`Tail`]); values repeated across rows (caller IDs, agent versions,
//! end reasons, statuses) are numbers into a [`Pool`].
//!
//! Every conversion is exact: what is stored reads back as the text that
//! came in, byte for byte. A value that does not fit a compact form (a
//! timestamp of another layout, a long error) is kept as text, inline up to
//! 24 bytes and on the heap beyond.

use std::hash::{BuildHasher, Hash};

use compact_str::CompactString;
use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

use crate::wire::ulid;

/// The layout of an `updated_at`: one of those callplan writes, RFC 3339
/// UTC with milliseconds (`2026-01-01T00:00:00.000Z`, what
/// [`crate::text::now_rfc3339`] writes) or whole seconds
/// (`2026-01-01T00:00:00Z`), whose digits [`stamp_of`] reads into a
/// `u64`; or none (the text is kept in the [`Tail`]). Only the layout is
/// checked, not the calendar: any digits in it read back as written, so
/// the conversion is exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stamp {
    /// No timestamp (the cell is empty).
    Empty,
    /// 17 digits, `YYYYMMDDhhmmssmmm`.
    Millis,
    /// 14 digits, `YYYYMMDDhhmmss`.
    Seconds,
    /// Another layout: the text is kept in the [`Tail`].
    Text,
}

const MILLIS_LAYOUT: &[u8; 24] = b"0000-00-00T00:00:00.000Z";
const SECONDS_LAYOUT: &[u8; 20] = b"0000-00-00T00:00:00Z";

/// The layout of `text` and its digits (0 unless a layout of callplan's).
pub(super) fn stamp_of(text: &str) -> (Stamp, u64) {
    let b = text.as_bytes();
    if b.is_empty() {
        (Stamp::Empty, 0)
    } else if let Some(d) = digits_in(b, MILLIS_LAYOUT) {
        (Stamp::Millis, d)
    } else if let Some(d) = digits_in(b, SECONDS_LAYOUT) {
        (Stamp::Seconds, d)
    } else {
        (Stamp::Text, 0)
    }
}

/// The text [`stamp_of`] read `digits` from; `text` is the tail's, for
/// [`Stamp::Text`].
pub(super) fn stamp_text(stamp: Stamp, digits: u64, text: &str) -> CompactString {
    match stamp {
        Stamp::Empty => CompactString::default(),
        Stamp::Millis => layout_with(MILLIS_LAYOUT, digits),
        Stamp::Seconds => layout_with(SECONDS_LAYOUT, digits),
        Stamp::Text => CompactString::from(text),
    }
}

/// The digits of `b` where `layout` has `0`s, when `b` has exactly the
/// layout's other bytes.
fn digits_in(b: &[u8], layout: &[u8]) -> Option<u64> {
    if b.len() != layout.len() {
        return None;
    }
    let mut d: u64 = 0;
    for (&c, &l) in b.iter().zip(layout) {
        if l == b'0' {
            if !c.is_ascii_digit() {
                return None;
            }
            // At most 17 digits: below 10^17, no overflow.
            d = d * 10 + u64::from(c - b'0');
        } else if c != l {
            return None;
        }
    }
    Some(d)
}

/// `layout` with its `0`s replaced by the digits of `d`, last digit last.
fn layout_with<const N: usize>(layout: &[u8; N], mut d: u64) -> CompactString {
    // The digits, two at a time (half the divisions of one at a time).
    let mut digits = [b'0'; 18];
    let mut k = digits.len();
    while d > 0 && k >= 2 {
        let pair = (d % 100) as usize * 2;
        d /= 100;
        digits[k - 2..k].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
        k -= 2;
    }
    let mut out = *layout;
    let mut next = digits.iter().rev();
    for c in out.iter_mut().rev() {
        if *c == b'0' {
            *c = next.next().copied().unwrap_or(b'0');
        }
    }
    // Only ASCII digits were put into an ASCII layout.
    CompactString::from_utf8(out).unwrap_or_default()
}

/// `00`, `01`, ... `99`, one after the other.
const DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// The form of a `call_id`: none, one of the shape the API page documents
/// (`call_01hy...`: `call_` and a ULID, whose 31 bytes would not fit an
/// inline string) as its 128 bits, or any other text, kept in the
/// [`Tail`]. Only a ULID's canonical form is packed, so it reads back as
/// written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CallId {
    Empty,
    /// `call_` and a ULID: its bits are kept.
    Ulid,
    /// Another shape: the text is kept in the [`Tail`].
    Text,
}

/// The form of `text` and its bits (zero unless [`CallId::Ulid`]), as two
/// `u64`s (a `u128` would align a record to 16 bytes).
pub(super) fn call_id_of(text: &str) -> (CallId, [u64; 2]) {
    if text.is_empty() {
        return (CallId::Empty, [0; 2]);
    }
    match ulid::call_id_bits(text) {
        Some(v) => (CallId::Ulid, [(v >> 64) as u64, v as u64]),
        None => (CallId::Text, [0; 2]),
    }
}

/// The text [`call_id_of`] read `bits` from; `text` is the tail's, for
/// [`CallId::Text`].
pub(super) fn call_id_text(form: CallId, bits: [u64; 2], text: &str) -> CompactString {
    match form {
        CallId::Empty => CompactString::default(),
        CallId::Ulid => {
            let mut out = CompactString::with_capacity(ulid::CALL_PREFIX.len() + ulid::LEN);
            ulid::push_call_id(u128::from(bits[0]) << 64 | u128::from(bits[1]), &mut out);
            out
        }
        CallId::Text => CompactString::from(text),
    }
}

/// The text columns a typical row leaves empty (`error`, `duration_s`,
/// `next_at`), an `updated_at` of another layout ([`Stamp::Text`]), a
/// `to_number` that is not the key and a `call_id` of another shape
/// ([`CallId::Text`]), in one string: empty when they all
/// are, so a typical row pays nothing. Inline up to 24 bytes (a duration,
/// a `next_at`, a number), on the heap beyond.
///
/// Encoding: a first byte `@` + a mask of the fields present (bit i: field
/// i), then the byte length and `:` of each present field but the last,
/// then the present fields' text in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Tail(CompactString);

/// Fields in a [`Tail`].
pub(super) const TAIL_FIELDS: usize = 6;

impl Tail {
    pub(super) fn new(fields: [&str; TAIL_FIELDS]) -> Tail {
        let Some(last) = fields.iter().rposition(|f| !f.is_empty()) else {
            return Tail::default();
        };
        let mask = fields
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.is_empty())
            .fold(0u8, |m, (i, _)| m | 1 << i);
        let mut s = CompactString::default();
        s.push(char::from(b'@' + mask));
        for f in fields[..last].iter().filter(|f| !f.is_empty()) {
            s.push_str(itoa::Buffer::new().format(f.len()));
            s.push(':');
        }
        for f in fields {
            s.push_str(f);
        }
        Tail(s)
    }

    /// The fields, as given to [`Tail::new`].
    pub(super) fn fields(&self) -> [&str; TAIL_FIELDS] {
        let mut out = [""; TAIL_FIELDS];
        let s = self.0.as_str();
        let Some(&first) = s.as_bytes().first() else {
            return out;
        };
        let mask = first.wrapping_sub(b'@');
        let last = (0..TAIL_FIELDS).rev().find(|i| mask & 1 << i != 0);
        let mut rest = s.get(1..).unwrap_or_default();
        // The lengths of the present fields but the last, in order.
        let mut lens = [0usize; TAIL_FIELDS];
        for (i, len) in lens.iter_mut().enumerate() {
            if mask & 1 << i == 0 || Some(i) == last {
                continue;
            }
            let Some((n, after)) = rest.split_once(':') else {
                return out;
            };
            *len = n.parse().unwrap_or(0);
            rest = after;
        }
        for (i, f) in out.iter_mut().enumerate() {
            if mask & 1 << i == 0 {
                continue;
            }
            let n = if Some(i) == last { rest.len() } else { lens[i] };
            // A tail is only ever built by `new`: the splits fall at field
            // boundaries, so at char boundaries.
            let Some((text, after)) = rest.split_at_checked(n) else {
                return out;
            };
            *f = text;
            rest = after;
        }
        out
    }

    /// True when every field is empty.
    #[cfg(test)]
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when the tail's text is on the heap (longer than 24 bytes).
    #[cfg(test)]
    pub(super) fn is_heap_allocated(&self) -> bool {
        self.0.is_heap_allocated()
    }
}

/// The hash every table of this module uses (FxHash: keys and values are
/// the campaign's own, not an adversary's choice of collisions).
pub(super) fn hash_of<T: Hash + ?Sized>(v: &T) -> u64 {
    FxBuildHasher.hash_one(v)
}

/// Values repeated across rows, each kept once: a record holds its number
/// (a `u32`). Number 0 is the empty value. The index holds numbers only
/// and hashes the values where they are kept.
#[derive(Debug, Clone)]
pub struct Pool<T> {
    values: Vec<T>,
    index: HashTable<u32>,
    /// The number last asked for: a column mostly repeats its value from
    /// one line to the next.
    last: u32,
}

/// Pools up to this size are searched in order rather than hashed into.
const SMALL_POOL: usize = 8;

impl<T: Hash + Eq> Pool<T> {
    /// A pool whose number 0 is `first` (the empty value).
    pub fn new(first: T) -> Pool<T> {
        let mut p = Pool {
            values: Vec::new(),
            index: HashTable::new(),
            last: 0,
        };
        let h = hash_of(&first);
        p.push(first, h);
        p
    }

    fn push(&mut self, v: T, hash: u64) -> u32 {
        // A pool can only grow by a value per line read or record written:
        // past u32::MAX values the table would be hundreds of GB.
        let n = u32::try_from(self.values.len()).unwrap_or(u32::MAX);
        self.values.push(v);
        let values = &self.values;
        self.index
            .insert_unique(hash, n, |&i| hash_of(&values[i as usize]));
        n
    }

    /// The number of the value `is` picks out (of hash `hash`): the last
    /// one asked for, else by search.
    fn find(&self, is: impl Fn(&T) -> bool, hash: impl FnOnce() -> u64) -> Option<u32> {
        let values = &self.values;
        if values.get(self.last as usize).is_some_and(&is) {
            return Some(self.last);
        }
        if values.len() <= SMALL_POOL {
            return values.iter().position(is).map(|i| i as u32);
        }
        self.index
            .find(hash(), |&i| is(&values[i as usize]))
            .copied()
    }

    /// The value of a number this pool gave.
    pub fn get(&self, n: u32) -> &T {
        &self.values[n as usize]
    }

    /// Values kept (the empty one included).
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when only the empty value is kept.
    pub fn is_empty(&self) -> bool {
        self.values.len() <= 1
    }

    /// Every value, by number (the empty one first).
    pub fn values(&self) -> &[T] {
        &self.values
    }
}

impl Pool<CompactString> {
    /// The number of `v`, added when new.
    pub fn intern(&mut self, v: &str) -> u32 {
        if v.is_empty() {
            return 0;
        }
        let n = match self.find(|k| k == v, || hash_of(v)) {
            Some(n) => n,
            None => self.push(CompactString::from(v), hash_of(v)),
        };
        self.last = n;
        n
    }
}

impl<T: Hash + Eq + Clone> Pool<T> {
    /// The number of `v`, added (cloned) when new.
    pub(super) fn intern_value(&mut self, v: &T) -> u32 {
        let n = match self.find(|k| k == v, || hash_of(v)) {
            Some(n) => n,
            None => self.push(v.clone(), hash_of(v)),
        };
        self.last = n;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_of_callplans_layouts_read_back_exactly() {
        for t in [
            "2026-01-01T00:00:00.000Z",
            "9999-12-31T23:59:59.999Z",
            "0000-00-00T00:00:00.000Z",
            "2026-02-31T99:99:99.999Z",
            "2026-06-08T13:00:00Z",
        ] {
            let (s, d) = stamp_of(t);
            assert!(matches!(s, Stamp::Millis | Stamp::Seconds), "{t}");
            assert_eq!(stamp_text(s, d, ""), t);
        }
        assert_eq!(stamp_of(""), (Stamp::Empty, 0));
        assert_eq!(stamp_text(Stamp::Empty, 0, ""), "");
    }

    #[test]
    fn a_timestamp_that_does_not_round_trip_is_kept_as_written() {
        for t in [
            "2026-01-01T00:00:00.000+00:00",
            "2026-01-01 00:00:00.000Z",
            "2026-01-01T00:00:00.00Z",
            "2026-01-01T00:00:00.0000Z",
            "2026-01-01t00:00:00.000z",
            "+2026-01-01T00:00:00Z",
            "2026-01-01T00:00:0٣Z",
            "yesterday",
        ] {
            assert_eq!(stamp_of(t), (Stamp::Text, 0), "{t}");
            assert_eq!(stamp_text(Stamp::Text, 0, t), t);
        }
    }

    #[test]
    fn a_tail_holds_its_fields_exactly_and_nothing_when_empty() {
        let empty = Tail::new(["", "", "", "", "", ""]);
        assert!(empty.is_empty());
        assert_eq!(empty.fields(), ["", "", "", "", "", ""]);
        // A duration, a next_at, a number or a short call id alone stays inline.
        let t = Tail::new(["", "31.5", "", "", "", ""]);
        assert_eq!(t.fields(), ["", "31.5", "", "", "", ""]);
        assert!(!t.is_heap_allocated());
        let t = Tail::new(["", "", "2026-06-08T13:00:00Z", "", "", ""]);
        assert!(!t.is_heap_allocated());
        let t = Tail::new(["", "", "", "", "+16505550100", ""]);
        assert!(!t.is_heap_allocated());
        let t = Tail::new(["", "", "", "", "", "call_d5e9aac82253fc87"]);
        assert!(!t.is_heap_allocated());
        let long = "x:1:".repeat(5000);
        let f = [
            "e: 12:3",
            "",
            &long,
            "2026-01-01T00:00:00+01:00",
            "+1 650",
            "c:1",
        ];
        assert_eq!(Tail::new(f).fields(), f);
    }

    proptest::proptest! {
        #[test]
        fn any_tail_reads_back(a in "\\PC{0,30}", b in "[0-9.:]{0,8}", c in "\\PC{0,30}", d in ".{0,30}", e in "\\PC{0,20}", g in "\\PC{0,40}") {
            let f = [a.as_str(), b.as_str(), c.as_str(), d.as_str(), e.as_str(), g.as_str()];
            let tail = Tail::new(f);
            proptest::prop_assert_eq!(tail.fields(), f);
        }

        #[test]
        fn any_call_id_reads_back(t in "call_[0-7][0-9a-hjkmnp-tv-z]{25}|call_[0-9a-zA-Z]{0,30}|\\PC{0,40}") {
            let (form, bits) = call_id_of(&t);
            let kept = if form == CallId::Text { t.as_str() } else { "" };
            proptest::prop_assert_eq!(call_id_text(form, bits, kept), t);
        }

        #[test]
        fn any_text_that_is_a_stamp_reads_back(t in "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{8,12}Z?|.{0,30}") {
            let (s, d) = stamp_of(&t);
            proptest::prop_assert_eq!(stamp_text(s, d, &t), t);
        }
    }

    #[test]
    fn a_call_id_of_the_api_shape_is_kept_as_its_bits() {
        let id = "call_01kbrz3v2x8k9m4n5p6q7r8s9t";
        let (form, bits) = call_id_of(id);
        assert_eq!(form, CallId::Ulid);
        assert_eq!(call_id_text(form, bits, ""), id);
        for other in [
            "call_01KBRZ3V2X8K9M4N5P6Q7R8S9T", // uppercase would not read back as written
            "call_d5e9aac82253fc87",
            "01kbrz3v2x8k9m4n5p6q7r8s9t",
            "call_01kbrz3v2x8k9m4n5p6q7r8s9t ",
        ] {
            assert_eq!(call_id_of(other), (CallId::Text, [0; 2]), "{other}");
            assert_eq!(call_id_text(CallId::Text, [0; 2], other), other);
        }
        assert_eq!(call_id_of(""), (CallId::Empty, [0; 2]));
    }

    #[test]
    fn a_pool_keeps_each_value_once() {
        let mut p = Pool::new(CompactString::default());
        assert_eq!(p.intern(""), 0);
        let a = p.intern("+14155550100");
        let b = p.intern("av_1");
        assert_eq!(p.intern("+14155550100"), a);
        assert_ne!(a, b);
        assert_eq!(p.get(a), "+14155550100");
        assert_eq!(p.get(0), "");
        assert_eq!(p.len(), 3);
        // Past the size searched in order, the index finds them all.
        let many: Vec<u32> = (0..100).map(|i| p.intern(&format!("av_{i}"))).collect();
        assert_eq!(p.len(), 102, "av_1 was there");
        for (i, &n) in many.iter().enumerate() {
            assert_eq!(p.get(n), format!("av_{i}").as_str());
            assert_eq!(p.intern(&format!("av_{i}")), n);
        }
        assert_eq!(p.intern("+14155550100"), a);
    }
}
