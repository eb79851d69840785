//! The results file: callplan's durable memory of a campaign.
//!
//! While a run goes on the file is an append-only log. One writer thread owns
//! it ([`open`] returns the [`Appender`] handle workers use and the [`Writer`]
//! that joins the thread): it gathers the records workers send, writes them
//! in one go, fsyncs once per batch (group commit) and only then answers each
//! waiter. A worker sends a request only after the `dispatching` record of
//! its intent has been acknowledged, so no call ever leaves without its
//! intent on disk. A failed write or fsync poisons the writer: every later
//! append fails at once and the halt token is cancelled, so dialling stops.
//!
//! Reading ([`read`]) keeps the last record of each key; a torn last line (a
//! crash mid-write) is ignored and cut off before the next append; any other
//! malformed line is an error naming its line. When a run ends, [`compact`]
//! rewrites the file atomically (temp file in the same folder, fsync, rename,
//! fsync of the folder) as one line per recipient in input order.
//!
//! Layout (see the README, "Results file"): line 1 is a comment record that
//! names the campaign (`#callplan results v1,campaign=...,from_number=...,
//! agent_version_id=...,plan=...`), line 2 the column header, then one record
//! per line. Every record is one physical line: free text has its line breaks
//! replaced by spaces, so "the bytes after the last newline" is exactly the
//! torn part. While the file is a log, each run start appends a
//! `#callplan run,...` comment record; compaction drops those.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::text::{now_rfc3339, shell_quote};
use crate::wire::CallStatus;

/// The columns of the results file, in order (DESIGN.md, "Results file").
pub const COLUMNS: [&str; 13] = [
    "key",
    "row",
    "to_number",
    "round",
    "status",
    "call_id",
    "attempts",
    "http_status",
    "error",
    "end_reason",
    "duration_s",
    "next_at",
    "updated_at",
];

/// First field of the identity line; the version is bumped if the layout changes.
const MAGIC: &str = "#callplan results v1";
/// First field of the comment record appended at each run start.
const RUN_MAGIC: &str = "#callplan run";
/// Any first field starting so is a comment record, not a recipient.
const COMMENT_PREFIX: &str = "#callplan";

/// Records gathered into one write + fsync at most.
const MAX_BATCH: usize = 8192;

/// What makes two results files the same campaign: a file written for
/// another campaign is refused, never mixed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub campaign: String,
    pub from_number: String,
    pub agent_version_id: String,
    /// Written by a `--sandbox` rehearsal: its call_ids are not real calls,
    /// so a real run must never take its rows as settled.
    pub sandbox: bool,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "campaign `{}`, from_number {}, agent version {}",
            self.campaign, self.from_number, self.agent_version_id
        )?;
        if self.sandbox {
            f.write_str(", a --sandbox rehearsal")?;
        }
        Ok(())
    }
}

/// The identity line plus what `callplan status` needs to print the exact
/// command that resumes the campaign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub identity: Identity,
    /// The plan file of the last run.
    pub plan: String,
    /// `--recipients` of the last run, when it was given.
    pub recipients: Option<String>,
    /// `--results` of the last run, when it was given.
    pub results: Option<String>,
    /// Recipient rows in the input of the last run (valid and invalid).
    pub rows: Option<u64>,
    /// The last run had `--skip-invalid`: its resume command must too (else
    /// the rerun refuses to dial anything over the invalid rows).
    pub skip_invalid: bool,
}

impl Header {
    /// The command that resumes this campaign, quoted for a POSIX shell.
    pub fn resume_command(&self) -> String {
        let mut cmd = format!("callplan run {}", shell_quote(&self.plan));
        if let Some(r) = &self.recipients {
            cmd.push_str(" --recipients ");
            cmd.push_str(&shell_quote(r));
        }
        if let Some(r) = &self.results {
            cmd.push_str(" --results ");
            cmd.push_str(&shell_quote(r));
        }
        if self.skip_invalid {
            cmd.push_str(" --skip-invalid");
        }
        if self.identity.sandbox {
            cmd.push_str(" --sandbox");
        }
        cmd
    }

    fn fields(&self, magic: &str) -> Vec<String> {
        let mut f = vec![magic.to_string()];
        if magic == MAGIC {
            f.push(format!("campaign={}", self.identity.campaign));
            f.push(format!("from_number={}", self.identity.from_number));
            f.push(format!(
                "agent_version_id={}",
                self.identity.agent_version_id
            ));
            if self.identity.sandbox {
                f.push("target=sandbox".into());
            }
        } else {
            f.push(format!("started_at={}", now_rfc3339()));
        }
        f.push(format!("plan={}", self.plan));
        if let Some(r) = &self.recipients {
            f.push(format!("recipients={r}"));
        }
        if let Some(r) = &self.results {
            f.push(format!("results={r}"));
        }
        if let Some(n) = self.rows {
            f.push(format!("rows={n}"));
        }
        if self.skip_invalid {
            f.push("skip_invalid=1".into());
        }
        f
    }

