//! `callplan init RECIPIENTS [--out PLAN]`: writes a commented starting plan
//! for a recipients file, so a newcomer edits two values instead of writing
//! YAML from the README.
//!
//! It reads the file once, CSV or workbook (the first sheet), through
//! [`crate::recipients`] ([`survey`]: the header, a sample of rows, how
//! often each column is empty). The number column is the one whose header
//! is a usual name ([`NUMBER_HEADERS`], any case), else the first whose
//! sampled cells look like phone numbers. Every other column is a variable
//! named by its header; those never empty are `required_variables`, the
//! others are listed in a comment. `default_region` is set when most
//! sampled numbers are written nationally and one region reads most of
//! them. `from_number` and
//! `agent_version_id` are placeholders that `validate` reports as errors
//! (`from_number_invalid`, `agent_version_missing`) until they are filled
//! in: an `av_...`-looking placeholder would pass its checks, so the
//! agent version is left empty. The plan is never written over an existing
//! file (opened with `create_new`, so not even a race overwrites one).

mod survey;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};

use crate::cli::InitArgs;
use crate::exit::Exit;
use crate::plan::{DEFAULT_TIMEZONE_COLUMN, absolute, display_path};

pub use survey::{
    Found, NUMBER_HEADERS, RegionGuess, SAMPLE_ROWS, Survey, guess_region, looks_like_phone,
    number_column, survey_file,
};

/// The caller-number placeholder: `validate` reports it (`from_number_invalid`).
pub const FROM_NUMBER_PLACEHOLDER: &str = "+XXXXXXXXXXX";

/// `path` relative to the folder `base` (both absolute, already cleaned),
/// lexically, as the plan loader resolves it; absolute when they share no
/// root (another drive).
pub fn relative_to(path: &Path, base: &Path) -> PathBuf {
    let p: Vec<Component<'_>> = path.components().collect();
    let b: Vec<Component<'_>> = base.components().collect();
    if p.first() != b.first() {
        return path.to_path_buf();
    }
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in p.iter().skip(common) {
        out.push(c);
    }
    out
}

/// A YAML scalar for `s`: plain when that reads back as the same string,
/// else double-quoted with every character YAML does not print as is
/// escaped (so no header or path can end a comment line or break the file).
pub fn yaml_scalar(s: &str) -> String {
    let specials = ["true", "false", "null", "yes", "no", "on", "off", "y", "n"];
    let plain = (s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '/')
        || s.starts_with("./")
        || s.starts_with("../"))
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
        && !specials.contains(&s.to_ascii_lowercase().as_str());
    if plain {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~'
            | '\u{a0}'..='\u{d7ff}'
            | '\u{e000}'..='\u{fefe}'
            | '\u{ff00}'..='\u{fffd}' => out.push(c),
            '\u{10000}'.. => out.push(c),
            c => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
        }
    }
    out.push('"');
    out
}

/// A campaign name from a file stem: letters, digits, `-`, `_` and `.`
/// kept, runs of anything else made one `-`; `campaign` when nothing is left.
pub fn campaign_name(stem: &str) -> String {
    let mut name = String::new();
    for c in stem.chars() {
        if c.is_alphanumeric() || "-_.".contains(c) {
            name.push(c);
        } else if !name.ends_with('-') {
            name.push('-');
        }
    }
    let name: String = name.trim_matches(['-', '.']).chars().take(100).collect();
    if name.is_empty() {
        "campaign".to_string()
    } else {
        name
    }
}

