//! Integration tests: recipients in workbooks. Each workbook is written in a
//! temp folder with rust_xlsxwriter, then `callplan validate` (or `run
//! --sandbox`) reads it; where a rule is the same as for CSV, the findings
//! (code, row, column) are compared with those of the CSV twin, the same
//! cells written as text; where the cell types are what tells (a number cell,
//! a formula, an error value), the workbook's own codes are checked.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use callplan::recipients::{Reader, Record};
use callplan::validate::Kind;
use rust_xlsxwriter::{ExcelDateTime, Format, Formula, Workbook, Worksheet};
use serde_json::Value;

use crate::common::{fixtures, offline, records};

type Found = BTreeSet<(String, Option<u64>, Option<String>)>;

const PLAN: &str = "name: wb\nfrom_number: \"+14155550100\"\nagent_version_id: av_sandbox\n\
                    recipients: r.xlsx\nrequired_variables: [name]\n";
const CRM: &str = "columns:\n  metadata: [crm]\n";

fn callplan(cwd: &Path, args: &[&str]) -> Output {
    offline(cwd)
        .args(args)
        .output()
        .expect("the callplan binary runs")
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `callplan validate ARGS --format json` in `cwd`: exit code and document.
fn validate(cwd: &Path, args: &[&str]) -> (i32, Value) {
    let mut all = vec!["validate"];
    all.extend(args);
    all.extend(["--format", "json"]);
    let out = callplan(cwd, &all);
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(&out)));
    (out.status.code().expect("exited"), doc)
}

fn found(doc: &Value) -> Found {
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().expect("kind").to_string(),
                f["row"].as_u64(),
                f["column"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn expect(list: &[(&str, u64, &str)]) -> Found {
    list.iter()
        .map(|(k, r, c)| (k.to_string(), Some(*r), Some(c.to_string())))
        .collect()
}

/// The finding of `kind` on `row`.
fn finding<'a>(doc: &'a Value, kind: &str, row: u64) -> &'a Value {
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["kind"] == kind && f["row"] == row)
        .unwrap_or_else(|| panic!("no {kind} on row {row}: {doc:#}"))
}

fn summary(doc: &Value) -> [u64; 4] {
    let s = &doc["summary"];
    ["rows_read", "ready", "with_errors", "with_warnings"].map(|k| s[k].as_u64().expect(k))
}

/// A folder with `plan.yaml` (PLAN plus `extra`).
fn folder(extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("plan.yaml"), format!("{PLAN}{extra}")).expect("plan");
    dir
}

/// Writes `rows` (row 1 the header) as text cells; empty cells are left out.
fn text_rows(ws: &mut Worksheet, rows: &[Vec<String>]) {
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            if !cell.is_empty() {
                ws.write_string(r as u32, c as u16, cell).expect("cell");
            }
        }
    }
}

/// The CSV's rows, cut to the header's width (a workbook row has no
/// "more cells than the header"), read with callplan's own CSV reader.
fn csv_rows(csv: &Path) -> Vec<Vec<String>> {
    let mut reader = Reader::open(csv).expect("fixture opens");
    let mut rec = Record::default();
    let mut rows = Vec::new();
    let mut width = usize::MAX;
    while reader.read_record(&mut rec).expect("fixture reads") {
        let cells: Vec<String> = (0..rec.len().min(width))
            .map(|i| rec.text(i).into_owned())
            .collect();
        width = width.min(cells.len());
        rows.push(cells);
    }
    rows
}

#[test]
fn text_cells_get_the_findings_of_their_csv_twin() {
    // The big row fixture: every number rule, duplicates, a missing
    // variable, blank rows, a repeated header. What a workbook cannot hold
    // (a ragged row, bytes that are not UTF-8, broken quotes) is left out.
    let dir = tempfile::tempdir().unwrap();
    let csv = fixtures().join("validate/rows.csv");
    let mut wb = Workbook::new();
    text_rows(wb.add_worksheet(), &csv_rows(&csv));
    let xlsx = dir.path().join("rows.xlsx");
    wb.save(&xlsx).unwrap();

    let plan = fixtures().join("validate/rows.yaml");
    let plan = plan.to_str().unwrap();
    let (csv_code, csv_doc) = validate(dir.path(), &[plan]);
    let (code, doc) = validate(dir.path(), &[plan, "--recipients", xlsx.to_str().unwrap()]);
    assert_eq!((code, csv_code), (1, 1));
    let shape = ["ragged_row", "not_utf8", "bad_quoting"];
    let twin: Found = found(&csv_doc)
        .into_iter()
        .filter(|(k, _, _)| !shape.contains(&k.as_str()))
        .collect();
    assert_eq!(twin.len(), 14, "{twin:?}");
    assert_eq!(found(&doc), twin);
    assert_eq!(doc["recipients"], "rows.xlsx");
}