    fn line(&self, magic: &str) -> Vec<u8> {
        let mut buf = Vec::new();
        let fields = self.fields(magic);
        push_line(&mut buf, fields.iter().map(String::as_str), false);
        buf
    }
}

/// A row's status: one of the API's call statuses or one of callplan's own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Status {
    /// Not dialled yet, or answered "nothing created" and not sent again.
    Pending,
    /// Intent recorded, answer not yet recorded.
    Dispatching,
    /// Sent, answer lost, not reconciled: never dialled again unless asked.
    InDoubt,
    /// The API refused this row for good (400, 403 blocked destination).
    Rejected,
    /// Failed validation (with `--skip-invalid`).
    Invalid,
    /// Transient errors outlasted `max_attempts`; nothing was created.
    Error,
    /// On a do-not-call list.
    Suppressed,
    /// The API's status of the call that was created.
    Call(CallStatus),
}

/// What a run does with a row, given its last status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Nothing to do: a call exists, or the row was refused for good.
    Settled,
    /// Dial it: no call was created for it.
    Dial,
    /// A call may exist: look for it before anything else.
    Reconcile,
}

impl Status {
    /// Reads a status word: callplan's own words first, then the API's
    /// (normalized; an unknown word is kept as it came).
    pub fn parse(word: &str) -> Status {
        match word {
            // The canonical words first: a long log is mostly these.
            "queued" => Status::Call(CallStatus::Queued),
            "ringing" => Status::Call(CallStatus::Ringing),
            "in_progress" => Status::Call(CallStatus::InProgress),
            "completed" => Status::Call(CallStatus::Completed),
            "failed" => Status::Call(CallStatus::Failed),
            "no_answer" => Status::Call(CallStatus::NoAnswer),
            "busy" => Status::Call(CallStatus::Busy),
            "voicemail" => Status::Call(CallStatus::Voicemail),
            "pending" => Status::Pending,
            "dispatching" => Status::Dispatching,
            "in_doubt" => Status::InDoubt,
            "rejected" => Status::Rejected,
            "invalid" => Status::Invalid,
            "error" => Status::Error,
            "suppressed" => Status::Suppressed,
            other => Status::Call(CallStatus::parse(other)),
        }
    }

    /// The word written in the results file.
    pub fn as_str(&self) -> &str {
        match self {
            Status::Pending => "pending",
            Status::Dispatching => "dispatching",
            Status::InDoubt => "in_doubt",
            Status::Rejected => "rejected",
            Status::Invalid => "invalid",
            Status::Error => "error",
            Status::Suppressed => "suppressed",
            Status::Call(c) => c.as_str(),
        }
    }

