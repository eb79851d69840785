//! One recipient record as the readers hand it out ([`Record`]: its cells
//! as bytes, its row, how its quoting went, a workbook cell's type) and,
//! for a CSV record, where its bytes lie in the file ([`Span`]).

use super::cells::CellType;

/// Something the reader tolerated in a record's quoting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteProblem {
    /// A quoted cell reached the end of the file without its closing quote.
    Unterminated,
    /// Text followed a closing quote inside the same cell (`"abc"def`).
    TextAfterQuote,
}

/// Where a CSV record's bytes are in its file, and what they were: the
/// record's text and the first byte of its line ending (none at the end of
/// the file), with a hash of those bytes. What `run` keeps of a row instead
/// of its cells: it reads the record back by offset just before dialling
/// it, and the hash says whether those bytes are still the ones validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Byte offset of the record's first byte in the file.
    pub offset: u64,
    /// The record's bytes, its line ending's first byte included.
    pub len: u32,
    /// True when the record ends the file with no line ending: nothing may
    /// follow it when it is read back.
    pub at_eof: bool,
    /// [`span_hash`] of those `len` bytes.
    pub hash: u64,
}

/// The hash a [`Span`] keeps of its bytes: SipHash-1-3 with fixed keys
/// (std's `DefaultHasher::new`), the same in every call of one process,
/// which is all a check within one run needs.
pub fn span_hash(bytes: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = std::hash::DefaultHasher::new();
    h.write(bytes);
    h.finish()
}

/// One record: its cells as bytes (not yet checked for UTF-8) and its row.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Record {
    pub(super) data: Vec<u8>,
    pub(super) ends: Vec<usize>,
    pub(super) row: u64,
    /// Where a CSV record's bytes are; None for a workbook row.
    pub(super) span: Option<Span>,
    pub(super) quote_problem: Option<(QuoteProblem, usize)>,
    /// Each cell's type, for a workbook row; empty for CSV (untyped text).
    pub(super) types: Vec<CellType>,
    /// The formula text of a workbook row's formula cells, by cell index.
    pub(super) formulas: Vec<(usize, String)>,
}

impl Record {
    /// The spreadsheet row number (the header is row 1).
    pub fn row(&self) -> u64 {
        self.row
    }

    /// Number of cells.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when the record has no cells (never the case for a record the
    /// reader returned: an empty line is one empty cell).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Cell `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { *self.ends.get(i - 1)? };
        self.data.get(start..end)
    }

    /// Cell `i` as text: borrowed when it is UTF-8 (the usual case, checked
    /// quickly), else with U+FFFD for the bad bytes; empty when missing.
    pub fn text(&self, i: usize) -> std::borrow::Cow<'_, str> {
        let bytes = self.get(i).unwrap_or_default();
        match std::str::from_utf8(bytes) {
            Ok(s) => std::borrow::Cow::Borrowed(s),
            Err(_) => String::from_utf8_lossy(bytes),
        }
    }

    /// The first cell that is not UTF-8, if any. One pass over the record,
    /// then a look at each cell boundary (a boundary inside a multi-byte
    /// character means the cells on either side are broken).
    pub fn first_non_utf8(&self) -> Option<usize> {
        let whole_ok = std::str::from_utf8(&self.data).is_ok();
        if whole_ok
            && self
                .ends
                .iter()
                .all(|&e| self.data.get(e).is_none_or(|b| (*b as i8) >= -0x40))
        {
            return None;
        }
        (0..self.len()).find(|&i| std::str::from_utf8(self.get(i).unwrap_or_default()).is_err())
    }

    /// All cells, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// All of the record's bytes, cells concatenated (for one UTF-8 check).
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// Every cell empty or white space: a blank line or `,,,`.
    pub fn is_blank(&self) -> bool {
        for &b in &self.data {
            if b.is_ascii_whitespace() {
                continue;
            }
            if b.is_ascii() {
                return false;
            }
            // Non-ASCII: could be Unicode white space (a no-break space).
            return std::str::from_utf8(&self.data).is_ok_and(|s| s.trim().is_empty());
        }
        true
    }

    /// A quoting problem the reader tolerated, with the index of its cell.
    pub fn quote_problem(&self) -> Option<(QuoteProblem, usize)> {
        self.quote_problem
    }

    /// The type of cell `i` when the record comes from a workbook; `None`
    /// for CSV, whose cells are all untyped text (and for a missing cell).
    pub fn cell_type(&self, i: usize) -> Option<CellType> {
        self.types.get(i).copied()
    }

    /// True when the record comes from a workbook (its cells are typed).
    pub fn is_typed(&self) -> bool {
        !self.types.is_empty()
    }

    /// Where a CSV record's bytes are in its file (None for a workbook row).
    pub fn span(&self) -> Option<Span> {
        self.span
    }

    /// A copy of the record's cells and row alone (no types, formulas or
    /// place in a file), its buffers no larger than they need be: how a
    /// workbook row is kept in memory for `run`.
    pub fn cells_only(&self) -> Record {
        Record {
            data: self.data.clone(),
            ends: self.ends.clone(),
            row: self.row,
            ..Record::default()
        }
    }

    /// The formula of cell `i` (`=A2&B2`), when a formula computed it.
    pub fn formula(&self, i: usize) -> Option<&str> {
        self.formulas
            .iter()
            .find(|(at, _)| *at == i)
            .map(|(_, f)| f.as_str())
    }

    pub(super) fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
        self.span = None;
        self.quote_problem = None;
        self.types.clear();
        self.formulas.clear();
    }

    /// Appends a typed cell (the workbook reader builds records this way).
    pub(super) fn push_cell(&mut self, text: &str, ty: CellType, formula: Option<&str>) {
        self.data.extend_from_slice(text.as_bytes());
        self.end_field();
        self.types.push(ty);
        if let Some(f) = formula {
            self.formulas.push((self.ends.len() - 1, f.to_string()));
        }
    }

    pub(super) fn end_field(&mut self) {
        self.ends.push(self.data.len());
    }
}
