//! [`Targets`] as bytes and back, for the validation seal
//! (`crate::triage::seal`): a resume whose recipients file, plan and build
//! are those of the last run takes that run's targets instead of
//! validating every row again.
//!
//! Little-endian, in this order: the caller IDs and agent versions (each
//! pool's values after its empty one), the zones' IANA names, the numbers
//! of no E.164 form (index, text), the row count, the keys (none, or one
//! per row), the read-back (file, shown name, fields, length and last row), then a
//! fixed 50 bytes per row. Only targets of a CSV file are encoded (a
//! workbook's rows hold their cells, and a zone without an IANA name has
//! no name to write): [`Targets::encode`] says None for the others.
//!
//! [`Targets::decode`] reads hostile bytes without panicking and checks
//! what the rest of the run takes on trust (every pool, zone and number
//! index in range, every span inside the file): None for anything else.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use compact_str::CompactString;
use jiff::tz::TimeZone;

use super::{Stored, Targets};
use crate::recipients::fetch::{Fields, Seen};
use crate::recipients::{RowAt, RowFetch, Span};

/// Bytes a row takes.
const ROW_BYTES: usize = 50;

/// Longest text the codec reads (a hostile length is refused, not
/// allocated).
const MAX_TEXT: usize = 1 << 20;

impl Targets {
    /// The targets as bytes, appended to `out`; None when they cannot be
    /// (see the module doc).
    pub fn encode(&self, out: &mut Vec<u8>) -> Option<()> {
        let fetch = self.fetch.as_deref()?;
        let Seen::Csv { len, rows } = *fetch.seen() else {
            return None;
        };
        // Room for it all at once: grown by doubling, a million rows' 50 MB
        // would be held twice (the old buffer and the new) at the end of
        // validation, where a run's peak can fall.
        out.reserve(self.encoded_len_hint());
        let mut w = Out(out);
        for pool in [&self.callers, &self.agents] {
            let values = pool.values().get(1..).unwrap_or_default();
            w.u32(values.len() as u32);
            values.iter().for_each(|v| w.text(v));
        }
        w.u32(self.zones.len() as u32);
        for zone in &self.zones {
            w.text(zone.iana_name()?);
        }
        let mut odd: Vec<_> = self.odd_numbers.iter().collect();
        odd.sort_unstable_by_key(|(i, _)| **i);
        w.u32(odd.len() as u32);
        for (i, n) in odd {
            w.u32(*i);
            w.text(n);
        }
        w.u64(self.list.len() as u64);
        w.u8(u8::from(!self.keys.is_empty()));
        if !self.keys.is_empty() {
            for i in 0..self.list.len() {
                match self.keys.get(i).and_then(Option::as_ref) {
                    Some(k) => w.text(k),
                    None => w.u32(u32::MAX),
                }
            }
        }
        w.bytes(fetch.path().as_os_str().as_bytes());
        w.text(fetch.shown());
        let fields = fetch.fields();
        w.u32(fields.defaults.len() as u32);
        for (k, v) in &fields.defaults {
            w.text(k);
            w.text(v);
        }
        for columns in [&fields.variables, &fields.metadata] {
            w.u32(columns.len() as u32);
            for (name, i) in columns {
                w.text(name);
                w.u64(*i as u64);
            }
        }
        w.u64(len);
        w.u64(rows);
        for s in &self.list {
            let RowAt::Csv(span) = &s.at else {
                return None;
            };
            w.u64(s.number);
            w.u64(s.row);
            w.u64(span.offset);
            w.u32(span.len);
            w.u8(u8::from(span.at_eof));
            w.u64(span.hash);
            w.u32(s.from_number);
            w.u32(s.agent_version_id);
            w.u32(s.zone);
            w.u8(u8::from(s.listed));
        }
        Some(())
    }

    /// About the bytes [`Targets::encode`] writes: the rows' fixed bytes,
    /// keys and odd numbers exactly, the rest (pools, zones, the plan's
    /// fields) as 64 KiB, which a plan's few values stay well within (more
    /// costs one growth of the buffer, nothing else).
    fn encoded_len_hint(&self) -> usize {
        let keys: usize = if self.keys.is_empty() {
            0
        } else {
            let texts: usize = self.keys.iter().flatten().map(|k| k.len()).sum();
            4 * self.list.len() + texts
        };
        let odd: usize = self.odd_numbers.values().map(|n| 8 + n.len()).sum();
        self.list.len() * ROW_BYTES + keys + odd + (1 << 16)
    }

