//! E.164 parsing and normalization: what a number cell means, and what went
//! wrong with it when it cannot be dialled.
//!
//! The API dials only E.164 (`+`, then at most 15 digits, the first not 0).
//! This module checks a cell against that syntax, asks libphonenumber's
//! metadata (crate `rlibphonenumber`) whether the number exists for its
//! country, reads nationally written numbers when the plan names a
//! `default_region`, and recognises what spreadsheets do to numbers
//! (scientific notation, a leading `=` or `'`, a lost `+`) so the report can
//! say what happened. It knows nothing of rows or findings: [`check`] returns
//! facts and [`crate::validate`] turns them into messages.
//!
//! [`check`]: Rules::check

use rlibphonenumber::{
    NumberLengthType, PHONE_NUMBER_UTIL, ParseError, PhoneNumber, PhoneNumberFormat, Region,
    ValidationError,
};

/// Longest E.164 number: a `+` and 15 digits.
pub const MAX_DIGITS: usize = 15;

/// How to read number cells: international only, or also nationally written
/// numbers of one region.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rules {
    region: Option<Region>,
}

/// The plan's `default_region` is not a region libphonenumber knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an ISO 3166 region code with telephone numbering (examples: US, GB, DE, IN)")]
pub struct UnknownRegion(pub String);

/// The outcome of checking one cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The cell had spaces (or other white space) around the number; they
    /// were removed. A warning: spreadsheets add them, the API would refuse them.
    pub trimmed: bool,
    /// The normalized number, or why there is none.
    pub outcome: Result<Normalized, Problem>,
}

/// A dialable number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalized {
    /// The number in E.164 (`+14155550100`).
    pub e164: String,
    /// `Some(region)` when the cell was written nationally and read as a
    /// number of the plan's `default_region` (a warning: check the guess).
    pub national_in: Option<String>,
}

/// Why a cell is not a dialable number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The cell is empty.
    Missing,
    /// A spreadsheet stored the number as a numeric value and exported it in
    /// scientific notation (`1.4155550100E+10`).
    Scientific {
        /// The digits the notation stands for, if it can be expanded.
        expanded: Option<String>,
        /// The mantissa had fewer digits than the number: trailing digits
        /// were replaced by zeros and are lost.
        digits_lost: bool,
    },
    /// The cell holds a spreadsheet formula (`="+14155550100"`).
    Formula {
        /// The valid E.164 number inside the formula, if there is one.
        inner: Option<String>,
    },
    /// The cell starts with `'`, a spreadsheet's "treat as text" marker
    /// that was exported as part of the value.
    TextPrefix {
        /// The valid E.164 number after the apostrophe, if there is one.
        inner: Option<String>,
    },
    /// Digits only, and with a `+` in front they form a valid number: the
    /// spreadsheet most likely dropped the `+` when it read the cell as a number.
    LostPlus {
        /// The number with its `+` restored.
        e164: String,
        /// The region that number belongs to (`US`).
        region: String,
    },
    /// Written nationally (`(415) 555-0100`) and the plan sets no
    /// `default_region` to read it with.
    National,
    /// Not E.164 syntax (spaces, dashes, brackets, letters, `00` prefix, too
    /// many digits, a country code starting with 0).
    NotE164 {
        /// What exactly breaks the syntax.
        reason: &'static str,
        /// The valid E.164 form of the same number, when libphonenumber can read it.
        suggestion: Option<String>,
    },
    /// Well-formed, but not a valid number by libphonenumber's metadata.
    Invalid {
        /// Why, in words (`too short for GB`).
        reason: String,
    },
}

impl Rules {
    /// Rules for a plan: `default_region` (ISO 3166 alpha-2, any case) lets
    /// nationally written numbers through as numbers of that region.
    pub fn new(default_region: Option<&str>) -> Result<Rules, UnknownRegion> {
        let region = match default_region {
            None => None,
            Some(code) => Some(parse_region(code)?),
        };
        Ok(Rules { region })
    }

    /// The region nationally written numbers are read in, if any.
    pub fn region(&self) -> Option<String> {
        self.region.map(region_name)
    }