/// The plan's text. `recipients` is the path as the plan writes it
/// (relative to the plan's folder); `shown` names the file in comments.
pub fn plan_text(
    survey: &Survey,
    name: &str,
    recipients: &str,
    shown: &str,
) -> anyhow::Result<String> {
    if let Some(cell) = survey.header.iter().find(|h| looks_like_phone(h)) {
        bail!(
            "{shown}: row 1 holds {} where the column names belong: add a header row (to_number, \
             then a name per variable) above the first recipient",
            yaml_scalar(cell)
        );
    }
    let Some((number, found)) = number_column(survey) else {
        let headers: Vec<String> = survey.header.iter().map(|h| yaml_scalar(h)).collect();
        bail!(
            "{shown}: no column looks like phone numbers (headers: {}): name the number column \
             `to_number` (or phone, phone_number, mobile) and run init again",
            headers.join(", ")
        );
    };
    let q = yaml_scalar;
    let number_header = &survey.header[number];
    let mut vars: Vec<(&String, u64)> = Vec::new();
    let mut notes = Vec::new();
    for (i, h) in survey.header.iter().enumerate() {
        if i == number {
            continue;
        }
        if h.trim().is_empty() {
            notes.push(format!(
                "column {} has no header: its cells are ignored",
                i + 1
            ));
        } else if h == DEFAULT_TIMEZONE_COLUMN {
            notes.push(format!(
                "`{h}` holds each row's time zone: it is not a variable"
            ));
        } else if h.trim() != h {
            notes.push(format!(
                "{} has spaces around it: rename the column {} so the agent's placeholder matches",
                q(h),
                q(h.trim())
            ));
        } else if vars.iter().any(|(v, _)| *v == h) {
            notes.push(format!("{} is the header of two columns: rename one", q(h)));
        } else {
            vars.push((h, survey.empty.get(i).copied().unwrap_or(0)));
        }
    }
    let guess = guess_region(survey.column(number));

    let mut t = String::new();
    let w = &mut t;
    let _ = writeln!(w, "# Plan for {}, written by `callplan init`.", q(shown));
    let _ = writeln!(w, "#");
    let _ = writeln!(
        w,
        "# Fill in the two values marked FILL IN (`callplan validate` reports them until then),"
    );
    let _ = writeln!(
        w,
        "# then check the plan with `callplan validate` and rehearse with `callplan run --sandbox`."
    );
    let _ = writeln!(w, "# Keys and rules: README.md, \"The plan file\".\n");
    let _ = writeln!(
        w,
        "name: {}   # names the results file and the calls' idempotency keys",
        q(name)
    );
    let _ = writeln!(
        w,
        "from_number: \"{FROM_NUMBER_PLACEHOLDER}\"   # FILL IN: a caller number of the \
         workspace, E.164 in quotes, e.g. \"+14155550100\""
    );
    let _ = writeln!(
        w,
        "agent_version_id: \"\"   # FILL IN: a published agent version id (av_...); the sandbox \
         knows av_sandbox"
    );
    let _ = writeln!(w, "recipients: {}   # relative to this file", q(recipients));
    let _ = writeln!(
        w,
        "# results: {}   # the default: <name>.results.csv beside this file",
        q(&format!("{name}.results.csv"))
    );
    region_lines(w, &guess);
    let _ = writeln!(w, "\ncolumns:");
    let how = match found {
        Found::ByHeader => "recognised by its header".to_string(),
        Found::ByCells => format!(
            "its cells look like phone numbers ({} of {} sampled)",
            survey
                .column(number)
                .filter(|c| looks_like_phone(c))
                .count(),
            guess.numbers
        ),
    };
    let _ = writeln!(
        w,
        "  to_number: {}   # the number column: {how}",
        q(number_header)
    );
    let _ = writeln!(
        w,
        "  # key: COLUMN   # optional: a column that names each recipient for good (default: the number)"
    );
    let _ = writeln!(
        w,
        "  # metadata: [COLUMN]   # columns sent as call metadata instead of variables"
    );
    variable_lines(w, survey, &vars, &notes);
    let _ = writeln!(w, "\ndispatch:");
    let _ = writeln!(w, "  concurrency: 8   # create requests in flight at most");
    let _ = writeln!(w, "  rate_per_second: 5   # client-side pacing");
    let _ = writeln!(w, "  max_attempts: 5   # per row, for transient errors");
    Ok(t)
}

