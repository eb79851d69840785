//! Reading recipients from a workbook (`.xlsx`, `.xlsm`, `.xls`, `.ods`)
//! with calamine, as the same [`Record`]s the CSV reader gives, plus what
//! only a workbook knows: each cell's [`CellKind`] and whether it is a
//! formula (and its text).
//!
//! One sheet is read: the first visible worksheet, or one named. Records
//! carry the row numbers the sheet shows (row 1 is its first row, even when
//! the data start lower) and one cell per column from A to the last column
//! holding anything, so cell `i` is column `i` of the sheet and every
//! non-blank row has the same width, as Excel's "Save as CSV" writes it. A
//! row with nothing in it is one empty cell, as a blank CSV line is. Cell
//! text is what a person reads in the cell, in a stable form (see
//! [`super::cells`]: digits for numbers, ISO for dates); a formula cell
//! holds its cached value.
//!
//! `.xlsx` and `.xlsm` are streamed cell by cell and kept sparse (only the
//! cells that hold something), because calamine's dense `Range` would
//! allocate rows x columns for a file that names one far-away cell.
//! `.xls` and `.ods` have no such reader in calamine and go through its
//! `Range` (bounded by the formats: 65,536 x 256 for `.xls`, calamine's
//! 100M-cell cap for `.ods`). Either way the whole sheet is in memory
//! (about 40 bytes a filled cell plus its text), unlike the streamed CSV;
//! [`MAX_CELLS`] and [`MAX_TEXT_BYTES`] bound what a hostile file can make
//! the reader build. Encrypted, damaged or unknown files are
//! [`WorkbookError`]s (exit code 2), and a panic inside calamine on a
//! hostile file is caught and reported as a damaged file.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::{Path, PathBuf};

use calamine::{
    Data, Ods, OdsError, Range, Reader as _, SheetType, SheetVisible, Xls, XlsError, Xlsx,
    XlsxError,
};

use super::Record;
use super::cells::{CellKind, CellType, from_data, from_ref};

/// Cells (rows x columns, blank rows not counted) a sheet may span.
pub const MAX_CELLS: u64 = 50_000_000;

/// Bytes of cell text a sheet may hold.
pub const MAX_TEXT_BYTES: usize = 1 << 30;

/// A workbook that cannot be read (exit code 2). Messages name the file
/// and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum WorkbookError {
    /// Missing file, no permission, a directory...
    #[error("cannot open workbook {}", .path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The extension is none of the workbook formats callplan reads.
    #[error(
        "{} is not a workbook callplan reads: use .xlsx, .xlsm, .xls or .ods, or save the \
         sheet as CSV UTF-8",
        .path.display()
    )]
    UnknownFormat { path: PathBuf },
    /// Password-protected (encrypted) workbook.
    #[error(
        "{} is password-protected (encrypted), so it cannot be read: open it, remove the \
         password (Excel: File > Info > Protect Workbook > Encrypt with Password, then clear \
         it) and save it, or save the sheet as CSV UTF-8",
        .path.display()
    )]
    Encrypted { path: PathBuf },
    /// Damaged, truncated, or another kind of file under a workbook's name.
    #[error(
        "{} cannot be read as {format} workbook ({reason}): is it damaged, or another kind of \
         file renamed? Open it in its spreadsheet program and save it again",
        .path.display()
    )]
    Corrupt {
        path: PathBuf,
        format: &'static str,
        reason: String,
    },
    /// No worksheet at all (only chart sheets, say).
    #[error("{} has no worksheet to read recipients from", .path.display())]
    NoSheets { path: PathBuf },
    /// The sheet asked for is not in the workbook.
    #[error(
        "{} has no worksheet named {sheet:?}{hint}; its sheets: {available}",
        .path.display()
    )]
    NoSuchSheet {
        path: PathBuf,
        sheet: String,
        /// `: did you mean "Sheet1"?` when a name differs only in case or spaces.
        hint: String,
        available: String,
    },
    /// More than [`MAX_CELLS`] cells or [`MAX_TEXT_BYTES`] of text.
    #[error(
        "{}: sheet {sheet:?} is too large to read ({what}): keep the recipients alone on a \
         sheet, or save it as CSV UTF-8",
        .path.display()
    )]
    TooLarge {
        path: PathBuf,
        sheet: String,
        what: String,
    },
}

/// True when `path` names a workbook format this module reads (by its
/// extension, any case): what decides between this reader and the CSV one.
pub fn is_workbook(path: &Path) -> bool {
    format_of(path).is_some()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Xlsx,
    Xls,
    Ods,
}