    /// Checks one cell. Never panics, whatever the input.
    pub fn check(&self, cell: &str) -> Checked {
        let t = cell.trim();
        let trimmed = t.len() != cell.len();
        Checked {
            trimmed,
            outcome: self.check_trimmed(t),
        }
    }

    fn check_trimmed(&self, t: &str) -> Result<Normalized, Problem> {
        if t.is_empty() {
            return Err(Problem::Missing);
        }
        if is_e164_syntax(t) {
            return validate_e164(t).map(|e164| Normalized {
                e164,
                national_in: None,
            });
        }
        if let Some(rest) = t.strip_prefix('=') {
            return Err(Problem::Formula {
                inner: salvage(rest),
            });
        }
        if let Some(rest) = t.strip_prefix('\'') {
            return Err(Problem::TextPrefix {
                inner: salvage(rest),
            });
        }
        if let Some((expanded, digits_lost)) = scientific(t) {
            return Err(Problem::Scientific {
                expanded,
                digits_lost,
            });
        }
        if t.starts_with('+') {
            return Err(not_e164_international(t));
        }
        if let Some(rest) = t.strip_prefix("00")
            && is_national_shape(rest)
        {
            let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
            let candidate = format!("+{digits}");
            return Err(Problem::NotE164 {
                reason: "starts with the international prefix 00 instead of +",
                suggestion: is_e164_syntax(&candidate)
                    .then(|| validate_e164(&candidate).ok())
                    .flatten(),
            });
        }
        if !is_national_shape(t) {
            return Err(Problem::NotE164 {
                reason: "contains characters that are not part of a phone number",
                suggestion: None,
            });
        }
        // Written nationally (or a lost `+`).
        if let Some(region) = self.region
            && let Ok(n) = PHONE_NUMBER_UTIL.parse(t, Some(region))
            && PHONE_NUMBER_UTIL.is_valid_number(&n)
        {
            return Ok(Normalized {
                e164: e164_of(&n),
                national_in: Some(region_name(region)),
            });
        }
        if t.bytes().all(|b| b.is_ascii_digit()) && !t.starts_with('0') {
            let candidate = format!("+{t}");
            if is_e164_syntax(&candidate)
                && let Ok(e164) = validate_e164(&candidate)
            {
                let region = PhoneNumber::parse(&e164, None)
                    .ok()
                    .and_then(|n| PHONE_NUMBER_UTIL.get_region_for_number(&n))
                    .map(region_name)
                    .unwrap_or_default();
                return Err(Problem::LostPlus { e164, region });
            }
        }
        match self.region {
            Some(region) => Err(Problem::Invalid {
                reason: format!(
                    "not a valid number when read as a {} number",
                    region_name(region)
                ),
            }),
            None => Err(Problem::National),
        }
    }
}

/// Parses an ISO 3166 alpha-2 code that libphonenumber has numbering data for.
pub fn parse_region(code: &str) -> Result<Region, UnknownRegion> {
    let unknown = || UnknownRegion(code.to_string());
    let region = Region::from_code(code.trim()).map_err(|_| unknown())?;
    if region == Region::World
        || PHONE_NUMBER_UTIL
            .get_country_code_for_region(region)
            .is_none()
    {
        return Err(unknown());
    }
    Ok(region)
}

fn region_name(region: Region) -> String {
    region.as_region_str().as_str().to_string()
}

/// `+`, then 1 to 15 ASCII digits, the first not 0, nothing else.
pub fn is_e164_syntax(s: &str) -> bool {
    let b = s.as_bytes();
    match b {
        [b'+', first, rest @ ..] => {
            (b'1'..=b'9').contains(first)
                && rest.len() < MAX_DIGITS
                && rest.iter().all(u8::is_ascii_digit)
        }
        _ => false,
    }
}

/// The digits of a syntactically valid E.164 number as an integer: a
/// compact, collision-free key for duplicate detection (15 digits fit in 50
/// bits, and E.164 has no leading zeros).
pub fn e164_key(e164: &str) -> Option<u64> {
    if !is_e164_syntax(e164) {
        return None;
    }
    e164.get(1..)?.parse().ok()
}

