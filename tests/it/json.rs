//! `run --format json` and `track --format json` through the binary: stdout
//! holds one JSON document and nothing else, and its counts are those of
//! the results file, read by the independent reader in `common`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use callplan::sandbox::{Config, VersionState};
use serde_json::Value;

use crate::common::{TestSandbox, bin, latest, show};

/// A campaign in a temp folder: `rows` recipients, the last `bad` of them
/// with an unusable number.
struct Camp {
    dir: tempfile::TempDir,
    plan: PathBuf,
}

fn camp(name: &str, rows: usize, bad: usize) -> Camp {
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = dir.path().join("plan.yaml");
    let yaml = format!(
        "name: {name}\n\
         from_number: \"+14155550100\"\n\
         agent_version_id: av_sandbox\n\
         recipients: recipients.csv\n\
         api:\n  request_timeout_s: 2\n  connect_timeout_s: 1\n  list_lag_s: 0\n\
         dispatch:\n  concurrency: 8\n  rate_per_second: 2000\n  max_attempts: 3\n"
    );
    std::fs::write(&plan, yaml).expect("write plan");
    let mut csv = String::from("to_number,customer_name\n");
    for i in 0..rows {
        if i >= rows - bad {
            csv.push_str(&format!("not a number {i},Customer {i}\n"));
        } else {
            csv.push_str(&format!("+1650253{:04},Customer {i}\n", i));
        }
    }
    std::fs::write(dir.path().join("recipients.csv"), csv).expect("write csv");
    Camp { dir, plan }
}

fn command(c: &Camp, sub: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.arg(sub)
        .arg(&c.plan)
        .args(args)
        .current_dir(c.dir.path())
        .env("NO_PROXY", "127.0.0.1")
        .env_remove("RUST_LOG")
        .env_remove("DIALNEXA_API_KEY")
        .stdin(Stdio::null());
    cmd
}

fn output(mut cmd: Command) -> Output {
    cmd.output().expect("run callplan")
}

/// Stdout as exactly one JSON document (and nothing else).
fn document(o: &Output) -> Value {
    let text = String::from_utf8(o.stdout.clone()).expect("UTF-8 stdout");
    let mut docs = serde_json::Deserializer::from_str(&text).into_iter::<Value>();
    let doc = docs
        .next()
        .unwrap_or_else(|| panic!("no JSON on stdout\n{}", show(o)))
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", show(o)));
    assert!(docs.next().is_none(), "more than one document\n{}", show(o));
    assert!(text.ends_with("}\n"), "{text}");
    doc
}

/// Status counts of a results file, by the independent reader.
fn file_counts(path: &Path) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for r in latest(path).values() {
        *counts.entry(r["status"].clone()).or_insert(0) += 1;
    }
    counts
}

fn json_counts(doc: &Value) -> BTreeMap<String, u64> {
    doc["counts"]
        .as_object()
        .expect("counts")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("a count")))
        .collect()
}

#[test]
fn run_sandbox_format_json_prints_one_document_whose_counts_are_the_files() {
    let c = camp("jsonrun", 30, 2);
    let o = output(command(
        &c,
        "run",
        &["--sandbox", "--skip-invalid", "--format", "json"],
    ));
    assert_eq!(o.status.code(), Some(4), "{}", show(&o));
    let doc = document(&o);
    let results = PathBuf::from(doc["results"].as_str().expect("results path"));
    assert!(results.is_absolute() && results.exists(), "{results:?}");
    assert!(
        results.ends_with("jsonrun.results.sandbox.csv"),
        "{results:?}"
    );
    let counts = json_counts(&doc);
    assert_eq!(counts, file_counts(&results), "{doc:#}");
    assert_eq!(counts.get("invalid"), Some(&2), "{doc:#}");
    assert_eq!(doc["total"], 30);
    assert_eq!(doc["handled"], 28, "{doc:#}");
    assert_eq!(doc["sandbox"], true);
    assert_eq!(doc["exit"]["code"], 4);
    assert_eq!(
        doc["exit"]["meaning"],
        callplan::exit::Exit::Partial.meaning()
    );
    assert_eq!(doc["triage"]["rows"], 30);
    assert_eq!(doc["triage"]["to_dial_now"], 28);
    assert_eq!(doc["triage"]["invalid"], 2);
    // Nothing is left to dial: no resume command.
    assert!(doc["resume"].is_null(), "{doc:#}");
    // Text output is gone from stdout, progress is still on stderr.
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("validated 30 rows"), "{}", show(&o));

    // The same run as text prints the summary, not JSON.
    let o = output(command(&c, "run", &["--sandbox", "--skip-invalid"]));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("summary\n"), "{}", show(&o));
}

