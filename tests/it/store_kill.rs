//! The post-call store survives `kill -9` between fetch and compaction
//! (issue 9): a `--wait` campaign against the sandbox is killed once the
//! store beside its results file holds some ended calls, long before the
//! run could end and compact its log. Then: every complete line of the
//! store reads (a torn last line is tolerated), and a rerun to the end
//! loses nothing already fetched, keeps each call exactly once (what the
//! store had is not fetched and appended again), and `callplan export`
//! has every answered call's summary and analysis.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use callplan::outcomes::store_path;
use callplan::sandbox::{Config, Faults, VersionState};
use serde_json::Value;

use crate::common::{TestSandbox, latest, online, show};

const KEY: &str = "sk_test_store_kill_0123456789";
const ROWS: usize = 150;
/// Lines the store must hold before the runner is killed.
const KILL_AT_LINES: usize = 20;
const CHOICES: [&str; 3] = ["yes", "no", "reschedule"];

/// Calls end within a few hundred milliseconds; answered ones carry a
/// summary and `appointment_confirmed` (the sandbox's default analysis).
/// Half the creates are answered only after a second, so a kill finds
/// requests in flight whose calls end before the rerun looks them up: the
/// rerun finds them ended, and must keep what they learned then.
fn sandbox() -> TestSandbox {
    let mut c = Config::unlimited();
    c.idempotency = true;
    c.faults = Faults {
        slow_rate: 0.5,
        slow_ms: 1000,
        ..Faults::default()
    };
    c.time_scale = 600.0;
    c.numbers = vec!["+14155550100".into()];
    c.agent_versions = BTreeMap::from([("av_sandbox".into(), VersionState::Published)]);
    TestSandbox::start(c)
}

/// A campaign of [`ROWS`] rows, four requests at a time, half of them
/// answered after a second: about twenty seconds of dialling, so a kill
/// after the first ended calls lands mid-run.
fn campaign() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        "name: storekill\n\
         from_number: \"+14155550100\"\n\
         agent_version_id: av_sandbox\n\
         recipients: recipients.csv\n\
         columns:\n  key: patient_id\n\
         api:\n  request_timeout_s: 2\n  connect_timeout_s: 1\n  list_lag_s: 0\n\
         dispatch:\n  concurrency: 4\n  rate_per_second: 25\n  max_attempts: 3\n",
    )
    .expect("write plan");
    let mut csv = String::from("patient_id,to_number,customer_name\n");
    for i in 0..ROWS {
        csv.push_str(&format!("P-{i:04},+1650256{i:04},Customer {i}\n"));
    }
    std::fs::write(dir.path().join("recipients.csv"), csv).expect("write csv");
    let results = dir.path().join("storekill.results.csv");
    (dir, plan, results)
}

fn callplan(dir: &Path, base_url: &str, args: &[&str]) -> Command {
    let mut cmd = online(dir, base_url, KEY);
    cmd.args(args).env_remove("CALLPLAN_POLL");
    cmd
}

/// The store's complete lines (up to its last newline), each parsed on its
/// own as a JSON object with a call_id: an independent reader, not the
/// crate's. Bytes after the last newline (a torn line) are left out.
fn store_lines(path: &Path) -> Vec<(String, String)> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let complete = &bytes[..bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1)];
    let text = std::str::from_utf8(complete).expect("the store is UTF-8");
    text.lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("a store line that does not parse ({e}): {line}"));
            let id = v["call_id"].as_str().unwrap_or_default().to_string();
            assert!(!id.is_empty(), "a store line without call_id: {line}");
            (id, line.to_string())
        })
        .collect()
}