    /// What a run does with a row in this state.
    pub fn disposition(&self) -> Disposition {
        match self {
            Status::Pending | Status::Error | Status::Invalid => Disposition::Dial,
            Status::Dispatching | Status::InDoubt => Disposition::Reconcile,
            Status::Rejected | Status::Suppressed | Status::Call(_) => Disposition::Settled,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of the results file.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub key: String,
    /// The row number a spreadsheet shows for this recipient (header = 1).
    pub row: u64,
    pub to_number: String,
    pub round: u32,
    pub status: Status,
    pub call_id: String,
    /// Sends that count against `max_attempts` (409/429 resends do not).
    pub attempts: u32,
    pub http_status: Option<u16>,
    pub error: String,
    pub end_reason: String,
    pub duration_s: String,
    pub next_at: String,
    pub updated_at: String,
}

impl Record {
    /// A fresh record for a recipient, stamped now.
    pub fn new(key: &str, row: u64, to_number: &str, round: u32, status: Status) -> Record {
        Record {
            key: key.to_string(),
            row,
            to_number: to_number.to_string(),
            round,
            status,
            call_id: String::new(),
            attempts: 0,
            http_status: None,
            error: String::new(),
            end_reason: String::new(),
            duration_s: String::new(),
            next_at: String::new(),
            updated_at: now_rfc3339(),
        }
    }

    /// Appends this record as one CSV line.
    fn write_to(&self, buf: &mut Vec<u8>) {
        let row = self.row.to_string();
        let round = self.round.to_string();
        let attempts = self.attempts.to_string();
        let http = self.http_status.map(|s| s.to_string()).unwrap_or_default();
        push_line(
            buf,
            [
                self.key.as_str(),
                &row,
                &self.to_number,
                &round,
                self.status.as_str(),
                &self.call_id,
                &attempts,
                &http,
                &self.error,
                &self.end_reason,
                &self.duration_s,
                &self.next_at,
                &self.updated_at,
            ],
            true,
        );
    }

    fn from_fields(rec: &csv::ByteRecord) -> Result<Record, String> {
        if rec.len() != COLUMNS.len() {
            return Err(format!(
                "expected {} fields, found {}",
                COLUMNS.len(),
                rec.len()
            ));
        }
        let mut fields = [""; COLUMNS.len()];
        for (i, (f, raw)) in fields.iter_mut().zip(rec.iter()).enumerate() {
            *f = std::str::from_utf8(raw)
                .map_err(|_| format!("column `{}` is not UTF-8", COLUMNS[i]))?;
        }
        Record::from_strs(&fields)
    }

    fn from_strs(fields: &[&str; COLUMNS.len()]) -> Result<Record, String> {
        let mut r = Record {
            key: String::new(),
            row: 0,
            to_number: String::new(),
            round: 0,
            status: Status::Pending,
            call_id: String::new(),
            attempts: 0,
            http_status: None,
            error: String::new(),
            end_reason: String::new(),
            duration_s: String::new(),
            next_at: String::new(),
            updated_at: String::new(),
        };
        r.assign(fields)?;
        Ok(r)
    }

    /// Overwrites this record with a line's fields, reusing its buffers (a
    /// long log mostly replaces records of keys already seen).
    fn assign(&mut self, fields: &[&str; COLUMNS.len()]) -> Result<(), String> {
        let number = |i: usize| -> Result<u64, String> {
            let t = fields[i];
            t.parse::<u64>()
                .map_err(|_| format!("column `{}` must be a number, found `{t}`", COLUMNS[i]))
        };
        let small = |i: usize| -> Result<u32, String> {
            number(i)?
                .try_into()
                .map_err(|_| format!("column `{}` is out of range", COLUMNS[i]))
        };
        let set = |dst: &mut String, src: &str| {
            dst.clear();
            dst.push_str(src);
        };
        if fields[0].is_empty() {
            return Err("column `key` is empty".into());
        }
        if fields[4].is_empty() {
            return Err("column `status` is empty".into());
        }
        let http = fields[7];
        self.http_status =
            if http.is_empty() {
                None
            } else {
                Some(http.parse::<u16>().map_err(|_| {
                    format!("column `http_status` must be a number, found `{http}`")
                })?)
            };
        self.row = number(1)?;
        self.round = small(3)?;
        self.attempts = if fields[6].is_empty() { 0 } else { small(6)? };
        self.status = Status::parse(fields[4]);
        set(&mut self.key, fields[0]);
        set(&mut self.to_number, fields[2]);
        set(&mut self.call_id, fields[5]);
        set(&mut self.error, fields[8]);
        set(&mut self.end_reason, fields[9]);
        set(&mut self.duration_s, fields[10]);
        set(&mut self.next_at, fields[11]);
        set(&mut self.updated_at, fields[12]);
        Ok(())
    }
}

/// Writes one CSV line. Line breaks inside a field become spaces (a record
/// is always one physical line), and a field is quoted when it holds a comma
/// or a quote, or when it is a record's key starting with `#` (so that a
/// key never passes for a comment line in tools that skip those).
fn push_line<'a>(buf: &mut Vec<u8>, fields: impl IntoIterator<Item = &'a str>, record: bool) {
    for (i, f) in fields.into_iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        let special = f.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
        let needs_quotes =
            (record && i == 0 && f.starts_with('#')) || f.bytes().any(|b| b == b',' || b == b'"');
        if !special && !needs_quotes {
            buf.extend_from_slice(f.as_bytes());
            continue;
        }
        if needs_quotes {
            buf.push(b'"');
        }
        for b in f.bytes() {
            match b {
                b'"' => buf.extend_from_slice(b"\"\""),
                b'\n' | b'\r' => buf.push(b' '),
                _ => buf.push(b),
            }
        }
        if needs_quotes {
            buf.push(b'"');
        }
    }
    buf.push(b'\n');
}

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
    has_columns: bool,
    /// Length of the file up to and including its last complete line.
    valid_len: u64,
}

