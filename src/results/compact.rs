//! Compaction, when a run ends: the log becomes one line per recipient,
//! in input order, rewritten atomically (`atomic::replace`) so a crash
//! leaves either the old file or the new one, never a mix, and the state
//! file is written beside it. Also the counts per status that the summary
//! and `callplan status` show, which follow the same rules as the
//! compacted file (one per recipient, `pending` when never dialled).

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use compact_str::CompactString;
use rustc_hash::FxHashSet;

use super::atomic;
use super::error::ResultsError;
use super::header::{Header, campaign_cell};
use super::line::push_line;
use super::read::Table;
use super::record::{COLUMNS, Record, Status};
use super::state::{seal_path, state_path, write_state};

/// Removes temp files a compaction or a state write of this results file
/// left behind when it was killed. Only call with the run lock held: then
/// no other process is writing them.
pub fn remove_stale_temp_files(path: &Path) {
    atomic::remove_stale_temp_files(&[path, &state_path(path), &seal_path(path)]);
}

/// A recipient of the input, for [`compact`]: its place and identity.
#[derive(Debug, Clone)]
pub struct RowRef {
    pub key: CompactString,
    pub row: u64,
    pub to_number: CompactString,
}

/// Rewrites the results file atomically as one line per recipient, in input
/// order: each row's last record, `pending` for rows never dialled, then any
/// record whose key is no longer in the input (a call_id is never dropped).
/// Temp file in the same folder, fsync, rename over, fsync of the folder: a
/// crash leaves either the old file or the new one, never a mix. Then the
/// state file is written (`header`, the run's).
///
/// `rows` yields the recipients in input order, as `(key, row,
/// to_number)`: the lines stream to the file as they are made. Beside
/// the table it keeps a bit per key of the table (written yet?) and, only
/// for keys the table does not hold (never dialled), a copy of each such
/// key, so that a key listed twice is written once.
pub fn compact<K: AsRef<str>>(
    path: &Path,
    header: &Header,
    rows: impl IntoIterator<Item = (K, u64, K)>,
    table: &Table,
) -> Result<(), ResultsError> {
    let wr = |source| ResultsError::Write {
        path: path.to_path_buf(),
        source,
    };
    atomic::replace(path, |out| {
        let campaign = campaign_cell(&header.identity);
        let mut line = Vec::with_capacity(256);
        push_line(&mut line, COLUMNS, false);
        out.write_all(&line)?;
        let mut seen = FirstSeen::new(table);
        for (key, row, to_number) in rows {
            let (key, to_number) = (key.as_ref(), to_number.as_ref());
            line.clear();
            match seen.place(table, key) {
                Some(Place::Recorded(i)) => table.record(i).write_to(&campaign, &mut line),
                Some(Place::Never) => {
                    Record::unstamped(key, row, to_number, 1, Status::Pending)
                        .write_to(&campaign, &mut line);
                }
                None => continue,
            }
            out.write_all(&line)?;
        }
        for i in seen.unwritten() {
            line.clear();
            table.record(i).write_to(&campaign, &mut line);
            out.write_all(&line)?;
        }
        Ok(())
    })
    .map_err(wr)?;
    write_state(path, header).map_err(|source| ResultsError::Write {
        path: state_path(path),
        source,
    })
}

/// Where a row of the input stands, the first time its key comes.
enum Place {
    /// The table's record number `.0` is the key's.
    Recorded(usize),
    /// The key has no record: never dialled.
    Never,
}

/// The keys of the input met so far: a bit per key of the table, and the
/// keys the table does not hold.
struct FirstSeen {
    /// Keys in the table.
    keys: usize,
    recorded: Vec<u64>,
    never: FxHashSet<CompactString>,
}

impl FirstSeen {
    fn new(table: &Table) -> FirstSeen {
        FirstSeen {
            keys: table.len(),
            recorded: vec![0; table.len().div_ceil(64)],
            never: FxHashSet::default(),
        }
    }

    /// Where `key` stands, or None when it came before.
    fn place(&mut self, table: &Table, key: &str) -> Option<Place> {
        match table.position(key) {
            Some(i) => {
                let (word, bit) = (i / 64, 1u64 << (i % 64));
                let first = self.recorded[word] & bit == 0;
                self.recorded[word] |= bit;
                first.then_some(Place::Recorded(i))
            }
            None => self.never.insert(key.into()).then_some(Place::Never),
        }
    }

    /// The table's records no row of the input named, in table order.
    fn unwritten(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.keys).filter(|&i| self.recorded[i / 64] & 1 << (i % 64) == 0)
    }
}

/// Rewrites the results file atomically with `table`'s records in their
/// order: how a file of the first layout becomes one of the current layout
/// before a run appends to it.
pub(super) fn rewrite(path: &Path, header: &Header, table: &Table) -> io::Result<()> {
    atomic::replace(path, |out| {
        let campaign = campaign_cell(&header.identity);
        let mut line = Vec::with_capacity(256);
        push_line(&mut line, COLUMNS, false);
        out.write_all(&line)?;
        for rec in table.iter() {
            line.clear();
            rec.write_to(&campaign, &mut line);
            out.write_all(&line)?;
        }
        Ok(())
    })
}

