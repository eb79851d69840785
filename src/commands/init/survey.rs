//! What `init` reads from a recipients file: the header, a sample of the
//! first [`SAMPLE_ROWS`] rows and how often each column is empty
//! ([`Survey`]); which column holds the numbers ([`number_column`]); and
//! the region of nationally written numbers ([`guess_region`]), asked of
//! [`crate::phone`], the rules `validate` applies. Pure functions on the
//! survey, so they are tested without files.

use std::borrow::Cow;
use std::path::Path;

use anyhow::bail;

use crate::phone::{Problem, Rules};
use crate::plan::display_path;
use crate::recipients::{self, Record, RecordSource};

/// Rows sampled to find the number column and the region.
pub const SAMPLE_ROWS: usize = 100;

/// Headers recognised as the number column, in order of preference
/// (compared in lower case, with spaces and `-` read as `_`).
pub const NUMBER_HEADERS: &[&str] = &["to_number", "phone", "phone_number", "mobile"];

/// Regions tried for nationally written numbers, after those of the
/// file's own international numbers; the first wins a tie.
const REGIONS: &[&str] = &[
    "US", "GB", "CA", "AU", "IN", "DE", "FR", "ES", "IT", "NL", "BE", "CH", "AT", "IE", "SE", "NO",
    "DK", "FI", "PL", "PT", "BR", "MX", "AR", "CO", "CL", "ZA", "NG", "KE", "AE", "SA", "SG", "MY",
    "PH", "ID", "JP", "KR", "NZ", "IL", "TR",
];

/// What `init` learned from the recipients file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Survey {
    /// The header row.
    pub header: Vec<String>,
    /// The first [`SAMPLE_ROWS`] recipient rows (blank rows and repeated
    /// headers skipped), their cells as text.
    pub sample: Vec<Vec<String>>,
    /// Per column, the recipient rows in which it is empty.
    pub empty: Vec<u64>,
    /// Recipient rows read.
    pub rows: u64,
}

impl Survey {
    /// A survey of a file with this header and no rows yet.
    pub fn new(header: Vec<String>) -> Survey {
        Survey {
            empty: vec![0; header.len()],
            header,
            ..Survey::default()
        }
    }

    /// Counts one row. Blank rows and copies of the header are skipped, as
    /// `validate` skips them.
    pub fn add<S: AsRef<str>>(&mut self, cells: &[S]) {
        if cells.iter().all(|c| c.as_ref().trim().is_empty())
            || (cells.len() == self.header.len()
                && cells.iter().zip(&self.header).all(|(c, h)| c.as_ref() == h))
        {
            return;
        }
        self.rows += 1;
        for (i, n) in self.empty.iter_mut().enumerate() {
            if cells.get(i).is_none_or(|c| c.as_ref().trim().is_empty()) {
                *n += 1;
            }
        }
        if self.sample.len() < SAMPLE_ROWS {
            self.sample
                .push(cells.iter().map(|c| c.as_ref().to_string()).collect());
        }
    }

    /// The non-empty sampled cells of column `i`, trimmed.
    pub fn column(&self, i: usize) -> impl Iterator<Item = &str> {
        self.sample
            .iter()
            .filter_map(move |r| r.get(i))
            .map(|c| c.trim())
            .filter(|c| !c.is_empty())
    }
}

/// Reads a recipients file, CSV or workbook (its first sheet), into a
/// [`Survey`].
pub fn survey_file(path: &Path) -> anyhow::Result<Survey> {
    let shown = display_path(path);
    let mut source = recipients::open(path, Path::new(&shown), None)?;
    let mut rec = Record::default();
    if !source.read_record(&mut rec)? {
        bail!("{shown} is empty: init needs its header row (the column names) to write a plan");
    }
    let mut header = Vec::with_capacity(rec.len());
    for cell in rec.iter() {
        match std::str::from_utf8(cell) {
            Ok(s) => header.push(s.to_string()),
            Err(_) => bail!(
                "{shown}: the header row (row 1) is not UTF-8 text: save the file again as CSV \
                 UTF-8 (comma delimited)"
            ),
        }
    }
    let mut survey = Survey::new(header);
    while source.read_record(&mut rec)? {
        let cells: Vec<Cow<'_, str>> = (0..rec.len()).map(|i| rec.text(i)).collect();
        survey.add(&cells);
    }
    Ok(survey)
}

