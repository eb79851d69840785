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
use std::os::unix::fs::FileExt;
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
    read_with(path, HALVES_FROM)
}

/// [`read`] while other work keeps the cores busy (a validation beside
/// it): in one pass, as a second thread would only slow that work down.
pub fn read_beside_other_work(path: &Path) -> Result<Option<Log>, ResultsError> {
    read_with(path, u64::MAX)
}

/// [`read`], in two halves from `halves_from` bytes on.
fn read_with(path: &Path, halves_from: u64) -> Result<Option<Log>, ResultsError> {
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
    let parser = parse(path, &file, valid_len, halves_from)?;
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

/// Logs from this length on are read as two halves at once, on two
/// threads (a resume of a long campaign starts dialling sooner).
const HALVES_FROM: u64 = 8 << 20;

/// The file's first `valid_len` bytes read: as two halves at once when
/// there are at least `halves_from` of them and the halves agree, else
/// in one pass.
fn parse<'a>(
    path: &'a Path,
    file: &File,
    valid_len: u64,
    halves_from: u64,
) -> Result<Parser<'a>, ResultsError> {
    if valid_len >= halves_from
        && let Some(parser) = halves(path, file, valid_len)
    {
        return Ok(parser);
    }
    let mut parser = Parser::new(path, valid_len);
    feed(&mut parser, file, 0, valid_len)?;
    Ok(parser)
}

/// The file read as two halves at once, split after a line break near the
/// middle (one record per physical line: the writer guarantees it). The
/// second half is read as rows of the current layout, and its table is
/// then taken into the first's ([`Table::absorb`]). None when the file is
/// of the first layout or not a results file, when the halves' campaigns
/// differ, or when either half has an error: [`parse`] then reads it
/// again in one pass, which names the line as it always did.
fn halves<'a>(path: &'a Path, file: &File, valid_len: u64) -> Option<Parser<'a>> {
    let mid = line_start_after(file, valid_len / 2, valid_len).ok()??;
    let (first, second) = std::thread::scope(|s| {
        let second = s.spawn(|| {
            let mut p = Parser::new(path, valid_len - mid);
            p.layout = Some(Layout::Current);
            feed(&mut p, file, mid, valid_len).ok().map(|()| p)
        });
        let mut p = Parser::new(path, valid_len);
        let first = feed(&mut p, file, 0, mid).ok().map(|()| p);
        (first, second.join().ok().flatten())
    });
    let (mut first, second) = (first?, second?);
    if !matches!(first.layout, Some(Layout::Current)) {
        return None;
    }
    match (&first.campaign, second.campaign) {
        (Some(a), Some(b)) if *a != b => return None,
        (None, b) => first.campaign = b,
        _ => {}
    }
    first.table.absorb(second.table).ok()?;
    first.lines += second.lines;
    first.line += second.line;
    Some(first)
}

/// Offset just past the first `\n` at or after `from` (before `end`).
fn line_start_after(file: &File, from: u64, end: u64) -> io::Result<Option<u64>> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut at = from;
    while at < end {
        let want = buf.len().min((end - at) as usize);
        let n = file.read_at(&mut buf[..want], at)?;
        if n == 0 {
            break;
        }
        if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
            let start = at + i as u64 + 1;
            return Ok((start < end).then_some(start));
        }
        at += n as u64;
    }
    Ok(None)
}

/// Reads the lines of `file` from `start` (a line's start) to `end` (just
/// past a line break, or the end of the file) into `parser`. Lines are
/// split here, read where they lie in the buffer; only a line across two
/// fills of it is copied (into `carry`).
fn feed(parser: &mut Parser<'_>, file: &File, start: u64, end: u64) -> Result<(), ResultsError> {
    let rd = |source| ResultsError::Read {
        path: parser.path.to_path_buf(),
        source,
    };
    let span = At {
        file,
        pos: start,
        end,
    };
    let mut reader = BufReader::with_capacity(1 << 20, span);
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let chunk = reader.fill_buf().map_err(rd)?;
        if chunk.is_empty() {
            break;
        }
        let filled = chunk.len();
        let mut from = 0;
        for end in memchr::memchr_iter(b'\n', chunk) {
            let line = &chunk[from..=end];
            if carry.is_empty() {
                parser.line(line)?;
            } else {
                carry.extend_from_slice(line);
                parser.line(&carry)?;
                carry.clear();
            }
            from = end + 1;
        }
        carry.extend_from_slice(&chunk[from..]);
        reader.consume(filled);
    }
    // `end` is just past a newline; a file cut meanwhile may not be.
    if !carry.is_empty() {
        parser.line(&carry)?;
    }
    Ok(())
}

/// A file's bytes from `pos` to `end`, read with `pread` (two threads read
/// one file at once, each at its own place).
struct At<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min((self.end - self.pos) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
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
#[path = "read_tests.rs"]
mod tests;
