//! Integration tests: validate. They run the `callplan` binary on fixtures
//! under tests/fixtures/validate/ and check, for every kind of finding, the
//! row, the column and the exit code; plus `--format json`, `--errors-out`,
//! the unreadable-input cases (exit 2), and the [`Row`]s the library hands
//! to `run`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use callplan::validate::{Kind, Row};
use serde_json::Value;

use crate::common::{bin, fixtures};

fn dir() -> PathBuf {
    fixtures().join("validate")
}

/// Runs `callplan validate ARGS` in the fixtures folder.
fn run_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("validate")
        .args(args)
        .current_dir(cwd)
        .env_remove("DIALNEXA_API_KEY")
        .output()
        .expect("the callplan binary runs")
}

fn run(args: &[&str]) -> Output {
    run_in(&dir(), args)
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited, not killed")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `--format json`: the exit code and the document.
fn json(args: &[&str]) -> (i32, Value) {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let out = run(&all);
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\nstderr: {}",
            stdout(&out),
            stderr(&out)
        )
    });
    (code(&out), doc)
}

type Found = BTreeSet<(String, Option<u64>, Option<String>)>;

/// (kind, row, column) of every finding.
fn found(doc: &Value) -> Found {
    doc["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().expect("kind").to_string(),
                f["row"].as_u64(),
                f["column"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn expect(list: &[(&str, Option<u64>, Option<&str>)]) -> Found {
    list.iter()
        .map(|(k, r, c)| (k.to_string(), *r, c.map(str::to_string)))
        .collect()
}

fn summary(doc: &Value) -> [u64; 4] {
    let s = &doc["summary"];
    ["rows_read", "ready", "with_errors", "with_warnings"].map(|k| s[k].as_u64().expect(k))
}

const NUM: Option<&str> = Some("to_number");

fn rows_expected() -> Found {
    expect(&[
        ("number_whitespace", Some(3), NUM),
        ("spreadsheet_scientific", Some(4), NUM),
        ("spreadsheet_formula", Some(5), NUM),
        ("spreadsheet_text_prefix", Some(6), NUM),
        ("lost_plus", Some(7), NUM),
        ("national_format", Some(8), NUM),
        ("not_e164", Some(9), NUM),
        ("invalid_number", Some(10), NUM),
        ("same_as_from_number", Some(11), NUM),
        ("duplicate_number", Some(12), NUM),
        ("number_missing", Some(15), NUM),
        ("missing_variable", Some(16), Some("customer_name")),
        ("blank_row", Some(17), None),
        ("ragged_row", Some(18), None),
        ("not_utf8", Some(19), Some("customer_name")),
        ("repeated_header", Some(20), None),
        ("bad_quoting", Some(21), Some("customer_name")),
    ])
}

#[test]
fn every_row_finding_is_located() {
    let (code, doc) = json(&["rows.yaml"]);
    assert_eq!(code, 1);
    assert_eq!(found(&doc), rows_expected());
    assert_eq!(summary(&doc), [22, 7, 15, 1]);
    assert_eq!(doc["ok"], false);
}

#[test]
fn a_key_column_and_default_region_change_what_rows_mean() {
    let (code, doc) = json(&["keyed.yaml"]);
    assert_eq!(code, 1);
    assert_eq!(
        found(&doc),
        expect(&[
            ("number_whitespace", Some(3), NUM),
            ("spreadsheet_scientific", Some(4), NUM),
            ("spreadsheet_formula", Some(5), NUM),
            ("spreadsheet_text_prefix", Some(6), NUM),
            ("national_normalized", Some(7), NUM),
            ("national_normalized", Some(8), NUM),
            ("not_e164", Some(9), NUM),
            ("invalid_number", Some(10), NUM),
            ("same_as_from_number", Some(11), NUM),
            ("shared_number", Some(12), NUM),
            ("duplicate_key", Some(13), Some("patient_id")),
            ("missing_key", Some(14), Some("patient_id")),
            ("number_missing", Some(15), NUM),
            ("missing_variable", Some(16), Some("customer_name")),
            ("blank_row", Some(17), None),
            ("ragged_row", Some(18), None),
            ("not_utf8", Some(19), Some("customer_name")),
            ("repeated_header", Some(20), None),
            ("bad_quoting", Some(21), Some("customer_name")),
        ])
    );
    assert_eq!(summary(&doc), [22, 8, 14, 4]);
}

#[test]
fn every_plan_finding_is_located() {
    let (code, doc) = json(&["plan-values.yaml"]);
    assert_eq!(code, 1);
    let c = |s| Some(s);
    assert_eq!(
        found(&doc),
        expect(&[
            ("from_number_invalid", None, c("from_number")),
            ("agent_version_missing", None, c("agent_version_id")),
            ("not_positive", None, c("dispatch.concurrency")),
            ("not_positive", None, c("dispatch.max_attempts")),
            ("out_of_bounds", None, c("dispatch.max_active_calls")),
            ("not_positive", None, c("dispatch.rate_per_second")),
            ("not_positive", None, c("api.connect_timeout_s")),
            ("not_positive", None, c("api.request_timeout_s")),
            ("bad_variable_name", None, c("required_variables")),
            ("bad_variable_name", None, c("variables")),
            ("default_is_metadata", None, c("variables.crm_contact_id")),
            ("bad_default_region", None, c("default_region")),
            ("bad_base_url", None, c("api.base_url")),
        ])
    );
    // A plan error blocks every row, though the rows themselves are fine.
    assert_eq!(summary(&doc), [2, 0, 2, 0]);
    for f in doc["findings"].as_array().unwrap() {
        assert_eq!(f["file"], "plan-values.yaml");
    }
}

#[test]
fn a_warning_alone_exits_zero() {
    let (code, doc) = json(&["agent-prefix.yaml"]);
    assert_eq!(code, 0);
    assert_eq!(
        found(&doc),
        expect(&[("agent_version_prefix", None, Some("agent_version_id"))])
    );
    assert_eq!(summary(&doc), [2, 2, 0, 0]);
}

/// header.yaml run with `--recipients` on each header fixture.
fn header_case(csv: &str) -> (i32, Value) {
    json(&["header.yaml", "--recipients", csv])
}

#[test]
fn header_problems_are_named_on_row_1() {
    let (code, doc) = header_case("header-problems.csv");
    assert_eq!(code, 1);
    let one = Some(1);
    assert_eq!(
        found(&doc),
        expect(&[
            ("missing_column", one, Some("patient_id")),
            ("missing_column", one, Some("crm_contact_id")),
            ("header_case_mismatch", one, Some("Clinic_Name")),
            ("duplicate_header", one, Some("customer_name")),
            ("blank_header", one, Some("F")),
            ("missing_variable_column", one, Some("appointment_time")),
        ])
    );
    // Header errors block every row.
    assert_eq!(summary(&doc), [1, 0, 1, 0]);
    let mismatch = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "header_case_mismatch")
        .unwrap();
    let problem = mismatch["problem"].as_str().unwrap();
    assert!(
        problem.contains("`Clinic_Name`") && problem.contains("`clinic_name`"),
        "{problem}"
    );
}

#[test]
fn a_file_without_header_row() {
    let (code, doc) = header_case("header-none.csv");
    assert_eq!(code, 1);
    assert_eq!(found(&doc), expect(&[("no_header", Some(1), Some("A"))]));
}

#[test]
fn semicolons_instead_of_commas() {
    let (code, doc) = header_case("header-semicolon.csv");
    assert_eq!(code, 1);
    assert_eq!(
        found(&doc),
        expect(&[("wrong_delimiter", Some(1), Some("A"))])
    );
}

#[test]
fn a_missing_number_column_suggests_the_likely_one() {
    let (code, doc) = header_case("header-phone.csv");
    assert_eq!(code, 1);
    assert_eq!(found(&doc), expect(&[("missing_column", Some(1), NUM)]));
    let fix = doc["findings"][0]["fix"].as_str().unwrap();
    assert!(fix.contains("`phone`"), "{fix}");
}

#[test]
fn empty_files_and_header_only_files() {
    let (code, doc) = header_case("header-only.csv");
    assert_eq!(code, 0);
    assert_eq!(found(&doc), expect(&[("no_rows", None, None)]));

    let (code, doc) = header_case("header-empty.csv");
    assert_eq!(code, 1);
    assert_eq!(found(&doc), expect(&[("no_header", Some(1), None)]));

    let (code, doc) = header_case("header-blank-first.csv");
    assert_eq!(code, 1);
    assert_eq!(
        found(&doc),
        expect(&[("no_header", Some(1), None), ("blank_row", Some(2), None)])
    );
}

#[test]
fn a_quote_that_never_closes() {
    let (code, doc) = json(&[
        "agent-prefix.yaml",
        "--recipients",
        "quote-unterminated.csv",
    ]);
    assert_eq!(code, 1);
    let f = found(&doc);
    assert!(
        f.contains(&("bad_quoting".into(), Some(2), Some("customer_name".into()))),
        "{f:?}"
    );
}

#[test]
fn bom_crlf_and_quoted_cells_are_fine() {
    let (code, doc) = header_case("awkward.csv");
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(found(&doc), Found::new());
    assert_eq!(summary(&doc), [2, 2, 0, 0]);
}

#[test]
fn every_kind_is_covered_by_these_fixtures() {
    let mut seen = BTreeSet::new();
    let runs: &[&[&str]] = &[
        &["rows.yaml"],
        &["keyed.yaml"],
        &["plan-values.yaml"],
        &["agent-prefix.yaml"],
        &["caller-ids.yaml"],
        &["header.yaml", "--recipients", "header-problems.csv"],
        &["header.yaml", "--recipients", "header-none.csv"],
        &["header.yaml", "--recipients", "header-semicolon.csv"],
        &["header.yaml", "--recipients", "header-only.csv"],
        &["windows/plan.yaml"],
    ];
    for args in runs {
        let (_, doc) = json(args);
        seen.extend(found(&doc).into_iter().map(|(k, _, _)| k));
    }
    // Cell types exist only in workbooks: tests/it/workbook.rs shows those.
    let all: BTreeSet<String> = Kind::ALL
        .iter()
        .filter(|k| !crate::workbook::WORKBOOK_ONLY.contains(k))
        .map(|k| k.as_str().to_string())
        .collect();
    let missing: Vec<_> = all.difference(&seen).collect();
    assert!(missing.is_empty(), "kinds no fixture shows: {missing:?}");
}

#[test]
fn every_kind_is_in_the_readme() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .expect("README.md");
    for k in Kind::ALL {
        let row = format!("| `{}` | {} |", k.as_str(), k.severity().as_str());
        assert!(readme.contains(&row), "README lacks the row {row}");
    }
}

#[test]
fn the_examples_match_their_promise() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = run_in(&root, &["plans/appointment-reminders.yaml"]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(
        stdout(&out).contains("50 rows read: 50 ready (0 with warnings), 0 with errors"),
        "{}",
        stdout(&out)
    );
    let out = run_in(&root, &["plans/appointment-reminders-broken.yaml"]);
    assert_eq!(code(&out), 1);
    // The broken example is the rows fixture.
    let example = std::fs::read(root.join("examples/appointment-reminders-broken.csv")).unwrap();
    let fixture = std::fs::read(dir().join("rows.csv")).unwrap();
    assert_eq!(
        example, fixture,
        "tests/fixtures/validate/rows.csv is a copy of the example"
    );
}

#[test]
fn text_output_names_file_row_column_value_and_fix() {
    let out = run(&["rows.yaml"]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(
        text.contains(
            "error[national_format]: rows.csv, row 8, column to_number: \"(617) 555-0142\""
        ),
        "{text}"
    );
    assert!(text.contains("fix: write it as +442079460456"), "{text}");
    assert!(
        text.trim_end().ends_with(
            "22 rows read: 7 ready (1 with warnings), 15 with errors; 15 errors, 2 warnings in all"
        ),
        "{text}"
    );
}

#[test]
fn json_findings_carry_every_field() {
    let (_, doc) = json(&["rows.yaml"]);
    assert_eq!(doc["plan"], "rows.yaml");
    assert_eq!(doc["recipients"], "rows.csv");
    assert_eq!(doc["counts"]["duplicate_number"], 1);
    assert_eq!(doc["findings_omitted"], 0);
    let f = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kind"] == "duplicate_number")
        .unwrap();
    assert_eq!(f["severity"], "error");
    assert_eq!(f["file"], "rows.csv");
    assert_eq!(f["row"], 12);
    assert_eq!(f["column"], "to_number");
    assert_eq!(f["value"], "+12125550142");
    assert_eq!(f["to_number"], "+12125550142");
    assert!(f["problem"].as_str().unwrap().contains("row 2"));
    assert!(f["fix"].as_str().unwrap().contains("rows 2 and 12"));
}

fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .expect("errors-out file exists");
    r.records()
        .map(|rec| rec.expect("valid CSV").iter().map(str::to_string).collect())
        .collect()
}

#[test]
fn errors_out_lists_every_finding() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("to-fix.csv");
    let out = run(&["rows.yaml", "--errors-out", path.to_str().unwrap()]);
    assert_eq!(code(&out), 1);
    let rows = read_csv(&path);
    assert_eq!(rows[0], ["row", "to_number", "column", "problem"]);
    assert_eq!(rows.len(), 1 + 17);
    let line = rows.iter().find(|r| r[0] == "9").expect("row 9 is listed");
    assert_eq!(line[1], "+44 20 7946 0456");
    assert_eq!(line[2], "to_number");
    assert!(line[3].contains("write it as +442079460456"), "{line:?}");
    let warning = rows.iter().find(|r| r[0] == "3").expect("row 3 is listed");
    assert!(warning[3].starts_with("warning: "), "{warning:?}");
    // Row numbers are as listed, in file order.
    let listed: Vec<u64> = rows[1..].iter().map(|r| r[0].parse().unwrap()).collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(listed, sorted);
}