/// Country calling codes in use (1 to 999), looked up once: the same
/// answer as `get_region_for_country_code(cc).is_some()`, without its
/// search on every number.
static CALLING_CODES: std::sync::LazyLock<[bool; 1000]> = std::sync::LazyLock::new(|| {
    let mut table = [false; 1000];
    for cc in PHONE_NUMBER_UTIL.get_supported_calling_codes() {
        if let Some(slot) = usize::try_from(cc).ok().and_then(|i| table.get_mut(i)) {
            *slot = PHONE_NUMBER_UTIL.get_region_for_country_code(cc).is_some();
        }
    }
    table
});

fn is_calling_code(cc: i32) -> bool {
    usize::try_from(cc)
        .ok()
        .and_then(|i| CALLING_CODES.get(i))
        .copied()
        .unwrap_or(false)
}

/// The number a strict E.164 string spells, built directly: the country
/// calling code (the shortest 1 to 3 digit prefix in use, as libphonenumber
/// reads it), then the national number with its leading zeros recorded.
/// Skips the general parser (its text scanning and national-prefix
/// stripping), which is most of the cost of a valid number.
fn from_e164_digits(t: &str) -> Option<PhoneNumber> {
    let digits = t.strip_prefix('+')?;
    for i in 1..=3 {
        let (cc, nsn) = (digits.get(..i)?, digits.get(i..)?);
        let cc: i32 = cc.parse().ok()?;
        if !is_calling_code(cc) {
            continue;
        }
        if nsn.is_empty() {
            return None;
        }
        let zeros = nsn.bytes().take_while(|b| *b == b'0').count();
        let zeros = if zeros == nsn.len() { zeros - 1 } else { zeros };
        return Some(PhoneNumber {
            country_code: cc,
            national_number: nsn.parse().ok()?,
            italian_leading_zero: (nsn.len() > 1 && zeros > 0).then_some(true),
            number_of_leading_zeros: (zeros > 1).then(|| i32::try_from(zeros).unwrap_or(1)),
            ..PhoneNumber::default()
        });
    }
    None
}

/// Checks a well-formed E.164 string against libphonenumber's metadata.
/// Valid only when it is also libphonenumber's canonical form of the
/// number: `+4402079460958` (a trunk 0 after the country code) is a
/// [`Problem::NotE164`] suggesting `+442079460958`.
fn validate_e164(t: &str) -> Result<String, Problem> {
    if let Some(n) = from_e164_digits(t)
        && PHONE_NUMBER_UTIL.is_valid_number(&n)
    {
        let e164 = e164_of(&n);
        if e164 == t {
            return Ok(e164);
        }
    }
    // The general parser: slower, and it explains what is wrong.
    let n = match PHONE_NUMBER_UTIL.parse(t, None) {
        Ok(n) => n,
        Err(ParseError::InvalidCountryCode) => {
            return Err(Problem::Invalid {
                reason: "it does not start with a country calling code in use".to_string(),
            });
        }
        Err(ParseError::TooShortNsn) | Err(ParseError::TooShortAfterIdd) => {
            return Err(Problem::Invalid {
                reason: "too short to be a phone number".to_string(),
            });
        }
        Err(ParseError::TooLongNsn) => {
            return Err(Problem::Invalid {
                reason: "too long to be a phone number".to_string(),
            });
        }
        Err(ParseError::NotANumber(_)) => {
            return Err(Problem::Invalid {
                reason: "libphonenumber cannot read it as a phone number".to_string(),
            });
        }
    };
    if PHONE_NUMBER_UTIL.is_valid_number(&n) {
        let e164 = e164_of(&n);
        if e164 == t {
            return Ok(e164);
        }
        return Err(Problem::NotE164 {
            reason: "has a trunk prefix or extra digits after the country code",
            suggestion: Some(e164),
        });
    }
    let cc = n.country_code;
    let place = match PHONE_NUMBER_UTIL.get_region_for_number(&n).map(region_name) {
        Some(r) if r != "001" => format!(" for {r} (+{cc})"),
        _ => {
            let regions: Vec<String> = PHONE_NUMBER_UTIL
                .get_regions_for_country_calling_code(cc)
                .map(|rs| rs.map(region_name).filter(|r| r != "001").collect())
                .unwrap_or_default();
            match regions.as_slice() {
                [] => format!(" for country code +{cc}"),
                [one] => format!(" for {one} (+{cc})"),
                [first, rest @ ..] => {
                    format!(" for +{cc} ({first} and {} other regions)", rest.len())
                }
            }
        }
    };
    let reason = match PHONE_NUMBER_UTIL.is_possible_number_with_reason(&n) {
        Err(ValidationError::InvalidCountryCode) => {
            "it does not start with a country calling code in use".to_string()
        }
        Err(ValidationError::TooShort) => format!("too short{place}"),
        Err(ValidationError::TooLong) => format!("too long{place}"),
        Err(ValidationError::InvalidLength) => format!("the wrong length{place}"),
        Ok(NumberLengthType::IsPossibleLocalOnly) => {
            format!("a local number without its area code{place}")
        }
        Ok(NumberLengthType::IsPossible) => {
            format!("the right length, but not in a range assigned to subscribers{place}")
        }
    };
    Err(Problem::Invalid { reason })
}

