//! Reading a results file back: the [`Log`] a run resumes from, whose
//! [`Table`] keeps the last record of each key in the order keys first
//! appeared (see `table`).
//!
//! Line 1 is the column header ([`COLUMNS`]); every row's `campaign` cell
//! must be the same (one file, one campaign), and the [`Header`] comes from
//! the state file beside it when that agrees with the rows (`state`). A
//! file of the first layout (a `#callplan results v1` comment first, see
//! `legacy`) is read as before, and marked so that the next run rewrites it.
//!
//! A torn last line (a crash mid-write) is ignored, and [`Log`] remembers
//! where the last complete line ends so the writer cuts the torn bytes off
//! before it appends; any other malformed line (a NUL byte included) is an
//! error naming its line. A long log is mostly plain lines (no quote), so
//! those are split at their commas in one pass and go into the table as
//! borrowed fields (no record is built in between); only a line with a
//! quote or a comment record goes through the CSV parser.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::error::ResultsError;
use super::header::{Header, Identity, campaign_cell, parse_campaign_cell};
use super::legacy::{
    BadIdentity, COMMENT_PREFIX, MAGIC, RUN_MAGIC, apply_run_line, parse_identity,
};
use super::line::csv_line;
use super::record::{CAMPAIGN, COLUMNS, LEGACY_COLUMNS, utf8_fields, widen_legacy};
use super::state::read_state;
// Also the writer's way to it.
pub(super) use super::table::Table;

/// A results file as read back.
#[derive(Debug)]
pub struct Log {
    pub header: Header,
    pub table: Table,
    /// Record lines read (not counting comments and the column header).
    pub lines: u64,
    /// Bytes of a torn last line that were ignored.
    pub torn_bytes: u64,
    /// The file is of the first layout: the next run rewrites it before
    /// appending.
    pub(super) legacy: bool,
    /// Length of the file up to and including its last complete line.
    pub(super) valid_len: u64,
}

/// Reads a results file. `Ok(None)` when there is nothing to resume: the
/// file does not exist, is empty, holds only the torn start of its first
/// line, or holds no row and no state file (a crash before anything was
/// recorded, so nobody was dialled).
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
    // are split here, read where they lie in the buffer; only a line
    // across two fills of it is copied (into `carry`). A line with a
    // quote goes through the CSV parser.
    let mut carry: Vec<u8> = Vec::new();
    let mut parser = Parser::new(path, valid_len);
    loop {
        let chunk = reader.fill_buf().map_err(rd)?;
        if chunk.is_empty() {
            break;
        }
        let filled = chunk.len();
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', chunk) {
            let line = &chunk[start..=end];
            if carry.is_empty() {
                parser.line(line)?;
            } else {
                carry.extend_from_slice(line);
                parser.line(&carry)?;
                carry.clear();
            }
            start = end + 1;
        }
        carry.extend_from_slice(&chunk[start..]);
        reader.consume(filled);
    }
    // `valid_len` ends with a newline; a file cut meanwhile may not.
    if !carry.is_empty() {
        parser.line(&carry)?;
    }
    let legacy = matches!(parser.layout, Some(Layout::Legacy(_)));
    let header = match parser.layout {
        None => {
            return Err(ResultsError::NotResults {
                path: path.to_path_buf(),
            });
        }
        Some(Layout::Legacy(h)) => h,
        Some(Layout::Current) => match header_of(path, parser.campaign.as_deref()) {
            Some(h) => h,
            None => return Ok(None),
        },
    };
    Ok(Some(Log {
        header,
        table: parser.table,
        lines: parser.lines,
        torn_bytes: len - valid_len,
        legacy,
        valid_len,
    }))
}

