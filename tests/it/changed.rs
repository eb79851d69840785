//! A recipients file changed between validation and dialling: a row edited
//! (in place, or made longer), rows appended. `run` keeps where each row
//! is, not its cells, and reads it back when it dials it: a row whose bytes
//! are no longer those validated is refused, and so is a file whose length
//! changed, before anything is dialled. Nothing that was not validated is
//! ever sent; what was dialled stays recorded; a rerun validates the file
//! as it is now. The moment "between validation and dialling" is the test
//! hook `CALLPLAN_TEST_HOLD` (the run waits after validation until the
//! file it names is removed), so nothing here depends on timing.

use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::{TestSandbox, latest, show};
use crate::run::{Camp, PlanOpts, camp, code, number, of_campaign, run, runner, sandbox_config};

const HOLD_ENV: &str = "CALLPLAN_TEST_HOLD";

/// Starts a run that holds after validation; returns once it holds.
fn start_held(c: &Camp, base_url: &str) -> (Child, std::path::PathBuf) {
    let hold = c.dir.path().join("hold");
    let child = runner(c, base_url, &["--quiet"])
        .env(HOLD_ENV, &hold)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn callplan");
    while !hold.exists() {
        std::thread::sleep(Duration::from_millis(5));
    }
    (child, hold)
}

/// Lets a held run go on and waits for it.
fn release(child: Child, hold: &Path) -> Output {
    std::fs::remove_file(hold).expect("remove the hold file");
    child.wait_with_output().expect("wait for callplan")
}

fn csv(c: &Camp) -> std::path::PathBuf {
    c.dir.path().join("recipients.csv")
}

