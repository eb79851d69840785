//! The header row: which column is the number, the key, metadata, and
//! which are variables; and what is wrong with the header as a whole
//! (no header, wrong delimiter, missing or duplicate columns, headers that
//! match a variable only up to case). Header errors block every row.

use std::collections::{HashMap, HashSet};

use super::{Kind, Sink, finding::Finding};
use crate::phone;
use crate::plan::Plan;

/// Where things are in each row, decided once from the header.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    /// Header cells as written.
    pub header: Vec<String>,
    /// The number column.
    pub number: Option<usize>,
    /// The key column, when the plan sets `columns.key` and it exists.
    pub key: Option<usize>,
    /// The time zone column (`columns.timezone`, default `timezone`), when
    /// present. Never a variable.
    pub timezone: Option<usize>,
    /// The row's own caller ID column (`columns.from_number`), when set
    /// and present. Never a variable.
    pub from_number: Option<usize>,
    /// The row's own agent version column (`columns.agent_version_id`),
    /// when set and present. Never a variable.
    pub agent_version: Option<usize>,
    /// Metadata columns that exist: (name, index).
    pub metadata: Vec<(String, usize)>,
    /// Variable columns: (name, index). First of duplicates only.
    pub variables: Vec<(String, usize)>,
    /// Required variables with a column: (name, index, has a default).
    pub required: Vec<(String, usize, bool)>,
    /// Errors in the header: each blocks every row.
    pub errors: u32,
}

/// Spreadsheet column letters: 0 -> A, 25 -> Z, 26 -> AA.
pub(crate) fn column_letters(mut i: usize) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'A' + (i % 26) as u8);
        if i < 26 {
            break;
        }
        i = i / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn fold(s: &str) -> String {
    s.trim().to_lowercase()
}

/// The header cell that most looks like `want`, for a "did you mean".
fn near(want: &str, header: &[String]) -> Option<String> {
    if let Some(h) = header.iter().find(|h| fold(h) == fold(want)) {
        return Some(h.clone());
    }
    header
        .iter()
        .filter(|h| !h.trim().is_empty())
        .map(|h| (strsim::jaro_winkler(&fold(want), &fold(h)), h))
        .filter(|(s, _)| *s >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, h)| h.clone())
}

/// A header cell that looks like a phone number: the header row is data.
fn looks_like_number(cell: &str) -> bool {
    match phone::Rules::default().check(cell).outcome {
        Ok(_) => true,
        Err(phone::Problem::LostPlus { .. }) => true,
        Err(phone::Problem::NotE164 {
            suggestion: Some(_),
            ..
        }) => true,
        Err(phone::Problem::National) => cell.chars().filter(char::is_ascii_digit).count() >= 7,
        Err(_) => false,
    }
}