/// Counts per status of the file [`compact`] writes for the recipients
/// whose keys `keys` yields in input order, and `table` (rows without a
/// record count as `pending`): what the summary shows.
pub fn tally<K: AsRef<str>>(
    keys: impl IntoIterator<Item = K>,
    table: &Table,
) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    let mut add = |word: &str| match m.get_mut(word) {
        Some(n) => *n += 1,
        None => {
            m.insert(word.to_string(), 1);
        }
    };
    let mut seen = FirstSeen::new(table);
    for key in keys {
        match seen.place(table, key.as_ref()) {
            Some(Place::Recorded(i)) => add(table.status_at(i).as_str()),
            Some(Place::Never) => add("pending"),
            None => {}
        }
    }
    for i in seen.unwritten() {
        add(table.status_at(i).as_str());
    }
    m
}

/// Counts of latest records per status word, sorted by word.
pub fn counts(table: &Table) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for st in table.statuses() {
        *m.entry(st.as_str().to_string()).or_insert(0) += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::legacy::legacy_file;
    use crate::results::read::read;
    use crate::results::test_support::{header, rec, write_log};
    use crate::wire::CallStatus;

    #[test]
    fn compaction_is_one_line_per_recipient_in_input_order() {
        let d = tempfile::tempdir().unwrap();
        let mut b = rec("b", Status::Call(CallStatus::Queued));
        b.call_id = "call_b".into();
        let mut gone = rec("gone", Status::Call(CallStatus::Completed));
        gone.call_id = "call_gone".into();
        let path = write_log(
            d.path(),
            vec![
                rec("gone", Status::Dispatching),
                gone,
                rec("b", Status::Dispatching),
                b,
            ],
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        }
        let log = read(&path).unwrap().unwrap();
        let rows = [("a", 2, "+16505550101"), ("b", 3, "+16505550199")];
        compact(&path, &log.header, rows, &log.table).unwrap();
        let tally = tally(rows.map(|(key, _, _)| key), &log.table);
        assert_eq!(
            tally.into_iter().collect::<Vec<_>>(),
            [
                ("completed".to_string(), 1),
                ("pending".to_string(), 1),
                ("queued".to_string(), 1)
            ]
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[0], COLUMNS.join(","));
        assert_eq!(
            lines[1], "a,2,+16505550101,,,1,pending,,0,,,,,,,june",
            "never dialled: no caller ID yet"
        );
        assert!(
            lines[2].starts_with("b,2,+16505550199,+14155550100,av_1,1,queued,call_b,"),
            "{text}"
        );
        assert!(lines[2].ends_with(",june"), "{text}");
        assert!(lines[3].starts_with("gone,") && lines[3].contains("call_gone"));
        // No temp file is left behind (the results file, its state file);
        // permissions are kept.
        let mut names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".r.csv.state", "r.csv"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o640);
        }
        // The compacted file reads back to the same table and header, and a
        // plain CSV reader finds the columns on line 1.
        let again = read(&path).unwrap().unwrap();
        assert_eq!(again.table.len(), 3);
        assert_eq!(again.table.get("b"), log.table.get("b"));
        assert_eq!(again.header, log.header);
        let mut csv = csv::ReaderBuilder::new().from_reader(text.as_bytes());
        assert_eq!(
            csv.headers().unwrap(),
            &csv::StringRecord::from(&COLUMNS[..])
        );
        assert_eq!(csv.records().count(), 3);
    }

    #[test]
    fn compaction_writes_a_first_layout_file_in_the_current_one() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("r.csv");
        let h = header();
        std::fs::write(
            &path,
            legacy_file(
                &h,
                &["a,2,+16505550199,1,queued,call_1,1,201,,,,,2026-01-01T00:00:00.000Z"],
            ),
        )
        .unwrap();
        let log = read(&path).unwrap().unwrap();
        assert!(log.legacy);
        assert!(!state_path(&path).exists());
        compact::<&str>(&path, &log.header, [], &log.table).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            format!(
                "{}\na,2,+16505550199,+14155550100,av_1,1,queued,call_1,1,201,,,,,2026-01-01T00:00:00.000Z,june\n",
                COLUMNS.join(",")
            )
        );
        let again = read(&path).unwrap().unwrap();
        assert!(!again.legacy);
        assert_eq!(again.header, log.header, "the state file holds the header");
        assert_eq!(again.table.get("a"), log.table.get("a"));
    }

    #[test]
    fn stale_compaction_temp_files_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("r.csv");
        for name in [
            ".r.csv.compact-abc123",
            ".r.csv.tmp-abc123",
            ".r.csv.state.tmp-abc123",
        ] {
            std::fs::write(d.path().join(name), "half").unwrap();
        }
        std::fs::write(d.path().join(".other.csv.tmp-abc123"), "theirs").unwrap();
        std::fs::write(d.path().join(".r.csv.state"), "kept").unwrap();
        remove_stale_temp_files(&path);
        let mut names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".other.csv.tmp-abc123", ".r.csv.state"]);
    }

    #[test]
    fn compaction_failure_leaves_the_log_intact() {
        let d = tempfile::tempdir().unwrap();
        let path = write_log(d.path(), vec![rec("a", Status::Dispatching)]);
        let before = std::fs::read(&path).unwrap();
        let log = read(&path).unwrap().unwrap();
        let missing = d.path().join("gone/r.csv");
        assert!(compact::<&str>(&missing, &log.header, [], &log.table).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}