impl Format {
    fn article_name(self) -> &'static str {
        match self {
            Format::Xlsx => "an Excel (.xlsx)",
            Format::Xls => "an Excel 97-2003 (.xls)",
            Format::Ods => "an OpenDocument (.ods)",
        }
    }
}

fn format_of(path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "xlsx" | "xlsm" => Some(Format::Xlsx),
        "xls" => Some(Format::Xls),
        "ods" => Some(Format::Ods),
        _ => None,
    }
}

/// One filled cell, its text in the reader's arena.
#[derive(Debug, Clone, Copy)]
struct Stored {
    row: u32,
    col: u32,
    ty: CellType,
    text: (u32, u32),
    /// The formula's text in the arena, when `ty.formula`.
    formula: (u32, u32),
}

/// The cells of one sheet, read into memory, handed out as [`Record`]s.
#[derive(Debug)]
pub struct SheetReader {
    sheet: String,
    cells: Vec<Stored>,
    arena: String,
    width: u32,
    next_row: u32,
    /// One past the last row holding anything (0: an empty sheet).
    end_row: u32,
    pos: usize,
}

/// Collects cells while a sheet is read.
struct Builder<'a> {
    path: &'a Path,
    sheet: String,
    cells: Vec<Stored>,
    arena: String,
}

impl Builder<'_> {
    fn span(&mut self, text: &str) -> Result<(u32, u32), WorkbookError> {
        let start = self.arena.len();
        if start + text.len() > MAX_TEXT_BYTES {
            return Err(WorkbookError::TooLarge {
                path: self.path.to_path_buf(),
                sheet: self.sheet.clone(),
                what: format!("more than {} MiB of text", MAX_TEXT_BYTES >> 20),
            });
        }
        self.arena.push_str(text);
        // Both fit: the arena is at most MAX_TEXT_BYTES (1 GiB).
        Ok((start as u32, self.arena.len() as u32))
    }

    fn push(
        &mut self,
        (row, col): (u32, u32),
        value: Option<(CellKind, String)>,
        formula: Option<&str>,
    ) -> Result<(), WorkbookError> {
        let formula = formula.map(str::trim).filter(|f| !f.is_empty());
        let (kind, text) = match value {
            Some(v) => v,
            None if formula.is_some() => (CellKind::Empty, String::new()),
            None => return Ok(()),
        };
        let text = self.span(&text)?;
        let formula_span = match formula {
            Some(f) if f.starts_with('=') => self.span(f)?,
            Some(f) => {
                let f = format!("={f}");
                self.span(&f)?
            }
            None => (0, 0),
        };
        self.cells.push(Stored {
            row,
            col,
            ty: CellType {
                kind,
                formula: formula.is_some(),
            },
            text,
            formula: formula_span,
        });
        Ok(())
    }

    fn finish(mut self) -> Result<SheetReader, WorkbookError> {
        // Cells come in sheet order; a file that says otherwise is sorted,
        // and of two cells at one place the later wins, as in calamine.
        self.cells.sort_by_key(|c| (c.row, c.col));
        let mut kept: Vec<Stored> = Vec::with_capacity(self.cells.len());
        for c in self.cells {
            match kept.last_mut() {
                Some(last) if (last.row, last.col) == (c.row, c.col) => *last = c,
                _ => kept.push(c),
            }
        }
        let width = kept.iter().map(|c| c.col + 1).max().unwrap_or(0);
        let end_row = kept.last().map_or(0, |c| c.row + 1);
        let mut rows = 0u64;
        let mut prev = None;
        for c in &kept {
            if prev != Some(c.row) {
                rows += 1;
                prev = Some(c.row);
            }
        }
        if rows.saturating_mul(u64::from(width)) > MAX_CELLS {
            return Err(WorkbookError::TooLarge {
                path: self.path.to_path_buf(),
                sheet: self.sheet,
                what: format!("{rows} rows x {width} columns, more than {MAX_CELLS} cells"),
            });
        }
        Ok(SheetReader {
            sheet: self.sheet,
            cells: kept,
            arena: self.arena,
            width,
            next_row: 0,
            end_row,
            pos: 0,
        })
    }
}

