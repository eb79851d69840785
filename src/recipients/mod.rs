//! Reading the recipients CSV, streamed, one record at a time.
//!
//! A small RFC 4180 reader of our own rather than the `csv` crate, because
//! callplan promises spreadsheet row numbers (the header is row 1) and the
//! `csv` crate silently drops empty lines, which shifts every later row
//! number. This reader counts every line ending outside quotes as one row,
//! accepts LF, CRLF and lone CR, strips a UTF-8 BOM, keeps quoted commas,
//! quotes (`""`) and line breaks, and flags what it tolerates (a quote that
//! never closes, text after a closing quote) so the caller can report it.
//! Memory is one buffer and one record, whatever the file size; a record
//! longer than [`MAX_RECORD_BYTES`] stops the read (it is almost always a
//! quote that never closes and has swallowed the rest of the file).
//!
//! Files that are not CSV text at all (an Excel workbook, UTF-16, binary)
//! are [`InputError`]s: exit code 2, nothing to validate.
//!
//! Workbooks (`.xlsx`, `.xlsm`, `.xls`, `.ods`) have their own reader in
//! [`workbook`], which fills the same [`Record`]s, with each cell's type
//! ([`Record::cell_type`]) besides its text. [`open`] picks the reader by
//! the file's extension and both are a [`RecordSource`].

pub mod cells;
pub mod fetch;
mod record;
pub mod workbook;

pub use cells::{CellKind, CellType};
pub use fetch::{Changed, Fields, RowAt, RowFetch};
pub use record::{QuoteProblem, Record, Span, span_hash};
pub use workbook::{SheetReader, WorkbookError, is_workbook};

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// Longest record accepted, in bytes.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

const BUF_BYTES: usize = 256 * 1024;

/// The recipients file cannot be read as CSV at all (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Missing file, no permission, a directory...
    #[error("cannot open recipients file {}", .path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// An I/O error part way through.
    #[error("cannot read recipients file {} after row {row}", .path.display())]
    Read {
        path: PathBuf,
        row: u64,
        #[source]
        source: io::Error,
    },
    /// A zipped Office document (.xlsx, .ods) saved under a .csv name.
    #[error(
        "{} is a spreadsheet workbook (zip), not CSV text: open it and use \
         \"Save as\" / \"Download as\" CSV UTF-8 (comma delimited)",
        .path.display()
    )]
    Workbook { path: PathBuf },
    /// The old binary Excel format (.xls).
    #[error(
        "{} is an old Excel workbook (.xls), not CSV text: open it and save it \
         as CSV UTF-8 (comma delimited)",
        .path.display()
    )]
    LegacyWorkbook { path: PathBuf },
    /// UTF-16 text (Excel's "Unicode Text").
    #[error(
        "{} is UTF-16 text, not UTF-8: save it again as CSV UTF-8 \
         (comma delimited)",
        .path.display()
    )]
    Utf16 { path: PathBuf },
    /// NUL bytes: not a text file.
    #[error("{} is not a text file (it contains NUL bytes): is it really a CSV?", .path.display())]
    Binary { path: PathBuf },
    /// Without a readable header nothing can be named.
    #[error(
        "{}: the header row (row 1) is not UTF-8 text: save the file again as \
         CSV UTF-8 (comma delimited)",
        .path.display()
    )]
    HeaderNotUtf8 { path: PathBuf },
    /// A runaway record.
    #[error(
        "{}: row {row} is longer than {} MiB: most likely a quote (\") opens a \
         cell there and never closes, so the rest of the file became one cell; \
         close the quote or remove it",
        .path.display(),
        MAX_RECORD_BYTES >> 20
    )]
    RowTooLong { path: PathBuf, row: u64 },
    /// A do-not-call file of the plan's `suppress` list cannot be honoured
    /// (missing, empty, no number column): going on would call people who
    /// asked not to be. Its message already carries the I/O cause.
    /// (Boxed so this lower module does not name the `suppress` module
    /// that reads those lists with this module's readers.)
    #[error("{0}")]
    Suppress(Box<dyn std::error::Error + Send + Sync>),
    /// A workbook that cannot be read: encrypted, damaged, no such sheet...
    #[error(transparent)]
    WorkbookUnreadable(#[from] WorkbookError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

/// Streams records out of a CSV source.
pub struct Reader<R> {
    src: R,
    path: PathBuf,
    buf: Box<[u8]>,
    pos: usize,
    len: usize,
    eof: bool,
    started: bool,
    skip_lf: bool,
    row: u64,
    /// File offset of `buf[0]`.
    base: u64,
    /// Where the record being read starts in `buf`, while one is.
    raw_start: Option<usize>,
    /// The record's raw bytes that an earlier refill of `buf` moved out.
    spill: Vec<u8>,
}

impl Reader<File> {
    /// Opens a file; the first read sniffs it for workbooks, UTF-16 and
    /// binary data.
    pub fn open(path: &Path) -> Result<Self, InputError> {
        Self::open_as(path, path)
    }

    /// [`open`](Self::open), naming the file `shown` in errors (the path as
    /// the user wrote it).
    pub fn open_as(path: &Path, shown: &Path) -> Result<Self, InputError> {
        let file = File::open(path).map_err(|source| InputError::Open {
            path: shown.to_path_buf(),
            source,
        })?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(InputError::Open {
                path: shown.to_path_buf(),
                source: io::Error::new(io::ErrorKind::IsADirectory, "it is a directory"),
            });
        }
        Ok(Reader::new(file, shown))
    }
}

