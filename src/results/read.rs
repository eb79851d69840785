//! Reading a results file back: the [`Log`] a run resumes from, whose
//! [`Table`] keeps the last record of each key in the order keys first
//! appeared.
//!
//! A torn last line (a crash mid-write) is ignored, and [`Log`] remembers
//! where the last complete line ends so the writer cuts the torn bytes off
//! before it appends; any other malformed line is an error naming its line.
//! A long log is mostly plain lines (no quote, not a comment), so those are
//! split at their commas in one pass and reuse the buffers of the record
//! they replace; only a line with a quote or a comment record goes through
//! the CSV parser.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::error::ResultsError;
use super::header::{
    BadIdentity, COMMENT_PREFIX, Header, MAGIC, RUN_MAGIC, apply_run_line, parse_identity,
};
use super::line::csv_line;
use super::record::{COLUMNS, Record};

/// The last record of each key, in the order keys first appeared.
#[derive(Debug, Default, Clone)]
pub struct Table {
    records: Vec<Record>,
    /// Keys are the recipients' own values, not an adversary's: a fast
    /// non-keyed hash is fine (and a third of the cost of reading a log).
    index: rustc_hash::FxHashMap<String, usize>,
}

impl Table {
    /// An empty table with room for about `n` keys.
    pub fn with_capacity(n: usize) -> Table {
        Table {
            records: Vec::with_capacity(n),
            index: rustc_hash::FxHashMap::with_capacity_and_hasher(n, Default::default()),
        }
    }

    /// The last record of a key.
    pub fn get(&self, key: &str) -> Option<&Record> {
        self.index.get(key).map(|&i| &self.records[i])
    }

    /// Records this one as the key's latest.
    pub fn upsert(&mut self, rec: Record) {
        match self.index.get(&rec.key) {
            Some(&i) => self.records[i] = rec,
            None => {
                self.index.insert(rec.key.clone(), self.records.len());
                self.records.push(rec);
            }
        }
    }

    /// Latest records, in the order keys first appeared.
    pub fn iter(&self) -> impl Iterator<Item = &Record> {
        self.records.iter()
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

/// A results file as read back.
#[derive(Debug)]
pub struct Log {
    pub header: Header,
    pub table: Table,
    /// Record lines read (not counting comments and the column header).
    pub lines: u64,
    /// Bytes of a torn last line that were ignored.
    pub torn_bytes: u64,
    /// Whether the column header line is there (it is missing only when a
    /// crash tore the file right after the identity line).
    pub(super) has_columns: bool,
    /// Length of the file up to and including its last complete line.
    pub(super) valid_len: u64,
}

/// Reads a results file. `Ok(None)` when there is nothing to resume: the
/// file does not exist, is empty, or holds only the torn start of a header
/// (a crash before the first fsync, so nobody was dialled).
pub fn read(path: &Path) -> Result<Option<Log>, ResultsError> {
    let rd = |source| ResultsError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(rd(e)),
    };
    let len = file.metadata().map_err(rd)?.len();
    let valid_len = last_line_end(&mut file, len).map_err(rd)?;
    if valid_len == 0 {
        return read_torn_only(path, &mut file, len);
    }
    file.seek(SeekFrom::Start(0)).map_err(rd)?;
    let mut reader = BufReader::with_capacity(1 << 20, file.take(valid_len));
    // One record per physical line (the writer guarantees it), so lines
    // are split here; a line with a quote goes through the CSV parser.
    let mut buf: Vec<u8> = Vec::with_capacity(256);
    let mut parser = Parser::new(path, valid_len);
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(rd)? == 0 {
            break;
        }
        parser.line(&buf)?;
    }
    let Some(header) = parser.header else {
        return Err(ResultsError::NotResults {
            path: path.to_path_buf(),
        });
    };
    Ok(Some(Log {
        header,
        table: parser.table,
        lines: parser.lines,
        torn_bytes: len - valid_len,
        has_columns: parser.has_columns,
        valid_len,
    }))
}

/// A file with no complete line (`len` bytes, no newline): nothing to
/// resume when it is empty or the torn start of an identity line, else
/// not a results file.
fn read_torn_only(path: &Path, file: &mut File, len: u64) -> Result<Option<Log>, ResultsError> {
    if len == 0 {
        return Ok(None);
    }
    let rd = |source| ResultsError::Read {
        path: path.to_path_buf(),
        source,
    };
    // One torn line: ours if it is the start of an identity line.
    let mut head = vec![0u8; len.min(64) as usize];
    file.seek(SeekFrom::Start(0)).map_err(rd)?;
    file.read_exact(&mut head).map_err(rd)?;
    let magic = MAGIC.as_bytes();
    let n = head.len().min(magic.len());
    if head[..n] == magic[..n] {
        Ok(None)
    } else {
        Err(ResultsError::NotResults {
            path: path.to_path_buf(),
        })
    }
}