#[test]
fn a_json_run_that_leaves_rows_names_the_command_that_resumes() {
    let c = camp("jsonlimit", 10, 0);
    let o = output(command(
        &c,
        "run",
        &["--sandbox", "--limit", "4", "--format", "json"],
    ));
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let doc = document(&o);
    let results = PathBuf::from(doc["results"].as_str().expect("results path"));
    let counts = json_counts(&doc);
    assert_eq!(counts, file_counts(&results), "{doc:#}");
    assert_eq!(doc["handled"], 4, "{doc:#}");
    let resume = doc["resume"].as_str().expect("a resume command");
    assert!(resume.starts_with("callplan run "), "{resume}");
    assert!(resume.contains("--sandbox"), "{resume}");
}

#[test]
fn dry_run_format_json_says_what_would_be_sent() {
    let c = camp("jsondry", 5, 0);
    let o = output(command(&c, "run", &["--dry-run", "--format", "json"]));
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let doc = document(&o);
    assert_eq!(doc["dry_run"]["would_send"], 5, "{doc:#}");
    let requests = doc["dry_run"]["requests"].as_array().expect("requests");
    assert_eq!(requests.len(), 3);
    assert_eq!(
        requests[0]["headers"]["Authorization"], "Bearer ********",
        "{doc:#}"
    );
    assert_eq!(doc["triage"]["to_dial_now"], 5);
    assert_eq!(doc["total"], 0, "no results file yet");
    assert_eq!(doc["exit"]["code"], 0);
}

#[test]
fn validation_errors_are_exit_1_with_the_validate_report_inside() {
    let c = camp("jsoninvalid", 4, 1);
    let o = output(command(&c, "run", &["--sandbox", "--format", "json"]));
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let doc = document(&o);
    assert_eq!(doc["exit"]["code"], 1);
    assert_eq!(doc["validation"]["ok"], false, "{doc:#}");
    assert!(
        doc["notes"][0]
            .as_str()
            .is_some_and(|n| n.starts_with("nothing was dialled")),
        "{doc:#}"
    );
}

fn sandbox_config() -> Config {
    let mut c = Config::unlimited();
    c.idempotency = true;
    c.time_scale = 600.0;
    c.numbers = vec!["+14155550100".into()];
    c.agent_versions = BTreeMap::from([("av_sandbox".into(), VersionState::Published)]);
    c
}

#[test]
fn track_format_json_reports_the_outcomes_it_recorded() {
    let sb = TestSandbox::start(sandbox_config());
    let c = camp("jsontrack", 6, 0);
    let with_api = |sub: &str, args: &[&str]| {
        let mut cmd = command(&c, sub, args);
        cmd.env("DIALNEXA_API_KEY", "sk_test_json_0123456789")
            .env("DIALNEXA_BASE_URL", sb.base_url());
        output(cmd)
    };
    let o = with_api("run", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let results = c.dir.path().join("jsontrack.results.csv");

    let o = with_api("track", &["--poll-every", "1s", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let doc = document(&o);
    let counts = json_counts(&doc);
    assert_eq!(counts, file_counts(&results), "{doc:#}");
    assert_eq!(doc["total"], 6);
    assert_eq!(doc["handled"], 0, "track dials nothing: {doc:#}");
    assert_eq!(doc["ended"], 6, "{doc:#}");
    let live: u64 = ["queued", "ringing", "in_progress"]
        .iter()
        .filter_map(|s| counts.get(*s))
        .sum();
    assert_eq!(live, 0, "track waits for every call to end: {doc:#}");

    // Nothing left to track: still one document, exit 0.
    let o = with_api("track", &["--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let doc = document(&o);
    assert_eq!(json_counts(&doc), file_counts(&results));
    assert_eq!(doc["handled"], 0);
    let by_key: HashMap<_, _> = latest(&results);
    assert_eq!(by_key.len(), 6);
}