    /// Targets [`Targets::encode`] wrote, from the start of `bytes`; None
    /// when they are not such bytes, or not all of them are used.
    pub fn decode(bytes: &[u8]) -> Option<Targets> {
        let mut r = In(bytes);
        let mut t = Targets::default();
        for pool in [&mut t.callers, &mut t.agents] {
            for expected in 1..=r.u32()? {
                // Values repeated or empty would number the rows' apart.
                (pool.intern(r.text()?) == expected).then_some(())?;
            }
        }
        for id in 1..=r.u32()? {
            let name = r.text()?;
            t.zones.push(TimeZone::get(name).ok()?);
            t.zone_ids.insert(name.to_string(), id);
        }
        let odd = r.u32()?;
        for _ in 0..odd {
            let (i, n) = (r.u32()?, r.text()?);
            t.odd_numbers.insert(i, CompactString::from(n));
        }
        let n = usize::try_from(r.u64()?).ok()?;
        if r.flag()? {
            // At least four bytes a key: a hostile count cannot allocate.
            (n <= r.0.len() / 4).then_some(())?;
            t.keys = (0..n)
                .map(|_| match r.u32()? {
                    u32::MAX => Some(None),
                    len => Some(Some(CompactString::from(r.str_of(len as usize)?))),
                })
                .collect::<Option<_>>()?;
        }
        let fetch = r.fetch()?;
        rows(r, t, n, fetch)
    }
}

/// The `n` rows, then the checks of the module doc.
fn rows(mut r: In<'_>, mut t: Targets, n: usize, fetch: RowFetch) -> Option<Targets> {
    let Seen::Csv { len: file_len, .. } = *fetch.seen() else {
        return None;
    };
    (r.0.len() == n.checked_mul(ROW_BYTES)?).then_some(())?;
    let (callers, agents, zones) = (t.callers.len(), t.agents.len(), t.zones.len());
    t.list.reserve_exact(n);
    for _ in 0..n {
        let (number, row, offset, len) = (r.u64()?, r.u64()?, r.u64()?, r.u32()?);
        let (at_eof, hash) = (r.flag()?, r.u64()?);
        let (from_number, agent_version_id, zone) = (r.u32()?, r.u32()?, r.u32()?);
        let listed = r.flag()?;
        let inside = offset
            .checked_add(u64::from(len))
            .is_some_and(|end| end <= file_len);
        let in_range = (from_number as usize) < callers
            && (agent_version_id as usize) < agents
            && (zone as usize) <= zones;
        (inside && in_range).then_some(())?;
        let span = Span {
            offset,
            len,
            at_eof,
            hash,
        };
        t.list.push(Stored {
            number,
            row,
            at: RowAt::Csv(span),
            from_number,
            agent_version_id,
            zone,
            listed,
        });
    }
    let odd_in_range = t.odd_numbers.keys().all(|&i| (i as usize) < n);
    odd_in_range.then_some(())?;
    t.fetch = Some(Arc::new(fetch));
    t.by_key = OnceLock::new();
    Some(t)
}

/// Appends little-endian values.
struct Out<'a>(&'a mut Vec<u8>);

impl Out<'_> {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
    fn text(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
}

/// Reads what [`Out`] wrote; None past the end or on a bad value.
struct In<'a>(&'a [u8]);

impl<'a> In<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn flag(&mut self) -> Option<bool> {
        match self.u8()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = self.u32()? as usize;
        (len <= MAX_TEXT).then_some(())?;
        self.take(len)
    }
    fn str_of(&mut self, len: usize) -> Option<&'a str> {
        (len <= MAX_TEXT).then_some(())?;
        std::str::from_utf8(self.take(len)?).ok()
    }
    fn text(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }
    fn index(&mut self) -> Option<usize> {
        usize::try_from(self.u64()?).ok()
    }
    fn columns(&mut self) -> Option<Vec<(String, usize)>> {
        (0..self.u32()?)
            .map(|_| Some((self.text()?.to_string(), self.index()?)))
            .collect()
    }
    /// The read-back: file, shown name, fields, what validation saw.
    fn fetch(&mut self) -> Option<RowFetch> {
        let path = Path::new(OsStr::from_bytes(self.bytes()?)).to_path_buf();
        let shown = self.text()?.to_string();
        let mut defaults = BTreeMap::new();
        for _ in 0..self.u32()? {
            let (k, v) = (self.text()?, self.text()?);
            defaults.insert(k.to_string(), v.to_string());
        }
        let fields = Fields {
            defaults,
            variables: self.columns()?,
            metadata: self.columns()?,
        };
        let seen = Seen::Csv {
            len: self.u64()?,
            rows: self.u64()?,
        };
        path.is_absolute().then_some(())?;
        Some(RowFetch::new(&path, &shown, fields, seen))
    }
}
