//! A validated row read back when it is about to be dialled, so that a run
//! keeps a few fixed bytes per row instead of its cells.
//!
//! Validation notes where each CSV record lies ([`RowAt::Csv`]: offset,
//! length, hash of its bytes). Just before a row's request is built,
//! [`RowFetch::cells`] reads those bytes again (`pread`, into a buffer the
//! thread reuses), checks their hash, parses them with the same reader
//! and turns them into variables and metadata with the same [`Fields`]
//! validation used; the body is built and dropped. Bytes that no longer
//! hash the same mean the file was edited after it was validated: the row
//! is refused ([`Changed`]) and nothing of it is sent. [`RowFetch::check`]
//! compares the file's length once before dialling starts, so rows added
//! (or removed) since are refused before the first request.
//!
//! A workbook has no byte offsets that mean anything (it is zipped XML or a
//! binary format, read whole by calamine): its rows are kept in memory,
//! cells only ([`RowAt::Cells`]), and the file's size and time are checked
//! before dialling. Workbooks are bounded by their format (1,048,576 rows);
//! CSV is the path for huge lists.
//!
//! Why `pread` and not a second streaming pass in input order: the rows are
//! not dialled in file order only (retries, redials, rows left open by an
//! earlier run come back later). They mostly are, though, so a read takes
//! the next 64 KiB at once and the rows after it are served from there
//! ([`Window`]): a system call per 64 KiB of file, not per row (hundreds of
//! rows of a narrow file). A row is still hashed as it is dialled, so the
//! bytes read ahead vouch for it as much as a read of its own would.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

use super::{Reader, Record, Span, span_hash};
use crate::text::thousands;

/// Which columns of a row are sent, and the plan's default variables: how
/// a record becomes the `variables` and `metadata` of its request. One
/// value, built from the header, used by validation and by the read-back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    /// The plan's `variables:`, which a non-empty cell overrides.
    pub defaults: BTreeMap<String, String>,
    /// Variable columns: (name, index).
    pub variables: Vec<(String, usize)>,
    /// `columns.metadata` columns that exist: (name, index).
    pub metadata: Vec<(String, usize)>,
}

impl Fields {
    /// The plan's default variables, overridden by the row's non-empty
    /// cells (trimmed).
    pub fn variables(&self, rec: &Record) -> BTreeMap<String, String> {
        let mut variables = self.defaults.clone();
        for (name, i) in &self.variables {
            let v = rec.text(*i);
            let v = v.trim();
            if !v.is_empty() {
                variables.insert(name.clone(), v.to_string());
            }
        }
        variables
    }

    /// The row's metadata cells, trimmed.
    pub fn metadata(&self, rec: &Record) -> BTreeMap<String, String> {
        self.metadata
            .iter()
            .map(|(name, i)| (name.clone(), rec.text(*i).trim().to_string()))
            .collect()
    }
}

/// Variables and metadata of one row, as its request sends them.
pub type Cells = (BTreeMap<String, String>, BTreeMap<String, String>);

/// Where a validated row's cells are to be found when it is dialled.
#[derive(Debug, Clone, PartialEq)]
pub enum RowAt {
    /// In the CSV file, at this place, with these bytes.
    Csv(Span),
    /// In memory: a workbook row's cells.
    Cells(Box<Record>),
    /// Nowhere (a row known from a results file alone, never dialled).
    Unknown,
}

impl RowAt {
    /// Where `rec`'s cells are: its span in a CSV file, else (a workbook
    /// row) a copy of its cells.
    pub fn of(rec: &Record) -> RowAt {
        match rec.span() {
            Some(span) => RowAt::Csv(span),
            None => RowAt::Cells(Box::new(rec.cells_only())),
        }
    }
}

/// The recipients file changed after it was validated, or cannot be read
/// again: no more of it is dialled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.message())]
pub struct Changed {
    /// The file, as shown to the user.
    pub file: String,
    pub what: ChangedWhat,
}

/// How the file is not what was validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangedWhat {
    /// This row (its spreadsheet number) is not the row that was checked.
    Row(u64),
    /// The file has another length, and no row that was to be dialled
    /// differs (rows were removed, or invalid ones changed).
    Size { was: u64, now: u64 },
    /// A workbook saved again (its size or time changed).
    Saved,
    /// The file cannot be read again.
    Unreadable(String),
}

