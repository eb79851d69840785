//! Do-not-call lists: numbers that must never be dialled.
//!
//! A plan's `suppress: [dnc.csv, ...]` names CSV files (or workbooks,
//! `.xlsx`, `.xlsm`, `.xls`, `.ods`, read from their first sheet) with a column called
//! `to_number`, `phone` or `phone_number` (any case; spaces and dashes count
//! as `_`, so `Phone Number` works). Every number is normalized with the
//! same function as the recipients' numbers and kept in a set, so a row is
//! checked with one lookup at validation and again just before it is
//! dialled. The files are read afresh on every run and never cached: a
//! number added to a list mid-campaign is not called on resume or redial.
//!
//! A line that holds no readable number is a [`Warning`] (file and line),
//! not an error: one bad line must not stop a campaign from honouring the
//! rest of the list. A file that cannot be read, is empty, or has no number
//! column is an error: carrying on would call people who asked not to be.

use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::recipients::{Record, SheetReader, WorkbookError, is_workbook};

/// Header names (after lowercasing, and turning spaces and dashes into `_`)
/// that hold the numbers.
pub const NUMBER_COLUMNS: [&str; 3] = ["to_number", "phone", "phone_number"];

/// Warnings kept per file; the rest are counted in one summary warning, so
/// a garbage file does not flood the terminal or memory.
const MAX_WARNINGS_PER_FILE: usize = 100;
/// Longest cell quoted back in a warning.
const MAX_QUOTED: usize = 40;

/// The numbers of every do-not-call file, normalized.
#[derive(Debug, Clone, Default)]
pub struct SuppressList {
    numbers: HashSet<String>,
}