/// How the number column was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// Its header is one of [`NUMBER_HEADERS`].
    ByHeader,
    /// Most of its sampled cells look like phone numbers.
    ByCells,
}

/// The number column: by header, else the first column whose sampled
/// cells mostly look like phone numbers.
pub fn number_column(survey: &Survey) -> Option<(usize, Found)> {
    let norm = |h: &str| h.trim().to_lowercase().replace([' ', '-'], "_");
    for name in NUMBER_HEADERS {
        if let Some(i) = survey.header.iter().position(|h| norm(h) == *name) {
            return Some((i, Found::ByHeader));
        }
    }
    (0..survey.header.len())
        .find(|&i| {
            let (mut phone, mut all) = (0usize, 0usize);
            for cell in survey.column(i) {
                all += 1;
                phone += usize::from(looks_like_phone(cell));
            }
            all > 0 && phone * 2 > all
        })
        .map(|i| (i, Found::ByCells))
}

/// A cell that is a phone number, or one a spreadsheet or a person wrote
/// in a way `validate` explains (national, scientific notation, a lost `+`,
/// a formula): 7 to 15 digits in phone punctuation, and not a date.
pub fn looks_like_phone(cell: &str) -> bool {
    let t = cell.trim();
    let t = t.strip_prefix(['=', '\'']).unwrap_or(t).trim_matches('"');
    match Rules::default().check(t).outcome {
        Ok(_) | Err(Problem::Scientific { .. } | Problem::LostPlus { .. }) => return true,
        Err(_) => {}
    }
    let body = t.strip_prefix('+').unwrap_or(t);
    if !body
        .chars()
        .all(|c| c.is_ascii_digit() || " -.()/\u{a0}".contains(c))
    {
        return false;
    }
    let groups: Vec<usize> = body
        .split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .map(str::len)
        .collect();
    let digits: usize = groups.iter().sum();
    let date = !t.starts_with('+')
        && !body.contains('(')
        && matches!(groups.as_slice(), [4, 1..=2, 1..=2] | [1..=2, 1..=2, 4 | 2]);
    (7..=15).contains(&digits) && !date
}

/// What the sample says about nationally written numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionGuess {
    /// Non-empty number cells sampled.
    pub numbers: usize,
    /// Of those, cells that are not valid E.164 as written.
    pub not_international: usize,
    /// The region that reads the most of those as valid national numbers,
    /// and how many it reads.
    pub best: Option<(String, usize)>,
}

impl RegionGuess {
    /// Most sampled numbers are national and `best` reads them: the plan
    /// should set `default_region`.
    pub fn suggested(&self) -> Option<&str> {
        match &self.best {
            Some((region, n)) if n * 2 > self.numbers => Some(region),
            _ => None,
        }
    }
}