/// Why a results file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("cannot read results file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write results file {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error(
        "{path} is not a callplan results file (its first line is not `#callplan results v1,...`); \
         point --results at another file, or move this one away"
    )]
    NotResults { path: PathBuf },
    #[error(
        "{path} was written by another version of callplan (`{found}`); use that version, \
         or start a new results file with --results"
    )]
    Version { path: PathBuf, found: String },
    #[error(
        "{path}, line {line}: {reason}; fix or delete that line (the last record of a key wins)"
    )]
    Malformed {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    #[error(
        "another callplan run is using {path}; wait for it to end (two runs at once would \
         call people twice)"
    )]
    Busy { path: PathBuf },
    #[error(
        "{path} belongs to another campaign ({found}); this plan is {expected}. \
         Results are never mixed: use --results to choose another file, or restore the plan"
    )]
    OtherCampaign {
        path: PathBuf,
        found: Box<Identity>,
        expected: Box<Identity>,
    },
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
        if len == 0 {
            return Ok(None);
        }
        // One torn line: ours if it is the start of an identity line.
        let mut head = vec![0u8; len.min(64) as usize];
        file.seek(SeekFrom::Start(0)).map_err(rd)?;
        file.read_exact(&mut head).map_err(rd)?;
        let magic = MAGIC.as_bytes();
        let n = head.len().min(magic.len());
        return if head[..n] == magic[..n] {
            Ok(None)
        } else {
            Err(ResultsError::NotResults {
                path: path.to_path_buf(),
            })
        };
    }
    file.seek(SeekFrom::Start(0)).map_err(rd)?;
    let mut reader = BufReader::with_capacity(1 << 20, file.take(valid_len));
    let malformed = |line: u64, reason: String| ResultsError::Malformed {
        path: path.to_path_buf(),
        line,
        reason,
    };

    // One record per physical line (the writer guarantees it), so lines
    // are split here; a line with a quote goes through the CSV parser.
    let mut buf: Vec<u8> = Vec::with_capacity(256);
    let mut rec = csv::ByteRecord::new();
    let mut header: Option<Header> = None;
    let mut has_columns = false;
    // About two lines per key (intent, outcome) of about 80 bytes each.
    let mut table = Table::with_capacity((valid_len / 160) as usize);
    let mut lines = 0u64;
    let mut line = 0u64;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf).map_err(rd)? == 0 {
            break;
        }
        line += 1;
        let raw = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        // A spreadsheet that saved the file may have put a BOM first.
        let raw = if line == 1 {
            raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
        } else {
            raw
        };
        if raw.is_empty() {
            continue; // a blank line (a hand edit): nothing to read
        }
        // The common line: no quote, not a comment. Split it in one pass.
        let mut fields = [""; COLUMNS.len()];
        let mut n = 0;
        let mut plain = header.is_some() && !raw.starts_with(b"#");
        if plain {
            let text = std::str::from_utf8(raw)
                .map_err(|_| malformed(line, "the line is not UTF-8".into()))?;
            let mut start = 0;
            for (i, &b) in raw.iter().enumerate() {
                if b == b',' {
                    if n < fields.len() {
                        fields[n] = &text[start..i];
                    }
                    n += 1;
                    start = i + 1;
                } else if b == b'"' {
                    plain = false;
                    break;
                }
            }
            if n < fields.len() {
                fields[n] = &text[start..];
            }
            n += 1;
        }
        if plain {
            if !has_columns {
                if n != COLUMNS.len() || fields != COLUMNS {
                    return Err(malformed(
                        line,
                        format!("expected the column header `{}`", COLUMNS.join(",")),
                    ));
                }
                has_columns = true;
                continue;
            }
            if n != COLUMNS.len() {
                return Err(malformed(
                    line,
                    format!("expected {} fields, found {n}", COLUMNS.len()),
                ));
            }
            match table.index.get(fields[0]) {
                Some(&i) => table.records[i].assign(&fields),
                None => Record::from_strs(&fields).map(|r| table.upsert(r)),
            }
            .map_err(|reason| malformed(line, reason))?;
            lines += 1;
            continue;
        }
        if let Err(e) = csv_line(raw, &mut rec) {
            if header.is_none() {
                return Err(ResultsError::NotResults {
                    path: path.to_path_buf(),
                });
            }
            return Err(malformed(line, format!("not CSV ({e})")));
        }
        let first = rec.get(0).unwrap_or_default();
        let Some(h) = header.as_mut() else {
            header = Some(parse_identity(path, &rec)?);
            continue;
        };
        // A comment record: a record of 13 fields is a recipient whose key
        // merely starts so (written quoted).
        if first.starts_with(COMMENT_PREFIX.as_bytes()) && rec.len() != COLUMNS.len() {
            if first == RUN_MAGIC.as_bytes() {
                apply_run_line(h, &rec);
            }
            continue;
        }
        if !has_columns {
            let expected = COLUMNS.iter().map(|c| c.as_bytes());
            if rec.len() != COLUMNS.len() || !rec.iter().eq(expected) {
                return Err(malformed(
                    line,
                    format!("expected the column header `{}`", COLUMNS.join(",")),
                ));
            }
            has_columns = true;
            continue;
        }
        let r = Record::from_fields(&rec).map_err(|reason| malformed(line, reason))?;
        lines += 1;
        table.upsert(r);
    }
    let Some(header) = header else {
        return Err(ResultsError::NotResults {
            path: path.to_path_buf(),
        });
    };
    Ok(Some(Log {
        header,
        table,
        lines,
        torn_bytes: len - valid_len,
        has_columns,
        valid_len,
    }))
}