fn e164_of(n: &PhoneNumber) -> String {
    PHONE_NUMBER_UTIL
        .format(n, PhoneNumberFormat::E164)
        .into_owned()
}

/// A `+` number that breaks E.164 syntax: why, and its E.164 form if valid.
fn not_e164_international(t: &str) -> Problem {
    let digits: String = t.chars().filter(char::is_ascii_digit).collect();
    let reason = if t.chars().any(char::is_alphabetic) {
        "contains letters"
    } else if digits.starts_with('0') {
        "a country calling code never starts with 0"
    } else if digits.len() > MAX_DIGITS {
        "has more than 15 digits"
    } else if digits.is_empty() {
        "has no digits after the +"
    } else {
        "contains spaces or punctuation between the digits"
    };
    let suggestion = if is_national_shape(&t[1..]) {
        let candidate = format!("+{digits}");
        is_e164_syntax(&candidate)
            .then(|| validate_e164(&candidate).ok())
            .flatten()
    } else {
        None
    };
    Problem::NotE164 { reason, suggestion }
}

/// Digits with the punctuation people write numbers with, and at least one digit.
fn is_national_shape(s: &str) -> bool {
    let mut digits = 0usize;
    for c in s.chars() {
        match c {
            '0'..='9' => digits += 1,
            ' ' | '-' | '.' | '(' | ')' | '/' | '\u{a0}' => {}
            _ => return false,
        }
    }
    digits > 0
}

/// What is left of a formula or text-marked cell, if it is a valid E.164 number.
fn salvage(rest: &str) -> Option<String> {
    let inner = rest.trim();
    let inner = inner
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(inner)
        .trim();
    let inner = inner.strip_prefix('\'').unwrap_or(inner);
    if is_e164_syntax(inner) {
        validate_e164(inner).ok()
    } else {
        None
    }
}

