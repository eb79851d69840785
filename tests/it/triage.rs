//! Triage seen from outside: `run --dry-run`, `run` and `status` report the
//! same rows under the same reasons for the same files, because one library
//! decision (`callplan::triage`) makes them all.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::common::{bin, fixtures, latest, offline, show};

/// `callplan <args>` in `dir`, at the test instant `now`, with nothing of
/// the caller's environment that could reach a real API.
fn callplan(dir: &Path, now: &str, args: &[&str]) -> Output {
    offline(dir)
        .args(args)
        .env("CALLPLAN_TEST_NOW", now)
        .output()
        .expect("run callplan")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `status --format json` of `results`.
fn status(dir: &Path, now: &str, results: &Path) -> Value {
    let o = callplan(
        dir,
        now,
        &["status", "--format", "json", &results.display().to_string()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    serde_json::from_slice(&o.stdout).expect("status JSON")
}

/// The text between `start` and the next `end` in `text`.
fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("no {start:?} in:\n{text}"))
        + start.len();
    let len = text[from..]
        .find(end)
        .unwrap_or_else(|| panic!("no {end:?} after {start:?} in:\n{text}"));
    &text[from..from + len]
}

/// The windows fixture (plan, recipients, do-not-call lists) copied into a
/// temp folder, so runs write nothing beside the repository's files.
fn windows_fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let from = fixtures().join("validate/windows");
    for name in [
        "plan.yaml",
        "recipients.csv",
        "dnc.csv",
        "lists/unsubscribed.csv",
    ] {
        let to = dir.path().join(name);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(from.join(name), &to).expect("copy fixture");
    }
    let results = dir.path().join("windows.results.csv");
    (dir, results)
}

/// The rows by reason as `run --dry-run`, `run --sandbox` and `status` each
/// print them at `now`, after checking each command's own wording; `run`'s
/// summary is returned too.
fn three_views(now: &str, run_flags: &[&str]) -> (Vec<String>, Value, String) {
    let (dir, results) = windows_fixture();
    let res = results.display().to_string();
    let dry = callplan(
        dir.path(),
        now,
        &[
            "run",
            "plan.yaml",
            "--dry-run",
            "--skip-invalid",
            "--results",
            &res,
        ],
    );
    assert_eq!(dry.status.code(), Some(0), "{}", show(&dry));
    assert!(!results.exists(), "a dry run writes nothing");
    let dry_line = stdout(&dry);
    let from_dry = between(&dry_line, "7 rows: ", "; results would go").to_string();

    let mut args = vec![
        "run",
        "plan.yaml",
        "--sandbox",
        "--skip-invalid",
        "--results",
        &res,
    ];
    args.extend_from_slice(run_flags);
    let run = callplan(dir.path(), now, &args);
    // Invalid rows are recorded: the run ends "partial", whatever the rest.
    assert_eq!(run.status.code(), Some(4), "{}", show(&run));
    let run_err = stderr(&run);
    let from_run = between(&run_err, "validated 7 rows: ", "; results: ").to_string();

    let st = status(dir.path(), now, &results);
    assert_eq!(st["triaged_by"], "plan", "{st}");
    assert_eq!(st["rows"], 7, "{st}");
    let from_status = st["rows_by_reason"]
        .as_str()
        .expect("rows_by_reason")
        .to_string();
    (
        vec![from_dry, from_run, from_status],
        st,
        format!("{}\n{}", dry_line, stdout(&run)),
    )
}

/// Issue 8's bug: the dry run said `4 invalid` (2 invalid + 2 suppressed)
/// and not why 0 calls would be sent. Past `end_at`, each reason has its
/// own name and the three commands agree.
#[test]
fn windows_fixture_past_end_at_reads_the_same_in_dry_run_run_and_status() {
    let (views, st, out) = three_views("2026-07-01T12:00:00Z", &[]);
    let expected = "0 to dial now, 0 already settled, 0 to look up first, 2 invalid, \
                    2 suppressed (do-not-call), 3 past the schedule's end_at (not dialled)";
    for view in &views {
        assert_eq!(view, expected, "{views:#?}");
    }
    assert!(
        out.contains("dry run: 0 calls would be sent")
            && out.contains("(nothing to dial now: the schedule's end_at has passed)"),
        "{out}"
    );
    assert!(
        out.contains("3 rows were not dialled: the schedule's end_at has passed"),
        "{out}"
    );
    assert!(!out.contains("4 invalid"), "{out}");
    assert_eq!(
        (&st["invalid"], &st["suppressed"], &st["past_end_at"]),
        (&Value::from(2), &Value::from(2), &Value::from(3)),
        "{st}"
    );
    assert_eq!(st["to_dial_now"], 0, "{st}");
    assert_eq!(st["waiting_for_window"], 0, "{st}");
    assert!(
        st["verdict"]
            .as_str()
            .is_some_and(|v| v.starts_with("done: the schedule's end_at has passed")),
        "{st}"
    );
}

