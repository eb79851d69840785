//! Turning serde-saphyr's errors into messages about the plan's keys: which
//! key, what type it wants, "did you mean" for a typo, and the line with a
//! caret under the spot.

use std::fmt;

use serde_saphyr::Error;

/// What is wrong with the plan's YAML, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlProblem {
    /// 1-based line (0 when unknown).
    pub line: u32,
    /// 1-based column (0 when unknown).
    pub column: u32,
    /// What is wrong and, when we know, what to write instead.
    pub message: String,
    /// The offending line with a caret, or empty.
    pub snippet: String,
}

impl fmt::Display for YamlProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if !self.snippet.is_empty() {
            write!(f, "\n{}", self.snippet)?;
        }
        Ok(())
    }
}

/// What each key holds, for "`dispatch.concurrency` must be ...".
fn expected_type(path: &str) -> Option<&'static str> {
    Some(match path {
        "name"
        | "from_number"
        | "agent_version_id"
        | "recipients"
        | "results"
        | "default_region"
        | "api.base_url"
        | "api.api_key_env"
        | "columns.to_number"
        | "columns.key"
        | "columns.timezone"
        | "columns.from_number"
        | "columns.agent_version_id" => "text",
        "local_caller_ids" => {
            "a list of entries, e.g. - number: \"+442079460000\" with countries: [GB]"
        }
        "require_local_caller_id" => "true or false",
        "dispatch.concurrency" | "dispatch.max_attempts" | "dispatch.max_active_calls" => {
            "a whole number of at least 1"
        }
        "schedule.timezone" => "an IANA time zone name, e.g. America/New_York",
        "schedule.hours" => "text such as \"09:00-20:00\"",
        "schedule.days" => "a list of week days, e.g. [mon, tue, wed, thu, fri]",
        "schedule.start_at" | "schedule.end_at" => {
            "a date and time, e.g. 2026-06-01T09:00 or 2026-06-01T09:00-04:00"
        }
        "redial.on" => "a list of endings, e.g. [no_answer, busy]",
        "redial.max" => "a whole number from 0 to 10",
        "redial.after" => "a duration such as 90m, 2h or 1day",
        "suppress" => "a list of file paths, e.g. [dnc.csv]",
        "dispatch.rate_per_second" | "api.connect_timeout_s" | "api.request_timeout_s" => {
            "a positive number"
        }
        "api.list_lag_s" => "a number of seconds from 0 to 600",
        "required_variables" | "columns.metadata" => "a list of names, e.g. [a, b]",
        "variables" | "metadata" => "a mapping of names to text values",
        "api" | "columns" | "dispatch" | "schedule" | "redial" => "a mapping of keys",
        p if p.starts_with("variables.") || p.starts_with("metadata.") => "a text value",
        _ => return None,
    })
}

/// What to write for a missing required key.
fn missing_hint(field: &str) -> &'static str {
    match field {
        "name" => "e.g. name: june-reminders",
        "from_number" => "the workspace's caller number, e.g. from_number: \"+14155550100\"",
        "agent_version_id" => "a published agent version, e.g. agent_version_id: av_01hx9k2m",
        "recipients" => {
            "the recipients CSV, relative to the plan, e.g. recipients: ../examples/list.csv"
        }
        "max" => "redial.max, the extra rounds after the first dial (0 to 10), e.g. max: 2",
        "after" => "redial.after, the wait after a round ends, e.g. after: 2h",
        _ => "see the README's plan reference",
    }
}