/// Recognises scientific notation (`1.4155550100E+10`, `1,41556E+10`) and
/// expands it: `Some((digits, digits_lost))`.
fn scientific(t: &str) -> Option<(Option<String>, bool)> {
    let (mantissa, exponent) = t.split_once(['e', 'E'])?;
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    if exponent.is_empty() || exponent.len() > 3 || !exponent.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (int_part, frac_part) = match mantissa.split_once(['.', ',']) {
        Some((i, f)) => (i, f),
        None => (mantissa, ""),
    };
    if int_part.is_empty()
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let exp: usize = exponent.parse().ok()?;
    let digits = format!("{int_part}{frac_part}");
    let int_len = int_part.len() + exp;
    if int_len > MAX_DIGITS || int_len < digits.len() {
        // Not a whole number of phone-number size: recognised, not expandable.
        return Some((None, false));
    }
    let digits_lost = int_len > digits.trim_end_matches('0').len() && digits.len() < int_len;
    let mut expanded = digits;
    while expanded.len() < int_len {
        expanded.push('0');
    }
    Some((Some(expanded), digits_lost))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn intl() -> Rules {
        Rules::default()
    }

    fn ok(r: &Rules, s: &str) -> String {
        match r.check(s).outcome {
            Ok(n) => n.e164,
            Err(p) => panic!("{s:?}: {p:?}"),
        }
    }

    fn err(r: &Rules, s: &str) -> Problem {
        match r.check(s).outcome {
            Ok(n) => panic!("{s:?} accepted as {}", n.e164),
            Err(p) => p,
        }
    }

    #[test]
    fn valid_international_numbers_pass_unchanged() {
        for n in [
            "+14155552671",
            "+442079460958",
            "+4930901820",
            "+33142685300",
            "+61291234567",
            "+919876543210",
            "+5511987654321",
        ] {
            assert_eq!(ok(&intl(), n), n);
        }
    }

    #[test]
    fn unassigned_ranges_are_invalid() {
        // 555-01xx is reserved for fiction but valid by libphonenumber's
        // metadata; area code 555 is not, nor are Ofcom's drama numbers.
        assert_eq!(ok(&intl(), "+14155550100"), "+14155550100");
        let p = err(&intl(), "+447700900123");
        assert!(matches!(p, Problem::Invalid { .. }), "{p:?}");
        let p = err(&intl(), "+15555550100");
        assert!(matches!(p, Problem::Invalid { .. }), "{p:?}");
    }

    #[test]
    fn surrounding_space_is_trimmed_with_a_flag() {
        let c = intl().check("  +14155552671\t");
        assert!(c.trimmed);
        assert_eq!(c.outcome.unwrap().e164, "+14155552671");
        assert!(!intl().check("+14155552671").trimmed);
    }

    #[test]
    fn empty_is_missing() {
        assert_eq!(err(&intl(), "   "), Problem::Missing);
    }

    #[test]
    fn spreadsheet_damage_is_recognised() {
        assert_eq!(
            err(&intl(), "1.4155552671E+10"),
            Problem::Scientific {
                expanded: Some("14155552671".into()),
                digits_lost: false
            }
        );
        assert_eq!(
            err(&intl(), "1.41556E+10"),
            Problem::Scientific {
                expanded: Some("14155600000".into()),
                digits_lost: true
            }
        );
        assert_eq!(
            err(&intl(), "=\"+14155552671\""),
            Problem::Formula {
                inner: Some("+14155552671".into())
            }
        );
        assert_eq!(
            err(&intl(), "'+14155552671"),
            Problem::TextPrefix {
                inner: Some("+14155552671".into())
            }
        );
        assert_eq!(
            err(&intl(), "14155552671"),
            Problem::LostPlus {
                e164: "+14155552671".into(),
                region: "US".into()
            }
        );
    }

    #[test]
    fn national_numbers_need_a_default_region() {
        assert_eq!(err(&intl(), "(415) 555-2671"), Problem::National);
        assert_eq!(err(&intl(), "415.555.2671"), Problem::National);
        let us = Rules::new(Some("us")).unwrap();
        let c = us.check("(415) 555-2671").outcome.unwrap();
        assert_eq!(c.e164, "+14155552671");
        assert_eq!(c.national_in.as_deref(), Some("US"));
        let gb = Rules::new(Some("GB")).unwrap();
        assert_eq!(ok(&gb, "020 7946 0958"), "+442079460958");
        assert!(matches!(err(&gb, "12"), Problem::Invalid { .. }));
    }

    #[test]
    fn formatted_international_numbers_get_a_suggestion() {
        assert_eq!(
            err(&intl(), "+1 (415) 555-2671"),
            Problem::NotE164 {
                reason: "contains spaces or punctuation between the digits",
                suggestion: Some("+14155552671".into())
            }
        );
        assert!(matches!(
            err(&intl(), "0044 20 7946 0958"),
            Problem::NotE164 { suggestion: Some(s), .. } if s == "+442079460958"
        ));
        assert!(matches!(err(&intl(), "+0123"), Problem::NotE164 { .. }));
        assert!(matches!(
            err(&intl(), "+1234567890123456"),
            Problem::NotE164 { .. }
        ));
        assert!(matches!(err(&intl(), "call me"), Problem::NotE164 { .. }));
    }

    #[test]
    fn unknown_regions_are_rejected() {
        assert!(Rules::new(Some("XX")).is_err());
        assert!(Rules::new(Some("USA")).is_err());
        assert!(Rules::new(Some("")).is_err());
        assert!(Rules::new(Some("001")).is_err());
        assert!(Rules::new(Some("de")).is_ok());
    }

    #[test]
    fn a_trunk_prefix_after_the_country_code_is_not_e164() {
        assert_eq!(
            err(&intl(), "+4402079460958"),
            Problem::NotE164 {
                reason: "has a trunk prefix or extra digits after the country code",
                suggestion: Some("+442079460958".into())
            }
        );
    }

    #[test]
    fn the_direct_reading_agrees_with_the_parser() {
        for n in [
            "+14155552671",
            "+442079460958",
            "+390612345678",
            "+3906123456",
            "+8001234567",
            "+5511961234567",
            "+525512345678",
            "+819012345678",
            "+79123456789",
        ] {
            let direct = from_e164_digits(n).expect("a known country code");
            let parsed = PhoneNumber::parse(n, None).expect("parses");
            assert_eq!(direct, parsed, "{n}");
        }
        assert_eq!(from_e164_digits("+999123"), None);
    }

    #[test]
    fn the_calling_code_table_matches_the_metadata() {
        for cc in -1..1001 {
            assert_eq!(
                is_calling_code(cc),
                PHONE_NUMBER_UTIL.get_region_for_country_code(cc).is_some(),
                "+{cc}"
            );
        }
        assert!(is_calling_code(1) && is_calling_code(44) && is_calling_code(800));
    }

    #[test]
    fn e164_key_is_the_digits() {
        assert_eq!(e164_key("+14155552671"), Some(14155552671));
        assert_eq!(e164_key("+999999999999999"), Some(999_999_999_999_999));
        assert_eq!(e164_key("14155552671"), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn never_panics_on_any_string(s in "\\PC{0,40}") {
            let _ = intl().check(&s);
            let _ = Rules::new(Some("US")).unwrap().check(&s);
        }

        #[test]
        fn never_panics_on_phone_like_strings(s in "[ +=('0-9().eE,-]{0,24}") {
            let _ = intl().check(&s);
            let _ = Rules::new(Some("GB")).unwrap().check(&s);
        }

        #[test]
        fn the_fast_path_never_disagrees_with_the_parser(cc in prop::sample::select(vec!["1", "44", "49", "33", "61", "91", "55", "34", "52", "81", "39", "7", "86", "800", "979"]), rest in "[0-9]{4,12}") {
            let n = format!("+{cc}{rest}");
            prop_assume!(is_e164_syntax(&n));
            let fast = from_e164_digits(&n)
                .filter(|p| PHONE_NUMBER_UTIL.is_valid_number(p))
                .map(|p| e164_of(&p))
                .filter(|e| *e == n);
            let slow = PhoneNumber::parse(&n, None)
                .ok()
                .filter(|p| PHONE_NUMBER_UTIL.is_valid_number(p))
                .map(|p| e164_of(&p))
                .filter(|e| *e == n);
            prop_assert_eq!(fast, slow, "{}", n);
        }

        #[test]
        fn normalization_is_idempotent(s in "[+]?[0-9 ().-]{4,18}", region in prop::sample::select(vec![None, Some("US"), Some("GB"), Some("IN")])) {
            let rules = Rules::new(region).unwrap();
            if let Ok(n) = rules.check(&s).outcome {
                let again = rules.check(&n.e164);
                prop_assert!(!again.trimmed);
                let again = again.outcome.expect("a normalized number stays valid");
                prop_assert_eq!(&again.e164, &n.e164);
                prop_assert_eq!(again.national_in, None);
                prop_assert!(e164_key(&n.e164).is_some());
            }
        }

        #[test]
        fn region_parsing_never_panics(s in "\\PC{0,5}") {
            let _ = Rules::new(Some(&s));
        }
    }
}