/// Parses one line as CSV (quoted fields, doubled quotes). A CSV reader
/// drops a byte-order mark at the start of its input, so the line is read
/// behind a dummy first field: a key may start with U+FEFF.
fn csv_line(line: &[u8], rec: &mut csv::ByteRecord) -> Result<(), csv::Error> {
    let mut rd = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(Read::chain(&b"-,"[..], line));
    let mut full = csv::ByteRecord::new();
    rec.clear();
    if rd.read_byte_record(&mut full)? {
        for f in full.iter().skip(1) {
            rec.push_field(f);
        }
    }
    Ok(())
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

fn key_values(rec: &csv::ByteRecord) -> impl Iterator<Item = (&str, &str)> {
    rec.iter().skip(1).filter_map(|f| {
        let s = std::str::from_utf8(f).ok()?;
        s.split_once('=')
    })
}

fn parse_identity(path: &Path, rec: &csv::ByteRecord) -> Result<Header, ResultsError> {
    let first = rec.get(0).unwrap_or_default();
    if first != MAGIC.as_bytes() {
        if first.starts_with(COMMENT_PREFIX.as_bytes()) {
            return Err(ResultsError::Version {
                path: path.to_path_buf(),
                found: String::from_utf8_lossy(first).into_owned(),
            });
        }
        return Err(ResultsError::NotResults {
            path: path.to_path_buf(),
        });
    }
    let mut campaign = None;
    let mut from_number = None;
    let mut agent = None;
    let mut h = Header {
        identity: Identity {
            campaign: String::new(),
            from_number: String::new(),
            agent_version_id: String::new(),
            sandbox: false,
        },
        plan: String::new(),
        recipients: None,
        results: None,
        rows: None,
        skip_invalid: false,
    };
    for (k, v) in key_values(rec) {
        match k {
            "campaign" => campaign = Some(v.to_string()),
            "from_number" => from_number = Some(v.to_string()),
            "agent_version_id" => agent = Some(v.to_string()),
            "target" => h.identity.sandbox = v == "sandbox",
            "plan" => h.plan = v.to_string(),
            "recipients" => h.recipients = Some(v.to_string()),
            "results" => h.results = Some(v.to_string()),
            "rows" => h.rows = v.parse().ok(),
            "skip_invalid" => h.skip_invalid = v == "1",
            _ => {} // written by a later callplan: not needed to resume
        }
    }
    match (campaign, from_number, agent) {
        (Some(c), Some(f), Some(a)) => {
            h.identity.campaign = c;
            h.identity.from_number = f;
            h.identity.agent_version_id = a;
            Ok(h)
        }
        _ => Err(ResultsError::Malformed {
            path: path.to_path_buf(),
            line: 1,
            reason: "the identity line lacks campaign=, from_number= or agent_version_id=".into(),
        }),
    }
}

fn apply_run_line(h: &mut Header, rec: &csv::ByteRecord) {
    h.recipients = None;
    h.results = None;
    h.skip_invalid = false;
    for (k, v) in key_values(rec) {
        match k {
            "plan" => h.plan = v.to_string(),
            "recipients" => h.recipients = Some(v.to_string()),
            "results" => h.results = Some(v.to_string()),
            "rows" => h.rows = v.parse().ok(),
            "skip_invalid" => h.skip_invalid = v == "1",
            _ => {}
        }
    }
}

/// The writer thread failed: the error is shared by every later append.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot write results file {path}: {source}")]
pub struct WriteFailed {
    pub path: PathBuf,
    pub source: Arc<io::Error>,
}

type AckTx = oneshot::Sender<Result<(), WriteFailed>>;

/// The workers' handle on the writer thread. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Appender {
    tx: mpsc::UnboundedSender<(Record, Option<AckTx>)>,
    path: Arc<PathBuf>,
}

impl Appender {
    /// Appends a record and resolves once it is on disk (written and
    /// fsynced), or with the error that stopped the writer.
    pub async fn append_durable(&self, rec: Record) -> Result<(), WriteFailed> {
        let (tx, rx) = oneshot::channel();
        if self.tx.send((rec, Some(tx))).is_err() {
            return Err(self.closed());
        }
        match rx.await {
            Ok(r) => r,
            Err(_) => Err(self.closed()),
        }
    }

    /// Appends a record without waiting for the fsync. It is written in the
    /// next batch; if writing fails, the writer halts the run instead.
    pub fn append(&self, rec: Record) {
        let _ = self.tx.send((rec, None));
    }

    fn closed(&self) -> WriteFailed {
        WriteFailed {
            path: self.path.to_path_buf(),
            source: Arc::new(io::Error::other("the results writer has stopped")),
        }
    }
}

/// The writer thread; [`Writer::finish`] waits for everything sent so far.
#[derive(Debug)]
pub struct Writer {
    thread: std::thread::JoinHandle<(Table, Option<WriteFailed>)>,
}

impl Writer {
    /// Waits for every record sent before all [`Appender`]s were dropped to
    /// be written, and returns the durable table (every record that reached
    /// the disk, last per key) and the write error, if one stopped it.
    pub fn finish(self) -> (Table, Option<WriteFailed>) {
        self.thread.join().unwrap_or_else(|_| {
            (
                Table::default(),
                Some(WriteFailed {
                    path: PathBuf::new(),
                    source: Arc::new(io::Error::other("the results writer panicked")),
                }),
            )
        })
    }
}