impl SheetReader {
    /// Reads sheet `sheet` (the first visible worksheet when `None`) of the
    /// workbook at `path`; `shown` names the file in errors.
    pub fn open(
        path: &Path,
        shown: &Path,
        sheet: Option<&str>,
    ) -> Result<SheetReader, WorkbookError> {
        let format = format_of(path).ok_or_else(|| WorkbookError::UnknownFormat {
            path: shown.to_path_buf(),
        })?;
        let file = File::open(path).map_err(|source| WorkbookError::Open {
            path: shown.to_path_buf(),
            source,
        })?;
        if file.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(WorkbookError::Open {
                path: shown.to_path_buf(),
                source: io::Error::new(io::ErrorKind::IsADirectory, "it is a directory"),
            });
        }
        let src = BufReader::new(file);
        // calamine parses untrusted zip and XML: a panic in it is a
        // damaged file to the user, never a crash.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            read_sheet(src, format, shown, sheet)
        }))
        .unwrap_or_else(|_| {
            Err(WorkbookError::Corrupt {
                path: shown.to_path_buf(),
                format: format.article_name(),
                reason: "the workbook reader failed on its contents".into(),
            })
        })
    }

    /// The name of the sheet read.
    pub fn sheet(&self) -> &str {
        &self.sheet
    }

    /// Reads the next row into `rec` (its row number the sheet's); false
    /// after the last row that holds anything.
    pub fn read_record(&mut self, rec: &mut Record) -> bool {
        if self.next_row >= self.end_row {
            return false;
        }
        rec.clear();
        let row = self.next_row;
        self.next_row += 1;
        rec.row = u64::from(row) + 1;
        let mut col = 0;
        while let Some(c) = self.cells.get(self.pos).filter(|c| c.row == row) {
            while col < c.col {
                rec.push_cell("", CellType::EMPTY, None);
                col += 1;
            }
            let text = self.text(c.text);
            let formula = c.ty.formula.then(|| self.text(c.formula));
            rec.push_cell(text, c.ty, formula);
            col += 1;
            self.pos += 1;
        }
        if col == 0 {
            // Nothing in this row: one empty cell, as a blank CSV line.
            rec.push_cell("", CellType::EMPTY, None);
        } else {
            while col < self.width {
                rec.push_cell("", CellType::EMPTY, None);
                col += 1;
            }
        }
        true
    }

    fn text(&self, (start, end): (u32, u32)) -> &str {
        self.arena
            .get(start as usize..end as usize)
            .unwrap_or_default()
    }
}

fn read_sheet<RS: Read + Seek>(
    src: RS,
    format: Format,
    shown: &Path,
    sheet: Option<&str>,
) -> Result<SheetReader, WorkbookError> {
    let corrupt = |reason: String| WorkbookError::Corrupt {
        path: shown.to_path_buf(),
        format: format.article_name(),
        reason,
    };
    let encrypted = || WorkbookError::Encrypted {
        path: shown.to_path_buf(),
    };
    match format {
        Format::Xlsx => {
            let mut book: Xlsx<RS> = Xlsx::new(src).map_err(|e| match e {
                XlsxError::Password => encrypted(),
                e => corrupt(e.to_string()),
            })?;
            let name = choose_sheet(book.sheets_metadata(), shown, sheet)?;
            let mut b = Builder {
                path: shown,
                sheet: name.clone(),
                cells: Vec::new(),
                arena: String::new(),
            };
            let mut cells = book
                .worksheet_cells_reader(&name)
                .map_err(|e| corrupt(e.to_string()))?;
            while let Some(cell) = cells
                .next_cell_with_formula()
                .map_err(|e| corrupt(e.to_string()))?
            {
                b.push(cell.pos, from_ref(&cell.value), cell.formula.as_deref())?;
            }
            drop(cells);
            b.finish()
        }
        Format::Xls => {
            let mut book: Xls<RS> = Xls::new(src).map_err(|e| match e {
                XlsError::Password => encrypted(),
                e => corrupt(e.to_string()),
            })?;
            let name = choose_sheet(book.sheets_metadata(), shown, sheet)?;
            let values = book
                .worksheet_range(&name)
                .map_err(|e| corrupt(e.to_string()))?;
            let formulas = book.worksheet_formula(&name).ok();
            from_ranges(shown, name, &values, formulas.as_ref())
        }
        Format::Ods => {
            let mut book: Ods<RS> = Ods::new(src).map_err(|e| match e {
                OdsError::Password => encrypted(),
                e => corrupt(e.to_string()),
            })?;
            let name = choose_sheet(book.sheets_metadata(), shown, sheet)?;
            let values = book
                .worksheet_range(&name)
                .map_err(|e| corrupt(e.to_string()))?;
            let formulas = book.worksheet_formula(&name).ok();
            from_ranges(shown, name, &values, formulas.as_ref())
        }
    }
}

