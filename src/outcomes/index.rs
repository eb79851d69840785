//! Where each wanted call's outcome sits in the post-call store, so a
//! reader of a big store (transcripts make lines long) holds a few bytes
//! per call in memory and reads each outcome when it needs it, instead of
//! loading the whole file.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use super::store::{Outcome, StoreError, read_outcome_at, scan};

/// The last line of each wanted call_id in a store, and the analysis
/// fields those calls carry, in first-seen order.
#[derive(Debug)]
pub struct StoreIndex {
    path: PathBuf,
    file: Option<File>,
    /// call_id -> (offset, length) of its last line.
    lines: HashMap<String, (u64, u64)>,
    fields: Vec<String>,
}

impl StoreIndex {
    /// Indexes the store at `path`, keeping only the call_ids `wanted`
    /// accepts (the calls the results file points at). A store that does
    /// not exist indexes nothing.
    pub fn build(path: &Path, wanted: impl Fn(&str) -> bool) -> Result<StoreIndex, StoreError> {
        let mut lines = HashMap::new();
        let mut fields = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        scan(path, |offset, len, o| {
            if !wanted(&o.call_id) {
                return;
            }
            for (field, _) in o.analysis.iter() {
                if !seen.contains(field) {
                    seen.insert(field.to_string());
                    fields.push(field.to_string());
                }
            }
            lines.insert(o.call_id, (offset, len));
        })?;
        let file = match File::open(path) {
            Ok(f) => Some(f),
            Err(_) if lines.is_empty() => None,
            Err(source) => {
                return Err(StoreError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Ok(StoreIndex {
            path: path.to_path_buf(),
            file,
            lines,
            fields,
        })
    }

    /// Analysis fields of the indexed calls, in the order first seen.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// Calls indexed.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// True when no call is indexed.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The outcome of a call, read from the store.
    pub fn get(&mut self, call_id: &str) -> Result<Option<Outcome>, StoreError> {
        let (Some(&(offset, len)), Some(file)) = (self.lines.get(call_id), self.file.as_ref())
        else {
            return Ok(None);
        };
        read_outcome_at(file, offset, len, call_id)
            .map(Some)
            .map_err(|source| StoreError::Read {
                path: self.path.clone(),
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcomes::{Fields, Store};

    fn outcome(call_id: &str, fields: &[(&str, &str)]) -> Outcome {
        Outcome {
            key: call_id.into(),
            round: 1,
            call_id: call_id.into(),
            status: "completed".into(),
            end_reason: None,
            duration_s: None,
            summary: Some(format!("summary of {call_id}")),
            sentiment: None,
            recording_url: None,
            transcript: None,
            analysis: Fields(
                fields
                    .iter()
                    .map(|(f, v)| (f.to_string(), v.to_string()))
                    .collect(),
            ),
            fetched_at: String::new(),
        }
    }

    #[test]
    fn indexes_wanted_calls_last_line_and_their_fields_in_first_seen_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.calls.jsonl");
        let store = Store::open(&path).unwrap();
        store.append(&outcome("a", &[("b", "1")])).unwrap();
        store.append(&outcome("x", &[("unwanted", "1")])).unwrap();
        store
            .append(&outcome("c", &[("z", "1"), ("b", "2")]))
            .unwrap();
        store
            .append(&outcome("a", &[("b", "3"), ("y", "4")]))
            .unwrap();
        drop(store);
        let mut index = StoreIndex::build(&path, |id| id != "x").unwrap();
        assert_eq!(index.len(), 2);
        assert_eq!(index.fields(), ["b", "z", "y"]);
        let a = index.get("a").unwrap().unwrap();
        assert_eq!(a.field("b"), Some("3"));
        assert_eq!(
            index.get("c").unwrap().unwrap().summary.unwrap(),
            "summary of c"
        );
        assert!(index.get("x").unwrap().is_none());
        // No store: nothing, and no error.
        let mut none = StoreIndex::build(&dir.path().join("missing"), |_| true).unwrap();
        assert!(none.is_empty() && none.get("a").unwrap().is_none());
    }
}