const RUN_AGAIN: &str = "nothing more is dialled; run again to validate it as it is now";

impl Changed {
    fn message(&self) -> String {
        let file = &self.file;
        match &self.what {
            ChangedWhat::Row(row) => format!(
                "{file} changed after it was validated (row {} is not what was checked): {RUN_AGAIN}",
                thousands(*row)
            ),
            ChangedWhat::Size { was, now } => format!(
                "{file} changed after it was validated (it is {} bytes long, it was {} when \
                 checked): {RUN_AGAIN}",
                thousands(*now),
                thousands(*was)
            ),
            ChangedWhat::Saved => format!(
                "{file} changed after it was validated (the workbook was saved again): {RUN_AGAIN}"
            ),
            ChangedWhat::Unreadable(why) => {
                format!("{file} cannot be read again to dial its rows ({why}): {RUN_AGAIN}")
            }
        }
    }
}

/// What validation saw of the file as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// A CSV file of `len` bytes whose last record was row `rows`.
    Csv { len: u64, rows: u64 },
    /// A workbook of `len` bytes last modified at `modified`.
    Workbook {
        len: u64,
        modified: Option<SystemTime>,
    },
}

impl Seen {
    /// A workbook's size and time now (before it is read).
    pub fn workbook(path: &Path) -> io::Result<Seen> {
        let meta = std::fs::metadata(path)?;
        Ok(Seen::Workbook {
            len: meta.len(),
            modified: meta.modified().ok(),
        })
    }
}

/// Reads validated rows back from the recipients file.
#[derive(Debug)]
pub struct RowFetch {
    path: PathBuf,
    shown: String,
    fields: Fields,
    seen: Seen,
    /// Opened once, by path, at the check before the first dial (a file
    /// replaced before then is the one compared). From then on this handle
    /// is read: a file an editor replaces later (save by rename) is not
    /// seen, and the run keeps dialling the bytes it validated, which its
    /// hashes still vouch for; an edit in place is refused row by row.
    file: OnceLock<Result<File, String>>,
    /// Names this fetch's bytes in a thread's [`Window`].
    id: u64,
}

/// A thread's buffers for reading records back.
struct Scratch {
    raw: Vec<u8>,
    window: Window,
    reader: Reader<io::Empty>,
    rec: Record,
}

/// Bytes of one file read ahead of the row asked for: rows are mostly
/// dialled in file order, so one read serves the rows after it (a system
/// call per [`WINDOW`] bytes instead of one per row).
#[derive(Default)]
struct Window {
    /// The [`RowFetch::id`] whose file these bytes are of (0: none).
    owner: u64,
    /// Offset of `bytes[0]` in the file.
    start: u64,
    bytes: Vec<u8>,
    /// The file ended at `start + bytes.len()` when they were read.
    eof: bool,
    /// Where the last bytes served end: only bytes after it are served
    /// from the window. A row read again (a retry) is read anew, and so
    /// sees an edit made since.
    next: u64,
}

/// Bytes read ahead at a time.
const WINDOW: usize = 1 << 16;

/// Ids for [`RowFetch::id`], from 1.
static FETCH_IDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch {
        raw: Vec::new(),
        window: Window::default(),
        reader: Reader::for_one_record(),
        rec: Record::default(),
    });
}

impl Window {
    /// The file's bytes from `at`, at most `want` of them (fewer only where
    /// the file ends), read ahead when this window does not hold them.
    fn bytes(&mut self, file: &File, owner: u64, at: u64, want: usize) -> io::Result<&[u8]> {
        let end = self.start + self.bytes.len() as u64;
        let holds = self.owner == owner
            && at >= self.next
            && at >= self.start
            && (at + want as u64 <= end || (self.eof && at <= end));
        if !holds {
            self.owner = 0;
            self.start = at;
            self.bytes.clear();
            self.bytes.resize(want.max(WINDOW), 0);
            let got = read_full_at(file, &mut self.bytes, at)?;
            self.eof = got < self.bytes.len();
            self.bytes.truncate(got);
            self.owner = owner;
        }
        let from = usize::try_from(at - self.start).unwrap_or(usize::MAX);
        let to = from.saturating_add(want).min(self.bytes.len());
        // The last byte asked for is the look-ahead past a record: the
        // next record starts there.
        self.next = at + want.saturating_sub(1) as u64;
        Ok(self.bytes.get(from..to).unwrap_or_default())
    }