impl Reader<io::Empty> {
    /// A reader for records read back one at a time ([`Reader::read_back`]):
    /// no source, a buffer that grows to the longest record loaded.
    pub(crate) fn for_one_record() -> Self {
        let mut r = Reader::new(io::empty(), Path::new(""));
        r.buf = Box::default();
        r
    }
}

impl<R: Read> Reader<R> {
    /// Reads from any source; `path` is only used in messages.
    pub fn new(src: R, path: &Path) -> Self {
        Reader {
            src,
            path: path.to_path_buf(),
            buf: vec![0; BUF_BYTES].into_boxed_slice(),
            pos: 0,
            len: 0,
            eof: false,
            started: false,
            skip_lf: false,
            row: 0,
            base: 0,
            raw_start: None,
            spill: Vec::new(),
        }
    }

    /// The row number of the last record read (0 before the first).
    pub fn row(&self) -> u64 {
        self.row
    }

    /// Bytes of the file read so far, a BOM included: at the end, the
    /// length of the file that was read.
    pub fn consumed(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Parses `bytes` (one record's, its line ending left out) into `rec`
    /// as row `row`, as the stream parsed them: how a record is read back
    /// (see [`fetch`]). No sniffing: it is not the start of a file.
    pub(crate) fn read_back(&mut self, bytes: &[u8], row: u64, rec: &mut Record) {
        if self.buf.len() < bytes.len() {
            self.buf = vec![0; bytes.len()].into_boxed_slice();
        }
        if let Some(to) = self.buf.get_mut(..bytes.len()) {
            to.copy_from_slice(bytes);
        }
        self.pos = 0;
        self.len = bytes.len();
        self.eof = true;
        self.started = true;
        self.skip_lf = false;
        self.row = row.saturating_sub(1);
        self.base = 0;
        self.raw_start = None;
        self.spill.clear();
        // From memory the read cannot fail; nothing at all is an empty line.
        if !matches!(self.read_record(rec), Ok(true)) {
            rec.clear();
            rec.row = row;
            rec.end_field();
        }
        rec.span = None;
    }

    /// Fills the buffer when it is used up. Returns false at the end of input.
    fn fill(&mut self) -> Result<bool, InputError> {
        if self.pos < self.len {
            return Ok(true);
        }
        if self.eof {
            return Ok(false);
        }
        // The buffer is about to be reused: keep the part of the record
        // being read that is in it.
        if let Some(start) = self.raw_start {
            self.spill
                .extend_from_slice(self.buf.get(start..self.len).unwrap_or_default());
            self.raw_start = Some(0);
        }
        self.base += self.len as u64;
        self.pos = 0;
        self.len = 0;
        loop {
            match self.src.read(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.len = n;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(InputError::Read {
                        path: self.path.clone(),
                        row: self.row,
                        source,
                    });
                }
            }
        }
        if !self.started {
            self.started = true;
            self.sniff()?;
            // A file that is only a BOM has nothing after it.
            return self.fill();
        }
        Ok(true)
    }

    /// Checks the first chunk for what is not CSV text; strips a UTF-8 BOM.
    fn sniff(&mut self) -> Result<(), InputError> {
        let head = self.buf.get(..self.len).unwrap_or_default();
        let path = || self.path.clone();
        if head.starts_with(b"PK\x03\x04") {
            return Err(InputError::Workbook { path: path() });
        }
        if head.starts_with(b"\xD0\xCF\x11\xE0") {
            return Err(InputError::LegacyWorkbook { path: path() });
        }
        if head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") {
            return Err(InputError::Utf16 { path: path() });
        }
        if head.contains(&0) {
            return Err(InputError::Binary { path: path() });
        }
        if head.starts_with(b"\xEF\xBB\xBF") {
            self.pos = 3;
        }
        Ok(())
    }

