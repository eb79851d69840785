//! Writes the workbook benchmark's input: a recipients CSV (as
//! `benches/validate_gen.py` writes it) turned into an `.xlsx`, one sheet,
//! with cells typed as a spreadsheet holds them: numbers written as digits
//! only (a lost `+`) become number cells, `YYYY-MM-DD` dates become date
//! cells, everything else is text. Used by `benches/validate_workbook.sh`.
//!
//! Usage: `cargo run --release --example workbook_gen -- IN.csv OUT.xlsx`

use std::process::ExitCode;

use rust_xlsxwriter::{ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [csv, xlsx] = args.as_slice() else {
        eprintln!("usage: workbook_gen IN.csv OUT.xlsx");
        return ExitCode::from(2);
    };
    match convert(csv, xlsx) {
        Ok(rows) => {
            eprintln!("wrote {rows} rows to {xlsx}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn convert(csv: &str, xlsx: &str) -> Result<u32, Box<dyn std::error::Error>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(csv)?;
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let date = Format::new().set_num_format("yyyy-mm-dd");
    let mut rows = 0u32;
    for (r, record) in reader.records().enumerate() {
        let record = record?;
        let r = u32::try_from(r)?;
        for (c, cell) in record.iter().enumerate() {
            write_cell(ws, r, u16::try_from(c)?, cell, &date)?;
        }
        rows = r;
    }
    wb.save(xlsx)?;
    Ok(rows)
}

fn write_cell(
    ws: &mut Worksheet,
    r: u32,
    c: u16,
    cell: &str,
    date: &Format,
) -> Result<(), XlsxError> {
    if cell.is_empty() {
        return Ok(());
    }
    if r > 0
        && cell.len() <= 15
        && cell.bytes().all(|b| b.is_ascii_digit())
        && let Ok(n) = cell.parse::<f64>()
    {
        ws.write_number(r, c, n)?;
        return Ok(());
    }
    if let Some(d) = iso_date(cell) {
        ws.write_datetime_with_format(r, c, d, date)?;
        return Ok(());
    }
    ws.write_string(r, c, cell)?;
    Ok(())
}

fn iso_date(cell: &str) -> Option<ExcelDateTime> {
    let b = cell.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = cell.get(0..4)?.parse().ok()?;
    let m = cell.get(5..7)?.parse().ok()?;
    let d = cell.get(8..10)?.parse().ok()?;
    ExcelDateTime::from_ymd(y, m, d).ok()
}