/// The header of a file of the current layout whose rows say `cell` (None:
/// no row): the state file's when it agrees with the rows, else what the
/// rows say. None when there is neither row nor state: nothing to resume.
fn header_of(path: &Path, cell: Option<&str>) -> Option<Header> {
    let state = read_state(path).unwrap_or_else(|why| {
        tracing::warn!("{why}; the results file's own rows say whose it is");
        None
    });
    let Some(cell) = cell else {
        return state;
    };
    let (campaign, sandbox) = parse_campaign_cell(cell);
    match state {
        Some(h) if h.identity.campaign == campaign && h.identity.sandbox == sandbox => Some(h),
        other => {
            if let Some(h) = other {
                tracing::warn!(
                    "the state file beside {} is of {}, but its rows are of campaign `{cell}`; \
                     it is ignored",
                    path.display(),
                    h.identity
                );
            }
            let identity = Identity {
                campaign,
                from_number: String::new(),
                agent_version_id: String::new(),
                sandbox,
            };
            Some(Header::from_rows(identity, path.display().to_string()))
        }
    }
}

/// A file with no complete line (`len` bytes, no newline): nothing to
/// resume when it is empty or the torn start of a first line, else not a
/// results file.
fn read_torn_only(path: &Path, file: &mut File, len: u64) -> Result<Option<Log>, ResultsError> {
    if len == 0 {
        return Ok(None);
    }
    let rd = |source| ResultsError::Read {
        path: path.to_path_buf(),
        source,
    };
    let columns = COLUMNS.join(",");
    let mut head = vec![0u8; len.min(columns.len() as u64) as usize];
    file.seek(SeekFrom::Start(0)).map_err(rd)?;
    file.read_exact(&mut head).map_err(rd)?;
    let starts = |first: &[u8]| {
        let n = head.len().min(first.len());
        head.len() <= first.len() && head[..n] == first[..n]
    };
    if starts(columns.as_bytes()) || starts(MAGIC.as_bytes()) {
        Ok(None)
    } else {
        Err(ResultsError::NotResults {
            path: path.to_path_buf(),
        })
    }
}

/// Which layout line 1 announced.
enum Layout {
    /// Line 1 is [`COLUMNS`].
    Current,
    /// Line 1 was the first layout's identity line: its header, updated by
    /// each run line.
    Legacy(Header),
}

