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
        &["header.yaml", "--recipients", "header-problems.csv"],
        &["header.yaml", "--recipients", "header-none.csv"],
        &["header.yaml", "--recipients", "header-semicolon.csv"],
        &["header.yaml", "--recipients", "header-only.csv"],
    ];
    for args in runs {
        let (_, doc) = json(args);
        seen.extend(found(&doc).into_iter().map(|(k, _, _)| k));
    }
    let all: BTreeSet<String> = Kind::ALL.iter().map(|k| k.as_str().to_string()).collect();
    let missing: Vec<_> = all.difference(&seen).collect();
    assert!(missing.is_empty(), "kinds no fixture shows: {missing:?}");
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