/// Guesses the region of the nationally written numbers among `cells`.
pub fn guess_region<'a>(cells: impl Iterator<Item = &'a str>) -> RegionGuess {
    let international = Rules::default();
    let mut numbers = 0;
    let mut national: Vec<&str> = Vec::new();
    let mut seen: Vec<(String, usize)> = Vec::new();
    for cell in cells {
        numbers += 1;
        match international.check(cell).outcome {
            Ok(n) => {
                if let Some(r) = n.region {
                    match seen.iter_mut().find(|(code, _)| code == r.as_str()) {
                        Some((_, count)) => *count += 1,
                        None => seen.push((r.as_str().to_string(), 1)),
                    }
                }
            }
            Err(_) => national.push(cell),
        }
    }
    // The file's own countries (most frequent first), then the list.
    seen.sort_by_key(|s| std::cmp::Reverse(s.1));
    let own = seen.len();
    let mut candidates: Vec<String> = seen.into_iter().map(|(c, _)| c).collect();
    for r in REGIONS {
        if !candidates.iter().any(|c| c == r) {
            candidates.push((*r).to_string());
        }
    }
    // A national number is often valid in several countries; one of the
    // file's own countries that reads at least half of them is the likelier
    // reading, else the region that reads the most (the first on a tie).
    let mut best: Option<(String, usize)> = None;
    let mut best_own: Option<(String, usize)> = None;
    if !national.is_empty() {
        for (i, code) in candidates.into_iter().enumerate() {
            let Ok(rules) = Rules::new(Some(&code)) else {
                continue;
            };
            let read = national
                .iter()
                .filter(|c| {
                    rules
                        .check(c)
                        .outcome
                        .is_ok_and(|n| n.national_in.is_some())
                })
                .count();
            if i < own && read * 2 >= national.len() && best_own.is_none() {
                best_own = Some((code.clone(), read));
            }
            if read > 0 && best.as_ref().is_none_or(|(_, b)| read > *b) {
                best = Some((code, read));
            }
        }
    }
    let best = best_own.or(best);
    RegionGuess {
        numbers,
        not_international: national.len(),
        best,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn survey(rows: &[&[&str]]) -> Survey {
        let mut s = Survey::new(rows[0].iter().map(|c| c.to_string()).collect());
        for r in &rows[1..] {
            s.add(r);
        }
        s
    }
    #[test]
    fn the_number_column_is_found_by_header_in_any_case_with_to_number_first() {
        let s = survey(&[&["Name", "Phone Number", "MOBILE"], &["a", "x", "y"]]);
        assert_eq!(number_column(&s), Some((1, Found::ByHeader)));
        let s = survey(&[&["mobile", "TO_NUMBER"], &["x", "y"]]);
        assert_eq!(number_column(&s), Some((1, Found::ByHeader)));
    }

    #[test]
    fn else_the_first_column_whose_cells_look_like_numbers() {
        let s = survey(&[
            &["when", "id", "contact", "other"],
            &["2026-12-07", "P-1001", "+14155550100", "+14155550101"],
            &["12/07/2026", "P-1002", "(415) 555-0142", ""],
            &["2026-12-08", "P-1003", "1.4155550143E+10", ""],
            &["2026-12-09", "P-1004", "n/a", ""],
        ]);
        assert_eq!(number_column(&s), Some((2, Found::ByCells)));
        let s = survey(&[&["a", "b"], &["x", "2026-12-07"], &["y", "08:30"]]);
        assert_eq!(number_column(&s), None);
    }

    #[test]
    fn phone_like_cells() {
        for yes in [
            "+14155550100",
            " (415) 555-0142 ",
            "14155550100",
            "1.4155550100E+10",
            "=\"+4930123456\"",
            "'+33199000012",
            "+44 20 7946 0456",
            "020 7946 0456",
        ] {
            assert!(looks_like_phone(yes), "{yes}");
        }
        for no in [
            "",
            "2026-12-07",
            "12/07/2026",
            "7.12.26",
            "08:30",
            "P-1001",
            "crm_10401",
            "42",
            "Maria",
        ] {
            assert!(!looks_like_phone(no), "{no}");
        }
    }

    #[test]
    fn a_region_is_suggested_only_when_most_numbers_are_national() {
        let national = [
            "(212) 555-0142",
            "415 555 0187",
            "312.555.0199",
            "+12125550143",
        ];
        let g = guess_region(national.into_iter());
        assert_eq!((g.numbers, g.not_international), (4, 3));
        assert_eq!(g.suggested(), Some("US"));
        let mostly_intl = ["+12125550142", "+442079460123", "(415) 555-0187"];
        let g = guess_region(mostly_intl.into_iter());
        assert_eq!(g.suggested(), None);
        assert_eq!(g.best, Some(("US".to_string(), 1)));
        // A British file: "07700 900123" is no valid GB number but reads as
        // an Indian one, as "020 7946 0123" does too; the file's own country
        // reads half of them and wins.
        let gb = ["020 7946 0123", "07700 900123", "+442079460456"];
        let g = guess_region(gb.into_iter());
        assert_eq!(g.best, Some(("GB".to_string(), 1)));
        assert_eq!(g.suggested(), None, "1 of 3 numbers read: not most");
        let gb = ["020 7946 0123", "07911 123456", "+442079460456"];
        assert_eq!(guess_region(gb.into_iter()).suggested(), Some("GB"));
        assert_eq!(guess_region(std::iter::empty()).best, None);
    }
}
