//! Every recipient of a run, in input order, kept once ([`Targets`]) and
//! small: 56 bytes a row when its key is its number (the default), 80
//! when the plan names a key column, whatever the row's width.
//!
//! A row is stored in a compact form and handed out as a [`Target`] built
//! on the spot (no allocation for a typical row): its number as the digits
//! of its E.164 form in a `u64`, its caller ID and agent version as
//! numbers into pools of the values repeated across rows, its calling zone
//! as a number into a small pool of zones, and where its cells are in the
//! recipients file (the cells are read back when it is dialled,
//! [`Targets::cells`]). Its key is kept only when it is not its number.
//! Every conversion is exact: a target reads back as it was pushed.

use std::hash::BuildHasher;
use std::sync::{Arc, OnceLock};

use compact_str::CompactString;
use jiff::tz::TimeZone;
use rustc_hash::{FxBuildHasher, FxHashMap};

use super::job::{Job, Target};
use crate::recipients::fetch::Cells;
use crate::recipients::{Changed, RowAt, RowFetch};
use crate::results::Pool;

mod codec;

/// A target as [`Targets`] keeps it.
#[derive(Debug, Clone)]
struct Stored {
    /// The digits of `to_number` when it is `+` and 1 to 19 digits, the
    /// first not 0; else 0 and the number is in [`Targets::odd_numbers`].
    number: u64,
    row: u64,
    at: RowAt,
    /// Numbers into [`Targets::callers`] and [`Targets::agents`].
    from_number: u32,
    agent_version_id: u32,
    zone: u32,
    listed: bool,
}

/// Every recipient of a run, in input order, owned once: jobs, resumes and
/// redials name them by index ([`Job::target`]); a key index is built at
/// the first look-up by key (redials, calling windows).
#[derive(Debug, Clone)]
pub struct Targets {
    list: Vec<Stored>,
    /// Each row's key, once a key that is not its row's number was pushed
    /// (then for every row; None: the key is the number). Empty while every
    /// key is its number.
    keys: Vec<Option<CompactString>>,
    /// Numbers of no E.164 form [`Stored::number`] holds (empty, or not
    /// normalized), by index.
    odd_numbers: FxHashMap<u32, CompactString>,
    callers: Pool<CompactString>,
    agents: Pool<CompactString>,
    zones: Vec<TimeZone>,
    zone_ids: FxHashMap<String, u32>,
    /// (hash of the key, index), sorted: built by [`Targets::index_keys`]
    /// or by the first [`Targets::find`], dropped by a push.
    by_key: OnceLock<Vec<(u64, u32)>>,
    /// Reads rows back; None when the targets have no file (tests, or
    /// `status` from a results file alone): their cells are then empty.
    fetch: Option<Arc<RowFetch>>,
}

impl Default for Targets {
    fn default() -> Targets {
        Targets {
            list: Vec::new(),
            keys: Vec::new(),
            odd_numbers: FxHashMap::default(),
            callers: Pool::new(CompactString::default()),
            agents: Pool::new(CompactString::default()),
            zones: Vec::new(),
            zone_ids: FxHashMap::default(),
            by_key: OnceLock::new(),
            fetch: None,
        }
    }
}

/// The digits of an E.164 number `+` and 1 to 19 digits, the first not 0:
/// exactly what `"+{n}"` writes back.
fn packed(number: &str) -> Option<u64> {
    let digits = number.strip_prefix('+')?;
    let ok = (1..=19).contains(&digits.len())
        && !digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| digits.parse().ok()).flatten()
}

impl Targets {
    /// Room for `n` targets without growing.
    pub fn with_capacity(n: usize) -> Targets {
        Targets {
            list: Vec::with_capacity(n),
            ..Targets::default()
        }
    }

    /// Adds `target` with its calling zone; its index.
    pub fn push(&mut self, target: Target, zone: Option<TimeZone>) -> u32 {
        let i = u32::try_from(self.list.len()).unwrap_or(u32::MAX);
        self.by_key = OnceLock::new();
        let zone = zone.map_or(0, |z| self.zone_id(z));
        let number = packed(&target.to_number).unwrap_or(0);
        if number == 0 && !target.to_number.is_empty() {
            self.odd_numbers.insert(i, target.to_number.clone());
        }
        let own_key = target.key != target.to_number;
        if own_key || !self.keys.is_empty() {
            // The rows before the first key of its own: their numbers.
            self.keys.resize(self.list.len(), None);
            self.keys.push(own_key.then_some(target.key));
        }
        let stored = Stored {
            number,
            row: target.row,
            at: target.at,
            from_number: self.callers.intern(&target.from_number),
            agent_version_id: self.agents.intern(&target.agent_version_id),
            zone,
            listed: target.listed,
        };
        self.list.push(stored);
        i
    }

