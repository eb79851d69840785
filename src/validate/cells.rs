//! The rules only a workbook's cell types make possible: a number stored as
//! a spreadsheet number (`spreadsheet_number`), a formula in the number
//! column (`spreadsheet_formula`, the CSV rule's code) and an error value
//! such as `#N/A` in a column that is sent (`spreadsheet_error`).
//!
//! A CSV cell is text and cannot say what the spreadsheet made of it, so the
//! CSV rules guess from the text (`1.4E+10`, a lost `+`); a workbook says.
//! These checks run before a row's other checks, and where one explains the
//! number cell it replaces the phone check of that cell (one finding per
//! cause): a number cell `14155550100` is `spreadsheet_number`, not also
//! `lost_plus`. Kept apart from `rows` so the CSV path pays one branch
//! ([`Record::is_typed`]) and nothing else.

use super::layout::Layout;
use super::pipeline::Prepared;
use super::rows::column_name;
use super::{Finding, Kind, Sink, truncate};
use crate::phone::{Checked, Problem};
use crate::recipients::{CellKind, Record};

/// Significant digits a spreadsheet keeps of a number (Excel rounds what is
/// typed beyond them to zeros; a double holds no more reliably).
pub(crate) const SPREADSHEET_DIGITS: usize = 15;

const AS_TEXT: &str = "format the number column as Text (Excel: Format Cells > Text; \
                       LibreOffice: Format Cells > Text) before typing or pasting, so the \
                       cells keep the + and every digit";

/// Pushes the findings of `rec`'s typed cells (a workbook row) to `sink`,
/// and clears `prepared.number` when one of them is about the number cell,
/// so the row's phone check does not report the same cell a second time.
pub(crate) fn check_typed_cells(
    rec: &Record,
    layout: &Layout,
    prepared: &mut Prepared,
    sink: &mut Sink,
) {
    let shown = layout
        .number
        .map(|i| rec.text(i).trim().to_string())
        .unwrap_or_default();
    let located = |f: Finding, i: usize, sink: &mut Sink| {
        let mut f = f.row(rec.row()).column(column_name(&layout.header, i));
        f.file.clone_from(&sink.recipients_file);
        if !shown.is_empty() {
            f.to_number = Some(shown.clone());
        }
        sink.push(f);
    };
    if let Some(i) = layout.number {
        let checked = prepared.number.as_ref();
        if let Some(f) = number_cell(rec, i, checked) {
            located(f, i, sink);
            prepared.number = None;
        }
    }
    let sent = layout
        .key
        .into_iter()
        .chain(layout.variables.iter().map(|(_, i)| *i))
        .chain(layout.metadata.iter().map(|(_, i)| *i));
    for i in sent.filter(|&i| Some(i) != layout.number) {
        if let Some(f) = error_cell(rec, i) {
            located(f, i, sink);
        }
    }
}

/// The number cell's own finding, when its type explains what is wrong: a
/// formula, an error value, or a number. `checked` is the phone check of its
/// text, for the fix's E.164 form. `None` for a text cell (the phone rules
/// judge it as in CSV).
fn number_cell(rec: &Record, i: usize, checked: Option<&Checked>) -> Option<Finding> {
    let ty = rec.cell_type(i)?;
    let text = rec.text(i);
    let text = text.trim();
    let e164 = checked.and_then(dialable);
    if ty.formula {
        let formula = rec.formula(i).unwrap_or_default();
        let value = match ty.kind {
            CellKind::Empty => "no saved value".to_string(),
            _ => format!("the value `{}`", truncate(text)),
        };
        let fix = match &e164 {
            Some(n) => format!(
                "replace the formula by its value, typed as text ({n}): copy the column and \
                 paste values only (Paste Special > Values); then {AS_TEXT}"
            ),
            None => format!(
                "replace the formula by the number itself: copy the column and paste values \
                 only (Paste Special > Values), then check it; {AS_TEXT}"
            ),
        };
        let problem = format!(
            "the number cell holds a formula (`{}`) with {value}: the number is computed, not \
             written, and changes or breaks when the cells it reads do",
            truncate(formula)
        );
        let f = Finding::new(Kind::SpreadsheetFormula, "", problem, fix);
        return Some(f.value(formula));
    }
    match ty.kind {
        CellKind::Error => error_cell(rec, i),
        CellKind::Number => Some(spreadsheet_number(text, e164.as_deref())),
        _ => None,
    }
}

