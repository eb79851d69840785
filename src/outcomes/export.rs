//! `callplan export`'s join: each recipient's own columns, then its call's
//! outcome from the results file, then what the call learned from the
//! post-call store: the file a CRM imports.
//!
//! Rows come out in input order, one per recipient (blank rows are not
//! recipients): the input is streamed twice (once through
//! [`crate::validate`] for each row's key, exactly as `run` computes it,
//! once for the cells as they are), and each outcome is read from the store
//! by its offset ([`StoreIndex`]), so memory holds a key per row and a few
//! bytes per call, not the transcripts. Rows are joined by key, not by row
//! number, so a sheet edited since the run still gets each person's own
//! outcome.
//!
//! In CSV, every cell callplan adds is defused as the results file's
//! messages are ([`crate::text::clean_message`]: one line, a leading `=`,
//! `+`, `-` or `@` quoted with `'` so a spreadsheet shows it instead of
//! running it; a plain number is left alone), except that a transcript
//! keeps its line breaks. The recipient's own cells are written back byte
//! for byte: they are the team's own data (CRM IDs, `+1...` numbers), and
//! changing them would break the import's match. JSON Lines is for
//! programs and keeps every value as it is.

use std::collections::HashSet;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::index::StoreIndex;
use super::store::{Fields, Outcome, StoreError, store_path};
use crate::plan::{self, Plan};
use crate::recipients::{InputError, Reader, Record};
use crate::results::{self, ResultsError};
use crate::wire::Transcript;

/// The call columns, in order, after the recipient's own.
pub const CALL_COLUMNS: [&str; 9] = [
    "call_id",
    "status",
    "round",
    "attempts",
    "end_reason",
    "duration_s",
    "summary",
    "sentiment",
    "recording_url",
];

/// Output format (`--format csv|jsonl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Csv,
    Jsonl,
}

/// What to export.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub format: Format,
    /// Add each call's transcript (`agent: ...` / `user: ...` lines).
    pub transcripts: bool,
}

/// What was exported, for the closing line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Recipient rows written.
    pub rows: u64,
    /// Of those, rows the results file knows.
    pub in_results: u64,
    /// Of those, rows whose call has post-call data in the store.
    pub with_post_call: u64,
}

/// Why an export could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Results(#[from] ResultsError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(
        "results file {path} belongs to campaign `{found}`, not to this plan's `{expected}`: \
         pass the campaign's own file with --results"
    )]
    OtherCampaign {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("cannot write the export: {0}")]
    Write(#[source] io::Error),
}

fn write_err(e: csv::Error) -> ExportError {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => ExportError::Write(e),
        other => ExportError::Write(io::Error::other(format!("{other:?}"))),
    }
}

/// Writes the export of `plan`'s campaign, whose results file is
/// `results`, to `out`. The recipients are the file the last run used (as
/// the results file records it), else the plan's. A results file that
/// does not exist yet exports every recipient with empty call columns.
pub fn export(
    plan: &Plan,
    results: &Path,
    opts: Options,
    out: &mut dyn Write,
) -> Result<Summary, ExportError> {
    let log = results::read(results)?;
    if let Some(log) = &log
        && log.header.identity.campaign != plan.name
    {
        return Err(ExportError::OtherCampaign {
            path: results.to_path_buf(),
            found: log.header.identity.campaign.clone(),
            expected: plan.name.clone(),
        });
    }
    let recipients = log
        .as_ref()
        .and_then(|l| l.header.recipients.as_deref())
        .map(|p| plan::absolute(Path::new(p)))
        .unwrap_or_else(|| plan.recipients.clone());
    let table = log.map(|l| l.table).unwrap_or_default();

    // Each row's key, as `run` computes it.
    let mut keys: Vec<(u64, String)> = Vec::new();
    crate::validate::validate(plan, &recipients, |row| keys.push((row.row, row.key)))?;

    let wanted: HashSet<compact_str::CompactString> = table
        .iter()
        .map(|r| r.call_id)
        .filter(|id| !id.is_empty())
        .collect();
    let mut index = StoreIndex::build(&store_path(results), |id| wanted.contains(id))?;

    let shown = PathBuf::from(plan::display_path(&recipients));
    let mut reader = Reader::open_as(&recipients, &shown)?;
    let mut rec = Record::default();
    if !reader.read_record(&mut rec)? {
        return Ok(Summary::default());
    }
    let header: Vec<String> = (0..rec.len()).map(|i| rec.text(i).into_owned()).collect();
    let mut sink = Sink::new(out, opts, &header, index.fields())?;
    let mut summary = Summary::default();
    let mut keys = keys.into_iter().peekable();
    while reader.read_record(&mut rec)? {
        if rec.is_blank() {
            continue;
        }
        while keys.next_if(|(row, _)| *row < rec.row()).is_some() {}
        let key = keys.next_if(|(row, _)| *row == rec.row()).map(|(_, k)| k);
        let result = key.as_deref().and_then(|k| table.get(k));
        let outcome = match &result {
            Some(r) if !r.call_id.is_empty() => index.get(&r.call_id)?,
            _ => None,
        };
        summary.rows += 1;
        summary.in_results += u64::from(result.is_some());
        summary.with_post_call += u64::from(outcome.is_some());
        sink.row(&rec, &header, result.as_ref(), outcome.as_ref())?;
    }
    sink.finish()?;
    Ok(summary)
}