/// What [`read`] has learned so far, line by line.
struct Parser<'a> {
    path: &'a Path,
    /// Reused for every line that goes through the CSV parser.
    rec: csv::ByteRecord,
    layout: Option<Layout>,
    /// The first layout's column header was read (line 2).
    legacy_columns: bool,
    /// The `campaign` cell of every row so far (the first row's).
    campaign: Option<String>,
    /// The first layout's caller ID and agent version, for its rows.
    legacy_call: (String, String),
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
            layout: None,
            legacy_columns: false,
            campaign: None,
            legacy_call: (String::new(), String::new()),
            // About two lines per key (intent, outcome) of 80 to 110
            // bytes each; room the records do not use is never touched.
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

    /// Reads one physical line, with its `\n`.
    fn line(&mut self, buf: &[u8]) -> Result<(), ResultsError> {
        self.line += 1;
        let raw = buf.strip_suffix(b"\n").unwrap_or(buf);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        if self.layout.is_none() {
            // A spreadsheet that saved the file may have put a BOM first.
            let raw = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
            return self.first_line(raw);
        }
        if raw.is_empty() {
            return Ok(()); // a blank line (a hand edit): nothing to read
        }
        if raw.contains(&0) {
            return Err(self.malformed("the line holds a NUL byte".into()));
        }
        let legacy = matches!(self.layout, Some(Layout::Legacy(_)));
        // The common line: no quote, not a comment. Split it in one pass.
        if !raw.starts_with(b"#") {
            let text = std::str::from_utf8(raw)
                .map_err(|_| self.malformed("the line is not UTF-8".into()))?;
            if let Some((fields, n)) = split_plain(text) {
                return if legacy {
                    let mut old = [""; LEGACY_COLUMNS.len()];
                    old.copy_from_slice(&fields[..LEGACY_COLUMNS.len()]);
                    self.legacy_record(&old, n)
                } else {
                    self.record(&fields, n)
                };
            }
        }
        if let Err(e) = csv_line(raw, &mut self.rec) {
            return Err(self.malformed(format!("not CSV ({e})")));
        }
        let rec = std::mem::take(&mut self.rec);
        let res = if legacy {
            self.legacy_csv_line(&rec)
        } else {
            utf8_fields(&rec, &COLUMNS)
                .map_err(|reason| self.malformed(reason))
                .and_then(|fields| self.record(&fields, COLUMNS.len()))
        };
        self.rec = rec;
        res
    }

    /// Line 1: the column header, or the first layout's identity line.
    fn first_line(&mut self, raw: &[u8]) -> Result<(), ResultsError> {
        let path = self.path.to_path_buf();
        if raw.starts_with(COMMENT_PREFIX.as_bytes()) {
            csv_line(raw, &mut self.rec)
                .map_err(|_| ResultsError::NotResults { path: path.clone() })?;
            let header = parse_identity(&self.rec).map_err(|bad| match bad {
                BadIdentity::Version(found) => ResultsError::Version { path, found },
                BadIdentity::Incomplete => ResultsError::Malformed {
                    path,
                    line: 1,
                    reason: "the identity line lacks campaign=, from_number= or agent_version_id="
                        .into(),
                },
            })?;
            self.campaign = Some(campaign_cell(&header.identity));
            self.legacy_call = (
                header.identity.from_number.clone(),
                header.identity.agent_version_id.clone(),
            );
            self.layout = Some(Layout::Legacy(header));
            return Ok(());
        }
        let columns = COLUMNS.iter().map(|c| c.as_bytes());
        if !raw.split(|&b| b == b',').eq(columns) {
            return Err(ResultsError::NotResults { path });
        }
        self.layout = Some(Layout::Current);
        Ok(())
    }

    /// A record line of the current layout, split into `n` fields (the
    /// first 16 kept).
    fn record(&mut self, fields: &[&str; COLUMNS.len()], n: usize) -> Result<(), ResultsError> {
        if n != COLUMNS.len() {
            return Err(self.malformed(format!("expected {} fields, found {n}", COLUMNS.len())));
        }
        let cell = fields[CAMPAIGN];
        match &self.campaign {
            Some(first) if first != cell => {
                let reason = format!(
                    "column `campaign` is `{cell}`, but the rows before it are `{first}`'s: \
                     one results file holds one campaign"
                );
                return Err(self.malformed(reason));
            }
            Some(_) => {}
            None if cell.is_empty() => {
                return Err(self.malformed("column `campaign` is empty".into()));
            }
            None => self.campaign = Some(cell.to_string()),
        }
        self.table
            .assign(fields)
            .map_err(|reason| self.malformed(reason))?;
        self.lines += 1;
        Ok(())
    }

    /// A record line of the first layout (`n` fields), as the current
    /// layout's record with that layout's caller ID, agent version and
    /// campaign.
    fn legacy_record(
        &mut self,
        old: &[&str; LEGACY_COLUMNS.len()],
        n: usize,
    ) -> Result<(), ResultsError> {
        if !self.legacy_columns {
            if n != LEGACY_COLUMNS.len() || *old != LEGACY_COLUMNS {
                return Err(self.malformed(format!(
                    "expected the column header `{}`",
                    LEGACY_COLUMNS.join(",")
                )));
            }
            self.legacy_columns = true;
            return Ok(());
        }
        if n != LEGACY_COLUMNS.len() {
            return Err(self.malformed(format!(
                "expected {} fields, found {n}",
                LEGACY_COLUMNS.len()
            )));
        }
        // Every row of this layout is of the campaign of its identity
        // line: nothing to check, nothing to copy.
        let campaign = self.campaign.as_deref().unwrap_or_default();
        let (from, agent) = &self.legacy_call;
        let fields = widen_legacy(old, from, agent, campaign);
        let stored = self.table.assign(&fields);
        stored.map_err(|reason| self.malformed(reason))?;
        self.lines += 1;
        Ok(())
    }

    /// A line of the first layout read as CSV: a comment record, the
    /// column header, or a record with a quoted field.
    fn legacy_csv_line(&mut self, rec: &csv::ByteRecord) -> Result<(), ResultsError> {
        let first = rec.get(0).unwrap_or_default();
        // A comment record: a record of 13 fields is a recipient whose key
        // merely starts so (written quoted).
        if first.starts_with(COMMENT_PREFIX.as_bytes()) && rec.len() != LEGACY_COLUMNS.len() {
            if first == RUN_MAGIC.as_bytes()
                && let Some(Layout::Legacy(h)) = self.layout.as_mut()
            {
                apply_run_line(h, rec);
            }
            return Ok(());
        }
        let old = utf8_fields(rec, &LEGACY_COLUMNS).map_err(|reason| self.malformed(reason))?;
        self.legacy_record(&old, LEGACY_COLUMNS.len())
    }
}