/// The sheet to read: the one named, else the first visible worksheet
/// (else the first worksheet).
fn choose_sheet(
    sheets: &[calamine::Sheet],
    shown: &Path,
    wanted: Option<&str>,
) -> Result<String, WorkbookError> {
    let worksheets: Vec<&calamine::Sheet> = sheets
        .iter()
        .filter(|s| s.typ == SheetType::WorkSheet)
        .collect();
    let Some(wanted) = wanted else {
        return worksheets
            .iter()
            .find(|s| s.visible == SheetVisible::Visible)
            .or(worksheets.first())
            .map(|s| s.name.clone())
            .ok_or_else(|| WorkbookError::NoSheets {
                path: shown.to_path_buf(),
            });
    };
    if let Some(s) = worksheets.iter().find(|s| s.name == wanted) {
        return Ok(s.name.clone());
    }
    let loose = |s: &str| s.trim().to_lowercase();
    let hint = worksheets
        .iter()
        .find(|s| loose(&s.name) == loose(wanted))
        .map(|s| format!(" (did you mean {:?}? names are matched exactly)", s.name))
        .unwrap_or_default();
    let available: Vec<String> = worksheets.iter().map(|s| format!("{:?}", s.name)).collect();
    Err(WorkbookError::NoSuchSheet {
        path: shown.to_path_buf(),
        sheet: wanted.to_string(),
        hint,
        available: if available.is_empty() {
            "none".into()
        } else {
            available.join(", ")
        },
    })
}