#[test]
fn number_cells_are_spreadsheet_numbers_where_csv_sees_a_lost_plus() {
    let dir = folder(CRM);
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    text_rows(ws, &[vec!["to_number".into(), "name".into(), "crm".into()]]);
    ws.write_number(1, 0, 14155550101.0).unwrap();
    ws.write_string(1, 1, "Ann").unwrap();
    ws.write_string(2, 0, "+14155550102").unwrap();
    ws.write_string(2, 1, "Bo").unwrap();
    ws.write_number(3, 0, 4915112345678901.0).unwrap();
    ws.write_string(3, 1, "Cy").unwrap();
    // A number in a variable or metadata column is only text there.
    ws.write_string(4, 0, "+14155550104").unwrap();
    ws.write_number(4, 1, 42.0).unwrap();
    ws.write_number(4, 2, 20001.0).unwrap();
    wb.save(dir.path().join("r.xlsx")).unwrap();
    std::fs::write(
        dir.path().join("r.csv"),
        "to_number,name,crm\n14155550101,Ann,\n+14155550102,Bo,\n4915112345678901,Cy,\n\
         +14155550104,42,20001\n",
    )
    .unwrap();

    let (code, doc) = validate(dir.path(), &["plan.yaml"]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        found(&doc),
        expect(&[
            ("spreadsheet_number", 2, "to_number"),
            ("spreadsheet_number", 4, "to_number"),
        ])
    );
    assert_eq!(summary(&doc), [4, 2, 2, 0]);
    let ok = &finding(&doc, "spreadsheet_number", 2);
    let problem = ok["problem"].as_str().unwrap();
    assert!(
        problem.contains("the cell is a number, not text"),
        "{problem}"
    );
    assert!(problem.contains("the digits 14155550101"), "{problem}");
    assert!(problem.contains("+ is gone"), "{problem}");
    assert!(problem.contains("no precision was lost"), "{problem}");
    assert!(ok["fix"].as_str().unwrap().contains("+14155550101"), "{ok}");
    assert_eq!(ok["value"], "14155550101");
    assert_eq!(ok["to_number"], "14155550101");
    let long = finding(&doc, "spreadsheet_number", 4)["problem"]
        .as_str()
        .unwrap();
    assert!(long.contains("16 significant digits"), "{long}");
    assert!(!long.contains("no precision"), "{long}");

    // The CSV twin: the same cells flagged, by the text rules.
    let (code, twin) = validate(dir.path(), &["plan.yaml", "--recipients", "r.csv"]);
    assert_eq!(code, 1);
    assert_eq!(
        found(&twin),
        expect(&[
            ("lost_plus", 2, "to_number"),
            ("national_format", 4, "to_number")
        ])
    );
}

