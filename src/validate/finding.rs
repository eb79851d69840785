//! Findings: one problem found in the plan or the recipients, with where it
//! is, what is wrong and how to fix it. Each has a stable snake_case
//! [`Kind`] code that scripts may match on and the README lists.

use serde::{Deserialize, Serialize};

/// Values are cut by the crate's text helpers, which `plan` shares.
pub use crate::text::{VALUE_CHARS, truncate};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Blocks the row (or, in the plan or header, every row): exit code 1.
    Error,
    /// Worth a look; the row is still dialled.
    Warning,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

macro_rules! kinds {
    ($( $(#[$doc:meta])* $variant:ident => $code:literal, $sev:ident, $title:literal; )*) => {
        /// A finding's stable code. The README's "Validation rules" lists each.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Kind {
            $( $(#[$doc])* $variant, )*
        }

        impl Kind {
            /// Every kind, in the order reports list them.
            pub const ALL: &'static [Kind] = &[ $( Kind::$variant, )* ];

            /// The snake_case code (`not_e164`).
            pub fn as_str(self) -> &'static str {
                match self { $( Kind::$variant => $code, )* }
            }

            /// Every finding of a kind has the same severity.
            pub fn severity(self) -> Severity {
                match self { $( Kind::$variant => Severity::$sev, )* }
            }

            /// A few words for the heading of a group of findings.
            pub fn title(self) -> &'static str {
                match self { $( Kind::$variant => $title, )* }
            }
        }
    };
}

kinds! {
    // The plan.
    /// `from_number` is not a valid E.164 number.
    FromNumberInvalid => "from_number_invalid", Error, "from_number is not a valid E.164 number";
    /// `agent_version_id` is empty.
    AgentVersionMissing => "agent_version_missing", Error, "agent_version_id is empty";
    /// `agent_version_id` does not look like a DialNexa agent version id.
    AgentVersionPrefix => "agent_version_prefix", Warning, "agent_version_id does not start with av_";
    /// A count, rate or timeout is zero, negative or not a number.
    NotPositive => "not_positive", Error, "a number setting is not a positive number";
    /// A count, rate or timeout is positive but outside its bounds
    /// (`crate::bounds`): a run would wait without end or overflow a timer.
    OutOfBounds => "out_of_bounds", Error, "a number setting is outside its bounds";
    /// A variable name in the plan is empty or has surrounding spaces.
    BadVariableName => "bad_variable_name", Error, "a variable name is empty or padded with spaces";
    /// A default variable has the name of a metadata column.
    DefaultIsMetadata => "default_is_metadata", Error, "a default variable is also a metadata column";
    /// A `local_caller_ids` number or a row's own caller ID is not E.164.
    CallerIdInvalid => "caller_id_invalid", Error, "a caller ID is not a valid E.164 number";
    /// A `local_caller_ids` prefix or country can never match a recipient.
    CallerIdRuleInvalid => "caller_id_rule_invalid", Error, "a local caller ID's prefix or country is not usable";
    /// `default_region` is not a region with telephone numbering.
    BadDefaultRegion => "bad_default_region", Error, "default_region is not a known region";
    /// `api.base_url` is not an http(s) URL.
    BadBaseUrl => "bad_base_url", Error, "api.base_url is not an http:// or https:// URL";
    // Do-not-call lists.
    /// A line of a `suppress` file holds no readable number and was skipped.
    SuppressFileRow => "suppress_file_row", Warning, "a do-not-call list line was skipped";
    // The header row.
    /// The first row looks like data, not a header.
    NoHeader => "no_header", Error, "the file has no header row";
    /// The file uses `;` or tabs between cells.
    WrongDelimiter => "wrong_delimiter", Error, "cells are not separated by commas";
    /// A column the plan names is not in the header.
    MissingColumn => "missing_column", Error, "a column the plan names is missing";
    /// Two columns have the same header.
    DuplicateHeader => "duplicate_header", Error, "two columns have the same header";
    /// A column has no header; its cells are ignored.
    BlankHeader => "blank_header", Warning, "a column has no header and is ignored";
    /// A header matches a variable name only up to case or spaces.
    HeaderCaseMismatch => "header_case_mismatch", Error, "a header differs from a variable name only in case or spaces";
    /// A required variable has no column and no default.
    MissingVariableColumn => "missing_variable_column", Error, "a required variable has no column and no default";
    /// A header but no rows.
    NoRows => "no_rows", Warning, "the file has no recipient rows";
    // Rows.
    /// The header row appears again further down.
    RepeatedHeader => "repeated_header", Error, "the header row is repeated";
    /// A row has more or fewer cells than the header.
    RaggedRow => "ragged_row", Error, "a row has a different number of cells than the header";
    /// A row has bytes that are not UTF-8.
    NotUtf8 => "not_utf8", Error, "a row is not UTF-8 text";
    /// A quote that never closes, or text after a closing quote.
    BadQuoting => "bad_quoting", Error, "quotes in a row do not pair up";
    /// A blank row between recipients (skipped).
    BlankRow => "blank_row", Warning, "blank rows are skipped";
    /// The number cell is empty.
    NumberMissing => "number_missing", Error, "the number is missing";
    /// Spaces around the number were removed.
    NumberWhitespace => "number_whitespace", Warning, "spaces around a number were removed";
    /// The number was exported in scientific notation.
    SpreadsheetScientific => "spreadsheet_scientific", Error, "a spreadsheet turned the number into scientific notation";
    /// The number cell holds a formula.
    SpreadsheetFormula => "spreadsheet_formula", Error, "the number cell holds a spreadsheet formula";
    /// A workbook's number cell is a spreadsheet number, not text.
    SpreadsheetNumber => "spreadsheet_number", Error, "the number cell is a spreadsheet number, not text";
    /// A workbook cell that is sent holds an error value (`#N/A`, `#REF!`).
    SpreadsheetError => "spreadsheet_error", Error, "a cell holds a spreadsheet error such as #N/A";
    /// The number starts with a spreadsheet's `'` text marker.
    SpreadsheetTextPrefix => "spreadsheet_text_prefix", Error, "the number starts with a spreadsheet's ' text marker";
    /// The `+` was lost.
    LostPlus => "lost_plus", Error, "the number lost its leading +";
    /// Written nationally, and the plan sets no `default_region`.
    NationalFormat => "national_format", Error, "the number is written nationally, without its country code";
    /// Written nationally and read in the plan's `default_region`.
    NationalNormalized => "national_normalized", Warning, "a nationally written number was read with default_region";
    /// Not E.164 syntax.
    NotE164 => "not_e164", Error, "the number is not in E.164 form (+ and digits only)";
    /// Not a valid number by libphonenumber.
    InvalidNumber => "invalid_number", Error, "the number is not valid for its country";
    /// The recipient is the caller number.
    SameAsFromNumber => "same_as_from_number", Error, "the number is the plan's from_number";
    /// The recipient is one of the plan's local caller IDs, or the row's own.
    SameAsCallerId => "same_as_caller_id", Error, "the number is one of the caller IDs it would be called from";
    /// A row's own caller ID is not the plan's `from_number` nor one of `local_caller_ids`.
    CallerIdNotInPlan => "caller_id_not_in_plan", Error, "a row's caller ID is not one of the plan's numbers";
    /// `require_local_caller_id` is set and no local caller ID matches the row.
    NoLocalCallerId => "no_local_caller_id", Error, "no local caller ID matches the recipient";
    /// The same number twice.
    DuplicateNumber => "duplicate_number", Error, "the same number appears twice";
    /// The same key twice.
    DuplicateKey => "duplicate_key", Error, "the same key appears twice";
    /// The same number under two different keys (both dialled).
    SharedNumber => "shared_number", Warning, "two keys share one number";
    /// The key cell is empty.
    MissingKey => "missing_key", Error, "the key is missing";
    /// A required variable is empty and has no default.
    MissingVariable => "missing_variable", Error, "a required variable is empty and has no default";
    /// The time zone cell is not an IANA time zone name.
    BadTimezone => "bad_timezone", Error, "the time zone is not an IANA time zone name";
    /// The plan has a schedule and nothing gives this row a time zone.
    NoTimezone => "no_timezone", Error, "a row of a scheduled plan has no time zone";
}

/// One problem, located.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub severity: Severity,
    pub kind: Kind,
    /// The plan or the recipients file, as the user named it.
    pub file: String,
    /// Spreadsheet row (header = 1); none for the plan.
    pub row: Option<u64>,
    /// CSV header, or the plan key (`dispatch.concurrency`).
    pub column: Option<String>,
    /// The offending value, at most [`VALUE_CHARS`] characters.
    pub value: Option<String>,
    /// The row's number cell as written (trimmed), to find the row by.
    pub to_number: Option<String>,
    /// What is wrong.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

impl Finding {
    /// A finding of `kind` (its severity comes with it).
    pub fn new(kind: Kind, file: &str, problem: impl Into<String>, fix: impl Into<String>) -> Self {
        Finding {
            severity: kind.severity(),
            kind,
            file: file.to_string(),
            row: None,
            column: None,
            value: None,
            to_number: None,
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    /// Sets the row.
    pub fn row(mut self, row: u64) -> Self {
        self.row = Some(row);
        self
    }

    /// Sets the column (or plan key).
    pub fn column(mut self, column: impl Into<String>) -> Self {
        self.column = Some(column.into());
        self
    }

    /// Sets the offending value, truncated.
    pub fn value(mut self, value: &str) -> Self {
        self.value = Some(truncate(value));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_match_serde() {
        let mut seen = std::collections::HashSet::new();
        for k in Kind::ALL {
            let code = k.as_str();
            assert!(seen.insert(code), "{code} twice");
            assert!(
                code.bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
            );
            assert_eq!(serde_json::to_value(k).unwrap(), serde_json::json!(code));
        }
    }

    #[test]
    fn truncation_counts_characters_and_escapes_breaks() {
        assert_eq!(truncate("abc"), "abc");
        let long = "é".repeat(50);
        let t = truncate(&long);
        assert_eq!(t.chars().count(), VALUE_CHARS + 1);
        assert!(t.ends_with('…'));
        assert_eq!(truncate("a\nb"), "a\\nb");
    }
}