#[test]
fn errors_out_has_a_header_even_when_all_is_well() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("to-fix.csv");
    let out = run(&[
        "header.yaml",
        "--recipients",
        "awkward.csv",
        "--errors-out",
        path.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 0);
    assert_eq!(
        read_csv(&path),
        vec![vec!["row", "to_number", "column", "problem"]]
    );
}

#[test]
fn errors_out_never_overwrites_the_input() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["ok.csv", "agent-prefix.yaml"] {
        std::fs::copy(dir().join(name), tmp.path().join(name)).unwrap();
    }
    let before = std::fs::read(tmp.path().join("ok.csv")).unwrap();
    for target in ["ok.csv", "./agent-prefix.yaml"] {
        let out = run_in(tmp.path(), &["agent-prefix.yaml", "--errors-out", target]);
        assert_eq!(code(&out), 2, "{target}");
        assert!(
            stderr(&out).contains("would destroy it"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(std::fs::read(tmp.path().join("ok.csv")).unwrap(), before);
}

#[test]
fn errors_out_in_a_missing_folder_is_a_usage_error() {
    let out = run(&["rows.yaml", "--errors-out", "/nonexistent-dir/x.csv"]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("--errors-out"), "{}", stderr(&out));
}

/// Writes a plan and a CSV of `n` nationally written numbers into `dir`.
fn many_national(dir: &Path, n: u32) -> PathBuf {
    let mut csv = String::from("to_number,customer_name\n");
    for i in 0..n {
        csv.push_str(&format!("(212) 555-{:04},Person {i}\n", 100 + i % 100));
    }
    std::fs::write(dir.join("many.csv"), csv).unwrap();
    let plan = dir.join("many.yaml");
    std::fs::write(
        &plan,
        "name: many\nfrom_number: \"+14155550100\"\nagent_version_id: av_x\nrecipients: many.csv\n",
    )
    .unwrap();
    plan
}

#[test]
fn many_findings_are_grouped_by_kind() {
    let tmp = tempfile::tempdir().unwrap();
    many_national(tmp.path(), 200);
    let out = run_in(tmp.path(), &["many.yaml"]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(text.contains("error[national_format] x200:"), "{text}");
    assert!(
        text.contains("  row 2, column to_number: \"(212) 555-0100\""),
        "{text}"
    );
    assert!(text.contains("also rows 5, 6, 7"), "{text}");
    assert!(
        text.contains("and 177 more (--errors-out FILE lists every finding)"),
        "{text}"
    );
    // Only 3 examples in full, not 200 paragraphs.
    assert_eq!(text.matches("  fix: ").count(), 3, "{text}");
}

#[test]
fn the_report_keeps_a_sample_but_errors_out_gets_everything() {
    let tmp = tempfile::tempdir().unwrap();
    many_national(tmp.path(), 1500);
    let errors_out = tmp.path().join("fix.csv");
    let out = run_in(
        tmp.path(),
        &[
            "many.yaml",
            "--format",
            "json",
            "--errors-out",
            errors_out.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 1);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["counts"]["national_format"], 1500);
    assert_eq!(doc["findings"].as_array().unwrap().len(), 1000);
    assert_eq!(doc["findings_omitted"], 500);
    assert_eq!(summary(&doc), [1500, 0, 1500, 0]);
    assert_eq!(read_csv(&errors_out).len(), 1 + 1500);
}

#[test]
fn unreadable_input_exits_2_with_a_reason() {
    let cases: &[(&[&str], &str)] = &[
        (&["no-such-plan.yaml"], "cannot read plan no-such-plan.yaml"),
        (&["not-yaml.yaml"], "not-yaml.yaml:1:7"),
        (&["unknown-key.yaml"], "did you mean `concurrency`?"),
        (&["unknown-key.yaml"], "unknown-key.yaml:6:3"),
        (
            &["wrong-type.yaml"],
            "`dispatch.concurrency` must be a whole number",
        ),
        (
            &["missing-csv.yaml"],
            "cannot open recipients file no-such-file.csv",
        ),
        (
            &["rows.yaml", "--recipients", "workbook.csv"],
            "spreadsheet workbook",
        ),
        (&["rows.yaml", "--recipients", "utf16.csv"], "UTF-16"),
        (
            &["rows.yaml", "--recipients", "header-latin1.csv"],
            "header row (row 1) is not UTF-8",
        ),
        (
            &["rows.yaml", "--recipients", "."],
            "cannot open recipients file",
        ),
    ];
    for (args, needle) in cases {
        let out = run(args);
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: expected {needle:?} in {err}"
        );
        assert!(stdout(&out).is_empty(), "{args:?}");
    }
}

#[test]
fn recipients_flag_overrides_the_plan() {
    let (code, doc) = json(&["rows.yaml", "--recipients", "ok.csv"]);
    assert_eq!(code, 0);
    assert_eq!(doc["recipients"], "ok.csv");
    assert_eq!(summary(&doc), [2, 2, 0, 0]);
}

#[test]
fn the_api_key_is_never_printed() {
    let secret = "sk_live_do_not_print_me_123";
    for args in [
        &["rows.yaml"][..],
        &["rows.yaml", "--format", "json"],
        &["unknown-key.yaml"],
    ] {
        let out = Command::new(bin())
            .arg("validate")
            .args(args)
            .current_dir(dir())
            .env("DIALNEXA_API_KEY", secret)
            .output()
            .unwrap();
        assert!(!stdout(&out).contains(secret) && !stderr(&out).contains(secret));
    }
}

// The library side: the rows `run` receives.

fn rows_of(plan: &str) -> (callplan::validate::Report, BTreeMap<u64, Row>) {
    let plan = callplan::plan::load(&dir().join(plan)).expect("fixture plan loads");
    let mut rows = BTreeMap::new();
    let report = callplan::validate::validate(&plan, &plan.recipients.clone(), |r| {
        rows.insert(r.row, r);
    })
    .expect("fixture CSV reads");
    (report, rows)
}

#[test]
fn rows_carry_normalized_numbers_merged_variables_and_error_counts() {
    let (report, rows) = rows_of("rows.yaml");
    assert_eq!(rows.len() as u64, report.rows_read);
    let first = &rows[&2];
    assert_eq!(first.to_number, "+12125550142");
    assert_eq!(first.key, "+12125550142");
    assert_eq!(first.errors, 0);
    assert_eq!(first.variables["customer_name"], "Maria Garcia");
    assert_eq!(
        first.variables["clinic_name"], "Sunrise Dental",
        "default kept for an empty cell"
    );
    assert_eq!(first.variables["patient_id"], "P-1001");
    assert!(
        !first.variables.contains_key("crm_contact_id"),
        "metadata is not a variable"
    );
    assert!(!first.variables.contains_key("to_number"));
    assert_eq!(first.metadata["crm_contact_id"], "crm_20001");
    let trimmed = &rows[&3];
    assert_eq!(trimmed.to_number, "+442079460123");
    assert_eq!(trimmed.errors, 0, "a warning does not block");
    assert_eq!(
        trimmed.variables["clinic_name"], "Sunrise Dental London",
        "a cell overrides"
    );
    let national = &rows[&8];
    assert_eq!(
        national.to_number, "(617) 555-0142",
        "invalid: the trimmed cell"
    );
    assert_eq!(national.errors, 1);
    assert_eq!(rows[&12].errors, 1, "the second of a duplicate");
    assert!(!rows.contains_key(&17), "blank rows are not recipients");
    let dialable = rows.values().filter(|r| r.errors == 0).count() as u64;
    assert_eq!(dialable, report.ready);
}

#[test]
fn keyed_rows_use_the_key_and_normalize_national_numbers() {
    let (_, rows) = rows_of("keyed.yaml");
    assert_eq!(rows[&2].key, "P-1001");
    assert_eq!(rows[&8].to_number, "+16175550142");
    assert_eq!(rows[&8].errors, 0);
    assert_eq!(rows[&12].errors, 0, "a shared number is a warning");
    assert_eq!(rows[&13].errors, 1, "a duplicate key is an error");
}

#[test]
fn plan_errors_block_every_row() {
    let (report, rows) = rows_of("plan-values.yaml");
    assert!(report.has_errors());
    assert!(rows.values().all(|r| r.errors >= 12), "{rows:?}");
}

// Calling windows, redials and do-not-call lists (tests/fixtures/validate/windows/).

#[test]
fn a_plan_with_schedule_redial_and_suppress_validates_its_rows() {
    let (code, doc) = json(&["windows/plan.yaml"]);
    assert_eq!(code, 1, "{doc:#}");
    let tz = Some("timezone");
    assert_eq!(
        found(&doc),
        expect(&[
            ("suppress_file_row", Some(3), None),
            ("no_timezone", Some(4), tz),
            ("bad_timezone", Some(5), tz),
        ])
    );
    // rows 2, 3, 7 ready; 6 and 8 suppressed (not errors); 4 and 5 errors.
    assert_eq!(summary(&doc), [7, 3, 2, 0]);
    assert_eq!(doc["summary"]["suppressed"], 2);
    assert_eq!(doc["summary"]["suppress_numbers"], 2);
    let findings = doc["findings"].as_array().unwrap();
    let dnc = &findings[0];
    assert_eq!(dnc["severity"], "warning");
    assert_eq!(dnc["file"], "windows/dnc.csv");
    assert!(
        dnc["problem"].as_str().unwrap().contains("`not-a-number`"),
        "{dnc}"
    );
    let no_zone = &findings[1];
    assert!(
        no_zone["problem"].as_str().unwrap().contains("US has"),
        "{no_zone}"
    );
    assert!(
        no_zone["fix"]
            .as_str()
            .unwrap()
            .contains("schedule.timezone"),
        "{no_zone}"
    );
    let bad = &findings[2];
    assert_eq!(bad["value"], "America/New York");
    assert!(
        bad["fix"]
            .as_str()
            .unwrap()
            .starts_with("did you mean America/New_York?"),
        "{bad}"
    );
}

#[test]
fn the_summary_line_counts_suppressed_rows() {
    let out = run(&["windows/plan.yaml"]);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(
        text.trim_end().ends_with(
            "7 rows read: 3 ready (0 with warnings), 2 suppressed (do-not-call), 2 with errors; \
             2 errors, 1 warning in all"
        ),
        "{text}"
    );
    assert!(
        text.contains("warning[suppress_file_row]: windows/dnc.csv, row 3"),
        "{text}"
    );
}

#[test]
fn a_plan_zone_covers_rows_without_one() {
    let (code, doc) = json(&["windows/plan-zone.yaml"]);
    assert_eq!(code, 1);
    assert_eq!(
        found(&doc),
        expect(&[
            ("suppress_file_row", Some(3), None),
            ("bad_timezone", Some(5), Some("timezone")),
        ])
    );
    assert_eq!(summary(&doc), [7, 4, 1, 0]);
    assert_eq!(doc["summary"]["suppressed"], 2);
}

#[test]
fn without_a_schedule_zone_cells_are_checked_and_nothing_is_suppressed() {
    let (code, doc) = json(&["windows/no-schedule.yaml"]);
    assert_eq!(code, 1);
    assert_eq!(
        found(&doc),
        expect(&[("bad_timezone", Some(5), Some("timezone"))])
    );
    assert_eq!(summary(&doc), [7, 6, 1, 0]);
    assert_eq!(doc["summary"]["suppressed"], 0);
    assert_eq!(doc["summary"]["suppress_numbers"], Value::Null);
    // No lists, no mention of them.
    let out = run(&["windows/no-schedule.yaml"]);
    assert!(!stdout(&out).contains("suppressed"), "{}", stdout(&out));
}

#[test]
fn a_zero_live_call_cap_is_a_plan_finding() {
    let (code, doc) = json(&["windows/zero-cap.yaml"]);
    assert_eq!(code, 1);
    assert_eq!(
        found(&doc),
        expect(&[("not_positive", None, Some("dispatch.max_active_calls"))])
    );
}

#[test]
fn bad_schedule_redial_and_suppress_values_exit_2_with_line_and_column() {
    let cases: &[(&str, &str)] = &[
        (
            "bad-hours.yaml",
            "bad-hours.yaml:7:10: schedule.hours `9-17`",
        ),
        (
            "bad-zone.yaml",
            "bad-zone.yaml:7:13: schedule.timezone `America/NewYork` is not an IANA time zone name",
        ),
        (
            "bad-days.yaml",
            "bad-days.yaml:6:9: schedule.days: `funday` is not a day of the week",
        ),
        (
            "bad-window.yaml",
            "bad-window.yaml:8:11: schedule.end_at (2026-06-01T09:00:00Z) is not after",
        ),
        (
            "bad-redial-on.yaml",
            "bad-redial-on.yaml:6:7: redial.on: `completed` is never redialled",
        ),
        (
            "bad-redial-after.yaml",
            "bad-redial-after.yaml:7:10: redial.after `two hours`",
        ),
        (
            "bad-redial-max.yaml",
            "bad-redial-max.yaml:6:8: redial.max 50 is more than 10",
        ),
        (
            "bad-suppress.yaml",
            "bad-suppress.yaml:5:11: `suppress` must be a list of file paths",
        ),
        (
            "bad-cap.yaml",
            "bad-cap.yaml:6:21: `dispatch.max_active_calls` must be a whole number of at least 1, not `lots`",
        ),
        (
            "bad-zone-column.yaml",
            "bad-zone-column.yaml:6:13: `columns.timezone` must be text",
        ),
        (
            "typo-schedule.yaml",
            "typo-schedule.yaml:5:1: unknown key `schedul`: did you mean `schedule`?",
        ),
        (
            "missing-dnc.yaml",
            "cannot read do-not-call file windows/no-such-list.csv",
        ),
        (
            "dnc-no-column.yaml",
            "do-not-call file windows/recipients-as-dnc.csv has no column named to_number",
        ),
    ];
    for (plan, needle) in cases {
        let path = format!("windows/{plan}");
        let out = run(&[&path]);
        let err = stderr(&out);
        assert_eq!(code(&out), 2, "{plan}: {err}");
        assert!(err.starts_with("error: "), "{plan}: {err}");
        assert!(err.contains(needle), "{plan}: expected {needle:?} in {err}");
        assert!(stdout(&out).is_empty(), "{plan}");
    }
}

#[test]
fn a_number_added_to_a_list_between_two_runs_is_suppressed_on_the_second() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["recipients.csv", "dnc.csv", "plan-zone.yaml"] {
        std::fs::copy(dir().join("windows").join(name), tmp.path().join(name)).unwrap();
    }
    std::fs::create_dir(tmp.path().join("lists")).unwrap();
    let unsubscribed = tmp.path().join("lists/unsubscribed.csv");
    std::fs::write(&unsubscribed, "phone\n").unwrap();
    let count = |tmp: &Path| {
        let out = run_in(tmp, &["plan-zone.yaml", "--format", "json"]);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["summary"]["suppressed"].as_u64().unwrap()
    };
    assert_eq!(count(tmp.path()), 1);
    // Written nationally with an international prefix: read as the same number.
    std::fs::write(
        &unsubscribed,
        "phone\n001 212 555 0146\n\"+44 20 7946 0123\"\n",
    )
    .unwrap();
    assert_eq!(count(tmp.path()), 3);
    let plan = callplan::plan::load(&tmp.path().join("plan-zone.yaml")).unwrap();
    let (list, findings) = callplan::validate::load_suppressions(&plan).unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(findings.len(), 1, "the bad line of dnc.csv");
    assert!(list.contains("+12125550146") && list.contains("+442079460123"));
}

#[test]
fn errors_out_never_overwrites_a_do_not_call_list() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["recipients.csv", "dnc.csv", "plan-zone.yaml"] {
        std::fs::copy(dir().join("windows").join(name), tmp.path().join(name)).unwrap();
    }
    std::fs::create_dir(tmp.path().join("lists")).unwrap();
    std::fs::write(
        tmp.path().join("lists/unsubscribed.csv"),
        "phone\n+12125550146\n",
    )
    .unwrap();
    let before = std::fs::read(tmp.path().join("dnc.csv")).unwrap();
    for target in ["dnc.csv", "lists/../lists/unsubscribed.csv"] {
        let out = run_in(tmp.path(), &["plan-zone.yaml", "--errors-out", target]);
        assert_eq!(code(&out), 2, "{target}");
        assert!(
            stderr(&out).contains("do-not-call list"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(std::fs::read(tmp.path().join("dnc.csv")).unwrap(), before);
}

#[test]
fn scheduled_rows_carry_their_zone_and_suppressed_rows_their_flag() {
    let (report, rows) = rows_of("windows/plan-zone.yaml");
    let zone = |r: u64| {
        rows[&r]
            .timezone
            .as_ref()
            .and_then(|z| z.iana_name())
            .map(str::to_string)
    };
    assert_eq!(zone(2).as_deref(), Some("Europe/Paris"), "France: one zone");
    assert_eq!(zone(3).as_deref(), Some("America/New_York"), "the cell");
    assert_eq!(zone(4).as_deref(), Some("America/New_York"), "the plan's");
    assert_eq!(zone(5), None, "a bad cell: an error, no zone");
    assert_eq!(zone(7).as_deref(), Some("Europe/London"));
    for r in [6, 8] {
        assert!(rows[&r].suppressed, "row {r}");
        assert_eq!(rows[&r].errors, 0, "row {r}: listed is not an error");
    }
    assert!(
        rows.values()
            .filter(|r| r.row != 6 && r.row != 8)
            .all(|r| !r.suppressed)
    );
    assert!(
        rows.values().all(|r| !r.variables.contains_key("timezone")),
        "the zone column is not a variable"
    );
    assert_eq!(report.suppressed, 2);
    // Without a schedule no zone is worked out.
    let (_, rows) = rows_of("windows/no-schedule.yaml");
    assert!(rows.values().all(|r| r.timezone.is_none() && !r.suppressed));
}