fn from_ranges(
    shown: &Path,
    sheet: String,
    values: &Range<Data>,
    formulas: Option<&Range<String>>,
) -> Result<SheetReader, WorkbookError> {
    let mut b = Builder {
        path: shown,
        sheet,
        cells: Vec::new(),
        arena: String::new(),
    };
    let (r0, c0) = values.start().unwrap_or((0, 0));
    let formula_at = |pos: (u32, u32)| {
        formulas
            .and_then(|f| f.get_value(pos))
            .map(String::as_str)
            .filter(|f| !f.is_empty())
    };
    for (r, c, v) in values.used_cells() {
        let pos = (r0 + r as u32, c0 + c as u32);
        b.push(pos, from_data(v), formula_at(pos))?;
    }
    // Formulas whose cached value is empty are not among the used cells.
    if let Some(f) = formulas {
        let (fr, fc) = f.start().unwrap_or((0, 0));
        for (r, c, text) in f.used_cells() {
            let pos = (fr + r as u32, fc + c as u32);
            let cached_empty = values.get_value(pos).is_none_or(|v| *v == Data::Empty);
            if cached_empty && !text.trim().is_empty() {
                b.push(pos, None, Some(text))?;
            }
        }
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_xlsxwriter::{ExcelDateTime as XlDate, Format as XlFormat, Formula, Workbook};

    type Row = (u64, Vec<(String, Option<CellType>)>);

    fn rows_of(mut r: SheetReader) -> Vec<Row> {
        let mut rec = Record::default();
        let mut out = Vec::new();
        while r.read_record(&mut rec) {
            let cells = (0..rec.len())
                .map(|i| (rec.text(i).into_owned(), rec.cell_type(i)))
                .collect();
            out.push((rec.row(), cells));
        }
        out
    }

    fn save(dir: &Path, name: &str, wb: &mut Workbook) -> PathBuf {
        let path = dir.join(name);
        wb.save(&path).expect("workbook saved");
        path
    }

    fn open(path: &Path, sheet: Option<&str>) -> Result<SheetReader, WorkbookError> {
        SheetReader::open(path, path, sheet)
    }

    fn ty(kind: CellKind) -> Option<CellType> {
        Some(CellType {
            kind,
            formula: false,
        })
    }

    fn texts(row: &Row) -> Vec<&str> {
        row.1.iter().map(|(t, _)| t.as_str()).collect()
    }

    #[test]
    fn numbers_stored_as_numbers_and_as_text() {
        let dir = tempfile::tempdir().unwrap();
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(0, 0, "to_number").unwrap();
        ws.write_string(0, 1, "name").unwrap();
        ws.write_number(1, 0, 14155550100.0).unwrap();
        ws.write_string(1, 1, "Ann").unwrap();
        ws.write_string(2, 0, "+14155550101").unwrap();
        ws.write_string(2, 1, "0042").unwrap();
        ws.write_number(3, 0, 1234567890123456789.0).unwrap();
        ws.write_number(3, 1, 2.5).unwrap();
        ws.write_number(4, 0, -3.0).unwrap();
        ws.write_boolean(4, 1, true).unwrap();
        let rows = rows_of(open(&save(dir.path(), "n.xlsx", &mut wb), None).unwrap());
        assert_eq!(rows.len(), 5);
        assert_eq!(
            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(
            rows[1].1[0],
            ("14155550100".to_string(), ty(CellKind::Number))
        );
        assert_eq!(rows[1].1[1], ("Ann".to_string(), ty(CellKind::Text)));
        assert_eq!(
            rows[2].1[0],
            ("+14155550101".to_string(), ty(CellKind::Text))
        );
        assert_eq!(rows[2].1[1], ("0042".to_string(), ty(CellKind::Text)));
        // 19 digits do not fit a double: the cell holds what survived.
        assert_eq!(texts(&rows[3]), ["1234567890123456800", "2.5"]);
        assert_eq!(rows[4].1[0], ("-3".to_string(), ty(CellKind::Number)));
        assert_eq!(rows[4].1[1], ("TRUE".to_string(), ty(CellKind::Bool)));
    }

    #[test]
    fn dates_times_and_date_times_as_iso() {
        let dir = tempfile::tempdir().unwrap();
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        let date = XlFormat::new().set_num_format("dd/mm/yyyy");
        let stamp = XlFormat::new().set_num_format("yyyy-mm-dd hh:mm");
        let clock = XlFormat::new().set_num_format("hh:mm");
        let d = XlDate::from_ymd(2026, 12, 7).unwrap();
        ws.write_string(0, 0, "appointment").unwrap();
        ws.write_datetime_with_format(1, 0, d, &date).unwrap();
        let t = XlDate::from_ymd(2026, 12, 7)
            .unwrap()
            .and_hms(8, 30, 0)
            .unwrap();
        ws.write_datetime_with_format(2, 0, t, &stamp).unwrap();
        let t = XlDate::from_ymd(2026, 1, 31)
            .unwrap()
            .and_hms(23, 5, 9)
            .unwrap();
        ws.write_datetime_with_format(3, 0, t, &stamp).unwrap();
        let t = XlDate::from_hms(8, 30, 0).unwrap();
        ws.write_datetime_with_format(4, 0, t, &clock).unwrap();
        // A number with a date format is a date; one without is a number.
        ws.write_number_with_format(5, 0, 46363.0, &date).unwrap();
        ws.write_number(6, 0, 46363.0).unwrap();
        let rows = rows_of(open(&save(dir.path(), "d.xlsx", &mut wb), None).unwrap());
        let got: Vec<_> = rows[1..].iter().map(|r| r.1[0].clone()).collect();
        let date_kind = ty(CellKind::Date);
        assert_eq!(
            got,
            [
                ("2026-12-07".to_string(), date_kind),
                ("2026-12-07T08:30".to_string(), date_kind),
                ("2026-01-31T23:05:09".to_string(), date_kind),
                ("08:30".to_string(), date_kind),
                ("2026-12-07".to_string(), date_kind),
                ("46363".to_string(), ty(CellKind::Number)),
            ]
        );
    }

    #[test]
    fn formulas_give_their_cached_value_and_their_text() {
        let dir = tempfile::tempdir().unwrap();
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(0, 0, "to_number").unwrap();
        ws.write_string(0, 1, "n").unwrap();
        let concat = Formula::new("=\"+1 415 \"&\"555 0100\"").set_result("+1 415 555 0100");
        ws.write_formula(1, 0, concat).unwrap();
        ws.write_formula(1, 1, Formula::new("=1+1").set_result("2"))
            .unwrap();
        ws.write_formula(2, 0, Formula::new("=NA()").set_result("#N/A"))
            .unwrap();
        ws.write_formula(2, 1, Formula::new("=A1/0").set_result("#DIV/0!"))
            .unwrap();
        let path = save(dir.path(), "f.xlsx", &mut wb);
        let mut r = open(&path, None).unwrap();
        let mut rec = Record::default();
        assert!(r.read_record(&mut rec));
        assert_eq!(rec.formula(0), None);
        assert!(r.read_record(&mut rec));
        assert_eq!(rec.text(0), "+1 415 555 0100");
        let formula = |kind| {
            Some(CellType {
                kind,
                formula: true,
            })
        };
        assert_eq!(rec.cell_type(0), formula(CellKind::Text));
        assert_eq!(rec.formula(0), Some("=\"+1 415 \"&\"555 0100\""));
        assert_eq!(
            (rec.text(1).as_ref(), rec.cell_type(1)),
            ("2", formula(CellKind::Number))
        );
        assert_eq!(rec.formula(1), Some("=1+1"));
        // Error values, computed or not, name the error.
        assert!(r.read_record(&mut rec));
        assert_eq!(
            (rec.text(0).as_ref(), rec.cell_type(0)),
            ("#N/A", formula(CellKind::Error))
        );
        assert_eq!(rec.text(1), "#DIV/0!");
        assert_eq!(rec.cell_type(1), formula(CellKind::Error));
        assert!(!r.read_record(&mut rec));
    }

    #[test]
    fn an_empty_sheet_has_no_rows_and_rows_keep_the_numbers_the_sheet_shows() {
        let dir = tempfile::tempdir().unwrap();
        let mut wb = Workbook::new();
        wb.add_worksheet();
        let rows = rows_of(open(&save(dir.path(), "e.xlsx", &mut wb), None).unwrap());
        assert!(rows.is_empty());

        // Data from C3, a gap at row 5, a stray note in F7.
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(2, 2, "to_number").unwrap();
        ws.write_string(3, 2, "+14155550100").unwrap();
        ws.write_string(5, 3, "x").unwrap();
        ws.write_string(6, 5, "note").unwrap();
        let rows = rows_of(open(&save(dir.path(), "g.xlsx", &mut wb), None).unwrap());
        assert_eq!(
            rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5, 6, 7]
        );
        let blank = vec![(String::new(), Some(CellType::EMPTY))];
        assert_eq!(rows[0].1, blank, "a row with nothing is one empty cell");
        assert_eq!(rows[4].1, blank);
        assert_eq!(texts(&rows[2]), ["", "", "to_number", "", "", ""]);
        assert_eq!(texts(&rows[5]), ["", "", "", "x", "", ""]);
        assert_eq!(texts(&rows[6]), ["", "", "", "", "", "note"]);
        assert_eq!(rows[2].1[0].1, Some(CellType::EMPTY));
    }

    #[test]
    fn the_first_visible_sheet_or_one_chosen_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut wb = Workbook::new();
        let hidden = wb.add_worksheet();
        hidden.set_name("Lookup").unwrap().set_hidden(true);
        hidden.write_string(0, 0, "hidden").unwrap();
        let notes = wb.add_worksheet();
        // Excel never hides the active sheet: make the second one active.
        notes.set_name("Notes").unwrap().set_active(true);
        notes.write_string(0, 0, "notes").unwrap();
        let calls = wb.add_worksheet();
        calls.set_name("June Calls").unwrap();
        calls.write_string(0, 0, "calls").unwrap();
        let path = save(dir.path(), "s.xlsx", &mut wb);
        let first = open(&path, None).unwrap();
        assert_eq!(first.sheet(), "Notes");
        assert_eq!(texts(&rows_of(first)[0]), ["notes"]);
        let named = open(&path, Some("June Calls")).unwrap();
        assert_eq!(named.sheet(), "June Calls");
        assert_eq!(texts(&rows_of(named)[0]), ["calls"]);
        assert_eq!(
            texts(&rows_of(open(&path, Some("Lookup")).unwrap())[0]),
            ["hidden"]
        );
        let err = open(&path, Some("june calls ")).unwrap_err();
        assert!(matches!(err, WorkbookError::NoSuchSheet { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("did you mean \"June Calls\"?"), "{msg}");
        assert!(
            msg.contains("\"Lookup\", \"Notes\", \"June Calls\""),
            "{msg}"
        );
    }

    #[test]
    fn text_cells_read_as_the_csv_reader_reads_their_csv() {
        let dir = tempfile::tempdir().unwrap();
        let cells = [
            ["to_number", "name", "note"],
            ["+14155550100", "Ann, \"A\"", "two\nlines"],
            ["", "", ""],
            ["+14155550101", "Bo", ""],
        ];
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        let mut csv = String::new();
        for (r, row) in cells.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                if !cell.is_empty() {
                    ws.write_string(r as u32, c as u16, *cell).unwrap();
                }
            }
            let line: Vec<String> = row
                .iter()
                .map(|c| format!("\"{}\"", c.replace('"', "\"\"")))
                .collect();
            csv.push_str(&line.join(","));
            csv.push('\n');
        }
        let book = rows_of(open(&save(dir.path(), "t.xlsx", &mut wb), None).unwrap());
        let mut reader = super::super::Reader::new(csv.as_bytes(), Path::new("t.csv"));
        let mut rec = Record::default();
        let mut from_csv = Vec::new();
        while reader.read_record(&mut rec).unwrap() {
            assert!(!rec.is_typed() && rec.cell_type(0).is_none());
            let cells: Vec<String> = (0..rec.len()).map(|i| rec.text(i).into_owned()).collect();
            from_csv.push((rec.row(), cells));
        }
        let from_book: Vec<(u64, Vec<String>)> = book
            .iter()
            .map(|(row, cells)| (*row, cells.iter().map(|c| c.0.clone()).collect()))
            .collect();
        // The blank row: one cell from the sheet, three from the CSV line
        // `"","",""`; both are blank rows to validation.
        assert_eq!(from_book[2], (3, vec![String::new()]));
        assert_eq!(from_csv[2], (3, vec![String::new(); 3]));
        for i in [0, 1, 3] {
            assert_eq!(from_book[i], from_csv[i]);
        }
    }

    #[test]
    fn a_far_away_cell_is_read_sparsely_and_a_huge_span_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        ws.write_string(0, 0, "to_number").unwrap();
        ws.write_string(1_048_575, 3, "far").unwrap();
        let rows = rows_of(open(&save(dir.path(), "far.xlsx", &mut wb), None).unwrap());
        assert_eq!(rows.len(), 1_048_576);
        assert_eq!(rows.last().unwrap().0, 1_048_576);
        assert_eq!(texts(rows.last().unwrap()), ["", "", "", "far"]);

        let mut wb = Workbook::new();
        let ws = wb.add_worksheet();
        for r in 0..3100 {
            ws.write_string(r, 0, "x").unwrap();
        }
        ws.write_string(0, 16_383, "edge").unwrap();
        let err = open(&save(dir.path(), "wide.xlsx", &mut wb), None).unwrap_err();
        assert!(matches!(err, WorkbookError::TooLarge { .. }), "{err:?}");
        assert!(
            err.to_string().contains("3100 rows x 16384 columns"),
            "{err}"
        );
    }

    /// A compound file (the container of .xls and of encrypted Office
    /// files): version 3, 512-byte sectors, FAT in sector 0, directory in
    /// sector 1, each stream padded to 4096 bytes in sectors after them.
    fn compound_file(streams: &[(&str, &[u8])]) -> Vec<u8> {
        const END: u32 = 0xFFFF_FFFE;
        const FREE: u32 = 0xFFFF_FFFF;
        let mut header = vec![0u8; 512];
        header[..8].copy_from_slice(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1");
        header[24..26].copy_from_slice(&0x3Eu16.to_le_bytes());
        header[26..28].copy_from_slice(&3u16.to_le_bytes());
        header[28..30].copy_from_slice(&0xFFFEu16.to_le_bytes());
        header[30..32].copy_from_slice(&9u16.to_le_bytes());
        header[32..34].copy_from_slice(&6u16.to_le_bytes());
        header[44..48].copy_from_slice(&1u32.to_le_bytes());
        header[48..52].copy_from_slice(&1u32.to_le_bytes());
        header[56..60].copy_from_slice(&4096u32.to_le_bytes());
        header[60..64].copy_from_slice(&END.to_le_bytes());
        header[68..72].copy_from_slice(&END.to_le_bytes());
        header[76..80].copy_from_slice(&0u32.to_le_bytes());
        for i in 1..109 {
            header[76 + i * 4..80 + i * 4].copy_from_slice(&FREE.to_le_bytes());
        }
        let mut fat = vec![FREE; 128];
        fat[0] = 0xFFFF_FFFD;
        fat[1] = END;
        let mut dir = vec![0u8; 512];
        let mut entry = |i: usize, name: &str, kind: u8, start: u32, len: u32| {
            let e = &mut dir[i * 128..(i + 1) * 128];
            let utf16: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
            e[..utf16.len()].copy_from_slice(&utf16);
            e[64..66].copy_from_slice(&(utf16.len() as u16 + 2).to_le_bytes());
            e[66] = kind;
            e[68..80].copy_from_slice(&[0xFF; 12]);
            e[116..120].copy_from_slice(&start.to_le_bytes());
            e[120..124].copy_from_slice(&len.to_le_bytes());
        };
        entry(0, "Root Entry", 5, END, 0);
        let mut data = Vec::new();
        let mut next = 2u32;
        for (i, (name, bytes)) in streams.iter().enumerate() {
            let mut body = bytes.to_vec();
            body.resize(body.len().max(4096).div_ceil(512) * 512, 0);
            let sectors = (body.len() / 512) as u32;
            for s in 0..sectors {
                fat[(next + s) as usize] = if s + 1 == sectors { END } else { next + s + 1 };
            }
            entry(i + 1, name, 2, next, body.len() as u32);
            next += sectors;
            data.extend(body);
        }
        let mut out = header;
        out.extend(fat.iter().flat_map(|v| v.to_le_bytes()));
        out.extend(dir);
        out.extend(data);
        out
    }

    #[test]
    fn encrypted_workbooks_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let encrypted =
            compound_file(&[("EncryptionInfo", b"\x04\x00"), ("EncryptedPackage", b"")]);
        for name in ["secret.xlsx", "secret.xlsm"] {
            let path = dir.path().join(name);
            std::fs::write(&path, &encrypted).unwrap();
            let err = open(&path, None).unwrap_err();
            assert!(
                matches!(err, WorkbookError::Encrypted { .. }),
                "{name}: {err:?}"
            );
            assert!(err.to_string().contains("password-protected"), "{err}");
        }
        // An .xls whose workbook stream starts with a FILEPASS record.
        let filepass = [0x2F, 0x00, 0x06, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x00];
        let path = dir.path().join("secret.xls");
        std::fs::write(&path, compound_file(&[("Workbook", &filepass)])).unwrap();
        let err = open(&path, None).unwrap_err();
        assert!(matches!(err, WorkbookError::Encrypted { .. }), "{err:?}");
    }

    #[test]
    fn corrupt_and_unopenable_files_are_errors_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let mut wb = Workbook::new();
        wb.add_worksheet().write_string(0, 0, "to_number").unwrap();
        let good = std::fs::read(save(dir.path(), "good.xlsx", &mut wb)).unwrap();
        let cases: [(&str, Vec<u8>); 6] = [
            ("empty.xlsx", Vec::new()),
            ("text.xlsx", b"to_number\n+14155550100\n".to_vec()),
            ("cut.xlsx", good[..good.len() / 2].to_vec()),
            ("junk.xls", b"\xD0\xCF\x11\xE0 not really".to_vec()),
            ("junk.ods", b"PK\x03\x04 not really".to_vec()),
            ("empty.ods", Vec::new()),
        ];
        for (name, bytes) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            match open(&path, None) {
                Err(e @ WorkbookError::Corrupt { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains(name) && msg.contains("damaged"), "{msg}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        let missing = open(&dir.path().join("missing.xlsx"), None).unwrap_err();
        assert!(matches!(missing, WorkbookError::Open { .. }), "{missing:?}");
        std::fs::create_dir(dir.path().join("folder.xlsx")).unwrap();
        let folder = open(&dir.path().join("folder.xlsx"), None).unwrap_err();
        assert!(matches!(folder, WorkbookError::Open { .. }), "{folder:?}");
        let other = open(&dir.path().join("list.csv"), None).unwrap_err();
        assert!(
            matches!(other, WorkbookError::UnknownFormat { .. }),
            "{other:?}"
        );
    }

    #[test]
    fn open_picks_the_reader_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        let mut wb = Workbook::new();
        wb.add_worksheet().write_number(0, 0, 7.0).unwrap();
        let book = save(dir.path(), "LIST.XLSX", &mut wb);
        let csv = dir.path().join("list.csv");
        std::fs::write(&csv, "7\n").unwrap();
        assert!(is_workbook(&book) && !is_workbook(&csv));
        assert!(is_workbook(Path::new("a.xlsm")) && is_workbook(Path::new("a.ods")));
        for (path, typed) in [(&book, true), (&csv, false)] {
            let mut src = super::super::open(path, path, None).unwrap();
            let mut rec = Record::default();
            assert!(super::super::RecordSource::read_record(&mut src, &mut rec).unwrap());
            assert_eq!((rec.text(0).as_ref(), rec.is_typed()), ("7", typed));
        }
        let err = super::super::open(&dir.path().join("x.ods"), Path::new("x.ods"), None)
            .err()
            .expect("missing");
        assert!(
            matches!(err, InputErrorKind::WorkbookUnreadable(_)),
            "{err:?}"
        );
    }

    use super::super::InputError as InputErrorKind;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_bytes_as_a_workbook_never_panic(
            magic in prop::sample::select(vec![&b""[..], b"PK\x03\x04", b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"]),
            body in proptest::collection::vec(any::<u8>(), 0..2000),
            format in prop::sample::select(vec![Format::Xlsx, Format::Xls, Format::Ods]),
        ) {
            let mut bytes = magic.to_vec();
            bytes.extend(body);
            // Unguarded: a panic here is a finding about calamine.
            let got = read_sheet(io::Cursor::new(bytes), format, Path::new("r"), None);
            prop_assert!(got.is_err());
        }

        #[test]
        fn damaged_workbooks_never_panic_through_open(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let mut wb = Workbook::new();
            let ws = wb.add_worksheet();
            ws.write_string(0, 0, "to_number").unwrap();
            ws.write_number(1, 0, 14155550100.0).unwrap();
            ws.write_formula(2, 0, Formula::new("=NA()").set_result("#N/A")).unwrap();
            let mut bytes = wb.save_to_buffer().unwrap();
            for (at, b) in flips {
                let i = at.index(bytes.len());
                bytes[i] ^= b;
            }
            bytes.truncate(cut.index(bytes.len()) + 1);
            let path = dir.path().join("d.xlsx");
            std::fs::write(&path, &bytes).unwrap();
            if let Ok(r) = open(&path, None) {
                let _ = rows_of(r);
            }
        }
    }
}
