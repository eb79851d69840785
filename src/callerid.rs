//! Which caller ID each recipient is called from, and how many calls each
//! caller ID and agent version carried.
//!
//! The plan declares the workspace's numbers: `from_number` (the default)
//! and `local_caller_ids` (each with the `prefixes` and `countries` of the
//! recipients it is local to). [`Pool::choose`] is the rule, pure: the
//! entry with the longest matching prefix, else one whose countries hold
//! the number's region, else `from_number`; among equal matches the least
//! used so far in this campaign ([`Usage`], handed in), the first in plan
//! order on a tie. The choice is sticky: a caller ID already recorded for a
//! recipient (read back from the results file) wins while it is still one
//! of the plan's, so a person never sees two numbers for one reminder, in
//! any round or rerun. [`assign`] applies this to a run's targets in input
//! order, so that even a results file that kept no caller IDs gets the same
//! choices again from the same list.
//!
//! It sits beside triage (it reads the targets and the results table and
//! knows nothing of the engine); `dispatch` only sends what it chose.

use std::collections::BTreeMap;

use crate::dispatch::Targets;
use crate::phone::{self, RegionCode};
use crate::plan::{LocalCallerId, Plan};
use crate::results::{Record, Table};

/// Calls so far per caller ID in this campaign, for least-used balancing.
pub type Usage = BTreeMap<String, u64>;

/// One `local_caller_ids` entry, read for matching.
#[derive(Debug, Clone)]
struct Entry {
    number: String,
    countries: Vec<RegionCode>,
    /// `+` and digits only; others are a validation finding, never matched.
    prefixes: Vec<String>,
}

/// The plan's caller IDs: the default and the local entries.
#[derive(Debug, Clone)]
pub struct Pool {
    default: String,
    entries: Vec<Entry>,
}

/// How a recipient's caller ID was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// Recorded earlier for this recipient.
    Sticky,
    /// The longest matching prefix.
    Prefix,
    /// The number's region.
    Country,
    /// No local entry matched: `from_number`.
    Default,
}

/// A prefix as matched: `+` then at least one digit.
pub fn is_prefix(p: &str) -> bool {
    p.len() >= 2 && p.starts_with('+') && p[1..].bytes().all(|b| b.is_ascii_digit())
}

impl Pool {
    /// The pool of `plan`.
    pub fn of(plan: &Plan) -> Pool {
        Pool::new(&plan.from_number, &plan.local_caller_ids)
    }

    /// A pool from a default caller ID and local entries (as in a plan).
    pub fn new(default: &str, entries: &[LocalCallerId]) -> Pool {
        let entries = entries
            .iter()
            .map(|e| Entry {
                number: e.number.trim().to_string(),
                countries: e
                    .countries
                    .iter()
                    .filter_map(|c| RegionCode::new(c.trim()))
                    .collect(),
                prefixes: e
                    .prefixes
                    .iter()
                    .map(|p| p.trim().to_string())
                    .filter(|p| is_prefix(p))
                    .collect(),
            })
            .collect();
        Pool {
            default: default.trim().to_string(),
            entries,
        }
    }

    /// The default caller ID (`from_number`).
    pub fn default_number(&self) -> &str {
        &self.default
    }

    /// Every caller ID of the plan: `from_number` first, then the local
    /// entries in plan order (a number may appear twice).
    pub fn numbers(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.default.as_str()).chain(self.entries.iter().map(|e| e.number.as_str()))
    }

    /// `number` is one of the plan's caller IDs.
    pub fn contains(&self, number: &str) -> bool {
        self.numbers().any(|n| n == number)
    }

    /// The local entries that match `to` best, and how: those with the
    /// longest matching prefix, else those whose countries hold `region`.
    /// Empty: no local match (the default applies).
    pub fn local_matches(&self, to: &str, region: Option<RegionCode>) -> (Vec<&str>, Basis) {
        let longest = |e: &Entry| {
            e.prefixes
                .iter()
                .filter(|p| to.starts_with(p.as_str()))
                .map(String::len)
                .max()
        };
        let best = self.entries.iter().filter_map(longest).max();
        if let Some(best) = best {
            let numbers = self
                .entries
                .iter()
                .filter(|e| longest(e) == Some(best))
                .map(|e| e.number.as_str())
                .collect();
            return (numbers, Basis::Prefix);
        }
        let Some(region) = region else {
            return (Vec::new(), Basis::Default);
        };
        let numbers: Vec<&str> = self
            .entries
            .iter()
            .filter(|e| e.countries.contains(&region))
            .map(|e| e.number.as_str())
            .collect();
        let basis = if numbers.is_empty() {
            Basis::Default
        } else {
            Basis::Country
        };
        (numbers, basis)
    }

    /// The caller ID for the recipient `to` (E.164, of `region`): the
    /// `sticky` one when it is still a caller ID of the plan, else the
    /// best local match (the least used of equals, by `usage`), else the
    /// default. Always one of [`Pool::numbers`].
    pub fn choose(
        &self,
        to: &str,
        region: Option<RegionCode>,
        sticky: Option<&str>,
        usage: &Usage,
    ) -> (&str, Basis) {
        if let Some(s) = sticky.map(str::trim)
            && let Some(n) = self.numbers().find(|n| *n == s)
        {
            return (n, Basis::Sticky);
        }
        let (matches, basis) = self.local_matches(to, region);
        let used = |n: &str| usage.get(n).copied().unwrap_or(0);
        // min_by_key keeps the first of equals: plan order breaks a tie.
        match matches.into_iter().min_by_key(|n| used(n)) {
            Some(n) => (n, basis),
            None => (self.default.as_str(), Basis::Default),
        }
    }

    /// Whether any entry matches by country (then a region is needed).
    fn has_countries(&self) -> bool {
        self.entries.iter().any(|e| !e.countries.is_empty())
    }
}