impl YamlProblem {
    /// Explains `err`, raised while parsing `text`.
    pub fn new(err: &Error, text: &str) -> YamlProblem {
        let (line, column) = err
            .location()
            .map(|l| (l.line() as u32, l.column() as u32))
            .unwrap_or((0, 0));
        let path = key_path_at(text, line);
        let inner = err.without_snippet();
        if let Error::Message { msg, .. } = inner
            && let Some(key) = own_section_key(msg)
        {
            // A `schedule:` or `redial:` section refused by its own checks
            // (serde's try_from): the message is complete and names the
            // key; point at that key rather than the section's first line.
            let (line, column) = locate_key(text, key).unwrap_or((line, column));
            return YamlProblem {
                line,
                column,
                message: library_message(inner),
                snippet: snippet(text, line, column),
            };
        }
        let message = match inner {
            Error::SerdeUnknownField {
                field, expected, ..
            } => unknown_key(field, expected, parent(path.as_deref(), field)),
            Error::SerdeMissingField { field, .. } => {
                format!("missing required key `{field}`: {}", missing_hint(field))
            }
            Error::DuplicateMappingKey { key, .. } => match key.as_deref().or(path.as_deref()) {
                Some(k) => format!("key `{k}` appears twice: keep one"),
                None => "a key appears twice: keep one".to_string(),
            },
            Error::Eof { .. } if text.trim().is_empty() || only_comments(text) => {
                "the plan is empty: see the README's plan reference for the keys".to_string()
            }
            Error::SerdeInvalidType { .. }
            | Error::SerdeInvalidValue { .. }
            | Error::InvalidScalar { .. }
            | Error::NullIntoString { .. }
            | Error::InvalidBooleanStrict { .. }
            | Error::NonFiniteFloat { .. }
            | Error::Message { .. }
            | Error::Unexpected { .. }
            | Error::TaggedScalarCannotDeserializeIntoString { .. } => {
                match path.as_deref().and_then(|p| Some((p, expected_type(p)?))) {
                    Some((p, want)) => {
                        let found = value_on_line(text, line);
                        if found.is_empty() {
                            format!("`{p}` has no value: it must be {want}")
                        } else {
                            format!("`{p}` must be {want}, not `{found}`")
                        }
                    }
                    None => library_message(inner),
                }
            }
            _ => library_message(inner),
        };
        YamlProblem {
            line,
            column,
            message,
            snippet: snippet(text, line, column),
        }
    }
}

/// The `schedule.hours`-style key a message of the schedule or redial
/// checks starts with, if it is one of theirs.
fn own_section_key(msg: &str) -> Option<&str> {
    if !(msg.starts_with("schedule.") || msg.starts_with("redial.")) {
        return None;
    }
    let end = msg
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(msg.len());
    msg.get(..end)
}

/// Line and column (1-based) of the value of the block-style key at dotted
/// `path`, or of the key when its value is on the next lines. One forward
/// pass, so hostile plans cost linear time.
pub(crate) fn locate_key(text: &str, path: &str) -> Option<(u32, u32)> {
    let mut stack: Vec<(usize, &str)> = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let Some((indent, key)) = key_of(l) else {
            continue;
        };
        while stack.last().is_some_and(|(d, _)| *d >= indent) {
            stack.pop();
        }
        stack.push((indent, key));
        let matches = path.split('.').eq(stack.iter().map(|(_, k)| *k));
        if !matches {
            continue;
        }
        let line = u32::try_from(i + 1).ok()?;
        let content = l.get(indent..).unwrap_or_default();
        let value_at = content
            .find(": ")
            .map(|c| {
                let rest = content.get(c + 2..).unwrap_or_default();
                indent + c + 2 + (rest.len() - rest.trim_start().len())
            })
            .filter(|&at| at < l.len())
            .unwrap_or(indent);
        let column = l.get(..value_at).map_or(0, |s| s.chars().count());
        return Some((line, u32::try_from(column + 1).ok()?));
    }
    None
}

/// serde-saphyr's own words, without its trailing "at line X, column Y".
fn library_message(err: &Error) -> String {
    let s = err.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn only_comments(text: &str) -> bool {
    text.lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---")
}

/// The section a key sits in: `dispatch` for `dispatch.concurrncy`.
fn parent<'a>(path: Option<&'a str>, field: &str) -> Option<&'a str> {
    let p = path?;
    let parent = p.strip_suffix(field)?.strip_suffix('.')?;
    (!parent.is_empty()).then_some(parent)
}

fn unknown_key(field: &str, expected: &[&str], section: Option<&str>) -> String {
    let place = match section {
        Some(s) => format!(" in `{s}`"),
        None => String::new(),
    };
    let best = expected
        .iter()
        .map(|e| (strsim::jaro_winkler(field, e), *e))
        .chain(
            expected
                .iter()
                .filter(|e| e.eq_ignore_ascii_case(field.trim()))
                .map(|e| (2.0, *e)),
        )
        // Short keys (`on`) are too short for Jaro-Winkler: one edit away
        // is near enough.
        .chain(
            expected
                .iter()
                .filter(|e| field.len() >= 2 && strsim::damerau_levenshtein(field, e) == 1)
                .map(|e| (0.9, *e)),
        )
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .filter(|(score, _)| *score >= 0.8);
    let known = expected.join(", ");
    match best {
        Some((_, e)) => {
            format!("unknown key `{field}`{place}: did you mean `{e}`? (known keys: {known})")
        }
        None => format!(
            "unknown key `{field}`{place}: a typo must not silently change a campaign (known keys: {known})"
        ),
    }
}