/// Splits a line at its commas in one pass: its first 16 fields and how
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
    use crate::results::legacy::legacy_file;
    use crate::results::line::push_line;
    use crate::results::record::Status;
    use crate::results::state::state_path;
    use crate::results::test_support::{header, ident, rec, write_log};
    use crate::wire::CallStatus;

    /// A file of the current layout: the column header and `lines`.
    fn current_file(lines: &[&str]) -> String {
        let mut text = COLUMNS.join(",") + "\n";
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        text
    }

    const ROW_A: &str = "a,2,+16505550199,+14155550100,av_1,1,queued,call_1,1,201,,,,,2026-01-01T00:00:00.000Z,june";

    #[test]
    fn absent_or_empty_file_is_nothing_to_resume() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("none.csv");
        assert!(read(&p).unwrap().is_none());
        std::fs::write(&p, "").unwrap();
        assert!(read(&p).unwrap().is_none());
        // A crash while the very first line was written, in either layout.
        std::fs::write(&p, "key,row,to_nu").unwrap();
        assert!(read(&p).unwrap().is_none());
        std::fs::write(&p, "#callplan resu").unwrap();
        assert!(read(&p).unwrap().is_none());
        // The header and no row, no state: nobody was dialled.
        std::fs::write(&p, current_file(&[])).unwrap();
        assert!(read(&p).unwrap().is_none());
    }

    #[test]
    fn roundtrip_last_record_wins_and_order_is_first_seen() {
        let d = tempfile::tempdir().unwrap();
        let mut a2 = rec("a", Status::Call(CallStatus::Queued));
        a2.call_id = "call_1".into();
        a2.http_status = Some(201);
        a2.attempts = 1;
        a2.from_number = "+442079460000".into();
        a2.agent_version_id = "av_es".into();
        let path = write_log(
            d.path(),
            vec![
                rec("a", Status::Dispatching),
                rec("b", Status::Dispatching),
                a2.clone(),
            ],
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(&(COLUMNS.join(",") + "\n")), "{text}");
        assert!(!text.contains('#'), "no comment line: {text}");
        let log = read(&path).unwrap().unwrap();
        assert_eq!(log.header, header(), "from the state file");
        assert_eq!(log.lines, 3);
        assert_eq!(log.torn_bytes, 0);
        assert_eq!(log.table.len(), 2);
        assert_eq!(log.table.get("a"), Some(a2));
        assert_eq!(log.table.get("b").unwrap().status, Status::Dispatching);
        let keys: Vec<_> = log.table.iter().map(|r| r.key).collect();
        assert_eq!(keys, ["a", "b"]);
    }

    #[test]
    fn torn_last_line_is_ignored_then_cut_before_appending() {
        let d = tempfile::tempdir().unwrap();
        let path = write_log(d.path(), vec![rec("a", Status::Dispatching)]);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"a,2,+16505550199,+14155550100,av_1,1,queued,call_9,1,2\0")
            .unwrap();
        drop(f);
        let log = read(&path).unwrap().unwrap();
        assert_eq!(log.table.get("a").unwrap().status, Status::Dispatching);
        assert_eq!(log.torn_bytes, 55, "a NUL in the torn part is ignored too");
        // Appending again must not glue onto the torn bytes.
        let path = write_log(d.path(), vec![rec("b", Status::Pending)]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("call_9"), "{text}");
        assert_eq!(text.lines().count(), 3, "header, a, b: {text}");
        let log = read(&path).unwrap().unwrap();
        assert_eq!(log.torn_bytes, 0);
        assert_eq!(log.table.len(), 2);
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
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        lines.insert(2, "x,not-a-row,+1,,,1,queued,,,,,,,,,june".into());
        let write = |lines: &[String]| std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        write(&lines);
        let err = read(&path).unwrap_err();
        assert!(
            matches!(err, ResultsError::Malformed { line: 3, .. }),
            "{err}"
        );
        let msg = err.to_string();
        assert!(msg.contains("line 3") && msg.contains("`row`"), "{msg}");

        lines[2] = "too,few,fields".into();
        write(&lines);
        let msg = read(&path).unwrap_err().to_string();
        assert!(msg.contains("line 3: expected 16 fields, found 3"), "{msg}");

        // A NUL byte inside a line (issue 13), plain or quoted.
        for bad in [
            "x,2,+1\0,,,1,queued,,,,,,,,,june",
            "\"x\0\",2,+1,,,1,queued,,,,,,,,,june",
        ] {
            lines[2] = bad.into();
            write(&lines);
            let msg = read(&path).unwrap_err().to_string();
            assert!(msg.contains("line 3: the line holds a NUL byte"), "{msg}");
        }
        // A comment line is no longer skipped: it is not a record.
        lines[2] = "#callplan run,plan=/p.yaml".into();
        write(&lines);
        let msg = read(&path).unwrap_err().to_string();
        assert!(msg.contains("line 3: expected 16 fields, found 2"), "{msg}");
    }

    #[test]
    fn rows_of_two_campaigns_are_an_error_naming_the_line() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.csv");
        let b = ROW_A
            .replace("a,2,", "b,3,")
            .replace(",june", ",sandbox/june");
        std::fs::write(&p, current_file(&[ROW_A, &b])).unwrap();
        let msg = read(&p).unwrap_err().to_string();
        assert!(
            msg.contains(
                "line 3: column `campaign` is `sandbox/june`, but the rows before it are `june`'s"
            ),
            "{msg}"
        );
        let empty = ROW_A.replace(",june", ",");
        std::fs::write(&p, current_file(&[&empty])).unwrap();
        let msg = read(&p).unwrap_err().to_string();
        assert!(msg.contains("line 2: column `campaign` is empty"), "{msg}");
    }

    #[test]
    fn without_its_state_file_a_file_says_its_campaign_from_its_rows() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.csv");
        std::fs::write(&p, current_file(&[ROW_A])).unwrap();
        let log = read(&p).unwrap().unwrap();
        let lone = Identity {
            from_number: String::new(),
            agent_version_id: String::new(),
            ..ident()
        };
        assert_eq!(log.header.identity, lone);
        assert_eq!(
            log.header.resume_command(),
            format!("callplan run PLAN --results {}", p.display())
        );
        // A rehearsal's rows say so without any state file.
        let sb = ROW_A.replace(",june", ",sandbox/june");
        std::fs::write(&p, current_file(&[&sb])).unwrap();
        let log = read(&p).unwrap().unwrap();
        assert!(log.header.identity.sandbox);
        assert!(!log.header.identity.admits(&ident()));
        // A state file of another campaign (a CSV copied over) is ignored.
        let mut other = header();
        other.identity.campaign = "july".into();
        super::super::state::write_state(&p, &other).unwrap();
        std::fs::write(&p, current_file(&[ROW_A])).unwrap();
        assert_eq!(read(&p).unwrap().unwrap().header.identity, lone);
        // An unreadable one too; with no row at all it is nothing to resume.
        std::fs::write(state_path(&p), "{").unwrap();
        assert_eq!(read(&p).unwrap().unwrap().header.identity, lone);
        std::fs::write(&p, current_file(&[])).unwrap();
        assert!(read(&p).unwrap().is_none());
    }

    #[test]
    fn a_file_of_the_first_layout_reads_as_before() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.csv");
        let h = header();
        let file = legacy_file(
            &h,
            &[
                "a,2,+16505550199,1,dispatching,,1,,,,,,2026-01-01T00:00:00.000Z",
                "\"#callplan run\",3,+16505550198,1,queued,call_2,1,201,\"x, y\",,,,",
                "a,2,+16505550199,1,completed,call_1,1,201,,hangup,31.5,,",
            ],
        );
        std::fs::write(&p, file).unwrap();
        let log = read(&p).unwrap().unwrap();
        assert!(log.legacy);
        assert_eq!(log.header.identity, ident());
        assert_eq!(log.header.rows, h.rows, "from the run line");
        assert_eq!(log.lines, 3);
        let a = log.table.get("a").unwrap();
        assert_eq!(a.status, Status::Call(CallStatus::Completed));
        assert_eq!(a.duration_s, "31.5");
        // The layout's one caller ID and agent version, on every row.
        assert_eq!(a.from_number, "+14155550100");
        assert_eq!(a.agent_version_id, "av_1");
        let hash = log.table.get("#callplan run").unwrap();
        assert_eq!(hash.error, "x, y");
        // Its own rules still hold: a line of 13 fields, no other.
        let mut bad = legacy_file(&h, &["a,2,+1,1,queued"]);
        std::fs::write(&p, &bad).unwrap();
        let msg = read(&p).unwrap_err().to_string();
        assert!(msg.contains("line 3: expected 13 fields, found 5"), "{msg}");
        bad = legacy_file(&h, &[]);
        let text = String::from_utf8(bad)
            .unwrap()
            .replace("key,row,", "kee,row,");
        std::fs::write(&p, text).unwrap();
        let msg = read(&p).unwrap_err().to_string();
        assert!(msg.contains("line 2: expected the column header"), "{msg}");
    }

    #[test]
    fn other_files_are_refused_not_overwritten() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("recipients.csv");
        std::fs::write(&p, "to_number,name\n+16505550199,Alex\n").unwrap();
        assert!(matches!(read(&p), Err(ResultsError::NotResults { .. })));
        std::fs::write(&p, "no newline at all").unwrap();
        assert!(matches!(read(&p), Err(ResultsError::NotResults { .. })));
        // The columns of another version are not ours.
        std::fs::write(&p, COLUMNS.join(",") + ",extra\n").unwrap();
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
        // columns, one record
        assert_eq!(text.lines().count(), 2, "{text}");
        let got = read(&path).unwrap().unwrap();
        let back = got.table.get("#callplan run").unwrap();
        assert_eq!(back.error, "bad, \"quoted\" second line ");
        assert_eq!(back.to_number, "+1,2");
    }

    proptest::proptest! {
        #[test]
        fn records_read_back_through_the_file(key in "[^\r\n\0]{1,20}", err in "[^\0]{0,40}", call in "[a-z0-9_\",]{0,12}", from in "[+0-9,\"]{0,14}") {
            let d = tempfile::tempdir().unwrap();
            let path = d.path().join("r.csv");
            let mut r = rec(&key, Status::Call(CallStatus::Queued));
            r.error = err.as_str().into();
            r.call_id = call.as_str().into();
            r.from_number = from.as_str().into();
            let mut content = Vec::new();
            push_line(&mut content, COLUMNS, false);
            r.write_to("june", &mut content);
            std::fs::write(&path, &content).unwrap();
            let log = read(&path).unwrap().unwrap();
            let back = log.table.get(&key).unwrap();
            proptest::prop_assert_eq!(&back.error, &err.replace(['\r', '\n'], " "));
            proptest::prop_assert_eq!(&back.call_id, &call);
            proptest::prop_assert_eq!(&back.from_number, &from);
            proptest::prop_assert_eq!(back.status.clone(), Status::Call(CallStatus::Queued));
            proptest::prop_assert_eq!(&log.header.identity.campaign, "june");
        }

        #[test]
        fn reading_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..400)) {
            let d = tempfile::tempdir().unwrap();
            let p = d.path().join("r.csv");
            for first in [
                COLUMNS.join(",") + "\n",
                "#callplan results v1,campaign=a,from_number=b,agent_version_id=c\n".to_string(),
            ] {
                let mut content = first.into_bytes();
                content.extend_from_slice(&bytes);
                std::fs::write(&p, &content).unwrap();
                let _ = read(&p);
            }
            std::fs::write(&p, &bytes).unwrap();
            let _ = read(&p);
            // A hostile state file beside a file with a row.
            std::fs::write(state_path(&p), &bytes).unwrap();
            std::fs::write(&p, current_file(&[ROW_A])).unwrap();
            proptest::prop_assert!(read(&p).is_ok());
        }
    }
}
