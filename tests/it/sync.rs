//! The outcome sync through the binary (issue 9): a `--wait` campaign
//! watched by list pages costs at most 1.3 requests per call in total (the
//! create plus its share of list pages), counted by `/_sandbox/stats`, in
//! both list shapes; and a call the list cannot show (the sandbox's
//! `list_lag_ms`) is still settled by single reads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use callplan::sandbox::{Config, ListShape, VersionState};
use serde_json::Value;

use crate::common::{TestSandbox, bin, latest, online, show};

const KEY: &str = "sk_test_sync_0123456789";
const TERMINAL: [&str; 6] = [
    "completed",
    "failed",
    "no_answer",
    "busy",
    "voicemail",
    "cancelled",
];

/// A plan of `rows` recipients in a temp folder.
fn campaign(rows: usize) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        "name: sync\n\
         from_number: \"+14155550100\"\n\
         agent_version_id: av_sandbox\n\
         recipients: recipients.csv\n\
         api:\n  request_timeout_s: 2\n  connect_timeout_s: 1\n  list_lag_s: 0\n\
         dispatch:\n  concurrency: 8\n  rate_per_second: 2000\n  max_attempts: 3\n",
    )
    .expect("write plan");
    let mut csv = String::from("to_number,customer_name\n");
    for i in 0..rows {
        csv.push_str(&format!("+1650254{i:04},Customer {i}\n"));
    }
    std::fs::write(dir.path().join("recipients.csv"), csv).expect("write csv");
    let results = dir.path().join("sync.results.csv");
    (dir, plan, results)
}

fn sandbox(shape: ListShape, list_lag_ms: u64) -> TestSandbox {
    let mut c = Config::unlimited();
    c.idempotency = true;
    c.time_scale = 600.0;
    c.numbers = vec!["+14155550100".into()];
    c.agent_versions = BTreeMap::from([("av_sandbox".into(), VersionState::Published)]);
    c.list_shape = shape;
    c.list_lag_ms = list_lag_ms;
    TestSandbox::start(c)
}

fn run_wait(dir: &tempfile::TempDir, plan: &Path, base_url: &str, args: &[&str]) -> Output {
    online(dir.path(), base_url, KEY)
        .arg("run")
        .arg(plan)
        .arg("--wait")
        .args(args)
        .env_remove("CALLPLAN_POLL")
        .output()
        .expect("run callplan")
}

/// Every row's last record is terminal and names a distinct call.
fn assert_all_ended(results: &Path, rows: usize) {
    let last = latest(results);
    assert_eq!(last.len(), rows);
    for (k, r) in &last {
        assert!(TERMINAL.contains(&r["status"].as_str()), "{k}: {r:?}");
    }
}

fn route(stats: &Value, name: &str) -> u64 {
    stats["by_route"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("no {name} count in {stats}"))
}

/// 160 calls at the default --poll-every, in one list shape: at most 1.3
/// requests per call, no single reads.
fn requests_per_call_stay_within_budget(shape: ListShape) {
    const ROWS: usize = 160;
    let sb = sandbox(shape, 0);
    let (dir, plan, results) = campaign(ROWS);
    let o = run_wait(&dir, &plan, &sb.base_url(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_all_ended(&results, ROWS);
    let stats = sb.stats();
    let (create, list, get) = (
        route(&stats, "create"),
        route(&stats, "list"),
        route(&stats, "get"),
    );
    assert_eq!(create, ROWS as u64, "{stats}");
    assert!(list >= 1, "outcomes came from list pages: {stats}");
    assert_eq!(get, 0, "no call needed a single read: {stats}");
    let per_call = (create + list + get) as f64 / ROWS as f64;
    assert!(per_call <= 1.3, "{per_call} requests per call: {stats}");
    // What each ended call learned is kept beside the results, once.
    let kept = callplan::outcomes::read(&callplan::outcomes::store_path(&results))
        .expect("the post-call store");
    let ids: std::collections::HashSet<_> = kept.iter().map(|o| o.call_id.clone()).collect();
    assert_eq!((kept.len(), ids.len()), (ROWS, ROWS));
}

#[test]
fn a_wait_campaign_costs_at_most_1_3_requests_per_call_with_object_pages() {
    requests_per_call_stay_within_budget(ListShape::Object);
}

#[test]
fn a_wait_campaign_costs_at_most_1_3_requests_per_call_with_bare_array_pages() {
    requests_per_call_stay_within_budget(ListShape::Array);
}

#[test]
fn calls_the_list_cannot_show_are_settled_by_single_reads() {
    const ROWS: usize = 12;
    // The list shows a call only ten minutes after its creation.
    let sb = sandbox(ListShape::Object, 600_000);
    let (dir, plan, results) = campaign(ROWS);
    let o = run_wait(&dir, &plan, &sb.base_url(), &["--poll-every", "1s"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_all_ended(&results, ROWS);
    let stats = sb.stats();
    // Three cycles missing from the window, then one read per call (the
    // sandbox's calls end in milliseconds at this time scale).
    assert!(route(&stats, "list") >= 3, "{stats}");
    assert_eq!(route(&stats, "get"), ROWS as u64, "{stats}");
    let ledger = sb.ledger_calls();
    let last = latest(&results);
    for call in ledger {
        let id = call["call_id"].as_str().expect("call_id");
        let row = last
            .values()
            .find(|r| r["call_id"] == id)
            .unwrap_or_else(|| panic!("no row of {id}"));
        assert_eq!(
            call["status"].as_str(),
            Some(row["status"].as_str()),
            "{row:?}"
        );
    }
}

/// `status` tallies each analysis field of the calls that learned something
/// (text and JSON), and the tally adds up to the completed calls in the file.
#[test]
fn status_tallies_what_the_calls_learned_per_analysis_field() {
    const ROWS: usize = 40;
    let sb = sandbox(ListShape::Object, 0);
    let (dir, plan, results) = campaign(ROWS);
    let o = run_wait(&dir, &plan, &sb.base_url(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let completed = latest(&results)
        .values()
        .filter(|r| r["status"] == "completed")
        .count() as u64;
    assert!(completed > 0, "the default mix completes most calls");
    let status = |format: &str| {
        Command::new(bin())
            .args(["status", "--format", format])
            .arg(&results)
            .current_dir(dir.path())
            .output()
            .expect("run status")
    };
    let json = status("json");
    assert_eq!(json.status.code(), Some(0), "{}", show(&json));
    let v: Value = serde_json::from_slice(&json.stdout).expect("status JSON");
    let fields = v["analysis"]["fields"].as_array().expect("fields");
    assert_eq!(fields.len(), 1, "{v}");
    assert_eq!(fields[0]["field"], "appointment_confirmed");
    let total: u64 = fields[0]["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|pair| pair[1].as_u64().expect("a count"))
        .sum();
    assert_eq!(total, completed, "{v}");
    for pair in fields[0]["values"].as_array().unwrap() {
        assert!(["yes", "no", "reschedule"].contains(&pair[0].as_str().unwrap()));
    }
    let text = status("text");
    let out = String::from_utf8_lossy(&text.stdout);
    assert!(out.contains("appointment_confirmed: "), "{out}");
}