/// Opens the results file for appending and starts the writer thread.
///
/// `existing` is what [`read`] returned for `path` (None: a new file is
/// created, its header fsynced, and its folder fsynced). An existing file of
/// another campaign is refused. A torn last line is cut off; a
/// `#callplan run` comment with `header`'s details is appended. `halt` is
/// cancelled if a write ever fails.
pub fn open(
    path: &Path,
    header: &Header,
    existing: Option<Log>,
    halt: CancellationToken,
) -> Result<(Appender, Writer), ResultsError> {
    let wr = |source| ResultsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let (file, table) = match existing {
        None => {
            let mut file = File::create(path).map_err(wr)?;
            let mut buf = header.line(MAGIC);
            push_line(&mut buf, COLUMNS, false);
            file.write_all(&buf).map_err(wr)?;
            file.sync_all().map_err(wr)?;
            sync_dir(path).map_err(wr)?;
            (file, Table::default())
        }
        Some(log) => {
            if log.header.identity != header.identity {
                return Err(ResultsError::OtherCampaign {
                    path: path.to_path_buf(),
                    found: Box::new(log.header.identity),
                    expected: Box::new(header.identity.clone()),
                });
            }
            let mut file = OpenOptions::new().write(true).open(path).map_err(wr)?;
            file.set_len(log.valid_len).map_err(wr)?;
            file.seek(SeekFrom::End(0)).map_err(wr)?;
            let mut buf = Vec::new();
            if !log.has_columns {
                push_line(&mut buf, COLUMNS, false);
            }
            buf.extend_from_slice(&header.line(RUN_MAGIC));
            file.write_all(&buf).map_err(wr)?;
            file.sync_data().map_err(wr)?;
            (file, log.table)
        }
    };
    Ok(spawn_writer(path.to_path_buf(), file, table, halt))
}

fn spawn_writer(
    path: PathBuf,
    file: File,
    table: Table,
    halt: CancellationToken,
) -> (Appender, Writer) {
    let (tx, rx) = mpsc::unbounded_channel();
    let path = Arc::new(path);
    let p = path.clone();
    let thread = std::thread::Builder::new()
        .name("results-writer".into())
        .spawn(move || writer_loop(&p, file, table, rx, halt))
        .expect("spawning the results writer thread");
    (Appender { tx, path }, Writer { thread })
}

fn writer_loop(
    path: &Path,
    mut file: File,
    mut table: Table,
    mut rx: mpsc::UnboundedReceiver<(Record, Option<AckTx>)>,
    halt: CancellationToken,
) -> (Table, Option<WriteFailed>) {
    let mut failed: Option<WriteFailed> = None;
    let mut batch: Vec<(Record, Option<AckTx>)> = Vec::new();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        if failed.is_none() {
            buf.clear();
            for (rec, _) in &batch {
                rec.write_to(&mut buf);
            }
            if let Err(e) = file.write_all(&buf).and_then(|()| file.sync_data()) {
                tracing::error!("cannot write results file {}: {e}", path.display());
                failed = Some(WriteFailed {
                    path: path.to_path_buf(),
                    source: Arc::new(e),
                });
                halt.cancel();
            }
        }
        for (rec, ack) in batch.drain(..) {
            let res = match &failed {
                Some(f) => Err(f.clone()),
                None => {
                    table.upsert(rec);
                    Ok(())
                }
            };
            if let Some(ack) = ack {
                let _ = ack.send(res);
            }
        }
    }
    (table, failed)
}

fn sync_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// Held for a whole run: one process at a time appends to a results file.
/// Two runs of one campaign at once would each dial the rows the other has
/// not recorded yet.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