/// A line of a do-not-call file that was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    pub file: PathBuf,
    /// The line the record starts on, as a spreadsheet numbers rows (the
    /// header is 1); `None` for a note about the whole file.
    pub row: Option<u64>,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.row {
            Some(row) => write!(f, "{} row {row}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// Why a do-not-call file could not be used at all.
#[derive(Debug, thiserror::Error)]
pub enum SuppressError {
    #[error("cannot read do-not-call file {}: {source}; fix the path in the plan's `suppress` list", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("do-not-call file {} is empty; it needs a header row with a to_number, phone or phone_number column", path.display())]
    Empty { path: PathBuf },
    #[error("do-not-call file {} has no column named to_number, phone or phone_number (its header: {found}); rename the number column, or add `phone` as the first line of a bare list", path.display())]
    NoNumberColumn { path: PathBuf, found: String },
    /// A workbook list that cannot be read (damaged, encrypted...); its
    /// message names the file.
    #[error("do-not-call list: {0}; or fix the path in the plan's `suppress` list")]
    Workbook(#[source] WorkbookError),
}

impl SuppressList {
    /// An empty list, for plans without `suppress`.
    pub fn empty() -> SuppressList {
        SuppressList::default()
    }

    /// Reads every file in `paths` (in order) and normalizes each number with
    /// `normalize`, the same function that normalizes recipients (it returns
    /// `None` for text that is not a number). Returns the list and the lines
    /// skipped.
    pub fn load(
        paths: &[PathBuf],
        normalize: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(SuppressList, Vec<Warning>), SuppressError> {
        let mut list = SuppressList::empty();
        let mut warnings = Vec::new();
        for path in paths {
            list.read_file(path, normalize, &mut warnings)?;
        }
        Ok((list, warnings))
    }

    /// True when the normalized number `e164` is on a list.
    pub fn contains(&self, e164: &str) -> bool {
        self.numbers.contains(e164)
    }

    /// Distinct numbers on the lists.
    pub fn len(&self) -> usize {
        self.numbers.len()
    }

    /// True when no number is suppressed.
    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
    }

    fn read_file(
        &mut self,
        path: &Path,
        normalize: &dyn Fn(&str) -> Option<String>,
        warnings: &mut Vec<Warning>,
    ) -> Result<(), SuppressError> {
        if is_workbook(path) {
            return self.read_workbook(path, normalize, warnings);
        }
        let read_err = |source| SuppressError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(read_err)?;
        let mut input = BufReader::with_capacity(64 * 1024, file);
        let delimiter = sniff_delimiter(input.fill_buf().map_err(read_err)?);
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .has_headers(true)
            .from_reader(input);

        let headers = match reader.byte_headers() {
            Ok(h) => h.clone(),
            Err(e) => return Err(read_err(csv_to_io(e))),
        };
        let columns = number_columns(path, &headers.iter().collect::<Vec<_>>())?;

        let mut file_warnings = Warnings::new(path, warnings);
        let mut record = csv::ByteRecord::new();
        loop {
            let row_hint = reader.position().line();
            match reader.read_byte_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => {
                    return Err(read_err(csv_to_io(e)));
                }
                Err(e) => {
                    let row = e.position().map_or(row_hint, |p| p.line());
                    file_warnings.push(row, format!("unreadable line ({e}); skipped"));
                    continue;
                }
            }
            let row = record.position().map_or(row_hint, |p| p.line());
            self.take_row(
                row,
                &columns,
                |i| record.get(i),
                normalize,
                &mut file_warnings,
            );
        }
        file_warnings.finish();
        Ok(())
    }

    /// A workbook list: its first sheet, the header on row 1 as in a CSV
    /// list. Number cells are read as their digits (the `+` a number cell
    /// cannot hold is restored by `normalize`, as for a CSV list); rows with
    /// nothing in them are skipped, as empty CSV lines are.
    fn read_workbook(
        &mut self,
        path: &Path,
        normalize: &dyn Fn(&str) -> Option<String>,
        warnings: &mut Vec<Warning>,
    ) -> Result<(), SuppressError> {
        let mut sheet = SheetReader::open(path, path, None).map_err(SuppressError::Workbook)?;
        let mut rec = Record::default();
        if !sheet.read_record(&mut rec) {
            return Err(SuppressError::Empty {
                path: path.to_path_buf(),
            });
        }
        let columns = number_columns(path, &rec.iter().collect::<Vec<_>>())?;
        let mut file_warnings = Warnings::new(path, warnings);
        while sheet.read_record(&mut rec) {
            if rec.is_blank() {
                continue;
            }
            let row = rec.row();
            self.take_row(row, &columns, |i| rec.get(i), normalize, &mut file_warnings);
        }
        file_warnings.finish();
        Ok(())
    }

    /// The numbers of one line (`cell(i)` is its cell `i`) in `columns`,
    /// normalized into the list; what holds none is a warning.
    fn take_row<'c>(
        &mut self,
        row: u64,
        columns: &[usize],
        cell: impl Fn(usize) -> Option<&'c [u8]>,
        normalize: &dyn Fn(&str) -> Option<String>,
        file_warnings: &mut Warnings,
    ) {
        let mut any = false;
        for &col in columns {
            let cell = cell(col).unwrap_or_default();
            let Ok(text) = std::str::from_utf8(cell) else {
                file_warnings.push(row, format!("{} is not valid UTF-8; skipped", quote(cell)));
                any = true;
                continue;
            };
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            any = true;
            match normalize(text) {
                Some(number) => {
                    self.numbers.insert(number);
                }
                None => file_warnings.push(
                    row,
                    format!("{} is not a phone number; skipped", quote(cell)),
                ),
            }
        }
        if !any {
            file_warnings.push(row, "no number on this line; skipped".to_string());
        }
    }
}

/// The columns of a list's header that hold numbers ([`NUMBER_COLUMNS`]);
/// an error when the header is empty or names none.
fn number_columns(path: &Path, headers: &[&[u8]]) -> Result<Vec<usize>, SuppressError> {
    if headers.iter().all(|h| h.is_empty()) {
        return Err(SuppressError::Empty {
            path: path.to_path_buf(),
        });
    }
    let columns: Vec<usize> = headers
        .iter()
        .enumerate()
        .filter(|(_, h)| NUMBER_COLUMNS.contains(&header_key(h).as_str()))
        .map(|(i, _)| i)
        .collect();
    if columns.is_empty() {
        let found: Vec<String> = headers.iter().take(10).map(|h| quote(h)).collect();
        return Err(SuppressError::NoNumberColumn {
            path: path.to_path_buf(),
            found: found.join(", "),
        });
    }
    Ok(columns)
}

/// Collects one file's warnings up to the cap, then counts.
struct Warnings<'a> {
    path: &'a Path,
    out: &'a mut Vec<Warning>,
    kept: usize,
    dropped: u64,
}