impl Layout {
    /// Reads the header (`None`: the file is empty) against the plan.
    pub(crate) fn analyze(plan: &Plan, header: Option<Vec<String>>, sink: &mut Sink) -> Layout {
        let errors_before = sink.errors;
        let file = sink.recipients_file.clone();
        let f = |kind, problem: String, fix: String| Finding::new(kind, &file, problem, fix).row(1);
        let cols = &plan.columns;
        let Some(header) = header else {
            sink.push(f(
                Kind::NoHeader,
                "the file is empty: there is no header row".into(),
                format!(
                    "put a header row first (at least `{}`), then one recipient per row",
                    cols.to_number
                ),
            ));
            return Layout {
                errors: sink.errors.saturating_sub(errors_before) as u32,
                ..Layout::default()
            };
        };
        let mut layout = Layout {
            header: header.clone(),
            ..Layout::default()
        };
        let index: HashMap<&str, usize> = header
            .iter()
            .enumerate()
            .rev()
            .map(|(i, h)| (h.as_str(), i))
            .collect();
        layout.number = index.get(cols.to_number.as_str()).copied();
        let all_blank = header.iter().all(|h| h.trim().is_empty());
        let delimiter = (header.len() == 1)
            .then(|| header.first())
            .flatten()
            .and_then(|h| {
                if h.contains(';') {
                    Some(";")
                } else if h.contains('\t') {
                    Some("a tab")
                } else {
                    None
                }
            });

        let mut usable = true;
        if all_blank {
            usable = false;
            sink.push(f(
                Kind::NoHeader,
                "row 1 is blank: the header must be the first row".into(),
                "delete the blank rows above the header".into(),
            ));
        } else if let Some(d) = delimiter {
            usable = false;
            sink.push(
                f(
                    Kind::WrongDelimiter,
                    format!(
                        "the header is one cell with {d} inside: the file separates cells with \
                         {d}, callplan reads commas"
                    ),
                    "export again as \"CSV UTF-8 (comma delimited)\" (spreadsheets set to a \
                     European locale use ; unless told otherwise)"
                        .into(),
                )
                .column(column_letters(0))
                .value(header.first().map(String::as_str).unwrap_or_default()),
            );
        } else if layout.number.is_none()
            && let Some((i, cell)) = header
                .iter()
                .enumerate()
                .find(|(_, h)| looks_like_number(h))
        {
            usable = false;
            sink.push(
                f(
                    Kind::NoHeader,
                    format!(
                        "row 1 looks like a recipient, not a header: column {} holds a phone \
                         number",
                        column_letters(i)
                    ),
                    format!(
                        "insert a header row above it naming each column (the number column \
                         `{}`)",
                        cols.to_number
                    ),
                )
                .column(column_letters(i))
                .value(cell),
            );
        } else {
            let mut wanted: Vec<(&str, &str)> =
                vec![(cols.to_number.as_str(), "columns.to_number")];
            if let Some(k) = &cols.key {
                wanted.push((k.as_str(), "columns.key"));
            }
            for m in &cols.metadata {
                wanted.push((m.as_str(), "columns.metadata"));
            }
            // The default `timezone` column is optional; one the plan names
            // must be there.
            if let Some(t) = &cols.timezone {
                wanted.push((t.as_str(), "columns.timezone"));
            }
            if let Some(c) = &cols.from_number {
                wanted.push((c.as_str(), "columns.from_number"));
            }
            if let Some(c) = &cols.agent_version_id {
                wanted.push((c.as_str(), "columns.agent_version_id"));
            }
            for (name, key) in wanted {
                if index.contains_key(name) {
                    continue;
                }
                let guess = near(name, &header).or_else(|| {
                    (key == "columns.to_number")
                        .then(|| {
                            header.iter().find(|h| {
                                let h = fold(h);
                                ["phone", "mobile", "cell", "tel", "number", "msisdn"]
                                    .iter()
                                    .any(|w| h.contains(w))
                            })
                        })
                        .flatten()
                        .cloned()
                });
                let fix = match guess {
                    Some(h) => format!(
                        "did you mean `{h}`? Rename the header to `{name}`, or set `{key}: {h}` \
                         in the plan (names match exactly)"
                    ),
                    None => format!("add a `{name}` column, or change `{key}` in the plan"),
                };
                let mut shown: String = header
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
                    .chars()
                    .take(160)
                    .collect();
                if shown.chars().count() == 160 {
                    shown.push('…');
                }
                sink.push(
                    f(
                        Kind::MissingColumn,
                        format!("the header has no `{name}` column ({key}); it has: {shown}"),
                        fix,
                    )
                    .column(name),
                );
            }
        }
        if usable {
            layout.place_columns(plan, &index, sink);
        } else {
            // Without a header, cells cannot be named: only the header
            // finding is reported, and it blocks every row.
            layout.header.clear();
            layout.number = None;
        }
        layout.errors = sink.errors.saturating_sub(errors_before) as u32;
        layout
    }