    fn zone_id(&mut self, zone: TimeZone) -> u32 {
        let name = zone.iana_name().map(str::to_string);
        if let Some(id) = name.as_ref().and_then(|n| self.zone_ids.get(n)) {
            return *id;
        }
        let found = name
            .is_none()
            .then(|| self.zones.iter().position(|z| *z == zone))
            .flatten();
        let i = found.unwrap_or_else(|| {
            self.zones.push(zone);
            self.zones.len() - 1
        });
        let id = u32::try_from(i + 1).unwrap_or(0);
        if let Some(n) = name {
            self.zone_ids.insert(n, id);
        }
        id
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The number of target `i`.
    fn number(&self, i: u32, s: &Stored) -> CompactString {
        if s.number == 0 {
            return self.odd_numbers.get(&i).cloned().unwrap_or_default();
        }
        let mut out = CompactString::const_new("+");
        out.push_str(itoa::Buffer::new().format(s.number));
        out
    }

    /// True when target `i`'s number is `text` (compared as digits, not
    /// built).
    fn number_is(&self, i: u32, s: &Stored, text: &str) -> bool {
        if s.number != 0 {
            return packed(text) == Some(s.number);
        }
        self.odd_numbers.get(&i).map_or("", |n| n.as_str()) == text
    }

    /// Target `i`'s key when it is not its number.
    fn own_key(&self, i: u32) -> Option<&CompactString> {
        self.keys.get(i as usize)?.as_ref()
    }

    /// The key of target `i` (empty past the end).
    pub fn key(&self, i: u32) -> CompactString {
        match (self.own_key(i), self.list.get(i as usize)) {
            (Some(k), _) => k.clone(),
            (None, Some(s)) => self.number(i, s),
            (None, None) => CompactString::default(),
        }
    }

    /// True when target `i`'s key is `key` (without building the key).
    pub fn key_is(&self, i: u32, key: &str) -> bool {
        match (self.own_key(i), self.list.get(i as usize)) {
            (Some(k), _) => k == key,
            (None, Some(s)) => self.number_is(i, s, key),
            (None, None) => false,
        }
    }

    /// True when `t` names target `i` as it is listed: the same key, row,
    /// number, caller ID and agent version (what a record of the row is
    /// made of), compared without building the target.
    pub fn lists(&self, i: u32, t: &Target) -> bool {
        self.list.get(i as usize).is_some_and(|s| {
            s.row == t.row
                && self.key_is(i, &t.key)
                && self.number_is(i, s, &t.to_number)
                && *self.callers.get(s.from_number) == t.from_number
                && *self.agents.get(s.agent_version_id) == t.agent_version_id
        })
    }

    fn target(&self, i: u32, s: &Stored) -> Target {
        let to_number = self.number(i, s);
        let key = self
            .own_key(i)
            .cloned()
            .unwrap_or_else(|| to_number.clone());
        Target {
            key,
            row: s.row,
            to_number,
            from_number: self.callers.get(s.from_number).clone(),
            agent_version_id: self.agents.get(s.agent_version_id).clone(),
            at: s.at.clone(),
            zone: s.zone,
            listed: s.listed,
        }
    }

    /// Target `i`.
    pub fn get(&self, i: u32) -> Option<Target> {
        self.list.get(i as usize).map(|s| self.target(i, s))
    }

    /// True when target `i` is on a do-not-call list loaded now.
    pub fn listed(&self, i: u32) -> bool {
        self.list.get(i as usize).is_some_and(|s| s.listed)
    }

    /// Every target with its index, in input order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, Target)> + '_ {
        (0u32..)
            .zip(self.list.iter())
            .map(|(i, s)| (i, self.target(i, s)))
    }

    /// Sets target `i`'s caller ID (before the run: `crate::callerid`).
    pub fn set_from_number(&mut self, i: u32, from_number: &str) {
        let n = self.callers.intern(from_number);
        if let Some(s) = self.list.get_mut(i as usize) {
            s.from_number = n;
        }
    }