/// The output columns: the input's header, then the call columns, the
/// analysis fields (`analysis.<field>`) and the transcript, each of these
/// prefixed `callplan.` (again, until it is unique) when an input column
/// has its name.
pub fn columns(header: &[String], fields: &[String], transcripts: bool) -> Vec<String> {
    let taken: HashSet<&str> = header.iter().map(String::as_str).collect();
    let ours = CALL_COLUMNS
        .iter()
        .map(|c| c.to_string())
        .chain(fields.iter().map(|f| format!("analysis.{f}")))
        .chain(transcripts.then(|| "transcript".to_string()));
    let mut out: Vec<String> = header.to_vec();
    for mut name in ours {
        while taken.contains(name.as_str()) {
            name = format!("callplan.{name}");
        }
        out.push(name);
    }
    out
}

/// A cell callplan adds, made safe for a spreadsheet: control characters
/// (line breaks too) as spaces, trimmed, and a leading `=`, `+`, `-` or
/// `@` quoted with `'`, unless the cell is a plain number.
pub fn defuse(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    guard(one_line.trim())
}

/// [`defuse`] for a text of several lines: line breaks kept (`\n`), other
/// control characters as spaces.
pub fn defuse_lines(text: &str) -> String {
    let kept: String = text
        .replace("\r\n", "\n")
        .chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .collect();
    guard(kept.trim())
}

fn guard(t: &str) -> String {
    let number = t
        .bytes()
        .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
        && t.parse::<f64>().is_ok();
    if t.starts_with(['=', '+', '-', '@']) && !number {
        format!("'{t}")
    } else {
        t.to_string()
    }
}

/// A transcript as text: one `role: content` line per turn (content on
/// one line), or the text as the API gave it.
pub fn transcript_text(t: &Transcript) -> String {
    match t {
        Transcript::Text(s) => s.clone(),
        Transcript::Turns(turns) => turns
            .iter()
            .map(|turn| {
                let content: String = turn
                    .content
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                let content = content.trim();
                if turn.role.trim().is_empty() {
                    content.to_string()
                } else {
                    format!("{}: {content}", turn.role.trim())
                }
            })
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

/// The call's values for [`CALL_COLUMNS`], as text: the results file's
/// where it has them, the store's otherwise.
fn call_cells(r: &results::Record, o: Option<&Outcome>) -> [String; 9] {
    let or_store = |own: &str, store: Option<&String>| {
        if own.is_empty() {
            store.cloned().unwrap_or_default()
        } else {
            own.to_string()
        }
    };
    let duration = o.and_then(|o| o.duration_s).map(|d| d.to_string());
    let text =
        |f: fn(&Outcome) -> &Option<String>| o.and_then(|o| f(o).clone()).unwrap_or_default();
    [
        r.call_id.to_string(),
        r.status.as_str().to_string(),
        r.round.to_string(),
        r.attempts.to_string(),
        or_store(&r.end_reason, o.and_then(|o| o.end_reason.as_ref())),
        or_store(&r.duration_s, duration.as_ref()),
        text(|o| &o.summary),
        text(|o| &o.sentiment),
        text(|o| &o.recording_url),
    ]
}

/// Where rows go: a CSV writer or JSON lines.
enum Sink<'a> {
    Csv {
        csv: Box<csv::Writer<&'a mut dyn Write>>,
        fields: Vec<String>,
        transcripts: bool,
        cells: Vec<Vec<u8>>,
    },
    Jsonl {
        out: io::BufWriter<&'a mut dyn Write>,
        transcripts: bool,
    },
}

/// One JSON line.
#[derive(Serialize)]
struct JsonRow<'a> {
    input: Fields,
    call: Option<JsonCall<'a>>,
    analysis: Fields,
    /// Present with `--transcripts` (null when the call has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    transcript: Option<Option<&'a Transcript>>,
}

#[derive(Serialize)]
struct JsonCall<'a> {
    key: &'a str,
    call_id: Option<&'a str>,
    status: &'a str,
    round: u32,
    attempts: u32,
    end_reason: Option<&'a str>,
    duration_s: Option<f64>,
    summary: Option<&'a str>,
    sentiment: Option<&'a str>,
    recording_url: Option<&'a str>,
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