impl<'a> Warnings<'a> {
    fn new(path: &'a Path, out: &'a mut Vec<Warning>) -> Warnings<'a> {
        Warnings {
            path,
            out,
            kept: 0,
            dropped: 0,
        }
    }

    fn push(&mut self, row: u64, message: String) {
        if self.kept < MAX_WARNINGS_PER_FILE {
            self.kept += 1;
            self.out.push(Warning {
                file: self.path.to_path_buf(),
                row: Some(row),
                message,
            });
        } else {
            self.dropped += 1;
        }
    }

    fn finish(self) {
        if self.dropped > 0 {
            self.out.push(Warning {
                file: self.path.to_path_buf(),
                row: None,
                message: format!("{} more lines skipped (not shown)", self.dropped),
            });
        }
    }
}

/// `Phone Number` -> `phone_number`: how headers are compared.
fn header_key(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .trim_start_matches('\u{feff}')
        .trim()
        .to_lowercase()
        .replace([' ', '-'], "_")
}

/// A cell quoted for a message: lossy UTF-8, control characters escaped,
/// cut at [`MAX_QUOTED`] characters.
fn quote(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out: String = text
        .chars()
        .take(MAX_QUOTED)
        .collect::<String>()
        .escape_debug()
        .to_string();
    if text.chars().count() > MAX_QUOTED {
        out.push('…');
    }
    format!("`{out}`")
}

/// Comma unless the first line has none and has semicolons or tabs, as
/// spreadsheets in many locales export.
fn sniff_delimiter(start: &[u8]) -> u8 {
    let first_line = start.split(|&b| b == b'\n').next().unwrap_or_default();
    if first_line.contains(&b',') {
        b','
    } else if first_line.contains(&b';') {
        b';'
    } else if first_line.contains(&b'\t') {
        b'\t'
    } else {
        b','
    }
}