fn region_lines(w: &mut String, guess: &RegionGuess) {
    let national = format!(
        "{} of {} sampled numbers are not in international form",
        guess.not_international, guess.numbers
    );
    let _ = match (guess.suggested(), &guess.best) {
        (Some(region), Some((_, read))) => writeln!(
            w,
            "default_region: {region}   # {national}, {read} read as {region} numbers: check the guess"
        ),
        (None, Some((region, read))) => writeln!(
            w,
            "# default_region: {region}   # {national}, {read} read as {region} numbers: uncomment \
             to accept them"
        ),
        _ => writeln!(
            w,
            "# default_region: US   # uncomment to accept national numbers such as \
             (415) 555-0142 as US numbers"
        ),
    };
}

fn variable_lines(w: &mut String, survey: &Survey, vars: &[(&String, u64)], notes: &[String]) {
    let q = yaml_scalar;
    let _ = writeln!(
        w,
        "\n# Every other column is sent as a variable named by its header (case kept):"
    );
    for (h, empty) in vars {
        let _ = match empty {
            0 => writeln!(w, "#   {}", q(h)),
            n => writeln!(w, "#   {}   (empty in {n} of {} rows)", q(h), survey.rows),
        };
    }
    for note in notes {
        let _ = writeln!(w, "# Note: {note}.");
    }
    let _ = writeln!(
        w,
        "\n# variables:   # defaults: a non-empty cell of the same header overrides"
    );
    let _ = match vars.iter().find(|(_, empty)| *empty > 0) {
        Some((h, _)) => writeln!(
            w,
            "#   {}: \"\"   # a default here lets it be required too",
            q(h)
        ),
        None => writeln!(w, "#   NAME: \"\""),
    };
    let required: Vec<String> = vars
        .iter()
        .filter(|(_, empty)| *empty == 0)
        .map(|(h, _)| q(h))
        .collect();
    let _ = writeln!(
        w,
        "\n# Variables every call must carry: the columns never empty in this file."
    );
    let _ = writeln!(w, "required_variables: [{}]", required.join(", "));
}

/// Where the plan goes without `--out`: `<stem>.plan.yaml` beside the
/// recipients file, so the plan, the list and the results file (beside the
/// plan by default) stay together.
pub fn default_out(recipients: &Path) -> PathBuf {
    let stem = recipients
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "recipients".into());
    recipients.with_file_name(format!("{stem}.plan.yaml"))
}