/// What [`read`] has learned so far, line by line.
struct Parser<'a> {
    path: &'a Path,
    /// Reused for every line that goes through the CSV parser.
    rec: csv::ByteRecord,
    /// From the identity line (line 1), updated by each run line.
    header: Option<Header>,
    has_columns: bool,
    table: Table,
    /// Record lines read.
    lines: u64,
    /// Number of the line being read (the first is 1).
    line: u64,
}

impl<'a> Parser<'a> {
    fn new(path: &'a Path, valid_len: u64) -> Parser<'a> {
        Parser {
            path,
            rec: csv::ByteRecord::new(),
            header: None,
            has_columns: false,
            // About two lines per key (intent, outcome) of about 80 bytes each.
            table: Table::with_capacity((valid_len / 160) as usize),
            lines: 0,
            line: 0,
        }
    }

    /// The error naming the line being read.
    fn malformed(&self, reason: String) -> ResultsError {
        ResultsError::Malformed {
            path: self.path.to_path_buf(),
            line: self.line,
            reason,
        }
    }

    /// The error for a first line that is not a usable identity line.
    fn bad_identity(&self, bad: BadIdentity) -> ResultsError {
        let path = self.path.to_path_buf();
        match bad {
            BadIdentity::NotResults => ResultsError::NotResults { path },
            BadIdentity::Version(found) => ResultsError::Version { path, found },
            BadIdentity::Incomplete => ResultsError::Malformed {
                path,
                line: 1,
                reason: "the identity line lacks campaign=, from_number= or agent_version_id="
                    .into(),
            },
        }
    }

    /// The error when the line being read is not the column header.
    fn not_columns(&self) -> ResultsError {
        self.malformed(format!(
            "expected the column header `{}`",
            COLUMNS.join(",")
        ))
    }

    /// Reads one physical line, with its `\n`.
    fn line(&mut self, buf: &[u8]) -> Result<(), ResultsError> {
        self.line += 1;
        let raw = buf.strip_suffix(b"\n").unwrap_or(buf);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        // A spreadsheet that saved the file may have put a BOM first.
        let raw = if self.line == 1 {
            raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
        } else {
            raw
        };
        if raw.is_empty() {
            return Ok(()); // a blank line (a hand edit): nothing to read
        }
        // The common line: no quote, not a comment. Split it in one pass.
        if self.header.is_some() && !raw.starts_with(b"#") {
            let text = std::str::from_utf8(raw)
                .map_err(|_| self.malformed("the line is not UTF-8".into()))?;
            if let Some((fields, n)) = split_plain(text) {
                return self.plain_line(&fields, n);
            }
        }
        self.csv_line(raw)
    }

    /// A line split by [`split_plain`] into `n` fields (the first 13 kept).
    fn plain_line(&mut self, fields: &[&str; COLUMNS.len()], n: usize) -> Result<(), ResultsError> {
        if !self.has_columns {
            if n != COLUMNS.len() || *fields != COLUMNS {
                return Err(self.not_columns());
            }
            self.has_columns = true;
            return Ok(());
        }
        if n != COLUMNS.len() {
            return Err(self.malformed(format!("expected {} fields, found {n}", COLUMNS.len())));
        }
        match self.table.index.get(fields[0]) {
            Some(&i) => self.table.records[i].assign(fields),
            None => Record::from_strs(fields).map(|r| self.table.upsert(r)),
        }
        .map_err(|reason| self.malformed(reason))?;
        self.lines += 1;
        Ok(())
    }

    /// A line read as CSV: the identity line, a comment record, the column
    /// header, or a record with a quoted field.
    fn csv_line(&mut self, raw: &[u8]) -> Result<(), ResultsError> {
        if let Err(e) = csv_line(raw, &mut self.rec) {
            if self.header.is_none() {
                return Err(ResultsError::NotResults {
                    path: self.path.to_path_buf(),
                });
            }
            return Err(self.malformed(format!("not CSV ({e})")));
        }
        let first = self.rec.get(0).unwrap_or_default();
        let Some(h) = self.header.as_mut() else {
            let header = parse_identity(&self.rec).map_err(|bad| self.bad_identity(bad))?;
            self.header = Some(header);
            return Ok(());
        };
        // A comment record: a record of 13 fields is a recipient whose key
        // merely starts so (written quoted).
        if first.starts_with(COMMENT_PREFIX.as_bytes()) && self.rec.len() != COLUMNS.len() {
            if first == RUN_MAGIC.as_bytes() {
                apply_run_line(h, &self.rec);
            }
            return Ok(());
        }
        if !self.has_columns {
            let expected = COLUMNS.iter().map(|c| c.as_bytes());
            if self.rec.len() != COLUMNS.len() || !self.rec.iter().eq(expected) {
                return Err(self.not_columns());
            }
            self.has_columns = true;
            return Ok(());
        }
        let r = Record::from_fields(&self.rec).map_err(|reason| self.malformed(reason))?;
        self.lines += 1;
        self.table.upsert(r);
        Ok(())
    }
}

/// Splits a line at its commas in one pass: its first 13 fields and how
/// many it has. `None` when it holds a quote (the CSV parser reads it then).
fn split_plain(text: &str) -> Option<([&str; COLUMNS.len()], usize)> {
    let mut fields = [""; COLUMNS.len()];
    let mut n = 0;
    let mut start = 0;
    for (i, b) in text.bytes().enumerate() {
        if b == b',' {
            if n < fields.len() {
                fields[n] = &text[start..i];
            }
            n += 1;
            start = i + 1;
        } else if b == b'"' {
            return None;
        }
    }
    if n < fields.len() {
        fields[n] = &text[start..];
    }
    Some((fields, n + 1))
}

/// Offset just past the last `\n` of the file (0 when it has none).
fn last_line_end(file: &mut File, len: u64) -> io::Result<u64> {
    const CHUNK: u64 = 64 * 1024;
    let mut end = len;
    let mut buf = vec![0u8; CHUNK as usize];
    while end > 0 {
        let start = end.saturating_sub(CHUNK);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..n])?;
        if let Some(pos) = buf[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(start + pos as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::io::Write;

    use super::*;
    use crate::results::line::push_line;
    use crate::results::record::Status;
    use crate::results::test_support::{header, ident, rec, write_log};
    use crate::wire::CallStatus;

    #[test]
    fn absent_or_empty_file_is_nothing_to_resume() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("none.csv");
        assert!(read(&p).unwrap().is_none());
        std::fs::write(&p, "").unwrap();
        assert!(read(&p).unwrap().is_none());
        // A crash while the very first line was written.
        std::fs::write(&p, "#callplan resu").unwrap();
        assert!(read(&p).unwrap().is_none());
    }

    #[test]
    fn roundtrip_last_record_wins_and_order_is_first_seen() {
        let d = tempfile::tempdir().unwrap();
        let mut a2 = rec("a", Status::Call(CallStatus::Queued));
        a2.call_id = "call_1".into();
        a2.http_status = Some(201);
        a2.attempts = 1;
        let path = write_log(
            d.path(),
            vec![
                rec("a", Status::Dispatching),
                rec("b", Status::Dispatching),
                a2.clone(),
            ],
        );
        let log = read(&path).unwrap().unwrap();
        assert_eq!(log.header.identity, ident());
        assert_eq!(log.lines, 3);
        assert_eq!(log.torn_bytes, 0);
        assert_eq!(log.table.len(), 2);
        assert_eq!(log.table.get("a"), Some(&a2));
        assert_eq!(log.table.get("b").unwrap().status, Status::Dispatching);
        let keys: Vec<_> = log.table.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["a", "b"]);
    }