/// Gives each of `targets` its caller ID, in input order: a row's own
/// (already in `from_number`, validated) is kept; else the one recorded
/// for its key in `table` when still one of the plan's; else
/// [`Pool::choose`], balancing against what is already in use. Rows of
/// the first two kinds are counted before any is chosen, so new rows
/// balance against the whole campaign.
pub fn assign(plan: &Plan, targets: &mut Targets, table: Option<&Table>) {
    let pool = Pool::of(plan);
    if pool.entries.is_empty() {
        // One caller ID: nothing to choose, and a recorded one sticks only
        // while the plan has it, so it is this one too. Neither the table
        // nor the usage need be read.
        targets.fill_from_number(pool.default_number());
        return;
    }
    let mut usage = Usage::new();
    let mut open = Vec::new();
    // Rows on a do-not-call list are never dialled: they take no caller ID.
    let count_all = u32::try_from(targets.len()).unwrap_or(u32::MAX);
    for i in 0..count_all {
        let Some(t) = targets.get(i).filter(|t| !t.listed) else {
            continue;
        };
        let recorded = table
            .and_then(|tb| tb.from_number(&t.key))
            .map(str::trim)
            .filter(|n| !n.is_empty() && pool.contains(n));
        match (t.from_number.is_empty(), recorded) {
            (false, _) => count(&mut usage, &t.from_number),
            (true, Some(n)) => {
                count(&mut usage, n);
                targets.set_from_number(i, n);
            }
            (true, None) => open.push(i),
        }
    }
    let need_region = pool.has_countries();
    for i in open {
        let Some(t) = targets.get(i) else { continue };
        let region = if need_region {
            phone::region_of(&t.to_number)
        } else {
            None
        };
        let (n, _) = pool.choose(&t.to_number, region, None, &usage);
        count(&mut usage, n);
        targets.set_from_number(i, n);
    }
}

/// One more row calling from `number` (no allocation once it is counted).
fn count(usage: &mut Usage, number: &str) {
    match usage.get_mut(number) {
        Some(n) => *n += 1,
        None => {
            usage.insert(number.to_string(), 1);
        }
    }
}

/// Calls per caller ID and per agent version in a results table: what
/// `status` and the run summary print when more than one was used.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct UsageCounts {
    /// Rows whose record names a call (a call_id) by the caller ID it left from.
    pub by_caller_id: BTreeMap<String, u64>,
    /// The same rows by agent version.
    pub by_agent_version: BTreeMap<String, u64>,
}

impl UsageCounts {
    /// Counts the records of `records` that name a call.
    pub fn of<R: std::borrow::Borrow<Record>>(records: impl IntoIterator<Item = R>) -> UsageCounts {
        let mut out = UsageCounts::default();
        for r in records {
            let r = r.borrow();
            if r.call_id.is_empty() {
                continue;
            }
            if !r.from_number.is_empty() {
                *out.by_caller_id
                    .entry(r.from_number.to_string())
                    .or_insert(0) += 1;
            }
            if !r.agent_version_id.is_empty() {
                *out.by_agent_version
                    .entry(r.agent_version_id.to_string())
                    .or_insert(0) += 1;
            }
        }
        out
    }

    /// The lines to print: one per caller ID when more than one was used,
    /// one per agent version likewise; none otherwise.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut group = |title: &str, counts: &BTreeMap<String, u64>| {
            if counts.len() > 1 {
                let parts: Vec<String> = counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
                out.push(format!("{title}: {}", parts.join(", ")));
            }
        };
        group("calls by caller ID", &self.by_caller_id);
        group("calls by agent version", &self.by_agent_version);
        out
    }
}