/// On a Saturday of the campaign every dialable row waits for Monday's
/// window: the dry run, the run (`--no-wait`) and `status` say so alike.
#[test]
fn windows_fixture_on_a_weekend_reads_the_same_in_dry_run_run_and_status() {
    let (views, st, out) = three_views("2026-06-06T15:00:00Z", &["--no-wait"]);
    assert!(
        views[0].starts_with(
            "0 to dial now, 0 already settled, 0 to look up first, 2 invalid, \
             2 suppressed (do-not-call), 3 waiting for their window (next at "
        ),
        "{views:#?}"
    );
    assert_eq!(views[0], views[1], "dry run vs run");
    assert_eq!(views[0], views[2], "dry run vs status");
    assert!(out.contains("rerun then"), "{out}");
    assert_eq!(st["waiting_for_window"], 3, "{st}");
    // Monday 8 June 09:00 in Paris is the first opening.
    assert_eq!(st["next_window_at"], "2026-06-08T07:00:00Z", "{st}");
    assert_eq!(st["to_dial"], 3, "{st}");
    assert_eq!(
        (&st["invalid"], &st["suppressed"]),
        (&Value::from(2), &Value::from(2))
    );
}

/// A plan of two rows whose results file (as a killed run leaves it) holds
/// both rows `in_doubt`.
fn two_rows_in_doubt() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        "name: doubt\nfrom_number: \"+14155550100\"\nagent_version_id: av_sandbox\n\
         recipients: recipients.csv\napi:\n  request_timeout_s: 0.2\n  connect_timeout_s: 1\n",
    )
    .expect("write plan");
    std::fs::write(
        dir.path().join("recipients.csv"),
        "to_number,customer_name\n+16502530001,Ann\n+16502530002,Bo\n",
    )
    .expect("write csv");
    let results = dir.path().join("doubt.results.csv");
    let mut log = format!(
        "#callplan results v1,campaign=doubt,from_number=+14155550100,agent_version_id=av_sandbox,plan={},rows=2\n\
         key,row,to_number,round,status,call_id,attempts,http_status,error,end_reason,duration_s,next_at,updated_at\n",
        plan.display()
    );
    for (row, n) in [(2, "+16502530001"), (3, "+16502530002")] {
        log.push_str(&format!(
            "{n},{row},{n},1,in_doubt,,1,,lookup failed,,,,2020-01-01T00:00:00.000Z\n"
        ));
    }
    std::fs::write(&results, log).expect("write results");
    (dir, results)
}

/// Issue 13, item 5: with two rows `in_doubt`, `status` said "looks up 0
/// first ... verdict: done" while `run` said "2 to look up first" and
/// exited 4. Both now say the rows are looked up first.
#[test]
fn status_and_run_agree_on_two_rows_in_doubt() {
    const NOW: &str = "2026-06-02T15:00:00Z";
    let (dir, results) = two_rows_in_doubt();
    let st = status(dir.path(), NOW, &results);
    assert_eq!(st["to_look_up"], 2, "{st}");
    assert_eq!(st["in_doubt"].as_array().map(Vec::len), Some(2), "{st}");
    assert_eq!(st["verdict"], "0 to dial now, 2 to look up first", "{st}");
    let text = callplan(dir.path(), NOW, &["status", &results.display().to_string()]);
    let text = stdout(&text);
    assert!(text.contains("looks up 2 first"), "{text}");
    assert!(!text.contains("verdict: done"), "{text}");
    assert!(text.contains("resume: callplan run"), "{text}");

    // Nothing answers on this port: the lookups cannot tell, so the rows
    // stay in doubt and the run ends with exit 4.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let run = Command::new(bin())
        .args(["run", "plan.yaml"])
        .current_dir(dir.path())
        .env("CALLPLAN_TEST_NOW", NOW)
        .env("DIALNEXA_API_KEY", "sk_test_doubt")
        .env("DIALNEXA_BASE_URL", format!("http://127.0.0.1:{port}/v1"))
        .env("NO_PROXY", "127.0.0.1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run");
    assert_eq!(run.status.code(), Some(4), "{}", show(&run));
    let err = stderr(&run);
    assert_eq!(
        between(&err, "validated 2 rows: ", "; results: "),
        st["rows_by_reason"].as_str().expect("rows_by_reason"),
        "{}",
        show(&run)
    );
    assert!(err.contains("2 to look up first"), "{}", show(&run));
    assert!(
        latest(&results).values().all(|r| r["status"] == "in_doubt"),
        "{:?}",
        latest(&results)
    );
    // Still in doubt: status still says they are looked up first.
    let again = status(dir.path(), NOW, &results);
    assert_eq!(again["to_look_up"], 2, "{again}");
    assert_eq!(again["verdict"], st["verdict"], "{again}");
}

/// Without its plan, `status` counts from the file alone and says so; the
/// rows in doubt are still rows to look up first.
#[test]
fn status_without_its_plan_counts_from_the_file_and_says_so() {
    const NOW: &str = "2026-06-02T15:00:00Z";
    let (dir, results) = two_rows_in_doubt();
    std::fs::remove_file(dir.path().join("plan.yaml")).expect("remove plan");
    let st = status(dir.path(), NOW, &results);
    assert_eq!(st["triaged_by"], "results file", "{st}");
    assert!(
        st["note"]
            .as_str()
            .is_some_and(|n| n.contains("cannot be read")),
        "{st}"
    );
    assert_eq!(st["to_look_up"], 2, "{st}");
    assert_eq!(st["verdict"], "0 to dial now, 2 to look up first", "{st}");
    let o = callplan(dir.path(), NOW, &["status", &results.display().to_string()]);
    assert!(
        stdout(&o).contains("counted from this file alone"),
        "{}",
        show(&o)
    );
}
