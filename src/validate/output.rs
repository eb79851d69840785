//! What `validate` prints: findings (grouped by kind when there are many),
//! the summary line, the JSON document, and the `--errors-out` CSV. All of
//! it is written through [`crate::redact`], so no finding can echo the key.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use super::{Finding, Kind, Report, Severity};
use crate::redact::Masked;
use crate::text::thousands;

/// Output format of reports (`--format text|json`). It lives with the
/// output code, not in `cli`, so that `validate` does not depend on the
/// command line; `cli` re-exports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// Up to this many findings are listed one by one; beyond, by kind.
pub const LIST_ALL_UP_TO: usize = 30;
/// Findings shown in full under each kind when grouping.
const EXAMPLES_PER_KIND: usize = 3;
/// Further rows listed by number under each kind when grouping.
const ROWS_LISTED_PER_KIND: usize = 20;

/// Writes the report as `validate` prints it: findings then the summary
/// line (text), or one JSON document. `run` reuses it when validation fails.
/// Everything goes through [`crate::redact`]: a finding may quote a value
/// that holds the key.
pub fn write_report(report: &Report, format: Format, out: &mut dyn Write) -> io::Result<()> {
    let mut out = crate::redact::Masked::new(out);
    match format {
        Format::Text => write_text(report, &mut out)?,
        Format::Json => write_json(report, &mut out)?,
    }
    out.flush()
}

/// `file, row 7, column to_number: "value"`.
fn location(f: &Finding, with_file: bool) -> String {
    let mut parts = Vec::new();
    if with_file {
        parts.push(f.file.clone());
    }
    if let Some(r) = f.row {
        parts.push(format!("row {r}"));
    }
    if let Some(c) = &f.column {
        parts.push(if f.row.is_some() {
            format!("column {c}")
        } else {
            c.clone()
        });
    }
    let mut s = parts.join(", ");
    if let Some(v) = &f.value {
        s.push_str(&format!(": \"{v}\""));
    }
    s
}

fn write_one(f: &Finding, indent: &str, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{indent}  {}", f.problem)?;
    writeln!(out, "{indent}  fix: {}", f.fix)
}

fn write_text(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let total = report.errors + report.warnings;
    if total as usize <= LIST_ALL_UP_TO && report.findings_omitted == 0 {
        for f in &report.findings {
            writeln!(
                out,
                "{}[{}]: {}",
                f.severity.as_str(),
                f.kind.as_str(),
                location(f, true)
            )?;
            write_one(f, "", out)?;
        }
    } else {
        write_grouped(report, out)?;
    }
    if total > 0 {
        writeln!(out)?;
    }
    writeln!(out, "{}", summary_line(report))
}

fn write_grouped(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut kinds: Vec<Kind> = report.counts.keys().copied().collect();
    kinds.sort_by_key(|k| (k.severity() != Severity::Error, *k));
    for kind in kinds {
        let count = report.counts.get(&kind).copied().unwrap_or(0);
        let of_kind: Vec<&Finding> = report.findings.iter().filter(|f| f.kind == kind).collect();
        let file = of_kind.first().map(|f| f.file.as_str()).unwrap_or_default();
        writeln!(
            out,
            "{}[{}] x{}: {} ({file})",
            kind.severity().as_str(),
            kind.as_str(),
            thousands(count),
            kind.title()
        )?;
        for f in of_kind.iter().take(EXAMPLES_PER_KIND) {
            writeln!(out, "  {}", location(f, false))?;
            write_one(f, "  ", out)?;
        }
        let rest: Vec<String> = of_kind
            .iter()
            .skip(EXAMPLES_PER_KIND)
            .take(ROWS_LISTED_PER_KIND)
            .filter_map(|f| f.row.map(|r| r.to_string()))
            .collect();
        if !rest.is_empty() {
            writeln!(out, "  also rows {}", rest.join(", "))?;
        }
        let shown = of_kind.len().min(EXAMPLES_PER_KIND + ROWS_LISTED_PER_KIND) as u64;
        if count > shown {
            writeln!(
                out,
                "  and {} more (--errors-out FILE lists every finding)",
                thousands(count - shown)
            )?;
        }
    }
    Ok(())
}