    /// Sets `from_number` as the caller ID of every row that has none and
    /// is not on a do-not-call list (`crate::callerid` with one caller ID).
    pub fn fill_from_number(&mut self, from_number: &str) {
        let n = self.callers.intern(from_number);
        for s in self
            .list
            .iter_mut()
            .filter(|s| !s.listed && s.from_number == 0)
        {
            s.from_number = n;
        }
    }

    /// `target`'s calling zone, if it has one.
    pub fn zone(&self, target: &Target) -> Option<&TimeZone> {
        let i = target.zone.checked_sub(1)?;
        self.zones.get(i as usize)
    }

    /// Builds the key index [`Targets::find`] uses now rather than at its
    /// first call (16 bytes a row; only runs that redial or follow calling
    /// windows look rows up by key).
    pub fn index_keys(&mut self) {
        self.by_key();
    }

    fn by_key(&self) -> &[(u64, u32)] {
        self.by_key.get_or_init(|| {
            let mut by_key: Vec<(u64, u32)> = (0..self.list.len() as u32)
                .map(|i| (FxBuildHasher.hash_one(self.key(i).as_str()), i))
                .collect();
            by_key.sort_unstable();
            by_key
        })
    }

    /// The index of the first target with `key`.
    pub fn find(&self, key: &str) -> Option<u32> {
        let h = FxBuildHasher.hash_one(key);
        let by_key = self.by_key();
        let from = by_key.partition_point(|(k, _)| *k < h);
        by_key
            .get(from..)?
            .iter()
            .take_while(|(k, _)| *k == h)
            .map(|(_, i)| *i)
            .filter(|&i| self.key_is(i, key))
            .min()
    }

    /// Where the rows' cells are read back from.
    pub fn set_fetch(&mut self, fetch: RowFetch) {
        self.fetch = Some(Arc::new(fetch));
    }

    /// Before the first dial: the recipients file is still the one
    /// validated (see [`RowFetch::check`]).
    pub fn check_unchanged(&self) -> Result<(), Changed> {
        match &self.fetch {
            Some(fetch) => fetch.check(self.list.iter().map(|s| (s.row, &s.at))),
            None => Ok(()),
        }
    }

    /// `target`'s variables and metadata, read back from the file (and
    /// checked to be the bytes validated) just before its request is built.
    pub fn cells(&self, target: &Target) -> Result<Cells, Changed> {
        match &self.fetch {
            Some(fetch) => fetch.cells(target.row, &target.at),
            None => Ok(Cells::default()),
        }
    }