    /// Reads the next record into `rec`. Returns false at the end of input.
    /// Every line ending outside quotes ends one row, so an empty line is a
    /// record with one empty cell.
    pub fn read_record(&mut self, rec: &mut Record) -> Result<bool, InputError> {
        rec.clear();
        if self.skip_lf {
            if !self.fill()? {
                return Ok(false);
            }
            if self.buf.get(self.pos) == Some(&b'\n') {
                self.pos += 1;
            }
            self.skip_lf = false;
        }
        if !self.fill()? {
            return Ok(false);
        }
        self.row += 1;
        rec.row = self.row;
        self.raw_start = Some(self.pos);
        self.spill.clear();
        let offset = self.consumed();
        let mut state = State::FieldStart;
        loop {
            if rec.data.len() > MAX_RECORD_BYTES {
                return Err(InputError::RowTooLong {
                    path: self.path.clone(),
                    row: self.row,
                });
            }
            if !self.fill()? {
                if state == State::Quoted {
                    rec.quote_problem
                        .get_or_insert((QuoteProblem::Unterminated, rec.ends.len()));
                }
                rec.end_field();
                self.end_span(rec, offset, false);
                return Ok(true);
            }
            let chunk = self.buf.get(self.pos..self.len).unwrap_or_default();
            match state {
                State::FieldStart | State::QuoteInQuoted => {
                    let Some(&b) = chunk.first() else { continue };
                    match b {
                        b'"' if state == State::FieldStart => {
                            self.pos += 1;
                            state = State::Quoted;
                        }
                        b'"' => {
                            rec.data.push(b'"');
                            self.pos += 1;
                            state = State::Quoted;
                        }
                        b',' => {
                            rec.end_field();
                            self.pos += 1;
                            state = State::FieldStart;
                        }
                        b'\n' | b'\r' => {
                            rec.end_field();
                            self.end_span(rec, offset, true);
                            self.end_line(b);
                            return Ok(true);
                        }
                        _ => {
                            if state == State::QuoteInQuoted {
                                rec.quote_problem
                                    .get_or_insert((QuoteProblem::TextAfterQuote, rec.ends.len()));
                            }
                            state = State::Unquoted;
                        }
                    }
                }
                State::Unquoted => match memchr::memchr3(b',', b'\n', b'\r', chunk) {
                    Some(i) => {
                        rec.data
                            .extend_from_slice(chunk.get(..i).unwrap_or_default());
                        let b = chunk.get(i).copied().unwrap_or(b'\n');
                        self.pos += i + 1;
                        rec.end_field();
                        if b == b',' {
                            state = State::FieldStart;
                        } else {
                            self.pos -= 1;
                            self.end_span(rec, offset, true);
                            self.end_line(b);
                            return Ok(true);
                        }
                    }
                    None => {
                        rec.data.extend_from_slice(chunk);
                        self.pos = self.len;
                    }
                },
                State::Quoted => match memchr::memchr(b'"', chunk) {
                    Some(i) => {
                        rec.data
                            .extend_from_slice(chunk.get(..i).unwrap_or_default());
                        self.pos += i + 1;
                        state = State::QuoteInQuoted;
                    }
                    None => {
                        rec.data.extend_from_slice(chunk);
                        self.pos = self.len;
                    }
                },
            }
        }
    }