    /// Duplicate and blank headers, variable columns, case mismatches,
    /// required variables without a column.
    fn place_columns(&mut self, plan: &Plan, index: &HashMap<&str, usize>, sink: &mut Sink) {
        let file = sink.recipients_file.clone();
        let f = |kind, problem: String, fix: String| Finding::new(kind, &file, problem, fix).row(1);
        let cols = &plan.columns;
        self.key = cols.key.as_deref().and_then(|k| index.get(k).copied());
        let timezone = cols.timezone_column();
        self.timezone = index.get(timezone).copied();
        let column = |c: &Option<String>| c.as_deref().and_then(|c| index.get(c).copied());
        self.from_number = column(&cols.from_number);
        self.agent_version = column(&cols.agent_version_id);
        self.metadata = cols
            .metadata
            .iter()
            .filter_map(|m| Some((m.clone(), *index.get(m.as_str())?)))
            .collect();
        let special: HashSet<&str> = std::iter::once(cols.to_number.as_str())
            .chain(std::iter::once(timezone))
            .chain(cols.key.as_deref())
            .chain(cols.from_number.as_deref())
            .chain(cols.agent_version_id.as_deref())
            .chain(cols.metadata.iter().map(String::as_str))
            .collect();
        let names: Vec<&str> = plan
            .required_variables
            .iter()
            .map(String::as_str)
            .chain(plan.variables.keys().map(String::as_str))
            .collect();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut mismatched: HashSet<&str> = HashSet::new();
        for (i, h) in self.header.iter().enumerate() {
            if h.trim().is_empty() {
                sink.push(
                    f(
                        Kind::BlankHeader,
                        format!(
                            "column {} has no header: its cells are ignored",
                            column_letters(i)
                        ),
                        "name the column (it becomes a variable of that name) or delete it".into(),
                    )
                    .column(column_letters(i)),
                );
                continue;
            }
            if let Some(first) = seen.get(h.as_str()) {
                sink.push(
                    f(
                        Kind::DuplicateHeader,
                        format!(
                            "columns {} and {} are both `{h}`: it is unclear which one to use",
                            column_letters(*first),
                            column_letters(i)
                        ),
                        "rename or delete one of them".into(),
                    )
                    .column(h.clone()),
                );
                continue;
            }
            seen.insert(h, i);
            if special.contains(h.as_str()) {
                continue;
            }
            self.variables.push((h.clone(), i));
            if names.contains(&h.as_str()) {
                continue;
            }
            for n in &names {
                if fold(n) == fold(h) && !mismatched.contains(n) {
                    mismatched.insert(n);
                    sink.push(
                        f(
                            Kind::HeaderCaseMismatch,
                            format!(
                                "header `{h}` differs from the plan's variable `{n}` only in case \
                                 or spaces: variable names are case-sensitive, so the agent would \
                                 get `{h}` and speak the raw {{{{{n}}}}} placeholder"
                            ),
                            format!("rename the header to `{n}` exactly"),
                        )
                        .column(h.clone())
                        .value(h),
                    );
                }
            }
        }
        for r in &plan.required_variables {
            if r.trim().is_empty() {
                continue; // a plan finding already
            }
            let has_default = plan.variables.contains_key(r);
            match index.get(r.as_str()) {
                Some(&i) if !special.contains(r.as_str()) => {
                    self.required.push((r.clone(), i, has_default))
                }
                _ if has_default || mismatched.contains(r.as_str()) => {}
                Some(_) if r == timezone => sink.push(
                    f(
                        Kind::MissingVariableColumn,
                        format!(
                            "required variable `{r}` names the time zone column, which callplan \
                             reads to pick calling hours and does not send as a variable"
                        ),
                        format!(
                            "to send the zone to the agent too, copy the column under another \
                             header and require that; or set columns.timezone to another column \
                             so `{r}` is a variable again"
                        ),
                    )
                    .column(r.clone()),
                ),
                _ => sink.push(
                    f(
                        Kind::MissingVariableColumn,
                        format!(
                            "required variable `{r}` has no column and no default: every call \
                             would lack it"
                        ),
                        format!(
                            "add a `{r}` column, or give it a default under `variables:` in the plan"
                        ),
                    )
                    .column(r.clone()),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(27), "AB");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
    }
}