/// `50 rows read: 44 ready (3 with warnings), 6 with errors; 9 errors, 4
/// warnings in all`; with do-not-call lists, `..., 2 suppressed (do-not-call),
/// 4 with errors; ...`.
pub fn summary_line(r: &Report) -> String {
    let plural = |n: u64, one: &str, many: &str| {
        format!("{} {}", thousands(n), if n == 1 { one } else { many })
    };
    let suppressed = match r.suppress_numbers {
        Some(_) => format!(", {} suppressed (do-not-call)", thousands(r.suppressed)),
        None => String::new(),
    };
    format!(
        "{} read: {} ready ({} with warnings){suppressed}, {} with errors; {}, {} in all",
        plural(r.rows_read, "row", "rows"),
        thousands(r.ready),
        thousands(r.with_warnings),
        thousands(r.with_errors),
        plural(r.errors, "error", "errors"),
        plural(r.warnings, "warning", "warnings"),
    )
}

#[derive(Serialize)]
struct JsonSummary {
    rows_read: u64,
    ready: u64,
    suppressed: u64,
    suppress_numbers: Option<u64>,
    with_errors: u64,
    with_warnings: u64,
    errors: u64,
    warnings: u64,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    ok: bool,
    plan: &'a str,
    recipients: &'a str,
    summary: JsonSummary,
    counts: &'a std::collections::BTreeMap<Kind, u64>,
    findings: &'a [Finding],
    findings_omitted: u64,
}

fn write_json(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let doc = JsonReport {
        ok: !r.has_errors(),
        plan: &r.plan_file,
        recipients: &r.recipients_file,
        summary: JsonSummary {
            rows_read: r.rows_read,
            ready: r.ready,
            suppressed: r.suppressed,
            suppress_numbers: r.suppress_numbers,
            with_errors: r.with_errors,
            with_warnings: r.with_warnings,
            errors: r.errors,
            warnings: r.warnings,
        },
        counts: &r.counts,
        findings: &r.findings,
        findings_omitted: r.findings_omitted,
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// The `--errors-out` CSV: `row,to_number,column,problem`, one line per
/// finding (warnings too, their problem starting with `warning:`), written
/// as findings arrive so that none is lost to the report's sampling.
pub struct ErrorsOut {
    w: csv::Writer<Masked<BufWriter<File>>>,
    error: Option<io::Error>,
}

/// Cells a spreadsheet would run as a formula get a leading `'`.
fn defuse(s: &str) -> String {
    if s.starts_with(['=', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

impl ErrorsOut {
    /// Creates (truncates) the file and writes the header.
    pub fn create(path: &Path) -> io::Result<Self> {
        let file = File::create(path)?;
        let mut w = csv::Writer::from_writer(Masked::new(BufWriter::new(file)));
        w.write_record(["row", "to_number", "column", "problem"])?;
        Ok(ErrorsOut { w, error: None })
    }

    /// Appends one finding; the first I/O error is kept for [`finish`](Self::finish).
    pub fn write(&mut self, f: &Finding) {
        if self.error.is_some() {
            return;
        }
        let row = f.row.map(|r| r.to_string()).unwrap_or_default();
        let prefix = match f.severity {
            Severity::Error => "",
            Severity::Warning => "warning: ",
        };
        let problem = format!("{prefix}{}; fix: {}", f.problem, f.fix);
        let record = [
            row,
            defuse(f.to_number.as_deref().unwrap_or_default()),
            defuse(f.column.as_deref().unwrap_or_default()),
            defuse(&problem),
        ];
        if let Err(e) = self.w.write_record(&record) {
            self.error = Some(e.into());
        }
    }

    /// Flushes; reports the first error met while writing.
    pub fn finish(mut self) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn formulas_are_defused() {
        assert_eq!(defuse("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(defuse("+14155552671"), "+14155552671");
    }
}