fn route(stats: &Value, name: &str) -> u64 {
    stats["by_route"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no {name} count in {stats}"))
}

#[test]
fn the_post_call_store_survives_kill_9_between_fetch_and_compaction() {
    let sb = sandbox();
    let (dir, plan, results) = campaign();
    let store = store_path(&results);
    let plan_arg = plan.to_str().expect("a UTF-8 path");
    let wait = ["run", plan_arg, "--wait", "--poll-every", "1s", "--quiet"];

    // Killed once the store holds some ended calls.
    let mut child = callplan(dir.path(), &sb.base_url(), &wait)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the runner");
    loop {
        if let Some(status) = child.try_wait().expect("the runner's state") {
            panic!("the run ended ({status}) before its store held {KILL_AT_LINES} calls");
        }
        if store_lines(&store).len() >= KILL_AT_LINES {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL the runner");
    let status = child.wait().expect("the runner's end");
    assert_eq!(status.signal(), Some(9), "killed, not ended: {status}");

    // Everything fetched so far reads back, through the crate as well.
    let before = store_lines(&store);
    assert!(before.len() >= KILL_AT_LINES);
    let kept = callplan::outcomes::read(&store).expect("the store reads after kill -9");
    assert_eq!(kept.len(), before.len(), "one line per call");
    let created_before = sb.ledger_calls().len();
    assert!(
        created_before < ROWS,
        "the kill landed while dialling ({created_before} calls)"
    );
    // The log was never compacted: the run did not get that far.
    let log = std::fs::read_to_string(&results).expect("the results log");
    assert!(log.lines().count() > created_before, "still a log");

    // Rerun to the end.
    let stats_before = sb.stats();
    let o = callplan(dir.path(), &sb.base_url(), &wait)
        .output()
        .expect("rerun");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let stats_after = sb.stats();

    // Nothing already fetched was lost or rewritten, and no call is in the
    // store twice.
    let after = store_lines(&store);
    let mut per_call: HashMap<&str, Vec<&str>> = HashMap::new();
    for (id, line) in &after {
        per_call.entry(id).or_default().push(line);
    }
    for (id, lines) in &per_call {
        assert_eq!(lines.len(), 1, "{id} is in the store {} times", lines.len());
    }
    for (id, line) in &before {
        assert_eq!(
            per_call.get(id.as_str()).map(|l| l[0]),
            Some(line.as_str()),
            "{id}: kept as it was before the kill"
        );
    }

    // Every call was made once, and every ended call is in the store.
    let ledger = sb.ledger_calls();
    assert_eq!(ledger.len(), ROWS, "everyone called exactly once");
    let unkept: Vec<&Value> = ledger
        .iter()
        .filter(|c| !per_call.contains_key(c["call_id"].as_str().unwrap_or_default()))
        .collect();
    assert!(
        unkept.is_empty(),
        "ended calls missing from the store: {unkept:?}\n{}",
        show(&o)
    );
    // The rerun read outcomes from list pages, never call by call.
    assert_eq!(
        route(&stats_after, "get") - route(&stats_before, "get"),
        0,
        "{stats_after}"
    );

    // The export has every answered call's summary and analysis.
    let last = latest(&results);
    let o = callplan(
        dir.path(),
        &sb.base_url(),
        &["export", plan_arg, "--format", "jsonl"],
    )
    .output()
    .expect("export");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let text = String::from_utf8(o.stdout).expect("UTF-8 export");
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(rows.len(), ROWS);
    let mut answered = 0;
    for row in &rows {
        let key = row["input"]["patient_id"].as_str().expect("patient_id");
        let status = last[key]["status"].as_str();
        assert_eq!(row["call"]["status"].as_str(), Some(status), "{row}");
        if status != "completed" {
            continue;
        }
        answered += 1;
        let summary = row["call"]["summary"].as_str().unwrap_or_default();
        assert!(!summary.is_empty(), "{key}: no summary in {row}");
        let confirmed = row["analysis"]["appointment_confirmed"].as_str();
        assert!(
            confirmed.is_some_and(|v| CHOICES.contains(&v)),
            "{key}: no analysis in {row}"
        );
    }
    assert!(answered > 0, "the default mix completes most calls");
}