    /// The target `job` dials, as it is sent: the caller ID and agent
    /// version an earlier run's intent recorded, when it has them.
    pub fn of_job(&self, job: &Job) -> Option<Target> {
        let mut target = self.get(job.target)?;
        if let Some(as_sent) = &job.sent_as {
            target.from_number = as_sent.from_number.clone();
            target.agent_version_id = as_sent.agent_version_id.clone();
        }
        Some(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(key: &str, to: &str) -> Target {
        Target::new(key, 7, to)
    }

    #[test]
    fn a_row_costs_56_bytes_and_reads_back_as_it_was_pushed() {
        assert_eq!(std::mem::size_of::<Stored>(), 56);
        let mut t = Targets::with_capacity(8);
        let mut own = target("+16505550100", "+16505550100");
        own.from_number = "+14155550100".into();
        own.agent_version_id = "av_2".into();
        own.listed = true;
        let pushed = [
            own,
            target("+447911123456", "+447911123456"),
            // Numbers of no E.164 form are kept as they came.
            target("", ""),
            target("", "+16505550101"),
            target("x", "+0123"),
            target("y", "6505550100"),
            target("z", "+12345678901234567890"),
        ];
        for p in &pushed {
            t.push(p.clone(), None);
        }
        assert!(t.keys.is_empty() || t.keys.len() == pushed.len());
        let got: Vec<Target> = t.iter().map(|(_, t)| t).collect();
        assert_eq!(got, pushed);
        assert!(t.listed(0) && !t.listed(1));
        assert_eq!(t.get(7), None);
    }

    #[test]
    fn keys_are_kept_only_once_one_is_not_its_number() {
        let mut t = Targets::default();
        t.push(target("+16505550100", "+16505550100"), None);
        t.push(target("+16505550101", "+16505550101"), None);
        assert!(t.keys.is_empty(), "every key is its number");
        t.push(target("patient-3", "+16505550102"), None);
        t.push(target("+16505550103", "+16505550103"), None);
        assert_eq!(t.keys.len(), 4);
        let keys: Vec<CompactString> = t.iter().map(|(_, t)| t.key).collect();
        assert_eq!(
            keys,
            ["+16505550100", "+16505550101", "patient-3", "+16505550103"]
        );
        assert_eq!(t.find("patient-3"), Some(2), "indexed at the first look");
        t.push(target("late", "+16505550109"), None);
        assert_eq!(
            t.find("late"),
            Some(4),
            "a push is in the next look's index"
        );
        assert_eq!(t.find("+16505550103"), Some(3));
        assert_eq!(t.find("+16505550102"), None, "a number is not a key here");
    }

    #[test]
    fn a_caller_id_set_later_and_a_job_sent_otherwise_read_back() {
        let mut t = Targets::default();
        t.push(target("k", "+16505550100"), None);
        t.set_from_number(0, "+14155550111");
        assert_eq!(t.get(0).map(|t| t.from_number), Some("+14155550111".into()));
        let mut job = Job::new(0, 1, 0);
        job.sent_as = Some(Box::new(super::super::job::SentAs {
            from_number: "+14155550199".into(),
            agent_version_id: "av_old".into(),
        }));
        let sent = t.of_job(&job).expect("target 0");
        assert_eq!(
            (sent.from_number.as_str(), sent.agent_version_id.as_str()),
            ("+14155550199", "av_old")
        );
        assert_eq!(
            t.get(0).map(|t| t.agent_version_id),
            Some("".into()),
            "the list is unchanged"
        );
    }

    #[test]
    fn targets_are_found_by_key_and_share_their_zones() {
        let mut targets = Targets::default();
        let ny = TimeZone::get("America/New_York").unwrap();
        for (i, key) in ["a", "b", "a", "c"].iter().enumerate() {
            let zone = (i != 3).then(|| ny.clone());
            targets.push(Target::new(key, i as u64 + 2, "+12125550142"), zone);
        }
        targets.index_keys();
        assert_eq!(targets.find("a"), Some(0), "the first row with the key");
        assert_eq!(targets.find("c"), Some(3));
        assert_eq!(targets.find("z"), None);
        let zones: Vec<_> = targets.iter().map(|(_, t)| t.zone).collect();
        assert_eq!(zones, [1, 1, 1, 0]);
        assert_eq!(targets.zone(&targets.get(1).unwrap()), Some(&ny));
        assert_eq!(targets.zone(&targets.get(3).unwrap()), None);
        let mut job = Job::new(1, 1, 0);
        assert_eq!(targets.of_job(&job).unwrap().from_number, "");
        job.sent_as = Some(Box::new(super::super::job::SentAs {
            from_number: "+14155550100".into(),
            agent_version_id: "av_2".into(),
        }));
        let sent = targets.of_job(&job).unwrap();
        assert_eq!(
            (sent.key.as_str(), sent.from_number.as_str()),
            ("b", "+14155550100")
        );
        assert!(targets.of_job(&Job::new(9, 1, 0)).is_none());
    }

    proptest::proptest! {
        #[test]
        fn any_keys_and_numbers_read_back(
            rows in proptest::collection::vec(("\\+?[0-9]{0,22}|\\PC{0,12}", proptest::option::of("\\PC{0,12}")), 1..8)
        ) {
            let mut t = Targets::default();
            let mut pushed = Vec::new();
            for (n, key) in &rows {
                // None: the key is the number, as the default key is.
                let target = target(key.as_deref().unwrap_or(n), n);
                t.push(target.clone(), None);
                pushed.push(target);
            }
            let got: Vec<Target> = t.iter().map(|(_, t)| t).collect();
            for (i, p) in (0u32..).zip(&pushed) {
                proptest::prop_assert!(t.key_is(i, &p.key));
                proptest::prop_assert!(t.lists(i, p));
                let mut moved = p.clone();
                moved.to_number.push('0');
                proptest::prop_assert!(!t.lists(i, &moved));
                proptest::prop_assert_eq!(t.key_is(i, "+1"), p.key == "+1");
            }
            proptest::prop_assert_eq!(got, pushed);
        }
    }
}