impl<'a> Sink<'a> {
    fn new(
        out: &'a mut dyn Write,
        opts: Options,
        header: &[String],
        fields: &[String],
    ) -> Result<Sink<'a>, ExportError> {
        Ok(match opts.format {
            Format::Csv => {
                let mut csv = csv::WriterBuilder::new().flexible(true).from_writer(out);
                csv.write_record(columns(header, fields, opts.transcripts))
                    .map_err(write_err)?;
                Sink::Csv {
                    csv: Box::new(csv),
                    fields: fields.to_vec(),
                    transcripts: opts.transcripts,
                    cells: Vec::new(),
                }
            }
            Format::Jsonl => Sink::Jsonl {
                out: io::BufWriter::with_capacity(1 << 16, out),
                transcripts: opts.transcripts,
            },
        })
    }

    fn row(
        &mut self,
        rec: &Record,
        header: &[String],
        result: Option<&results::Record>,
        outcome: Option<&Outcome>,
    ) -> Result<(), ExportError> {
        match self {
            Sink::Csv {
                csv,
                fields,
                transcripts,
                cells,
            } => {
                cells.clear();
                // Exactly the header's width: a short row padded, cells
                // past the header (a validation finding) left out.
                for i in 0..header.len() {
                    cells.push(rec.get(i).unwrap_or_default().to_vec());
                }
                if let Some(r) = result {
                    cells.extend(call_cells(r, outcome).map(|c| defuse(&c).into_bytes()));
                } else {
                    cells.extend(CALL_COLUMNS.iter().map(|_| Vec::new()));
                }
                for f in fields.iter() {
                    let v = outcome.and_then(|o| o.field(f)).unwrap_or_default();
                    cells.push(defuse(v).into_bytes());
                }
                if *transcripts {
                    let t = outcome.and_then(|o| o.transcript.as_ref());
                    cells.push(
                        t.map(|t| defuse_lines(&transcript_text(t)))
                            .unwrap_or_default()
                            .into_bytes(),
                    );
                }
                csv.write_record(cells.iter()).map_err(write_err)
            }
            Sink::Jsonl { out, transcripts } => {
                let input = Fields(
                    header
                        .iter()
                        .enumerate()
                        .map(|(i, h)| (h.clone(), rec.text(i).into_owned()))
                        .collect(),
                );
                let duration = result
                    .and_then(|r| r.duration_s.parse::<f64>().ok())
                    .or(outcome.and_then(|o| o.duration_s));
                let call = result.map(|r| JsonCall {
                    key: &r.key,
                    call_id: non_empty(&r.call_id),
                    status: r.status.as_str(),
                    round: r.round,
                    attempts: r.attempts,
                    end_reason: non_empty(&r.end_reason)
                        .or(outcome.and_then(|o| o.end_reason.as_deref())),
                    duration_s: duration.filter(|d| d.is_finite()),
                    summary: outcome.and_then(|o| o.summary.as_deref()),
                    sentiment: outcome.and_then(|o| o.sentiment.as_deref()),
                    recording_url: outcome.and_then(|o| o.recording_url.as_deref()),
                });
                let line = JsonRow {
                    input,
                    call,
                    analysis: outcome.map(|o| o.analysis.clone()).unwrap_or_default(),
                    transcript: transcripts.then(|| outcome.and_then(|o| o.transcript.as_ref())),
                };
                serde_json::to_writer(&mut *out, &line)
                    .map_err(|e| ExportError::Write(e.into()))?;
                out.write_all(b"\n").map_err(ExportError::Write)
            }
        }
    }

    fn finish(self) -> Result<(), ExportError> {
        match self {
            Sink::Csv { mut csv, .. } => csv.flush().map_err(ExportError::Write),
            Sink::Jsonl { mut out, .. } => out.flush().map_err(ExportError::Write),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Turn;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn columns_follow_the_input_and_clashes_get_the_prefix() {
        let header = strings(&["id", "status", "callplan.status", "analysis.x"]);
        let cols = columns(&header, &strings(&["x", "y"]), true);
        assert_eq!(
            cols,
            [
                "id",
                "status",
                "callplan.status",
                "analysis.x",
                "call_id",
                "callplan.callplan.status",
                "round",
                "attempts",
                "end_reason",
                "duration_s",
                "summary",
                "sentiment",
                "recording_url",
                "callplan.analysis.x",
                "analysis.y",
                "transcript",
            ]
        );
        assert_eq!(columns(&[], &[], false).len(), CALL_COLUMNS.len());
    }

    #[test]
    fn cells_a_spreadsheet_would_run_are_defused_and_numbers_are_not() {
        assert_eq!(defuse("=1+1"), "'=1+1");
        assert_eq!(defuse("  +cmd"), "'+cmd");
        assert_eq!(defuse("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(defuse("-x\nline"), "'-x line");
        assert_eq!(defuse("\t=tab"), "'=tab");
        assert_eq!(defuse("-3.5"), "-3.5");
        assert_eq!(defuse("+14155550100"), "+14155550100");
        assert_eq!(defuse("-inf"), "'-inf");
        assert_eq!(defuse("Olá, José"), "Olá, José");
        assert_eq!(defuse_lines("=a\r\nb\tc"), "'=a\nb c");
    }

    #[test]
    fn transcripts_read_as_role_lines() {
        let t = Transcript::Turns(vec![
            Turn {
                role: "agent".into(),
                content: "Hi,\nAna".into(),
            },
            Turn {
                role: String::new(),
                content: "hm".into(),
            },
            Turn {
                role: "user".into(),
                content: "Sí".into(),
            },
        ]);
        assert_eq!(transcript_text(&t), "agent: Hi, Ana\nhm\nuser: Sí");
        assert_eq!(transcript_text(&Transcript::Text("a\nb".into())), "a\nb");
    }
}