    /// Gives `rec` its [`Span`]: from `offset` to `self.pos`, plus the
    /// line ending's first byte there when `ended` (else the file ended).
    /// The bytes are hashed where they lie when no refill split them.
    fn end_span(&mut self, rec: &mut Record, offset: u64, ended: bool) {
        let start = self.raw_start.take().unwrap_or(self.pos);
        let end = if ended { self.pos + 1 } else { self.pos }.min(self.len);
        let tail = self.buf.get(start..end).unwrap_or_default();
        let (len, hash) = if self.spill.is_empty() {
            (tail.len(), span_hash(tail))
        } else {
            self.spill.extend_from_slice(tail);
            (self.spill.len(), span_hash(&self.spill))
        };
        rec.span = Some(Span {
            offset,
            len: u32::try_from(len).unwrap_or(u32::MAX),
            at_eof: !ended,
            hash,
        });
    }

    /// Consumes a line ending at `self.pos` (`\n`, `\r` or `\r\n`).
    fn end_line(&mut self, b: u8) {
        self.pos += 1;
        if b == b'\r' {
            if self.pos < self.len {
                if self.buf.get(self.pos) == Some(&b'\n') {
                    self.pos += 1;
                }
            } else {
                self.skip_lf = true;
            }
        }
    }
}

/// Anything that hands out recipient records in file order: the CSV
/// [`Reader`], a workbook's [`SheetReader`], or either ([`Source`]).
pub trait RecordSource {
    /// Reads the next record into `rec`; false at the end.
    fn read_record(&mut self, rec: &mut Record) -> Result<bool, InputError>;
}

impl<R: Read> RecordSource for Reader<R> {
    fn read_record(&mut self, rec: &mut Record) -> Result<bool, InputError> {
        Reader::read_record(self, rec)
    }
}

impl RecordSource for SheetReader {
    fn read_record(&mut self, rec: &mut Record) -> Result<bool, InputError> {
        Ok(SheetReader::read_record(self, rec))
    }
}

/// A recipients file opened by [`open`]: CSV streamed, or one sheet of a
/// workbook.
pub enum Source {
    Csv(Reader<File>),
    Workbook(SheetReader),
}

impl RecordSource for Source {
    fn read_record(&mut self, rec: &mut Record) -> Result<bool, InputError> {
        match self {
            Source::Csv(r) => r.read_record(rec),
            Source::Workbook(w) => Ok(w.read_record(rec)),
        }
    }
}

impl Source {
    /// For a CSV file: the bytes read so far and the row number of the
    /// last record (at the end: the file's length and its last row).
    pub fn csv_position(&self) -> Option<(u64, u64)> {
        match self {
            Source::Csv(r) => Some((r.consumed(), r.row())),
            Source::Workbook(_) => None,
        }
    }
}