    /// Forgets what was read ahead: the next read reads the file as it is.
    fn forget(&mut self) {
        self.owner = 0;
    }
}

/// Fills `buf` from `at` on, short only where the file ends.
fn read_full_at(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(buf.get_mut(got..).unwrap_or_default(), at + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

impl RowFetch {
    /// Rows of `path` (shown as `shown`), mapped by `fields`, as
    /// validation `seen` the file.
    pub fn new(path: &Path, shown: &str, fields: Fields, seen: Seen) -> RowFetch {
        RowFetch {
            path: path.to_path_buf(),
            shown: shown.to_string(),
            fields,
            seen,
            file: OnceLock::new(),
            id: FETCH_IDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// The file the rows are read back from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file as messages name it.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// How a record becomes its request's variables and metadata.
    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// What validation saw of the file as a whole.
    pub fn seen(&self) -> &Seen {
        &self.seen
    }

    fn changed(&self, what: ChangedWhat) -> Changed {
        Changed {
            file: self.shown.clone(),
            what,
        }
    }

    fn file(&self) -> Result<&File, Changed> {
        let opened = self
            .file
            .get_or_init(|| File::open(&self.path).map_err(|e| e.to_string()));
        opened
            .as_ref()
            .map_err(|why| self.changed(ChangedWhat::Unreadable(why.clone())))
    }

    /// Before the first dial: the file has the length it had when it was
    /// validated (a workbook: its size and time too). When it does not, the
    /// first of `rows` (row number and where it is, in input order) whose
    /// bytes differ is named; else the first row after the last one read.
    pub fn check<'a>(&self, rows: impl Iterator<Item = (u64, &'a RowAt)>) -> Result<(), Changed> {
        let (was, last_row) = match &self.seen {
            Seen::Workbook { len, modified } => {
                let meta = std::fs::metadata(&self.path)
                    .map_err(|e| self.changed(ChangedWhat::Unreadable(e.to_string())))?;
                if meta.len() != *len || meta.modified().ok() != *modified {
                    return Err(self.changed(ChangedWhat::Saved));
                }
                return Ok(());
            }
            Seen::Csv { len, rows } => (*len, *rows),
        };
        let file = self.file()?;
        let now = file
            .metadata()
            .map_err(|e| self.changed(ChangedWhat::Unreadable(e.to_string())))?
            .len();
        if now == was {
            return Ok(());
        }
        // The file as it is now, not as an earlier read saw it.
        SCRATCH.with(|s| s.borrow_mut().window.forget());
        for (row, at) in rows {
            if let RowAt::Csv(span) = at
                && SCRATCH
                    .with(|s| self.read_span(file, span, &mut s.borrow_mut()))?
                    .is_none()
            {
                return Err(self.changed(ChangedWhat::Row(row)));
            }
        }
        if now < was {
            return Err(self.changed(ChangedWhat::Size { was, now }));
        }
        // Rows were added: the first is the row after the last one, unless
        // the last had no line ending and the new text continues it.
        let mut last = [0u8];
        let ended = was == 0
            || file
                .read_at(&mut last, was - 1)
                .is_ok_and(|n| n == 1 && matches!(last[0], b'\n' | b'\r'));
        let first_new = if ended { last_row + 1 } else { last_row.max(1) };
        Err(self.changed(ChangedWhat::Row(first_new)))
    }

    /// Reads `span`'s bytes into `s.raw`; Some(content length) when they
    /// are the bytes validated (same hash; nothing after a record that
    /// ended the file), None when not.
    fn read_span(
        &self,
        file: &File,
        span: &Span,
        s: &mut Scratch,
    ) -> Result<Option<usize>, Changed> {
        let len = span.len as usize;
        // One byte more: a record that ended the file must still end it.
        let bytes = s
            .window
            .bytes(file, self.id, span.offset, len + 1)
            .map_err(|e| self.changed(ChangedWhat::Unreadable(e.to_string())))?;
        let got = bytes.len();
        let same = got >= len
            && !(span.at_eof && got > len)
            && span_hash(bytes.get(..len).unwrap_or_default()) == span.hash;
        s.raw.clear();
        s.raw.extend_from_slice(bytes);
        Ok(same.then(|| {
            if span.at_eof {
                len
            } else {
                len.saturating_sub(1)
            }
        }))
    }

    /// Row `row`'s variables and metadata, read from where validation saw
    /// it; [`Changed`] when its bytes are no longer those (then nothing of
    /// it may be sent).
    pub fn cells(&self, row: u64, at: &RowAt) -> Result<Cells, Changed> {
        let span = match at {
            RowAt::Cells(rec) => {
                return Ok((self.fields.variables(rec), self.fields.metadata(rec)));
            }
            RowAt::Unknown => {
                return Err(self.changed(ChangedWhat::Unreadable(format!(
                    "row {} was not read from it",
                    thousands(row)
                ))));
            }
            RowAt::Csv(span) => span,
        };
        let file = self.file()?;
        SCRATCH.with(|s| {
            let scratch = &mut *s.borrow_mut();
            let Some(content) = self.read_span(file, span, scratch)? else {
                return Err(self.changed(ChangedWhat::Row(row)));
            };
            let rec = &mut scratch.rec;
            let bytes = scratch.raw.get(..content).unwrap_or_default();
            scratch.reader.read_back(bytes, row, rec);
            Ok((self.fields.variables(rec), self.fields.metadata(rec)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields() -> Fields {
        Fields {
            defaults: BTreeMap::from([("clinic".into(), "Sunrise".into())]),
            variables: vec![("name".into(), 1), ("clinic".into(), 2)],
            metadata: vec![("crm".into(), 3)],
        }
    }

    /// Every record of `data` with its row and where it is.
    fn spans(data: &[u8]) -> Vec<(u64, Vec<String>, RowAt)> {
        let mut r = Reader::new(data, Path::new("t.csv"));
        let mut rec = Record::default();
        let mut out = Vec::new();
        while r.read_record(&mut rec).unwrap() {
            let cells = (0..rec.len()).map(|i| rec.text(i).into_owned()).collect();
            out.push((rec.row(), cells, RowAt::of(&rec)));
        }
        out
    }

    fn fetch_of(dir: &tempfile::TempDir, data: &[u8]) -> (PathBuf, RowFetch) {
        let path = dir.path().join("r.csv");
        std::fs::write(&path, data).unwrap();
        let seen = Seen::Csv {
            len: data.len() as u64,
            rows: spans(data).last().map_or(0, |r| r.0),
        };
        (path.clone(), RowFetch::new(&path, "r.csv", fields(), seen))
    }

    #[test]
    fn a_row_read_back_gives_the_cells_validation_saw() {
        let data = "to_number,name,clinic,crm\r\n+12125550142,\"Ann, \"\"A\"\"\nB\",,c1\r\n+12125550143,José,Leeds,c2".as_bytes();
        let dir = tempfile::tempdir().unwrap();
        let (_, fetch) = fetch_of(&dir, data);
        let rows = spans(data);
        fetch.check(rows.iter().map(|r| (r.0, &r.2))).unwrap();
        let (vars, meta) = fetch.cells(2, &rows[1].2).unwrap();
        assert_eq!(vars["name"], "Ann, \"A\"\nB");
        assert_eq!(vars["clinic"], "Sunrise");
        assert_eq!(meta["crm"], "c1");
        let (vars, _) = fetch.cells(3, &rows[2].2).unwrap();
        assert_eq!(vars["name"], "José");
        assert_eq!(vars["clinic"], "Leeds");
    }

    #[test]
    fn rows_read_in_order_across_read_ahead_windows_are_the_rows_validated() {
        // Rows of every length up to past a window (one longer than it),
        // some quoted over two lines, the last without a line ending.
        let mut data = b"to_number,name,clinic,crm\n".to_vec();
        for i in 0..3000u64 {
            let name = match i % 3 {
                0 => "x".repeat((i * 37 % 200) as usize),
                1 => format!("\"N {i},\nquoted\""),
                _ => "y".repeat(if i == 2000 { WINDOW + 10 } else { 3 }),
            };
            data.extend_from_slice(format!("+1212555{:04},{name},,c{i}\n", i).as_bytes());
        }
        data.pop();
        assert!(data.len() > 3 * WINDOW);
        let dir = tempfile::tempdir().unwrap();
        let (_, fetch) = fetch_of(&dir, &data);
        let rows = spans(&data);
        fetch.check(rows.iter().map(|r| (r.0, &r.2))).unwrap();
        // In order, then a few again (a retry reads anew), then backwards.
        let order = (0..rows.len())
            .chain([5, 1999, 2000, 2001])
            .chain((0..rows.len()).rev().step_by(97));
        for i in order {
            let (row, cells, at) = &rows[i];
            let (vars, meta) = fetch.cells(*row, at).unwrap();
            assert_eq!(
                vars.get("name").map(String::as_str),
                Some(cells[1].trim()).filter(|n| !n.is_empty())
            );
            assert_eq!(meta["crm"], cells[3], "row {row}");
        }
    }

    #[test]
    fn an_edited_row_is_refused_by_its_number() {
        let data = b"to_number,name,clinic,crm\n+12125550142,Ann,,c1\n+12125550143,Bo,,c2\n";
        let dir = tempfile::tempdir().unwrap();
        let (path, fetch) = fetch_of(&dir, data);
        let rows = spans(data);
        // Same length, one letter changed in row 3.
        std::fs::write(
            &path,
            &b"to_number,name,clinic,crm\n+12125550142,Ann,,c1\n+12125550143,Bx,,c2\n"[..],
        )
        .unwrap();
        fetch.check(rows.iter().map(|r| (r.0, &r.2))).unwrap();
        assert!(fetch.cells(2, &rows[1].2).is_ok());
        let err = fetch.cells(3, &rows[2].2).unwrap_err();
        assert_eq!(err.what, ChangedWhat::Row(3));
        assert_eq!(
            err.to_string(),
            "r.csv changed after it was validated (row 3 is not what was checked): nothing \
             more is dialled; run again to validate it as it is now"
        );
    }

    #[test]
    fn rows_added_or_a_longer_row_are_found_before_dialling() {
        let data = b"to_number,name,clinic,crm\n+12125550142,Ann,,c1\n+12125550143,Bo,,c2\n";
        let rows = spans(data);
        let dir = tempfile::tempdir().unwrap();
        let (path, fetch) = fetch_of(&dir, data);
        let mut grown = data.to_vec();
        grown.extend_from_slice(b"+12125550144,Cy,,c3\n");
        std::fs::write(&path, &grown).unwrap();
        let err = fetch.check(rows.iter().map(|r| (r.0, &r.2))).unwrap_err();
        assert_eq!(err.what, ChangedWhat::Row(4), "the first row added");
        // Row 2 made longer: it and every row after it moved.
        std::fs::write(
            &path,
            &b"to_number,name,clinic,crm\n+12125550142,Anne,,c1\n+12125550143,Bo,,c2\n"[..],
        )
        .unwrap();
        let err = fetch.check(rows.iter().map(|r| (r.0, &r.2))).unwrap_err();
        assert_eq!(err.what, ChangedWhat::Row(2));
        // Shorter, with the rows to dial intact: the size is named.
        let (path, fetch) = fetch_of(
            &dir,
            b"to_number,name,clinic,crm\n+12125550142,Ann,,c1\nbad\n",
        );
        let rows = spans(b"to_number,name,clinic,crm\n+12125550142,Ann,,c1\nbad\n");
        std::fs::write(
            &path,
            &b"to_number,name,clinic,crm\n+12125550142,Ann,,c1\n"[..],
        )
        .unwrap();
        let err = fetch
            .check(rows.iter().take(2).map(|r| (r.0, &r.2)))
            .unwrap_err();
        assert_eq!(err.what, ChangedWhat::Size { was: 51, now: 47 });
    }

    #[test]
    fn a_last_row_without_a_line_ending_must_still_end_the_file() {
        let data = b"to_number,name,clinic,crm\n+12125550142,Ann,,c1";
        let rows = spans(data);
        let dir = tempfile::tempdir().unwrap();
        let (path, fetch) = fetch_of(&dir, data);
        assert!(fetch.cells(2, &rows[1].2).is_ok());
        let mut longer = data.to_vec();
        longer.extend_from_slice(b"9");
        std::fs::write(&path, &longer).unwrap();
        assert_eq!(
            fetch.cells(2, &rows[1].2).unwrap_err().what,
            ChangedWhat::Row(2)
        );
        let err = fetch.check(rows.iter().map(|r| (r.0, &r.2))).unwrap_err();
        assert_eq!(err.what, ChangedWhat::Row(2));
    }

    #[test]
    fn a_file_gone_is_unreadable_not_a_panic() {
        let data = b"to_number,name,clinic,crm\n+12125550142,Ann,,c1\n";
        let rows = spans(data);
        let dir = tempfile::tempdir().unwrap();
        let (path, fetch) = fetch_of(&dir, data);
        std::fs::remove_file(&path).unwrap();
        let err = fetch.cells(2, &rows[1].2).unwrap_err();
        assert!(matches!(err.what, ChangedWhat::Unreadable(_)), "{err:?}");
        assert!(
            err.to_string().starts_with("r.csv cannot be read again"),
            "{err}"
        );
        assert!(fetch.cells(2, &RowAt::Unknown).is_err());
    }

    #[test]
    fn a_workbook_row_is_read_from_memory_and_a_workbook_saved_again_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.xlsx");
        std::fs::write(&path, b"a workbook").unwrap();
        let fetch = RowFetch::new(&path, "r.xlsx", fields(), Seen::workbook(&path).unwrap());
        let row = &spans(b"+12125550142,Ann,Leeds,c1")[0];
        let RowAt::Csv(_) = row.2 else {
            panic!("a CSV record")
        };
        let mut r = Reader::new(&b"+12125550142,Ann,Leeds,c1"[..], Path::new("t"));
        let mut rec = Record::default();
        assert!(r.read_record(&mut rec).unwrap());
        let kept = RowAt::Cells(Box::new(rec.cells_only()));
        let (vars, meta) = fetch.cells(2, &kept).unwrap();
        assert_eq!(
            (vars["name"].as_str(), vars["clinic"].as_str()),
            ("Ann", "Leeds")
        );
        assert_eq!(meta["crm"], "c1");
        fetch.check(std::iter::once((2, &kept))).unwrap();
        std::fs::write(&path, b"a workbook saved again").unwrap();
        let err = fetch.check(std::iter::once((2, &kept))).unwrap_err();
        assert_eq!(err.what, ChangedWhat::Saved);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Every record's span, read back and parsed alone, gives the cells
        /// the stream gave, however the reads were split.
        #[test]
        fn spans_read_back_as_streamed(data in proptest::collection::vec(
            prop::sample::select(vec![b'a', b',', b'"', b'\n', b'\r', b' ', 0xC3, 0xA9]), 0..300),
            chunk in 1usize..23) {
            struct Chunky<'a>(&'a [u8], usize);
            impl io::Read for Chunky<'_> {
                fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                    let n = self.0.len().min(out.len()).min(self.1);
                    out[..n].copy_from_slice(&self.0[..n]);
                    self.0 = &self.0[n..];
                    Ok(n)
                }
            }
            let mut r = Reader::new(Chunky(&data, chunk), Path::new("t"));
            let mut rec = Record::default();
            let mut again = Reader::for_one_record();
            let mut back = Record::default();
            while r.read_record(&mut rec).unwrap() {
                let span = rec.span().unwrap();
                let end = span.offset as usize + span.len as usize;
                let bytes = &data[span.offset as usize..end];
                prop_assert_eq!(span_hash(bytes), span.hash);
                prop_assert!(!span.at_eof || end == data.len());
                let content = if span.at_eof { bytes } else { &bytes[..bytes.len() - 1] };
                again.read_back(content, rec.row(), &mut back);
                prop_assert_eq!(back.row(), rec.row());
                let a: Vec<_> = rec.iter().collect();
                let b: Vec<_> = back.iter().collect();
                prop_assert_eq!(a, b);
                prop_assert_eq!(back.quote_problem(), rec.quote_problem());
            }
            prop_assert_eq!(r.consumed(), data.len() as u64);
        }
    }
}