#[test]
fn formulas_in_the_number_column_and_error_values_anywhere_sent() {
    let dir = folder(CRM);
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    text_rows(
        ws,
        &[
            vec!["to_number".into(), "name".into(), "crm".into()],
            vec!["".into(), "Ann".into(), "c1".into()],
            vec!["+14155550102".into(), "".into(), "c2".into()],
            vec!["+14155550103".into(), "Cy".into(), "".into()],
        ],
    );
    let concat = Formula::new("=\"+1415555\"&\"0101\"").set_result("+14155550101");
    ws.write_formula(1, 0, concat).unwrap();
    let lookup = Formula::new("=VLOOKUP(A3,Names!A:B,2,FALSE)").set_result("#N/A");
    ws.write_formula(2, 1, lookup).unwrap();
    ws.write_formula(3, 2, Formula::new("=#REF!").set_result("#REF!"))
        .unwrap();
    // A formula in a variable column is fine: its value is sent.
    ws.write_formula(
        4,
        0,
        Formula::new("=\"+14155550104\"").set_result("+14155550104"),
    )
    .unwrap();
    ws.write_formula(4, 1, Formula::new("=\"D\"&\"i\"").set_result("Di"))
        .unwrap();
    wb.save(dir.path().join("r.xlsx")).unwrap();

    let (code, doc) = validate(dir.path(), &["plan.yaml"]);
    assert_eq!(code, 1, "{doc:#}");
    assert_eq!(
        found(&doc),
        expect(&[
            ("spreadsheet_formula", 2, "to_number"),
            ("spreadsheet_error", 3, "name"),
            ("spreadsheet_error", 4, "crm"),
            ("spreadsheet_formula", 5, "to_number"),
        ]),
        "the #N/A name is no missing_variable: one finding per cause"
    );
    let f = finding(&doc, "spreadsheet_formula", 2);
    // (rust_xlsxwriter saves this cached value untyped, so it reads back
    // as the number 14155550101: the fix still restores the `+`.)
    let problem = f["problem"].as_str().unwrap();
    assert!(problem.contains("(`=\"+1415555\"&\"0101\"`)"), "{problem}");
    assert!(f["fix"].as_str().unwrap().contains("(+14155550101)"), "{f}");
    let na = finding(&doc, "spreadsheet_error", 3);
    assert_eq!(na["value"], "#N/A");
    let problem = na["problem"].as_str().unwrap();
    assert!(
        problem.contains("#N/A") && problem.contains("VLOOKUP"),
        "{problem}"
    );
    assert!(
        finding(&doc, "spreadsheet_error", 4)["problem"]
            .as_str()
            .unwrap()
            .contains("#REF!")
    );

    // The CSV twin of the formula rows, as a sheet exports formulas as text.
    std::fs::write(
        dir.path().join("r.csv"),
        "to_number,name,crm\n\"=\"\"+14155550101\"\"\",Ann,c1\n=\"+14155550104\",Di,\n",
    )
    .unwrap();
    let (_, twin) = validate(dir.path(), &["plan.yaml", "--recipients", "r.csv"]);
    assert_eq!(
        found(&twin),
        expect(&[
            ("spreadsheet_formula", 2, "to_number"),
            ("spreadsheet_formula", 3, "to_number"),
        ])
    );
}