/// Runs `callplan init`.
pub fn main(args: InitArgs) -> anyhow::Result<Exit> {
    let source = absolute(&args.recipients);
    let shown = display_path(&source);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&args.recipients));
    let out_abs = absolute(&out);
    let out_shown = display_path(&out_abs);
    if out_abs.exists() {
        bail!(
            "{out_shown} exists: init never overwrites a file; choose another --out or remove it"
        );
    }
    let survey = survey_file(&source)?;
    let dir = out_abs.parent().unwrap_or(Path::new("/"));
    let rel = relative_to(&source, dir);
    let Some(rel) = rel.to_str() else {
        bail!("{shown}: the path is not UTF-8, so a plan cannot name it: rename the file");
    };
    let stem = source
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = plan_text(&survey, &campaign_name(&stem), rel, &shown)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&out_abs)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
                "{out_shown} exists: init never overwrites a file; choose another --out or \
                 remove it"
            ),
            _ => anyhow::Error::new(e).context(format!("cannot create {out_shown}")),
        })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {out_shown}"))?;
    let quoted = crate::text::shell_quote(&out_shown);
    println!(
        "wrote {out_shown} for {} recipient rows: fill in from_number and agent_version_id, then \
         run `callplan validate {quoted}`",
        survey.rows
    );
    Ok(Exit::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn survey(rows: &[&[&str]]) -> Survey {
        let mut s = Survey::new(rows[0].iter().map(|c| c.to_string()).collect());
        for r in &rows[1..] {
            s.add(r);
        }
        s
    }

    #[test]
    fn relative_paths_are_lexical_from_the_plan_folder() {
        let rel = |p: &str, b: &str| relative_to(Path::new(p), Path::new(b));
        assert_eq!(
            rel("/srv/lists/june.csv", "/srv/plans"),
            Path::new("../lists/june.csv")
        );
        assert_eq!(
            rel("/srv/lists/june.csv", "/srv/lists"),
            Path::new("june.csv")
        );
        assert_eq!(rel("/a.csv", "/x/y"), Path::new("../../a.csv"));
        // What the loader resolves it to is the file itself.
        let plan = crate::plan::from_yaml(
            "name: t\nfrom_number: \"+14155550100\"\nagent_version_id: av_1\nrecipients: ../lists/june.csv\n",
            Path::new("/srv/plans/t.yaml"),
        )
        .unwrap();
        assert_eq!(plan.recipients, Path::new("/srv/lists/june.csv"));
    }

    #[test]
    fn names_and_default_out() {
        assert_eq!(campaign_name("June reminders (v2)"), "June-reminders-v2");
        assert_eq!(campaign_name("..."), "campaign");
        assert_eq!(campaign_name("ok_name-1.2"), "ok_name-1.2");
        assert_eq!(
            default_out(Path::new("lists/june.csv")),
            Path::new("lists/june.plan.yaml")
        );
    }

    #[test]
    fn a_header_that_is_data_or_no_number_column_is_an_error() {
        let s = survey(&[&["+14155550100", "Ann"], &["+14155550101", "Bo"]]);
        let err = plan_text(&s, "t", "r.csv", "r.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("add a header row"), "{err}");
        let s = survey(&[&["name", "city"], &["Ann", "Leeds"]]);
        let err = plan_text(&s, "t", "r.csv", "r.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no column looks like phone numbers"), "{err}");
        assert!(err.contains("name, city"), "{err}");
    }

    /// The written plan parses, and says what the survey found.
    fn parse(text: &str) -> crate::plan::Plan {
        crate::plan::from_yaml(text, Path::new("/t/p.plan.yaml"))
            .unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn the_plan_parses_and_its_placeholders_are_errors() {
        let s = survey(&[
            &["Phone", "Name", "clinic", "timezone", ""],
            &["(212) 555-0142", "Ann", "", "America/New_York", ""],
            &["(415) 555-0187", "Bo", "Leeds", "", ""],
        ]);
        let plan = parse(&plan_text(&s, "june", "../l/june.csv", "june.csv").unwrap());
        assert_eq!(plan.columns.to_number, "Phone");
        assert_eq!(plan.required_variables, ["Name"]);
        assert_eq!(plan.default_region.as_deref(), Some("US"));
        assert_eq!(plan.recipients, Path::new("/l/june.csv"));
        let kinds: Vec<_> = crate::validate::check_plan(&plan)
            .into_iter()
            .map(|f| f.kind)
            .collect();
        use crate::validate::Kind;
        assert_eq!(kinds, [Kind::FromNumberInvalid, Kind::AgentVersionMissing]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_header_reads_back_exactly(
            headers in proptest::collection::vec("\\PC{0,12}|[\\x00-\\x20\"'#:,\\[\\]{}\\\\\u{85}\u{2028}\u{feff}a-z]{0,8}", 1..5)
        ) {
            let mut header = vec!["to_number".to_string()];
            header.extend(headers);
            let mut s = Survey::new(header.clone());
            let mut row = vec!["+14155550100".to_string()];
            row.extend((1..header.len()).map(|i| format!("v{i}")));
            s.add(&row);
            let text = plan_text(&s, "t", "r.csv", "r.csv").unwrap();
            let plan = parse(&text);
            let mut expected: Vec<String> = Vec::new();
            for h in &header[1..] {
                if !h.trim().is_empty() && h.trim() == h && h != "timezone" && !expected.contains(h) {
                    expected.push(h.clone());
                }
            }
            prop_assert_eq!(plan.required_variables, expected);
        }

        #[test]
        fn any_string_is_one_yaml_scalar(s in "\\PC*|[\\x00-\\x1f\\x7f-\\x9f\u{2028}\u{feff}\"\\\\ :#-]{0,10}") {
            let text = format!("name: t\nfrom_number: {}\nagent_version_id: av_1\nrecipients: r.csv\n", yaml_scalar(&s));
            match crate::plan::from_yaml(&text, Path::new("/t/p.yaml")) {
                Ok(plan) => prop_assert_eq!(plan.from_number, s),
                Err(e) => prop_assert!(false, "{e}: {text:?}"),
            }
        }
    }
}
