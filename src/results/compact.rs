//! Compaction, when a run ends: the log becomes one line per recipient,
//! in input order, rewritten atomically (temp file in the same folder,
//! fsync, rename, fsync of the folder) so a crash leaves either the old file
//! or the new one, never a mix. Also the counts per status that the
//! summary and `callplan status` show, which follow the same rules as the
//! compacted file (one per recipient, `pending` when never dialled).

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Write};
use std::path::Path;

use super::error::ResultsError;
use super::header::{Header, MAGIC};
use super::line::push_line;
use super::read::Table;
use super::record::{COLUMNS, Record, Status};
use super::writer::{folder_of, sync_dir};

/// Name prefix of [`compact`]'s temp files for one results file.
fn compact_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "results".into());
    format!(".{name}.compact-")
}

/// Removes temp files a compaction of this results file left behind when
/// it was killed. Only call with the run lock held: then no other process
/// is compacting this file.
pub fn remove_stale_temp_files(path: &Path) {
    let prefix = compact_prefix(path);
    let Ok(entries) = std::fs::read_dir(folder_of(path)) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// A recipient of the input, for [`compact`]: its place and identity.
#[derive(Debug, Clone)]
pub struct RowRef {
    pub key: String,
    pub row: u64,
    pub to_number: String,
}

/// Rewrites the results file atomically as one line per recipient, in input
/// order: each row's last record, `pending` for rows never dialled, then any
/// record whose key is no longer in the input (a call_id is never dropped).
/// Temp file in the same folder, fsync, rename over, fsync of the folder: a
/// crash leaves either the old file or the new one, never a mix.
pub fn compact(
    path: &Path,
    header: &Header,
    rows: &[RowRef],
    table: &Table,
) -> Result<(), ResultsError> {
    let wr = |source| ResultsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(&compact_prefix(path))
        .tempfile_in(folder_of(path))
        .map_err(wr)?;
    if let Ok(meta) = std::fs::metadata(path) {
        // Keep the permissions the user gave the file.
        let _ = tmp.as_file().set_permissions(meta.permissions());
    }
    {
        let mut out = io::BufWriter::with_capacity(1 << 16, tmp.as_file_mut());
        let mut buf = header.line(MAGIC);
        push_line(&mut buf, COLUMNS, false);
        let mut seen = HashSet::with_capacity(rows.len());
        for r in rows {
            if !seen.insert(r.key.as_str()) {
                continue;
            }
            match table.get(&r.key) {
                Some(rec) => rec.write_to(&mut buf),
                None => {
                    let mut rec = Record::new(&r.key, r.row, &r.to_number, 1, Status::Pending);
                    rec.updated_at.clear();
                    rec.write_to(&mut buf);
                }
            }
            if buf.len() > 1 << 16 {
                out.write_all(&buf).map_err(wr)?;
                buf.clear();
            }
        }
        for rec in table.iter() {
            if !seen.contains(rec.key.as_str()) {
                rec.write_to(&mut buf);
            }
        }
        out.write_all(&buf).map_err(wr)?;
        out.flush().map_err(wr)?;
    }
    tmp.as_file().sync_all().map_err(wr)?;
    tmp.persist(path).map_err(|e| wr(e.error))?;
    sync_dir(path).map_err(wr)
}

/// Counts per status of the file [`compact`] writes for `rows` and `table`
/// (rows without a record count as `pending`): what the summary shows.
pub fn tally(rows: &[RowRef], table: &Table) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    let mut seen = HashSet::with_capacity(rows.len());
    for r in rows {
        if !seen.insert(r.key.as_str()) {
            continue;
        }
        let word = table
            .get(&r.key)
            .map_or("pending", |rec| rec.status.as_str());
        *m.entry(word.to_string()).or_insert(0) += 1;
    }
    for rec in table.iter() {
        if !seen.contains(rec.key.as_str()) {
            *m.entry(rec.status.as_str().to_string()).or_insert(0) += 1;
        }
    }
    m
}

/// Counts of latest records per status word, sorted by word.
pub fn counts(table: &Table) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for r in table.iter() {
        *m.entry(r.status.as_str().to_string()).or_insert(0) += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::read::read;
    use crate::results::test_support::{rec, write_log};
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
        let rows = vec![
            RowRef {
                key: "a".into(),
                row: 2,
                to_number: "+16505550101".into(),
            },
            RowRef {
                key: "b".into(),
                row: 3,
                to_number: "+16505550199".into(),
            },
        ];
        compact(&path, &log.header, &rows, &log.table).unwrap();
        let tally = tally(&rows, &log.table);
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
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines[0].starts_with("#callplan results v1,campaign=june,"));
        assert_eq!(lines[1], COLUMNS.join(","));
        assert!(
            lines[2].starts_with("a,2,+16505550101,1,pending,,0,"),
            "{text}"
        );
        assert!(lines[3].starts_with("b,2,+16505550199,1,queued,call_b,"));
        assert!(lines[4].starts_with("gone,") && lines[4].contains("call_gone"));
        assert!(!text.contains("#callplan run"));
        // No temp file is left behind; permissions are kept.
        let names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o640);
        }
        // The compacted file reads back to the same table, and a plain CSV
        // reader that skips the first line sees the 13 columns.
        let again = read(&path).unwrap().unwrap();
        assert_eq!(again.table.len(), 3);
        assert_eq!(again.table.get("b"), log.table.get("b"));
        let mut csv =
            csv::ReaderBuilder::new().from_reader(text.split_once('\n').unwrap().1.as_bytes());
        assert_eq!(csv.headers().unwrap().len(), 13);
        assert_eq!(csv.records().count(), 3);
    }

    #[test]
    fn stale_compaction_temp_files_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("r.csv");
        std::fs::write(d.path().join(".r.csv.compact-abc123"), "half").unwrap();
        std::fs::write(d.path().join(".other.csv.compact-abc123"), "theirs").unwrap();
        remove_stale_temp_files(&path);
        assert!(!d.path().join(".r.csv.compact-abc123").exists());
        assert!(d.path().join(".other.csv.compact-abc123").exists());
    }

    #[test]
    fn compaction_failure_leaves_the_log_intact() {
        let d = tempfile::tempdir().unwrap();
        let path = write_log(d.path(), vec![rec("a", Status::Dispatching)]);
        let before = std::fs::read(&path).unwrap();
        let log = read(&path).unwrap().unwrap();
        let missing = d.path().join("gone/r.csv");
        assert!(compact(&missing, &log.header, &[], &log.table).is_err());
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}
