//! Words for what [`crate::phone`] found in a number cell: what happened
//! (often what a spreadsheet did) and how to fix it.

use super::Kind;
use crate::phone::Problem;

const AS_TEXT: &str = "format the column as Text (Excel: Format Cells > Text; Google Sheets: \
                       Format > Number > Plain text), type the numbers as +<country \
                       code><number>, and export again as CSV UTF-8";

/// `(kind, problem, fix)` for a number the rules refused. `region` is the
/// plan's default_region, if any.
pub(crate) fn explain(p: &Problem, shown: &str, region: Option<&str>) -> (Kind, String, String) {
    match p {
        Problem::Missing => (
            Kind::NumberMissing,
            "the number is empty".into(),
            "fill in the number, or delete the row".into(),
        ),
        Problem::Scientific {
            expanded,
            digits_lost,
        } => {
            let what = match (expanded, digits_lost) {
                (Some(d), true) => format!(
                    "`{shown}` is scientific notation: a spreadsheet stored the number as a \
                     numeric value; it reads as {d}, but its last digits were rounded to zeros \
                     and are lost"
                ),
                (Some(d), false) => format!(
                    "`{shown}` is scientific notation: a spreadsheet stored the number as a \
                     numeric value ({d}), and the leading + is gone too"
                ),
                (None, _) => format!(
                    "`{shown}` is scientific notation: a spreadsheet stored the number as a \
                     numeric value"
                ),
            };
            (
                Kind::SpreadsheetScientific,
                what,
                format!("re-enter the number from the source; {AS_TEXT}"),
            )
        }
        Problem::Formula { inner } => (
            Kind::SpreadsheetFormula,
            "the cell holds a spreadsheet formula, exported as text, not the number it shows"
                .into(),
            match inner {
                Some(n) => format!(
                    "write the value itself ({n}): copy the column and paste values only, then {AS_TEXT}"
                ),
                None => format!("copy the column and paste values only, then {AS_TEXT}"),
            },
        ),
        Problem::TextPrefix { inner } => (
            Kind::SpreadsheetTextPrefix,
            "the number starts with ', a spreadsheet's \"treat as text\" marker that was exported \
             as part of the value"
                .into(),
            match inner {
                Some(n) => format!("remove the apostrophe ({n}); to keep the +, {AS_TEXT}"),
                None => format!("remove the apostrophe; to keep the +, {AS_TEXT}"),
            },
        ),
        Problem::LostPlus { e164, region: r } => (
            Kind::LostPlus,
            format!(
                "the number has no leading +: a spreadsheet probably read it as a number and \
                 dropped the + (as {e164} it is a valid {r} number)"
            ),
            format!("write it as {e164}; to stop it happening again, {AS_TEXT}"),
        ),
        Problem::National => (
            Kind::NationalFormat,
            "the number is written nationally, without + and a country code, so the country \
             is unknown"
                .into(),
            "write it in E.164 (+<country code><number>, e.g. +14155550100), or set \
             `default_region: US` (the numbers' country) in the plan to read national numbers \
             as that country's"
                .into(),
        ),
        Problem::NotE164 { reason, suggestion } => (
            Kind::NotE164,
            format!(
                "the number is not E.164 (+ then at most 15 digits, nothing else): it {reason}"
            ),
            match suggestion {
                Some(s) => format!("write it as {s}"),
                None => "write it as + followed by the country code and the number, digits only \
                         (e.g. +14155550100)"
                    .into(),
            },
        ),
        Problem::Invalid { reason } => (
            Kind::InvalidNumber,
            format!("not a valid phone number by libphonenumber's data: {reason}"),
            match region {
                Some(r) => format!(
                    "check the digits against the source; numbers without + are read as {r} \
                     numbers (default_region)"
                ),
                None => "check the digits and the country code against the source".into(),
            },
        ),
    }
}