/// `spreadsheet_number` for a number cell holding `digits` (as the reader
/// writes a number: digits, no exponent); `e164` is what it stands for,
/// when the phone rules can tell.
fn spreadsheet_number(digits: &str, e164: Option<&str>) -> Finding {
    let significant = significant_digits(digits);
    let precision = if significant > SPREADSHEET_DIGITS {
        format!(
            "it has {significant} significant digits, more than the {SPREADSHEET_DIGITS} a \
             spreadsheet number keeps, so precision was lost: the digits after the \
             {SPREADSHEET_DIGITS}th are not the ones typed"
        )
    } else {
        format!(
            "no precision was lost ({significant} significant digits, a spreadsheet number \
             keeps {SPREADSHEET_DIGITS})"
        )
    };
    let problem = format!(
        "the cell is a number, not text: it holds the digits {}, and the leading + is gone (a \
         number cannot hold one); {precision}",
        truncate(digits)
    );
    let fix = match e164 {
        Some(n) if significant <= SPREADSHEET_DIGITS => {
            format!("{AS_TEXT}, and write the number as {n}")
        }
        _ => format!("re-enter the number from the source as +<country code><number>; {AS_TEXT}"),
    };
    Finding::new(Kind::SpreadsheetNumber, "", problem, fix).value(digits)
}

/// `spreadsheet_error` when cell `i` holds an error value (`#N/A`).
fn error_cell(rec: &Record, i: usize) -> Option<Finding> {
    let ty = rec.cell_type(i)?;
    if ty.kind != CellKind::Error {
        return None;
    }
    let text = rec.text(i);
    let error = truncate(text.trim());
    let by = match rec.formula(i) {
        Some(f) => format!("the formula `{}` gives", truncate(f)),
        None => "the cell holds".to_string(),
    };
    let problem = format!(
        "{by} the spreadsheet error {error} ({}), not a value: the call would carry the text \
         {error}",
        error_meaning(&error)
    );
    let fix = "correct the formula or type the value in the sheet, then save it again; or \
               delete the row";
    Some(Finding::new(Kind::SpreadsheetError, "", problem, fix).value(&error))
}

/// What an error value means, in a few words.
fn error_meaning(error: &str) -> &'static str {
    match error {
        "#N/A" => "a lookup found nothing",
        "#REF!" => "it refers to cells that were deleted",
        "#VALUE!" => "a value of the wrong type",
        "#NAME?" => "an unknown function or name",
        "#DIV/0!" => "a division by zero",
        "#NUM!" => "a number out of range",
        "#NULL!" => "ranges that do not meet",
        _ => "a formula that failed",
    }
}

/// The E.164 number a checked cell stands for, when there is one beyond
/// doubt: valid as it is, or valid once its `+` is restored.
fn dialable(checked: &Checked) -> Option<String> {
    match &checked.outcome {
        Ok(n) => Some(n.e164.clone()),
        Err(Problem::LostPlus { e164, .. }) => Some(e164.clone()),
        Err(_) => None,
    }
}

/// Significant digits of a number written as digits (`-`, `.` allowed):
/// leading zeros do not count, nor trailing zeros after a decimal point.
pub(crate) fn significant_digits(number: &str) -> usize {
    let (int, frac) = number
        .trim_start_matches('-')
        .split_once('.')
        .unwrap_or((number.trim_start_matches('-'), ""));
    let frac = frac.trim_end_matches('0');
    let digits: String = int.chars().chain(frac.chars()).collect();
    let digits = digits.trim_start_matches('0');
    digits.chars().filter(char::is_ascii_digit).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn significant_digits_ignore_signs_leading_and_trailing_fraction_zeros() {
        assert_eq!(significant_digits("14155550100"), 11);
        assert_eq!(significant_digits("-0.0012300"), 3);
        assert_eq!(significant_digits("4915112345678901"), 16);
        assert_eq!(significant_digits("0"), 0);
        assert_eq!(significant_digits("12.5"), 3);
    }

    #[test]
    fn a_number_cell_says_its_digits_the_lost_plus_and_the_precision() {
        let f = spreadsheet_number("14155550100", Some("+14155550100"));
        assert_eq!(f.kind, Kind::SpreadsheetNumber);
        assert!(
            f.problem.contains("the digits 14155550100"),
            "{}",
            f.problem
        );
        assert!(f.problem.contains("+ is gone"), "{}", f.problem);
        assert!(f.problem.contains("no precision was lost"), "{}", f.problem);
        assert!(
            f.fix.ends_with("write the number as +14155550100"),
            "{}",
            f.fix
        );

        let f = spreadsheet_number("4915112345678901", None);
        assert!(f.problem.contains("16 significant digits"), "{}", f.problem);
        assert!(f.problem.contains("precision was lost"), "{}", f.problem);
        assert!(!f.problem.contains("no precision"), "{}", f.problem);
        assert!(f.fix.starts_with("re-enter the number"), "{}", f.fix);
    }

    #[test]
    fn error_values_are_explained() {
        assert_eq!(error_meaning("#N/A"), "a lookup found nothing");
        assert_eq!(
            error_meaning("#REF!"),
            "it refers to cells that were deleted"
        );
        assert_eq!(error_meaning("#SPILL!"), "a formula that failed");
    }
}
