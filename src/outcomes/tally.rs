//! The post-call analysis counted for `callplan status`: per analysis
//! field, how many recipients' calls gave each value
//! (`appointment_confirmed: yes 120, no 30, reschedule 12`).
//!
//! Each recipient counts once, with the call the results file holds for it
//! now (its latest round): a person who said `reschedule` in round 1 and
//! `yes` in round 2 is one `yes`. The store is scanned once and only the
//! fields of those calls are kept, not the transcripts.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use super::store::{Fields, StoreError, scan};
use crate::results::Table;

/// Per field (first-seen order), each value's count, most frequent first
/// (ties by first seen). An empty value (the API sent null) counts as
/// `""`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub fields: Vec<FieldTally>,
    /// Recipients whose call has post-call data in the store.
    pub calls: u64,
}

/// One analysis field's values and their counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldTally {
    pub field: String,
    pub values: Vec<(String, u64)>,
}

impl Tally {
    /// Counts the analysis of each outcome given (one per recipient).
    pub fn of<'a>(analyses: impl IntoIterator<Item = &'a Fields>) -> Tally {
        let mut tally = Tally::default();
        for fields in analyses {
            tally.calls += 1;
            for (field, value) in fields.iter() {
                let slot = match tally.fields.iter().position(|f| f.field == field) {
                    Some(i) => &mut tally.fields[i],
                    None => {
                        tally.fields.push(FieldTally {
                            field: field.to_string(),
                            values: Vec::new(),
                        });
                        tally.fields.last_mut().expect("just pushed")
                    }
                };
                match slot.values.iter_mut().find(|(v, _)| v == value) {
                    Some((_, n)) => *n += 1,
                    None => slot.values.push((value.to_string(), 1)),
                }
            }
        }
        for f in &mut tally.fields {
            // Stable: ties keep their first-seen order.
            f.values.sort_by_key(|v| std::cmp::Reverse(v.1));
        }
        tally
    }

    /// One line per field: `field: value N, value N` (an empty value shown
    /// as `(empty)`). Nothing when no call has analysis.
    pub fn lines(&self) -> Vec<String> {
        self.fields
            .iter()
            .map(|f| {
                let values: Vec<String> = f
                    .values
                    .iter()
                    .map(|(v, n)| {
                        let v = if v.is_empty() { "(empty)" } else { v.as_str() };
                        format!("{} {n}", crate::text::clean_message(v))
                    })
                    .collect();
                format!(
                    "{}: {}",
                    crate::text::clean_message(&f.field),
                    values.join(", ")
                )
            })
            .collect()
    }
}

/// The tally of the store at `store` over the calls `table` holds now
/// (each key's latest call_id). A store that does not exist tallies
/// nothing.
pub fn tally(table: &Table, store: &Path) -> Result<Tally, StoreError> {
    let mut latest: HashMap<compact_str::CompactString, Option<Fields>> = table
        .iter()
        .filter(|r| !r.call_id.is_empty())
        .map(|r| (r.call_id, None))
        .collect();
    // Store order, so fields keep the order calls ended in.
    let mut order: Vec<String> = Vec::new();
    scan(store, |_, _, o| {
        if let Some(slot) = latest.get_mut(o.call_id.as_str()) {
            if slot.is_none() {
                order.push(o.call_id.clone());
            }
            *slot = Some(o.analysis);
        }
    })?;
    Ok(Tally::of(
        order
            .iter()
            .filter_map(|id| latest.get(id.as_str())?.as_ref()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcomes::{Outcome, Store};
    use crate::results::{Record, Status};
    use crate::wire::CallStatus;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        Fields(
            pairs
                .iter()
                .map(|(f, v)| (f.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn counts_values_per_field_most_frequent_first() {
        let calls = [
            fields(&[("appointment_confirmed", "no"), ("callback", "")]),
            fields(&[("appointment_confirmed", "yes")]),
            fields(&[("appointment_confirmed", "yes")]),
            fields(&[("appointment_confirmed", "reschedule")]),
            fields(&[]),
        ];
        let t = Tally::of(&calls);
        assert_eq!(t.calls, 5);
        assert_eq!(
            t.lines(),
            [
                "appointment_confirmed: yes 2, no 1, reschedule 1",
                "callback: (empty) 1"
            ]
        );
        let json = serde_json::to_value(&t).unwrap();
        assert_eq!(
            json["fields"][0]["values"][0],
            serde_json::json!(["yes", 2])
        );
    }

    #[test]
    fn each_recipient_counts_once_with_its_latest_call() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.results.calls.jsonl");
        let store = Store::open(&path).unwrap();
        let outcome = |key: &str, round, id: &str, v: &str| Outcome {
            key: key.into(),
            round,
            call_id: id.into(),
            status: "completed".into(),
            end_reason: None,
            duration_s: None,
            summary: None,
            sentiment: None,
            recording_url: None,
            transcript: None,
            analysis: fields(&[("confirmed", v)]),
            fetched_at: String::new(),
        };
        store.append(&outcome("p1", 1, "c1", "reschedule")).unwrap();
        store.append(&outcome("p1", 2, "c2", "yes")).unwrap();
        store.append(&outcome("p2", 1, "c3", "no")).unwrap();
        store.append(&outcome("p9", 1, "c9", "=evil()")).unwrap();
        drop(store);
        let mut table = Table::default();
        let completed = Status::Call(CallStatus::Completed);
        let mut p1 = Record::new("p1", 2, "+14155550101", 2, completed.clone());
        p1.call_id = "c2".into();
        let mut p2 = Record::new("p2", 3, "+14155550102", 1, completed);
        p2.call_id = "c3".into();
        table.upsert(p1);
        table.upsert(p2);
        table.upsert(Record::new("p3", 4, "+14155550103", 1, Status::Pending));
        let t = tally(&table, &path).unwrap();
        assert_eq!(t.calls, 2);
        assert_eq!(t.lines(), ["confirmed: yes 1, no 1"]);
        // No store yet: an empty tally.
        let none = tally(&table, &dir.path().join("missing.jsonl")).unwrap();
        assert_eq!(none, Tally::default());
        assert!(none.lines().is_empty());
    }
}