fn csv_to_io(e: csv::Error) -> std::io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(io) => io,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;

    /// A stand-in for the phone module's normalizer: `+` and 8-15 digits,
    /// or 10 digits read as a US number; separators ignored.
    fn normalize(text: &str) -> Option<String> {
        let plus = text.trim_start().starts_with('+');
        let digits: String = text
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.' | '+'))
            .collect();
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        match (plus, digits.len()) {
            (true, 8..=15) => Some(format!("+{digits}")),
            (false, 10) => Some(format!("+1{digits}")),
            _ => None,
        }
    }

    fn file(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.path().join(name);
        let mut f = File::create(&path).expect("create");
        f.write_all(bytes).expect("write");
        path
    }

    fn load(paths: &[PathBuf]) -> Result<(SuppressList, Vec<Warning>), SuppressError> {
        SuppressList::load(paths, &normalize)
    }

    #[test]
    fn reads_numbers_from_any_accepted_column() {
        let dir = tempfile::tempdir().expect("dir");
        let a = file(
            &dir,
            "a.csv",
            b"name,to_number\nAda,+14155550100\nBob,(415) 555-0101\n",
        );
        let b = file(&dir, "b.csv", b"Phone\n+33 1 23 45 67 89\n");
        let c = file(&dir, "c.csv", b"id,Phone Number\n1,+442079460000\n");
        let (list, warnings) = load(&[a, b, c]).expect("load");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(list.len(), 4);
        for n in [
            "+14155550100",
            "+14155550101",
            "+33123456789",
            "+442079460000",
        ] {
            assert!(list.contains(n), "{n}");
        }
        assert!(!list.contains("+14155550199"));
        assert!(
            !list.contains("4155550100"),
            "only normalized numbers match"
        );
    }

    #[test]
    fn bom_crlf_quotes_semicolons_and_duplicates() {
        let dir = tempfile::tempdir().expect("dir");
        let a = file(
            &dir,
            "excel.csv",
            b"\xEF\xBB\xBFPHONE_NUMBER,note\r\n\"+1 415 555 0100\",\"says \"\"stop\"\", twice\"\r\n+14155550100,dup\r\n",
        );
        let b = file(
            &dir,
            "eu.csv",
            b"nom;telephone;phone\r\nDupont;x;+33123456789\r\n",
        );
        let (list, warnings) = load(&[a, b]).expect("load");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(list.len(), 2);
        assert!(list.contains("+14155550100") && list.contains("+33123456789"));
    }

    #[test]
    fn bad_lines_are_warnings_with_file_and_row() {
        let dir = tempfile::tempdir().expect("dir");
        let path = file(
            &dir,
            "dnc.csv",
            b"phone,name\n+14155550100,ok\nnot a number,x\n\xFF\xFE,binary\n,blank\n\n+14155550101\n",
        );
        let (list, warnings) = load(std::slice::from_ref(&path)).expect("load");
        assert_eq!(list.len(), 2, "good lines still count");
        let shown: Vec<String> = warnings.iter().map(|w| w.to_string()).collect();
        assert_eq!(warnings.len(), 3, "{shown:?}");
        assert_eq!(
            warnings.iter().map(|w| w.row).collect::<Vec<_>>(),
            [Some(3), Some(4), Some(5)]
        );
        assert!(
            shown[0].contains("dnc.csv row 3")
                && shown[0].contains("`not a number` is not a phone number")
        );
        assert!(shown[1].contains("not valid UTF-8"), "{}", shown[1]);
        assert!(shown[2].contains("no number"), "{}", shown[2]);
    }

    #[test]
    fn files_that_cannot_be_honoured_are_errors() {
        let dir = tempfile::tempdir().expect("dir");
        let missing = dir.path().join("nope.csv");
        let err = load(&[missing]).expect_err("missing").to_string();
        assert!(
            err.contains("nope.csv") && err.contains("cannot read"),
            "{err}"
        );

        let empty = file(&dir, "empty.csv", b"");
        let err = load(&[empty]).expect_err("empty").to_string();
        assert!(err.contains("is empty"), "{err}");

        let bare = file(&dir, "bare.csv", b"+14155550100\n+14155550101\n");
        let err = load(&[bare]).expect_err("no header").to_string();
        assert!(
            err.contains("no column named") && err.contains("`+14155550100`"),
            "{err}"
        );

        let other = file(&dir, "other.csv", b"name,mobile\nAda,+14155550100\n");
        let err = load(&[other]).expect_err("wrong column").to_string();
        assert!(err.contains("`name`, `mobile`"), "{err}");

        let err = load(&[dir.path().to_path_buf()])
            .expect_err("a directory")
            .to_string();
        assert!(err.contains("cannot read"), "{err}");
    }

    #[test]
    fn workbook_lists_are_read_from_their_first_sheet() {
        use rust_xlsxwriter::Workbook;
        let dir = tempfile::tempdir().expect("dir");
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(0, 1, "Phone Number").expect("cell");
        ws.write_string(1, 1, "+14155550100").expect("cell");
        ws.write_string(3, 1, "call me maybe").expect("cell");
        ws.write_number(4, 1, 4155550101.0).expect("cell");
        let path = dir.path().join("dnc.xlsx");
        wb.save(&path).expect("save");
        let (list, warnings) = load(std::slice::from_ref(&path)).expect("load");
        assert_eq!(list.len(), 2);
        assert!(list.contains("+14155550100") && list.contains("+14155550101"));
        // Row 3 is empty (skipped, as an empty CSV line); row 4 is not a number.
        assert_eq!(
            warnings.iter().map(|w| w.row).collect::<Vec<_>>(),
            [Some(4)]
        );

        let bad = file(&dir, "bad.xlsx", b"PK\x03\x04 damaged");
        let err = load(&[bad]).expect_err("damaged");
        assert!(matches!(err, SuppressError::Workbook(_)), "{err:?}");
        assert!(err.to_string().contains("bad.xlsx"), "{err}");
        let mut wb = Workbook::new();
        wb.add_worksheet();
        let empty = dir.path().join("empty.xlsx");
        wb.save(&empty).expect("save");
        let err = load(&[empty]).expect_err("empty").to_string();
        assert!(err.contains("is empty"), "{err}");
    }

    #[test]
    fn header_only_file_is_an_empty_list() {
        let dir = tempfile::tempdir().expect("dir");
        let path = file(&dir, "none.csv", b"to_number\r\n");
        let (list, warnings) = load(&[path]).expect("load");
        assert!(list.is_empty() && warnings.is_empty());
    }

    #[test]
    fn files_are_read_afresh_each_time() {
        let dir = tempfile::tempdir().expect("dir");
        let path = file(&dir, "dnc.csv", b"phone\n+14155550100\n");
        let (first, _) = load(std::slice::from_ref(&path)).expect("load");
        assert!(!first.contains("+14155550101"));
        file(&dir, "dnc.csv", b"phone\n+14155550100\n+14155550101\n");
        let (second, _) = load(&[path]).expect("reload");
        assert!(second.contains("+14155550101"));
    }

    #[test]
    fn warnings_are_capped_per_file() {
        let dir = tempfile::tempdir().expect("dir");
        let mut body = b"phone\n".to_vec();
        for _ in 0..1000 {
            body.extend_from_slice(b"garbage\n");
        }
        let path = file(&dir, "junk.csv", &body);
        let (_, warnings) = load(&[path]).expect("load");
        assert_eq!(warnings.len(), MAX_WARNINGS_PER_FILE + 1);
        let last = warnings.last().expect("summary");
        assert_eq!(last.row, None);
        assert!(last.message.contains("900 more"), "{}", last.message);
    }

    #[test]
    fn long_cells_are_cut_in_messages() {
        let dir = tempfile::tempdir().expect("dir");
        let long = "x".repeat(10_000);
        let path = file(&dir, "long.csv", format!("phone\n{long}\n").as_bytes());
        let (_, warnings) = load(&[path]).expect("load");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].message.len() < 120, "{}", warnings[0].message);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn garbage_files_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let dir = tempfile::tempdir().expect("dir");
            let path = file(&dir, "fuzz.csv", &body);
            let _ = load(&[path]);
        }

        #[test]
        fn every_listed_number_is_found(numbers in proptest::collection::vec("[2-9][0-9]{9}", 1..50)) {
            let dir = tempfile::tempdir().expect("dir");
            let mut body = String::from("phone_number\n");
            for n in &numbers {
                body.push_str(&format!("\"({}) {}-{}\"\r\n", &n[..3], &n[3..6], &n[6..]));
            }
            let path = file(&dir, "dnc.csv", body.as_bytes());
            let (list, warnings) = load(&[path]).expect("load");
            prop_assert!(warnings.is_empty());
            for n in &numbers {
                let wanted = format!("+1{n}");
                prop_assert!(list.contains(&wanted));
            }
        }
    }
}
