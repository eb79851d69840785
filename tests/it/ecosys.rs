//! Integration tests: the commands that fit callplan into its users' tools.
//! `completions` and `man` (generated from the clap definitions: every
//! subcommand present, and every exit code in the man page), and `init`
//! (a plan written for a recipients file that `validate` accepts once its
//! placeholders are filled in).

use std::process::{Command, Output};

use callplan::exit::Exit;
use clap::CommandFactory;

use crate::common::{bin, show};

fn callplan(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env_remove("DIALNEXA_API_KEY")
        .output()
        .expect("the callplan binary runs")
}

/// Every subcommand name, from the same clap definitions the binary parses.
fn subcommands() -> Vec<String> {
    let names: Vec<String> = callplan::cli::Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for expected in [
        "validate",
        "run",
        "status",
        "track",
        "sandbox",
        "init",
        "completions",
        "man",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    names
}

#[test]
fn every_shell_gets_a_script_naming_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = callplan(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", show(&out));
        let script = String::from_utf8(out.stdout).expect("UTF-8 script");
        assert!(script.len() > 500, "{shell}: {} bytes", script.len());
        assert!(script.contains("callplan"), "{shell}");
        for sub in subcommands() {
            assert!(script.contains(&sub), "{shell} script lacks `{sub}`");
        }
        // Options of subcommands are completed too, not only their names.
        assert!(script.contains("errors-out"), "{shell} lacks --errors-out");
    }
}

#[test]
fn the_bash_script_loads_and_registers_the_completion() {
    let out = callplan(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("callplan.bash");
    std::fs::write(&file, &out.stdout).unwrap();
    let Ok(bash) = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}' && complete -p callplan",
            file.display()
        ))
        .output()
    else {
        return; // no bash on this machine: the script was checked above
    };
    assert_eq!(bash.status.code(), Some(0), "{}", show(&bash));
    assert!(String::from_utf8_lossy(&bash.stdout).contains("callplan"));
}