/// The dotted key path of the key on `line` (1-based), found by walking up
/// to less-indented mapping keys. Block-style YAML only; None otherwise.
pub(crate) fn key_path_at(text: &str, line: u32) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let idx = usize::try_from(line).ok()?.checked_sub(1)?;
    let here = lines.get(idx)?;
    let (mut indent, key) = key_of(here)?;
    let mut path = vec![key];
    for l in lines.get(..idx)?.iter().rev() {
        if indent == 0 {
            break;
        }
        let Some((i, k)) = key_of(l) else { continue };
        if i < indent {
            path.push(k);
            indent = i;
        }
    }
    path.reverse();
    Some(path.join("."))
}

/// `(indent, key)` of a `key: value` or `key:` line.
fn key_of(line: &str) -> Option<(usize, &str)> {
    let content = line.trim_start_matches(' ');
    let indent = line.len() - content.len();
    if content.starts_with('#') || content.starts_with('-') {
        return None;
    }
    let colon = content.find(": ").or_else(|| {
        let t = content.trim_end();
        t.ends_with(':').then(|| t.len() - 1)
    })?;
    let key = content.get(..colon)?.trim().trim_matches(['"', '\'']);
    (!key.is_empty()).then_some((indent, key))
}

/// The text after `key:` on `line`, without a trailing comment, truncated.
fn value_on_line(text: &str, line: u32) -> String {
    let Some(l) = usize::try_from(line)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|i| text.lines().nth(i))
    else {
        return String::new();
    };
    let content = l.trim_start();
    let value = match content.find(": ") {
        Some(i) => content.get(i + 2..).unwrap_or_default(),
        None => content.strip_suffix(':').map(|_| "").unwrap_or(content),
    };
    let value = match value.find(" #") {
        Some(i) => value.get(..i).unwrap_or(value),
        None => value,
    };
    crate::text::truncate(value.trim())
}

/// The line with a caret under `column`.
fn snippet(text: &str, line: u32, column: u32) -> String {
    let Some(l) = usize::try_from(line)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|i| text.lines().nth(i))
    else {
        return String::new();
    };
    let shown: String = l.chars().take(120).collect();
    let pad = " ".repeat(column.saturating_sub(1).min(120) as usize);
    format!("  {line:>3} | {shown}\n      | {pad}^")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_follow_indentation() {
        let text = "name: x\ndispatch:\n  # pacing\n  concurrency: 3\napi:\n  base_url: u\n";
        assert_eq!(key_path_at(text, 1).as_deref(), Some("name"));
        assert_eq!(
            key_path_at(text, 4).as_deref(),
            Some("dispatch.concurrency")
        );
        assert_eq!(key_path_at(text, 6).as_deref(), Some("api.base_url"));
        assert_eq!(key_path_at(text, 3), None);
        assert_eq!(key_path_at(text, 0), None);
        assert_eq!(key_path_at(text, 99), None);
    }

    #[test]
    fn keys_are_located_by_path() {
        let text =
            "name: x\nschedule:\n  # when\n  hours: 9-5\n  days:\n    - mon\nredial:\n  hours: 1\n";
        assert_eq!(locate_key(text, "schedule.hours"), Some((4, 10)));
        assert_eq!(locate_key(text, "schedule.days"), Some((5, 3)));
        assert_eq!(locate_key(text, "redial.hours"), Some((8, 10)));
        assert_eq!(locate_key(text, "name"), Some((1, 7)));
        assert_eq!(locate_key(text, "hours"), None);
        assert_eq!(locate_key(text, "schedule.end_at"), None);
        assert_eq!(locate_key("", "a"), None);
    }

    proptest::proptest! {
        #[test]
        fn locating_any_key_in_any_text_never_panics(
            text in "[ a-z:#\\-\n\"'é]{0,200}",
            path in "[a-z.]{0,12}",
        ) {
            if let Some((line, column)) = locate_key(&text, &path) {
                proptest::prop_assert!(line >= 1 && column >= 1);
                proptest::prop_assert!(line as usize <= text.lines().count());
            }
        }
    }

    #[test]
    fn values_lose_comments() {
        assert_eq!(value_on_line("a: b # c\n", 1), "b");
        assert_eq!(value_on_line("a:\n", 1), "");
    }
}