#[test]
fn date_cells_are_iso_variables() {
    let dir = folder("");
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    text_rows(
        ws,
        &[
            vec!["to_number".into(), "name".into(), "visit".into()],
            vec!["+14155550101".into(), "Ann".into()],
            vec!["+14155550102".into(), "Bo".into()],
        ],
    );
    let day = Format::new().set_num_format("dd/mm/yyyy");
    let stamp = Format::new().set_num_format("dd/mm/yyyy hh:mm");
    let d = ExcelDateTime::from_ymd(2026, 12, 7).unwrap();
    ws.write_datetime_with_format(1, 2, d, &day).unwrap();
    let t = ExcelDateTime::from_ymd(2026, 12, 8)
        .unwrap()
        .and_hms(9, 30, 0)
        .unwrap();
    ws.write_datetime_with_format(2, 2, t, &stamp).unwrap();
    wb.save(dir.path().join("r.xlsx")).unwrap();

    let (code, doc) = validate(dir.path(), &["plan.yaml"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(summary(&doc), [2, 2, 0, 0]);
    let plan = callplan::plan::load(&dir.path().join("plan.yaml")).unwrap();
    let mut visits = Vec::new();
    callplan::validate::validate(&plan, &plan.recipients, |row| {
        visits.push(row.variables.get("visit").cloned().unwrap_or_default());
    })
    .unwrap();
    assert_eq!(visits, ["2026-12-07", "2026-12-08T09:30"]);
}

#[test]
fn an_empty_sheet_is_like_an_empty_file() {
    let dir = folder("");
    let mut wb = Workbook::new();
    wb.add_worksheet();
    wb.save(dir.path().join("r.xlsx")).unwrap();
    std::fs::write(dir.path().join("r.csv"), "").unwrap();
    let (code, doc) = validate(dir.path(), &["plan.yaml"]);
    let (csv_code, twin) = validate(dir.path(), &["plan.yaml", "--recipients", "r.csv"]);
    assert_eq!((code, csv_code), (1, 1), "{doc:#}");
    assert_eq!(found(&doc), found(&twin));
    assert!(
        found(&doc).iter().any(|(k, _, _)| k == "no_header"),
        "{doc:#}"
    );
}

/// A workbook whose first sheet is notes and whose second holds the list.
fn two_sheets(dir: &Path) {
    let mut wb = Workbook::new();
    let notes = wb.add_worksheet();
    notes.set_name("Notes").unwrap();
    text_rows(notes, &[vec!["Read me first".into()]]);
    let calls = wb.add_worksheet();
    calls.set_name("June calls").unwrap();
    text_rows(
        calls,
        &[
            vec!["to_number".into(), "name".into()],
            vec!["+14155550101".into(), "Ann".into()],
            vec!["+14155550102".into(), "Bo".into()],
        ],
    );
    wb.save(dir.join("r.xlsx")).unwrap();
}

#[test]
fn recipients_sheet_chooses_a_sheet_by_name() {
    let dir = folder("recipients_sheet: June calls\n");
    two_sheets(dir.path());
    let (code, doc) = validate(dir.path(), &["plan.yaml"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(summary(&doc), [2, 2, 0, 0]);

    // Without the key, the first sheet is read: it has no number column.
    let dir = folder("");
    two_sheets(dir.path());
    let (code, doc) = validate(dir.path(), &["plan.yaml"]);
    assert_eq!(code, 1);
    assert!(
        found(&doc).iter().any(|(k, _, _)| k == "missing_column"),
        "{doc:#}"
    );

    // A sheet that is not there: exit 2, with the sheets there are.
    let dir = folder("recipients_sheet: july calls\n");
    two_sheets(dir.path());
    let out = callplan(dir.path(), &["validate", "plan.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no worksheet named \"july calls\"") && err.contains("June calls"),
        "{err}"
    );
}

#[test]
fn a_corrupt_workbook_exits_2_with_a_reason() {
    let dir = folder("");
    std::fs::write(dir.path().join("r.xlsx"), b"PK\x03\x04 not really a zip").unwrap();
    for args in [
        &["validate", "plan.yaml"][..],
        &["run", "plan.yaml", "--sandbox"],
    ] {
        let out = callplan(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: "), "{err}");
        assert!(err.contains("r.xlsx") && err.contains("damaged"), "{err}");
        assert!(out.stdout.is_empty() || args[0] == "run", "{}", show(&out));
    }
}

#[test]
fn a_workbook_do_not_call_list_suppresses_its_numbers() {
    let dir = folder("suppress: [dnc.xlsx]\n");
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    text_rows(ws, &[vec!["Phone".into()], vec!["+14155550102".into()]]);
    // A number cell on a list is read as the number it stands for.
    ws.write_number(2, 0, 14155550103.0).unwrap();
    wb.save(dir.path().join("dnc.xlsx")).unwrap();
    let mut wb = Workbook::new();
    let rows: Vec<Vec<String>> = std::iter::once(vec!["to_number".into(), "name".into()])
        .chain((1..=4).map(|i| vec![format!("+1415555010{i}"), format!("P{i}")]))
        .collect();
    text_rows(wb.add_worksheet(), &rows);
    wb.save(dir.path().join("r.xlsx")).unwrap();
    let (code, doc) = validate(dir.path(), &["plan.yaml"]);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["summary"]["suppressed"], 2, "{doc:#}");
    assert_eq!(doc["summary"]["ready"], 2, "{doc:#}");
}

#[test]
fn run_sandbox_dials_every_row_of_a_workbook() {
    let dir = folder("recipients_sheet: June calls\ndispatch:\n  rate_per_second: 200\n");
    let mut wb = Workbook::new();
    wb.add_worksheet().set_name("Notes").unwrap();
    let ws = wb.add_worksheet();
    ws.set_name("June calls").unwrap();
    let rows: Vec<Vec<String>> = std::iter::once(vec!["to_number".into(), "name".into()])
        .chain((0..25).map(|i| vec![format!("+1415555{:04}", 200 + i), format!("P{i}")]))
        .collect();
    text_rows(ws, &rows);
    wb.save(dir.path().join("r.xlsx")).unwrap();

    let out = callplan(dir.path(), &["run", "plan.yaml", "--sandbox", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let recs = records(&dir.path().join("wb.results.sandbox.csv"));
    assert_eq!(recs.len(), 25);
    let dialled: BTreeSet<&str> = recs
        .iter()
        .filter(|r| !r["call_id"].is_empty())
        .map(|r| r["to_number"].as_str())
        .collect();
    let wanted: BTreeSet<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(dialled, wanted, "every row dialled once");
    let rows_seen: Vec<&str> = recs.iter().map(|r| r["row"].as_str()).collect();
    let expected: Vec<String> = (2..=26).map(|r| r.to_string()).collect();
    assert_eq!(rows_seen, expected, "the sheet's row numbers, in order");
}

/// Kinds that only a workbook can show, so the CSV fixtures of `validate`
/// cannot: the tests above show each (`spreadsheet_number`,
/// `spreadsheet_error`).
pub const WORKBOOK_ONLY: [Kind; 2] = [Kind::SpreadsheetNumber, Kind::SpreadsheetError];