/// Takes the run lock of a results file: an advisory `flock` on
/// `.<file name>.lock` beside it (the results file itself is replaced by
/// compaction, so it cannot carry the lock). Released when the process
/// ends, however it ends; the lock file stays, empty.
pub fn lock(path: &Path) -> Result<RunLock, ResultsError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "results".into());
    let lock_path = path.with_file_name(format!(".{name}.lock"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| ResultsError::Write {
            path: lock_path.clone(),
            source,
        })?;
    #[cfg(unix)]
    {
        use std::os::unix::io::AsRawFd;
        // SAFETY: flock on a descriptor this function owns; no memory involved.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = io::Error::last_os_error();
            return Err(if err.kind() == io::ErrorKind::WouldBlock {
                ResultsError::Busy {
                    path: path.to_path_buf(),
                }
            } else {
                ResultsError::Write {
                    path: lock_path,
                    source: err,
                }
            });
        }
    }
    Ok(RunLock { _file: file })
}

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
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
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
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(&compact_prefix(path))
        .tempfile_in(dir)
        .map_err(wr)?;
    if let Ok(meta) = std::fs::metadata(path) {
        // Keep the permissions the user gave the file.
        let _ = tmp.as_file().set_permissions(meta.permissions());
    }
    {
        let mut out = io::BufWriter::with_capacity(1 << 16, tmp.as_file_mut());
        let mut buf = header.line(MAGIC);
        push_line(&mut buf, COLUMNS, false);
        let mut seen = std::collections::HashSet::with_capacity(rows.len());
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
pub fn tally(rows: &[RowRef], table: &Table) -> std::collections::BTreeMap<String, u64> {
    let mut m = std::collections::BTreeMap::new();
    let mut seen = std::collections::HashSet::with_capacity(rows.len());
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
pub fn counts(table: &Table) -> std::collections::BTreeMap<String, u64> {
    let mut m = std::collections::BTreeMap::new();
    for r in table.iter() {
        *m.entry(r.status.as_str().to_string()).or_insert(0) += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::clean_message;

    fn ident() -> Identity {
        Identity {
            campaign: "june".into(),
            from_number: "+14155550100".into(),
            agent_version_id: "av_1".into(),
            sandbox: false,
        }
    }

    fn header() -> Header {
        Header {
            identity: ident(),
            plan: "/plans/june plan.yaml".into(),
            recipients: None,
            results: Some("/tmp/r.csv".into()),
            rows: Some(3),
            skip_invalid: false,
        }
    }

    fn rec(key: &str, status: Status) -> Record {
        let mut r = Record::new(key, 2, "+16505550199", 1, status);
        r.updated_at = "2026-01-01T00:00:00.000Z".into();
        r
    }

    /// Writes records through a real writer thread and returns the path.
    fn write_log(dir: &Path, recs: Vec<Record>) -> PathBuf {
        let path = dir.join("r.csv");
        let existing = read(&path).unwrap();
        let (app, w) = open(&path, &header(), existing, CancellationToken::new()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            for r in recs {
                app.append_durable(r).await.unwrap();
            }
        });
        drop(app);
        let (_, failed) = w.finish();
        assert!(failed.is_none());
        path
    }

    #[test]
    fn api_status_words_never_read_back_as_callplans_own() {
        for word in [
            "invalid",
            "in_doubt",
            "pending",
            "dispatching",
            "rejected",
            "error",
            "suppressed",
            "",
        ] {
            let st = Status::Call(CallStatus::parse(word));
            let back = Status::parse(st.as_str());
            assert!(!st.as_str().is_empty(), "{word:?}");
            assert!(
                matches!(back, Status::Call(_)),
                "{word:?} read back as {back:?}"
            );
            assert_eq!(back.disposition(), Disposition::Settled, "{word:?}");
        }
    }

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
    fn file_of_another_campaign_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let path = write_log(d.path(), vec![rec("a", Status::Dispatching)]);
        for change in 0..4 {
            let mut h = header();
            match change {
                0 => h.identity.campaign = "july".into(),
                1 => h.identity.from_number = "+14155550101".into(),
                2 => h.identity.agent_version_id = "av_2".into(),
                _ => h.identity.sandbox = true,
            }
            let log = read(&path).unwrap();
            let err = open(&path, &h, log, CancellationToken::new()).unwrap_err();
            assert!(matches!(err, ResultsError::OtherCampaign { .. }), "{err}");
            assert!(err.to_string().contains("never mixed"));
        }
        // The file was left untouched.
        assert_eq!(read(&path).unwrap().unwrap().lines, 1);
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

    #[test]
    fn unknown_status_word_is_kept() {
        assert_eq!(Status::parse("teleported").as_str(), "teleported");
        assert_eq!(Status::parse("in_doubt"), Status::InDoubt);
        assert_eq!(
            Status::parse("in-progress"),
            Status::Call(CallStatus::InProgress)
        );
        assert_eq!(Status::parse("queued").disposition(), Disposition::Settled);
        assert_eq!(
            Status::parse("dispatching").disposition(),
            Disposition::Reconcile
        );
        assert_eq!(Status::parse("error").disposition(), Disposition::Dial);
    }

    #[test]
    fn clean_message_defuses_formulas_and_line_breaks() {
        assert_eq!(clean_message("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(clean_message("a\nb\tc"), "a b c");
        assert_eq!(clean_message(&"x".repeat(1000)).len(), 300);
    }

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

    #[test]
    fn write_failure_fails_every_append_and_halts() {
        // /dev/full accepts the open and fails every write with ENOSPC.
        let Ok(file) = OpenOptions::new().write(true).open("/dev/full") else {
            return;
        };
        let halt = CancellationToken::new();
        let (app, w) = spawn_writer("/dev/full".into(), file, Table::default(), halt.clone());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let e = app.append_durable(rec("a", Status::Dispatching)).await;
            assert!(e.is_err());
            assert!(halt.is_cancelled());
            let e = app
                .append_durable(rec("b", Status::Dispatching))
                .await
                .unwrap_err();
            assert!(e.to_string().contains("/dev/full"), "{e}");
        });
        drop(app);
        let (table, failed) = w.finish();
        assert!(failed.is_some());
        assert!(table.is_empty(), "nothing reached the disk");
    }

    #[test]
    fn group_commit_acks_many_concurrent_appends() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("r.csv");
        let (app, w) = open(&path, &header(), None, CancellationToken::new()).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        rt.block_on(async {
            let mut set = tokio::task::JoinSet::new();
            for i in 0..500 {
                let app = app.clone();
                set.spawn(async move {
                    app.append_durable(rec(&format!("k{i}"), Status::Dispatching))
                        .await
                });
            }
            while let Some(r) = set.join_next().await {
                r.unwrap().unwrap();
            }
        });
        drop(app);
        let (table, failed) = w.finish();
        assert!(failed.is_none());
        assert_eq!(table.len(), 500);
        assert_eq!(read(&path).unwrap().unwrap().lines, 500);
    }

    #[test]
    fn sandbox_identity_is_written_and_read_back() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("r.csv");
        let mut h = header();
        h.identity.sandbox = true;
        let (app, w) = open(&path, &h, None, CancellationToken::new()).unwrap();
        drop(app);
        w.finish();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("#callplan results v1,campaign=june,from_number=+14155550100,agent_version_id=av_1,target=sandbox,"), "{text}");
        let log = read(&path).unwrap().unwrap();
        assert!(log.header.identity.sandbox);
        assert!(log.header.resume_command().ends_with(" --sandbox"));
        // A real run of the same campaign refuses it.
        let err = open(&path, &header(), Some(log), CancellationToken::new()).unwrap_err();
        assert!(err.to_string().contains("a --sandbox rehearsal"), "{err}");
    }

    #[test]
    fn one_run_at_a_time() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.csv");
        let held = lock(&p).unwrap();
        assert!(matches!(lock(&p), Err(ResultsError::Busy { .. })));
        drop(held);
        let _again = lock(&p).unwrap();
    }

    #[test]
    fn resume_command_quotes_paths() {
        let h = header();
        assert_eq!(
            h.resume_command(),
            "callplan run '/plans/june plan.yaml' --results /tmp/r.csv"
        );
    }

    #[test]
    fn run_line_updates_header_details() {
        let d = tempfile::tempdir().unwrap();
        let path = write_log(d.path(), vec![]);
        let mut h = header();
        h.plan = "/other/plan.yaml".into();
        h.results = None;
        h.rows = Some(9);
        let log = read(&path).unwrap();
        let (app, w) = open(&path, &h, log, CancellationToken::new()).unwrap();
        drop(app);
        w.finish();
        let log = read(&path).unwrap().unwrap();
        assert_eq!(log.header.plan, "/other/plan.yaml");
        assert_eq!(log.header.results, None);
        assert_eq!(log.header.rows, Some(9));
    }

    #[test]
    fn skip_invalid_is_kept_in_the_resume_command() {
        let d = tempfile::tempdir().unwrap();
        let path = write_log(d.path(), vec![]);
        let mut h = header();
        h.skip_invalid = true;
        let log = read(&path).unwrap();
        let (app, w) = open(&path, &h, log, CancellationToken::new()).unwrap();
        drop(app);
        w.finish();
        let log = read(&path).unwrap().unwrap();
        assert!(log.header.skip_invalid);
        assert_eq!(
            log.header.resume_command(),
            "callplan run '/plans/june plan.yaml' --results /tmp/r.csv --skip-invalid"
        );
        // A later run without it: the resume command drops it.
        let (app, w) = open(&path, &header(), Some(log), CancellationToken::new()).unwrap();
        drop(app);
        w.finish();
        let log = read(&path).unwrap().unwrap();
        assert!(!log.header.skip_invalid);
    }

    proptest::proptest! {
        #[test]
        fn any_field_text_roundtrips(key in "[^\r\n]{1,20}", err in "\\PC{0,40}") {
            // Not at the start of a stream, where a reader drops a BOM.
            let mut buf = b"x\n".to_vec();
            let mut r = rec(&key, Status::Error);
            r.error = err.clone();
            r.write_to(&mut buf);
            proptest::prop_assert_eq!(buf.iter().filter(|&&b| b == b'\n').count(), 2);
            let mut csv = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(&buf[..]);
            let mut br = csv::ByteRecord::new();
            proptest::prop_assert!(csv.read_byte_record(&mut br).unwrap());
            proptest::prop_assert!(csv.read_byte_record(&mut br).unwrap());
            let back = Record::from_fields(&br).unwrap();
            proptest::prop_assert_eq!(back.key, key);
            proptest::prop_assert_eq!(back.error, err.replace(['\r', '\n'], " "));
        }

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