/// [`UsageCounts::of`] over a whole results table.
pub fn usage(table: &Table) -> UsageCounts {
    UsageCounts::of(table.iter())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::Target;
    use proptest::prelude::*;

    const DEFAULT: &str = "+14155550100";
    const GB: &str = "+442079460000";
    const NYC: &str = "+12125550100";

    fn entry(number: &str, countries: &[&str], prefixes: &[&str]) -> LocalCallerId {
        LocalCallerId {
            number: number.into(),
            countries: countries.iter().map(|s| s.to_string()).collect(),
            prefixes: prefixes.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn pool() -> Pool {
        Pool::new(
            DEFAULT,
            &[
                entry(GB, &["GB"], &[]),
                entry(NYC, &[], &["+1212", "+1646", "+1917"]),
            ],
        )
    }

    fn pick(p: &Pool, to: &str) -> (String, Basis) {
        let (n, b) = p.choose(to, phone::region_of(to), None, &Usage::new());
        (n.to_string(), b)
    }

    #[test]
    fn prefix_then_country_then_the_default() {
        let p = pool();
        assert_eq!(pick(&p, "+442079460123"), (GB.into(), Basis::Country));
        assert_eq!(pick(&p, "+12125550142"), (NYC.into(), Basis::Prefix));
        assert_eq!(pick(&p, "+16465550142"), (NYC.into(), Basis::Prefix));
        assert_eq!(pick(&p, "+16502530001"), (DEFAULT.into(), Basis::Default));
        assert_eq!(pick(&p, "+33142685300"), (DEFAULT.into(), Basis::Default));
    }

    #[test]
    fn the_longest_prefix_wins_over_a_shorter_one_and_over_a_country() {
        let p = Pool::new(
            DEFAULT,
            &[
                entry("+12125550001", &["US"], &[]),
                entry("+12125550002", &[], &["+1"]),
                entry("+12125550003", &[], &["+1212"]),
            ],
        );
        assert_eq!(pick(&p, "+12125550142").0, "+12125550003");
        assert_eq!(
            pick(&p, "+16502530001"),
            ("+12125550002".into(), Basis::Prefix)
        );
    }

    #[test]
    fn equal_matches_go_to_the_least_used_then_plan_order() {
        let p = Pool::new(
            DEFAULT,
            &[
                entry("+442079460001", &["GB"], &[]),
                entry("+442079460002", &["gb"], &[]),
            ],
        );
        let to = "+442079460123";
        let region = phone::region_of(to);
        let mut usage = Usage::new();
        let mut seen = Vec::new();
        for _ in 0..4 {
            let (n, _) = p.choose(to, region, None, &usage);
            let n = n.to_string();
            *usage.entry(n.clone()).or_insert(0) += 1;
            seen.push(n);
        }
        assert_eq!(
            seen,
            [
                "+442079460001",
                "+442079460002",
                "+442079460001",
                "+442079460002"
            ]
        );
    }

    #[test]
    fn a_recorded_caller_id_sticks_while_the_plan_still_has_it() {
        let p = pool();
        let to = "+12125550142";
        let usage = Usage::new();
        assert_eq!(
            p.choose(to, None, Some(DEFAULT), &usage),
            (DEFAULT, Basis::Sticky)
        );
        assert_eq!(p.choose(to, None, Some(GB), &usage), (GB, Basis::Sticky));
        // A number the plan no longer declares is not used again.
        assert_eq!(
            p.choose(to, None, Some("+15555550100"), &usage),
            (NYC, Basis::Prefix)
        );
    }

    #[test]
    fn bad_rules_never_match() {
        let p = Pool::new(
            DEFAULT,
            &[entry(GB, &["Britain", ""], &["1212", "+", "+12a"])],
        );
        assert_eq!(pick(&p, "+12125550142").0, DEFAULT);
        assert_eq!(pick(&p, "+442079460123").0, DEFAULT);
        assert!(is_prefix("+1") && !is_prefix("+") && !is_prefix("1212"));
    }

    fn target(key: &str, to: &str) -> Target {
        Target::new(key, 2, to)
    }

    fn plan_with(entries: Vec<LocalCallerId>) -> Plan {
        let mut plan = crate::plan::from_yaml(
            "name: t\nfrom_number: \"+14155550100\"\nagent_version_id: av_t\nrecipients: r.csv\n",
            std::path::Path::new("/t/p.yaml"),
        )
        .unwrap();
        plan.local_caller_ids = entries;
        plan
    }

    fn targets_of(list: &[Target]) -> Targets {
        let mut targets = Targets::default();
        for t in list {
            targets.push(t.clone(), None);
        }
        targets
    }

    #[test]
    fn assign_keeps_own_and_recorded_caller_ids_and_balances_the_rest() {
        let a = "+442079460001";
        let b = "+442079460002";
        let plan = plan_with(vec![entry(a, &["GB"], &[]), entry(b, &["GB"], &[])]);
        let mut table = Table::with_capacity(4);
        let mut rec = Record::new("k1", 2, "+442079460101", 1, crate::results::Status::Pending);
        rec.from_number = a.into();
        table.upsert(rec);
        let mut rec = Record::new("k2", 3, "+442079460102", 1, crate::results::Status::Pending);
        rec.from_number = "+15555550100".into(); // no longer the plan's
        table.upsert(rec);
        let mut list = vec![
            target("k1", "+442079460101"),
            target("k2", "+442079460102"),
            target("k3", "+442079460103"),
            target("k4", "+16502530001"),
        ];
        list[2].from_number = a.into(); // the row's own
        let from_numbers = |targets: &Targets| {
            targets
                .iter()
                .map(|(_, t)| t.from_number)
                .collect::<Vec<_>>()
        };
        let mut targets = targets_of(&list);
        assign(&plan, &mut targets, Some(&table));
        // k1 sticks to a, k3 names a: k2 balances to b; k4 is not in GB.
        assert_eq!(from_numbers(&targets), [a, b, a, DEFAULT]);
        // Without a table the same list gets the same choices every time.
        for t in &mut list {
            t.from_number.clear();
        }
        let mut again = targets_of(&list);
        let mut third = targets_of(&list);
        assign(&plan, &mut again, None);
        assign(&plan, &mut third, None);
        assert_eq!(from_numbers(&again), from_numbers(&third));
        assert_eq!(from_numbers(&again)[..2], [a, b]);
    }

    /// With the plan's one caller ID, every row without its own calls from
    /// it, whatever the log recorded; do-not-call rows take none.
    #[test]
    fn one_caller_id_goes_to_every_row_without_its_own() {
        let own = "+16502530099";
        let plan = plan_with(Vec::new());
        let mut table = Table::with_capacity(1);
        let mut rec = Record::new("k2", 3, "+16502530002", 1, crate::results::Status::Pending);
        rec.from_number = "+15555550100".into(); // no longer the plan's
        table.upsert(rec);
        let mut list = vec![
            target("k1", "+16502530001"),
            target("k2", "+16502530002"),
            target("k3", "+16502530003"),
            target("k4", "+16502530004"),
        ];
        list[0].from_number = own.into();
        list[3].listed = true;
        let mut targets = targets_of(&list);
        assign(&plan, &mut targets, Some(&table));
        let got: Vec<_> = targets.iter().map(|(_, t)| t.from_number).collect();
        assert_eq!(got, [own, DEFAULT, DEFAULT, ""]);
    }

    #[test]
    fn usage_counts_calls_and_prints_only_mixes() {
        let mut recs = Vec::new();
        for (from, agent, call) in [
            (DEFAULT, "av_a", "c1"),
            (GB, "av_a", "c2"),
            (GB, "av_a", "c3"),
            (DEFAULT, "av_a", ""),
        ] {
            let mut r = Record::new("k", 2, "+1", 1, crate::results::Status::Pending);
            r.from_number = from.into();
            r.agent_version_id = agent.into();
            r.call_id = call.into();
            recs.push(r);
        }
        let u = UsageCounts::of(&recs);
        assert_eq!(u.by_caller_id[GB], 2);
        assert_eq!(u.by_caller_id[DEFAULT], 1);
        assert_eq!(
            u.lines(),
            [format!("calls by caller ID: {DEFAULT} 1, {GB} 2")],
            "one agent version: no line for it"
        );
        assert!(UsageCounts::default().lines().is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn choose_never_panics_and_returns_a_number_of_the_pool(
            entries in proptest::collection::vec(
                ("\\+?[0-9]{0,12}", proptest::collection::vec("[A-Za-z]{0,3}", 0..3),
                 proptest::collection::vec("\\+?[0-9a]{0,5}", 0..3)),
                0..5),
            to in "\\PC{0,16}",
            sticky in proptest::option::of("\\+?[0-9]{0,12}"),
            used in proptest::collection::vec(0u64..4, 0..5),
        ) {
            let entries: Vec<LocalCallerId> = entries
                .into_iter()
                .map(|(number, countries, prefixes)| LocalCallerId { number, countries, prefixes })
                .collect();
            let p = Pool::new(DEFAULT, &entries);
            let usage: Usage = p
                .numbers()
                .zip(used)
                .map(|(n, u)| (n.to_string(), u))
                .collect();
            let region = phone::region_of(&to);
            let (n, basis) = p.choose(&to, region, sticky.as_deref(), &usage);
            prop_assert!(p.contains(n), "{n} is not in the pool");
            if basis == Basis::Default {
                prop_assert_eq!(n, DEFAULT);
            }
        }
    }
}