/// Replaces the one occurrence of `from` in the recipients file.
fn edit(c: &Camp, from: &str, to: &str) {
    let text = std::fs::read_to_string(csv(c)).expect("read csv");
    assert_eq!(text.matches(from).count(), 1, "{from:?} once in the file");
    std::fs::write(csv(c), text.replace(from, to)).expect("write csv");
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn to_numbers(calls: &[Value]) -> Vec<String> {
    let mut n: Vec<String> = calls
        .iter()
        .map(|c| c["to_number"].as_str().expect("to_number").to_string())
        .collect();
    n.sort();
    n
}

/// Row `row` of [`camp`]'s file (row 2 is its first recipient).
fn name_of(row: usize) -> String {
    format!("Customer {}", row - 2)
}

/// Every call carries the name of the row it dialled as validated (or as
/// edited to, for `edited`), and nobody is called twice.
fn assert_calls_as_validated(calls: &[Value], edited: Option<(usize, &str)>) {
    let mut distinct = to_numbers(calls);
    distinct.dedup();
    assert_eq!(distinct.len(), calls.len(), "nobody called twice");
    for call in calls {
        let to = call["to_number"].as_str().expect("to_number");
        let row = (0..1000)
            .find(|i| number(*i) == to)
            .expect("a row's number")
            + 2;
        let want = match edited {
            Some((r, name)) if r == row => name.to_string(),
            _ => name_of(row),
        };
        assert_eq!(call["variables"]["customer_name"], want.as_str(), "{call}");
    }
}

/// A row edited in place (same length) after validation: rows read before
/// it may be dialled, it never is; the run stops (exit 2, the row named),
/// leaves it pending, and a rerun dials it as it now is.
#[test]
fn a_row_edited_after_validation_is_refused_and_never_sent() {
    let sb = TestSandbox::start(sandbox_config(true));
    let c = camp(&PlanOpts {
        name: "edited",
        rows: 10,
        concurrency: 1,
        ..PlanOpts::default()
    });
    let (child, hold) = start_held(&c, &sb.base_url());
    // Row 6, as long as before: only reading it back can tell.
    edit(&c, ",Customer 4\n", ",Customer X\n");
    let o = release(child, &hold);
    assert_eq!(code(&o), 2, "{}", show(&o));
    let said = "recipients.csv changed after it was validated (row 6 is not what was checked): \
                nothing more is dialled; run again to validate it as it is now";
    assert!(
        stdout(&o).contains(&format!("stopped: {said}")),
        "{}",
        show(&o)
    );
    let calls = of_campaign(&sb.ledger_calls(), "edited");
    assert!(
        !to_numbers(&calls).contains(&number(4)),
        "the edited row was sent: {calls:?}"
    );
    assert_calls_as_validated(&calls, None);
    // What was dialled is recorded; the edited row was not dialled.
    let recs = latest(&c.results);
    assert_eq!(recs.len(), 10, "one line per recipient: {recs:?}");
    assert_eq!(recs[&number(4)]["status"], "pending");
    for call in &calls {
        let to = call["to_number"].as_str().unwrap();
        assert_eq!(recs[to]["call_id"], call["call_id"].as_str().unwrap());
    }

    // Run again: the file is validated as it is now, the rest is dialled.
    let o = run(&c, &sb.base_url(), &["--quiet"]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    let calls = of_campaign(&sb.ledger_calls(), "edited");
    assert_eq!(calls.len(), 10, "everyone once: {calls:?}");
    assert_calls_as_validated(&calls, Some((6, "Customer X")));
}

/// A row made longer after validation moves every row after it: the
/// file's length says so before anything is dialled, naming the row.
#[test]
fn a_row_made_longer_after_validation_stops_the_run_before_any_dial() {
    let sb = TestSandbox::start(sandbox_config(true));
    let c = camp(&PlanOpts {
        name: "longer",
        rows: 10,
        ..PlanOpts::default()
    });
    let (child, hold) = start_held(&c, &sb.base_url());
    edit(&c, ",Customer 5\n", ",Customer 55\n");
    let o = release(child, &hold);
    assert_eq!(code(&o), 2, "{}", show(&o));
    assert!(
        stderr(&o).contains(
            "error: recipients.csv changed after it was validated (row 7 is not what was \
             checked): nothing more is dialled"
        ),
        "{}",
        show(&o)
    );
    assert!(of_campaign(&sb.ledger_calls(), "longer").is_empty());
}

/// Rows appended after validation are never dialled: the run refuses the
/// file before its first request, naming the first row added.
#[test]
fn rows_appended_after_validation_are_refused_and_nothing_is_dialled() {
    let sb = TestSandbox::start(sandbox_config(true));
    let c = camp(&PlanOpts {
        name: "appended",
        rows: 10,
        ..PlanOpts::default()
    });
    let (child, hold) = start_held(&c, &sb.base_url());
    let mut text = std::fs::read_to_string(csv(&c)).unwrap();
    text.push_str(&format!(
        "{},Customer 10\n{},Customer 11\n",
        number(10),
        number(11)
    ));
    std::fs::write(csv(&c), text).unwrap();
    let o = release(child, &hold);
    assert_eq!(code(&o), 2, "{}", show(&o));
    assert!(
        stderr(&o).contains(
            "recipients.csv changed after it was validated (row 12 is not what was checked)"
        ),
        "{}",
        show(&o)
    );
    assert!(of_campaign(&sb.ledger_calls(), "appended").is_empty());

    let o = run(&c, &sb.base_url(), &["--quiet"]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    let calls = of_campaign(&sb.ledger_calls(), "appended");
    assert_eq!(calls.len(), 12);
    assert_calls_as_validated(&calls, None);
}

/// A rerun takes the last run's validation only while nothing it read has
/// changed (`.NAME.validated`, see the README): it says so and dials what
/// is left. A row edited between runs means a fresh validation: made
/// invalid, it stops the run with nobody dialled; edited back to a valid
/// row with another name, it is dialled as it now is.
#[test]
fn a_rerun_reuses_the_validation_of_an_unchanged_file_only() {
    const REUSED: &str = "as the last run did";
    let sb = TestSandbox::start(sandbox_config(true));
    let c = camp(&PlanOpts {
        name: "sealed",
        rows: 10,
        ..PlanOpts::default()
    });
    let o = run(&c, &sb.base_url(), &["--limit", "4"]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert!(!stderr(&o).contains(REUSED), "{}", show(&o));
    assert!(c.dir.path().join(".sealed.results.csv.validated").exists());
    let o = run(&c, &sb.base_url(), &["--limit", "3"]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert!(stderr(&o).contains(REUSED), "{}", show(&o));
    assert_eq!(of_campaign(&sb.ledger_calls(), "sealed").len(), 7);

    // Row 11 (not yet dialled) made invalid: validated afresh, refused.
    edit(
        &c,
        &format!("{},Customer 9", number(9)),
        "+1 650 CALL ME,Customer 9",
    );
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(code(&o), 1, "{}", show(&o));
    assert!(!stderr(&o).contains(REUSED), "{}", show(&o));
    assert!(stdout(&o).contains("row 11"), "{}", show(&o));
    assert_eq!(of_campaign(&sb.ledger_calls(), "sealed").len(), 7);

    // Its number back, its name edited: dialled as it now is.
    edit(
        &c,
        "+1 650 CALL ME,Customer 9",
        &format!("{},Edited Nine", number(9)),
    );
    let o = run(&c, &sb.base_url(), &["--quiet"]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert!(!stderr(&o).contains(REUSED), "{}", show(&o));
    let calls = of_campaign(&sb.ledger_calls(), "sealed");
    assert_eq!(calls.len(), 10);
    assert_calls_as_validated(&calls, Some((11, "Edited Nine")));
}