/// Opens a recipients file: a workbook by its extension ([`is_workbook`];
/// `sheet` names its sheet, `None` for the first), else CSV (`sheet`
/// unused). `shown` names the file in errors.
pub fn open(path: &Path, shown: &Path, sheet: Option<&str>) -> Result<Source, InputError> {
    if is_workbook(path) {
        Ok(Source::Workbook(SheetReader::open(path, shown, sheet)?))
    } else {
        Ok(Source::Csv(Reader::open_as(path, shown)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Rows = Vec<(u64, Vec<String>, Option<QuoteProblem>)>;

    fn read_all(data: &[u8]) -> Result<Rows, InputError> {
        read_all_chunked(data, usize::MAX)
    }

    /// Reads through a source that returns at most `chunk` bytes a call, to
    /// exercise records split across buffer refills.
    fn read_all_chunked(data: &[u8], chunk: usize) -> Result<Rows, InputError> {
        struct Chunky<'a>(&'a [u8], usize);
        impl Read for Chunky<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(out.len()).min(self.1);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut r = Reader::new(Chunky(data, chunk), Path::new("t.csv"));
        let mut rec = Record::default();
        let mut out = Vec::new();
        while r.read_record(&mut rec)? {
            let cells = rec
                .iter()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            out.push((rec.row(), cells, rec.quote_problem().map(|q| q.0)));
        }
        Ok(out)
    }

    fn cells(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rows_count_blank_lines_and_quoted_newlines_like_a_spreadsheet() {
        let data = b"a,b\n\n1,2\n\"x\ny\",3\n\n\n4,5\n\n";
        let got = read_all(data).unwrap();
        let rows: Vec<_> = got.iter().map(|(r, c, _)| (*r, c.clone())).collect();
        assert_eq!(
            rows,
            vec![
                (1, cells(&["a", "b"])),
                (2, cells(&[""])),
                (3, cells(&["1", "2"])),
                (4, cells(&["x\ny", "3"])),
                (5, cells(&[""])),
                (6, cells(&[""])),
                (7, cells(&["4", "5"])),
                (8, cells(&[""])),
            ]
        );
    }

    #[test]
    fn crlf_cr_and_bom() {
        for data in [
            &b"\xEF\xBB\xBFa,b\r\n1,2\r\n"[..],
            b"a,b\r1,2\r",
            b"a,b\n1,2",
        ] {
            let got = read_all(data).unwrap();
            assert_eq!(got.len(), 2, "{data:?}");
            assert_eq!(got[0].1, cells(&["a", "b"]));
            assert_eq!(got[1].1, cells(&["1", "2"]));
            assert_eq!(got[1].0, 2);
        }
    }

    #[test]
    fn quotes_commas_and_escaped_quotes() {
        let got = read_all(b"\"a,b\",\"say \"\"hi\"\"\",\"\"\n").unwrap();
        assert_eq!(got[0].1, cells(&["a,b", "say \"hi\"", ""]));
        assert_eq!(got[0].2, None);
    }

    #[test]
    fn quote_problems_are_flagged_not_fatal() {
        let got = read_all(b"a,b\n\"abc\"def,2\n3,\"open\n4,5\n").unwrap();
        assert_eq!(got[1].1, cells(&["abcdef", "2"]));
        assert_eq!(got[1].2, Some(QuoteProblem::TextAfterQuote));
        assert_eq!(got[2].1, cells(&["3", "open\n4,5\n"]));
        assert_eq!(got[2].2, Some(QuoteProblem::Unterminated));
    }

    #[test]
    fn a_stray_quote_inside_a_cell_is_kept() {
        let got = read_all(b"ab\"c,d\n").unwrap();
        assert_eq!(got[0].1, cells(&["ab\"c", "d"]));
    }

    #[test]
    fn refills_split_records_anywhere() {
        let data = b"a,b\r\n\"q,\"\"x\"\"\r\n\",2\r\n\r\nlast,row";
        let whole = read_all(data).unwrap();
        for chunk in 1..8 {
            assert_eq!(
                read_all_chunked(data, chunk).unwrap(),
                whole,
                "chunk {chunk}"
            );
        }
        assert_eq!(whole.len(), 4);
        assert_eq!(whole[3].0, 4);
    }

    #[test]
    fn not_csv_text_is_refused() {
        assert!(matches!(
            read_all(b"PK\x03\x04rest"),
            Err(InputError::Workbook { .. })
        ));
        assert!(matches!(
            read_all(b"\xD0\xCF\x11\xE0rest"),
            Err(InputError::LegacyWorkbook { .. })
        ));
        assert!(matches!(
            read_all(b"\xFF\xFEa\0,\0"),
            Err(InputError::Utf16 { .. })
        ));
        assert!(matches!(
            read_all(b"a,b\n\0\0"),
            Err(InputError::Binary { .. })
        ));
    }

    #[test]
    fn a_runaway_quote_stops_with_the_row() {
        let mut data = b"a\n\"".to_vec();
        data.resize(MAX_RECORD_BYTES + 10, b'x');
        match read_all(&data) {
            Err(InputError::RowTooLong { row, .. }) => assert_eq!(row, 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn empty_input_has_no_records() {
        assert!(read_all(b"").unwrap().is_empty());
        assert!(read_all(b"\xEF\xBB\xBF").unwrap().is_empty());
    }

    #[test]
    fn non_utf8_cells_are_found_even_when_split_across_cells() {
        let mut r = Reader::new(
            &b"ok,caf\xc3\xa9\nx,\xc3,\xa9\n\xff,y\n"[..],
            Path::new("t"),
        );
        let mut rec = Record::default();
        assert!(r.read_record(&mut rec).unwrap());
        assert_eq!(rec.first_non_utf8(), None);
        assert_eq!(rec.text(1), "café");
        // The bytes of one "é" split by a comma: each cell is broken.
        assert!(r.read_record(&mut rec).unwrap());
        assert_eq!(rec.first_non_utf8(), Some(1));
        assert!(r.read_record(&mut rec).unwrap());
        assert_eq!(rec.first_non_utf8(), Some(0));
        assert_eq!(rec.text(0), "\u{fffd}");
        assert_eq!(rec.text(9), "");
    }

    #[test]
    fn blank_means_only_white_space() {
        let mut r = Reader::new(&b" , \t,\nx,\n\xc2\xa0,\n\xc3\xa9\n"[..], Path::new("t"));
        let mut rec = Record::default();
        assert!(r.read_record(&mut rec).unwrap());
        assert!(rec.is_blank());
        assert!(r.read_record(&mut rec).unwrap());
        assert!(!rec.is_blank());
        assert!(r.read_record(&mut rec).unwrap());
        assert!(rec.is_blank(), "a no-break space is white space");
        assert!(r.read_record(&mut rec).unwrap());
        assert!(!rec.is_blank());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn never_panics_and_chunking_does_not_matter(data in proptest::collection::vec(
            prop::sample::select(vec![b'a', b',', b'"', b'\n', b'\r', b' ', 0xC3, 0xA9, 0xFF]), 0..200),
            chunk in 1usize..17) {
            let whole = read_all(&data);
            let chunked = read_all_chunked(&data, chunk);
            match (whole, chunked) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(_), Err(_)) => {}
                (a, b) => prop_assert!(false, "{:?} vs {:?}", a.is_ok(), b.is_ok()),
            }
        }

        #[test]
        fn any_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = read_all(&data);
        }

        #[test]
        fn written_records_read_back(rows in proptest::collection::vec(
            proptest::collection::vec("[a-z,\" \n]{0,6}", 1..4), 1..6)) {
            // Quote every cell the way a spreadsheet exports it.
            let mut data = String::new();
            for row in &rows {
                let line: Vec<String> = row.iter().map(|c| format!("\"{}\"", c.replace('"', "\"\""))).collect();
                data.push_str(&line.join(","));
                data.push_str("\r\n");
            }
            let got = read_all(data.as_bytes()).unwrap();
            prop_assert_eq!(got.len(), rows.len());
            for (i, (row, cells, problem)) in got.into_iter().enumerate() {
                prop_assert_eq!(row, i as u64 + 1);
                prop_assert_eq!(&cells, &rows[i]);
                prop_assert_eq!(problem, None);
            }
        }
    }
}