#[test]
fn an_unknown_shell_is_a_usage_error_naming_the_choices() {
    let out = callplan(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bash") && err.contains("powershell"), "{err}");
}

/// The man page with roff's escapes undone, for plain-text searching.
fn man_page() -> (String, String) {
    let out = callplan(&["man"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let roff = String::from_utf8(out.stdout).expect("UTF-8 roff");
    let plain = roff
        .replace("\\-", "-")
        .replace("\\*(Aq", "'")
        .replace("\\fB", "")
        .replace("\\fI", "")
        .replace("\\fR", "");
    (roff, plain)
}

#[test]
fn the_man_page_has_every_subcommand_and_every_exit_code() {
    let (roff, plain) = man_page();
    assert!(
        roff.starts_with(".ie") || roff.starts_with(".TH"),
        "{roff:.200}"
    );
    assert!(roff.contains(".TH callplan 1"), "{roff:.400}");
    assert_eq!(roff.matches(".SH \"EXIT STATUS\"").count(), 1);
    for sub in subcommands() {
        assert!(
            roff.contains(&format!(".SS \"callplan {sub}\"")),
            "no COMMANDS entry for {sub}"
        );
    }
    let exit_status = plain
        .split(".SH \"EXIT STATUS\"")
        .nth(1)
        .and_then(|s| s.split(".SH").next())
        .expect("an EXIT STATUS section");
    assert_eq!(
        Exit::ALL.len(),
        8,
        "one entry per exit, three of them code 2"
    );
    for exit in Exit::ALL {
        let entry = format!(".TP\n{}\n{}\n", exit.code(), exit.description());
        assert!(exit_status.contains(&entry), "{entry:?} in {exit_status}");
    }
    // Options of a subcommand, with their values, and the environment.
    assert!(plain.contains("--errors-out CSV"), "{plain}");
    assert!(plain.contains("DIALNEXA_API_KEY"));
    // Roff control characters in help text are escaped, not executed.
    assert!(!roff.lines().any(|l| l.starts_with("\\.")), "{roff}");
}

#[test]
fn man_renders_without_roff_warnings_where_man_is_installed() {
    let out = callplan(&["man"]);
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("callplan.1");
    std::fs::write(&page, &out.stdout).unwrap();
    let Ok(rendered) = Command::new("man")
        .args(["--warnings", "-l"])
        .arg(&page)
        .env("MANWIDTH", "80")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .output()
    else {
        return; // no man on this machine
    };
    if rendered.status.code() != Some(0) {
        return; // man present but unable to format here (no groff)
    }
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(text.contains("EXIT STATUS"), "{text}");
    assert!(text.contains("130"), "{text}");
    let warnings = String::from_utf8_lossy(&rendered.stderr);
    assert!(warnings.trim().is_empty(), "{warnings}");
}

/// Runs `callplan ARGS` in `cwd`.
fn callplan_in(cwd: &std::path::Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env_remove("DIALNEXA_API_KEY")
        .output()
        .expect("the callplan binary runs")
}

/// The plan with its two placeholders filled in, as a user would.
fn filled(plan: &str) -> String {
    assert_eq!(plan.matches("# FILL IN:").count(), 2, "{plan}");
    plan.replacen("\"+XXXXXXXXXXX\"", "\"+14155550100\"", 1)
        .replacen("agent_version_id: \"\"", "agent_version_id: av_sandbox", 1)
}

fn findings(out: &Output) -> Vec<serde_json::Value> {
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(out)));
    report["findings"].as_array().expect("findings").clone()
}

fn codes(findings: &[serde_json::Value]) -> Vec<String> {
    findings
        .iter()
        .map(|f| f["kind"].as_str().expect("a kind").to_string())
        .collect()
}

#[test]
fn init_on_each_example_then_validate_once_the_placeholders_are_filled() {
    let examples = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut csvs: Vec<_> = std::fs::read_dir(&examples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    csvs.sort();
    assert!(csvs.len() >= 2, "{csvs:?}");
    let dir = tempfile::tempdir().unwrap();
    for csv in csvs {
        let stem = csv.file_stem().unwrap().to_str().unwrap().to_string();
        let plan = dir.path().join(format!("{stem}.yaml"));
        let out = callplan_in(
            dir.path(),
            &[
                "init",
                csv.to_str().unwrap(),
                "--out",
                plan.to_str().unwrap(),
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("fill in from_number"));
        let text = std::fs::read_to_string(&plan).unwrap();
        assert!(text.contains(&format!("name: {stem}")), "{text}");

        // As written, validate reports both placeholders, as errors.
        let out = callplan_in(
            dir.path(),
            &["validate", plan.to_str().unwrap(), "--format", "json"],
        );
        assert_eq!(out.status.code(), Some(1), "{}", show(&out));
        let found = codes(&findings(&out));
        assert!(
            found.contains(&"from_number_invalid".to_string()),
            "{found:?}"
        );
        assert!(
            found.contains(&"agent_version_missing".to_string()),
            "{found:?}"
        );

        // Filled in: no finding is about the plan or the header.
        std::fs::write(&plan, filled(&text)).unwrap();
        let out = callplan_in(
            dir.path(),
            &["validate", plan.to_str().unwrap(), "--format", "json"],
        );
        let all = findings(&out);
        let about_plan: Vec<_> = all.iter().filter(|f| f["row"].is_null()).collect();
        assert!(about_plan.is_empty(), "{stem}: {about_plan:?}");
        if stem.ends_with("broken") {
            // The broken list keeps its row errors: those are the sheet's.
            assert_eq!(out.status.code(), Some(1), "{}", show(&out));
            assert!(codes(&all).contains(&"spreadsheet_scientific".to_string()));
        } else {
            assert_eq!(out.status.code(), Some(0), "{stem}: {}", show(&out));
            assert!(all.is_empty(), "{all:?}");
        }
    }
}

#[test]
fn init_writes_beside_the_list_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let lists = dir.path().join("lists");
    std::fs::create_dir(&lists).unwrap();
    let csv = lists.join("June List.csv");
    std::fs::write(&csv, "Name,Mobile\nAnn,+14155550142\nBo,+14155550143\n").unwrap();
    let out = callplan_in(dir.path(), &["init", "lists/June List.csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let plan = lists.join("June List.plan.yaml");
    let text = std::fs::read_to_string(&plan).expect("the plan beside the list");
    assert!(text.contains("recipients: \"June List.csv\""), "{text}");
    assert!(text.contains("to_number: Mobile"), "{text}");
    assert!(text.contains("required_variables: [Name]"), "{text}");
    assert!(text.contains("name: June-List"), "{text}");

    // Again: refused with exit 2, the plan left as it was.
    std::fs::write(&plan, "edited by hand\n").unwrap();
    let out = callplan_in(dir.path(), &["init", "lists/June List.csv"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("exists") && err.contains("never overwrites"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&plan).unwrap(), "edited by hand\n");

    // Nor the list itself, named as --out.
    let out = callplan_in(
        dir.path(),
        &[
            "init",
            "lists/June List.csv",
            "--out",
            "lists/June List.csv",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        std::fs::read_to_string(&csv)
            .unwrap()
            .starts_with("Name,Mobile\n")
    );

    // From another folder, the path stays relative to the plan.
    let out = callplan_in(&lists, &["init", "June List.csv", "--out", "../plans.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = std::fs::read_to_string(dir.path().join("plans.yaml")).unwrap();
    assert!(
        text.contains("recipients: \"lists/June List.csv\""),
        "{text}"
    );
    let out = callplan_in(dir.path(), &["validate", "plans.yaml"]);
    assert_eq!(out.status.code(), Some(1), "placeholders: {}", show(&out));
    std::fs::write(dir.path().join("plans.yaml"), filled(&text)).unwrap();
    let out = callplan_in(dir.path(), &["validate", "plans.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

#[test]
fn init_finds_numbers_by_their_cells_and_suggests_the_region_of_national_ones() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("calls.csv"),
        "when,contact,First Name\n\
         2026-12-07,(212) 555-0142,Ann\n\
         2026-12-07,415.555.0187,Bo\n\
         2026-12-08,+13125550199,Cy\n",
    )
    .unwrap();
    let out = callplan_in(dir.path(), &["init", "calls.csv"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = std::fs::read_to_string(dir.path().join("calls.plan.yaml")).unwrap();
    assert!(
        text.contains("to_number: contact   # the number column: its cells"),
        "{text}"
    );
    assert!(text.contains("\ndefault_region: US "), "{text}");
    assert!(
        text.contains("required_variables: [when, \"First Name\"]"),
        "{text}"
    );
    std::fs::write(dir.path().join("calls.plan.yaml"), filled(&text)).unwrap();
    let out = callplan_in(
        dir.path(),
        &["validate", "calls.plan.yaml", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let found = codes(&findings(&out));
    assert_eq!(
        found,
        ["national_normalized", "national_normalized"],
        "{}",
        show(&out)
    );
}

#[test]
fn init_refuses_what_it_cannot_read_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 4] = [
        ("empty.csv", b"", "is empty"),
        (
            "names.csv",
            b"name,city\nAnn,Leeds\n",
            "no column looks like phone numbers",
        ),
        ("book.csv", b"PK\x03\x04rest", "workbook"),
        (
            "data.csv",
            b"+14155550100,Ann\n+14155550101,Bo\n",
            "add a header row",
        ),
    ];
    for (name, bytes, says) in cases {
        std::fs::write(dir.path().join(name), bytes).unwrap();
        let out = callplan_in(dir.path(), &["init", name]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", show(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{name}: {}",
            show(&out)
        );
        let stem = name.trim_end_matches(".csv");
        assert!(
            !dir.path().join(format!("{stem}.plan.yaml")).exists(),
            "{name}"
        );
    }
    let out = callplan_in(dir.path(), &["init", "missing.csv"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

#[test]
fn init_reads_the_first_sheet_of_a_workbook() {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let dir = tempfile::tempdir().unwrap();
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("June").unwrap();
    let date = Format::new().set_num_format("dd/mm/yyyy");
    for (c, h) in ["Customer", "Mobile", "Visit", "Clinic"].iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    for r in 1..=3u32 {
        ws.write_string(r, 0, format!("Person {r}")).unwrap();
        ws.write_string(r, 1, format!("+1415555010{r}")).unwrap();
        let day = ExcelDateTime::from_ymd(2026, 12, r as u8).unwrap();
        ws.write_datetime_with_format(r, 2, day, &date).unwrap();
    }
    ws.write_string(2, 3, "Leeds").unwrap();
    wb.add_worksheet()
        .set_name("Other")
        .unwrap()
        .write_string(0, 0, "to_number")
        .unwrap();
    wb.save(dir.path().join("june.xlsx")).unwrap();

    let out = callplan_in(dir.path(), &["init", "june.xlsx"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = std::fs::read_to_string(dir.path().join("june.plan.yaml")).unwrap();
    assert!(text.contains("recipients: june.xlsx"), "{text}");
    assert!(
        text.contains("#   Clinic   (empty in 2 of 3 rows)"),
        "{text}"
    );
    let plan = callplan::plan::load(&dir.path().join("june.plan.yaml")).expect("the plan parses");
    assert_eq!(plan.columns.to_number, "Mobile");
    assert_eq!(plan.required_variables, ["Customer", "Visit"]);
    assert_eq!(plan.default_region, None);

    // A damaged workbook is exit 2 with the reason.
    std::fs::write(dir.path().join("bad.xlsx"), b"PK\x03\x04 damaged").unwrap();
    let out = callplan_in(dir.path(), &["init", "bad.xlsx"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("damaged"),
        "{}",
        show(&out)
    );
}