    #[test]
    fn torn_last_line_is_ignored_then_cut_before_appending() {
        let d = tempfile::tempdir().unwrap();
        let path = write_log(d.path(), vec![rec("a", Status::Dispatching)]);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"a,2,+16505550199,1,queued,call_9,1,2")
            .unwrap();
        drop(f);
        let log = read(&path).unwrap().unwrap();
        assert_eq!(log.table.get("a").unwrap().status, Status::Dispatching);
        assert_eq!(log.torn_bytes, 36);
        // Appending again must not glue onto the torn bytes.
        let path = write_log(d.path(), vec![rec("b", Status::Pending)]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("call_9"), "{text}");
        let log = read(&path).unwrap().unwrap();
        assert_eq!(log.torn_bytes, 0);
        assert_eq!(log.table.len(), 2);
        assert!(text.contains("\n#callplan run,started_at="), "{text}");
    }

    #[test]
    fn a_bom_and_blank_lines_from_a_spreadsheet_are_tolerated() {
        let d = tempfile::tempdir().unwrap();
        let path = write_log(d.path(), vec![rec("a", Status::Dispatching)]);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(
            &path,
            format!("\u{feff}{}\r\n\r\n", text.trim_end().replace('\n', "\r\n")),
        )
        .unwrap();
        let log = read(&path).unwrap().unwrap();
        assert_eq!(log.table.get("a").unwrap().status, Status::Dispatching);
    }

    #[test]
    fn malformed_line_is_an_error_naming_it() {
        let d = tempfile::tempdir().unwrap();
        let path = write_log(
            d.path(),
            vec![rec("a", Status::Dispatching), rec("b", Status::Dispatching)],
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.insert(3, "x,not-a-row,+1,1,queued,,,,,,,,");
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let err = read(&path).unwrap_err();
        assert!(
            matches!(err, ResultsError::Malformed { line: 4, .. }),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains("line 4") && msg.contains("`row`"), "{msg}");

        lines[3] = "too,few,fields";
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let msg = read(&path).unwrap_err().to_string();
        assert!(msg.contains("line 4: expected 13 fields, found 3"), "{msg}");
    }

    #[test]
    fn other_files_are_refused_not_overwritten() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("recipients.csv");
        std::fs::write(&p, "to_number,name\n+16505550199,Alex\n").unwrap();
        assert!(matches!(read(&p), Err(ResultsError::NotResults { .. })));
        std::fs::write(&p, "no newline at all").unwrap();
        assert!(matches!(read(&p), Err(ResultsError::NotResults { .. })));
        std::fs::write(&p, "#callplan results v9,campaign=x\n").unwrap();
        assert!(matches!(read(&p), Err(ResultsError::Version { .. })));
        std::fs::write(&p, "#callplan results v1,campaign=x\n").unwrap();
        assert!(matches!(
            read(&p),
            Err(ResultsError::Malformed { line: 1, .. })
        ));
        // Binary garbage never panics.
        std::fs::write(&p, b"\xff\xfe\x00\"\n\"\n,,,\n").unwrap();
        assert!(read(&p).is_err());
    }

    #[test]
    fn hostile_field_values_roundtrip_on_one_line() {
        let d = tempfile::tempdir().unwrap();
        let mut r = rec("#callplan run", Status::Rejected);
        r.error = "bad, \"quoted\"\nsecond line\r".into();
        r.to_number = "+1,2".into();
        let path = write_log(d.path(), vec![r.clone()]);
        let text = std::fs::read_to_string(&path).unwrap();
        // identity, columns, run line? (new file: none), one record
        assert_eq!(text.lines().count(), 3, "{text}");
        let got = read(&path).unwrap().unwrap();
        let back = got.table.get("#callplan run").unwrap();
        assert_eq!(back.error, "bad, \"quoted\" second line ");
        assert_eq!(back.to_number, "+1,2");
    }

    proptest::proptest! {
        #[test]
        fn records_read_back_through_the_file(key in "[^\r\n]{1,20}", err in "\\PC{0,40}", call in "[a-z0-9_\",]{0,12}") {
            let d = tempfile::tempdir().unwrap();
            let path = d.path().join("r.csv");
            let mut r = rec(&key, Status::Call(CallStatus::Queued));
            r.error = err.clone();
            r.call_id = call.clone();
            let mut content = header().line(MAGIC);
            push_line(&mut content, COLUMNS, false);
            r.write_to(&mut content);
            std::fs::write(&path, &content).unwrap();
            let log = read(&path).unwrap().unwrap();
            let back = log.table.get(&key).unwrap();
            proptest::prop_assert_eq!(&back.error, &err.replace(['\r', '\n'], " "));
            proptest::prop_assert_eq!(&back.call_id, &call);
            proptest::prop_assert_eq!(back.status.clone(), Status::Call(CallStatus::Queued));
        }

        #[test]
        fn reading_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..400)) {
            let d = tempfile::tempdir().unwrap();
            let p = d.path().join("r.csv");
            let mut content = b"#callplan results v1,campaign=a,from_number=b,agent_version_id=c\n".to_vec();
            content.extend_from_slice(&bytes);
            std::fs::write(&p, &content).unwrap();
            let _ = read(&p);
            std::fs::write(&p, &bytes).unwrap();
            let _ = read(&p);
        }
    }
}
