//! Integration tests: the API key never leaves the process. The key is
//! pasted into the plan's `base_url` (as userinfo, path segment, query and
//! plain text) and into a recipients cell; `validate` (text, json,
//! `--errors-out`), `run --dry-run` and `run` at `RUST_LOG=trace` (against
//! a dead loopback port and against the sandbox) run on each, and every
//! byte they print or write is searched for it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::{TestSandbox, bin, show};

/// The key, read from the variable the plan names (not DIALNEXA_API_KEY, so
/// that the plan's own variable is what gets it registered).
const KEY: &str = "sk_live_Pasted_Secret_7f3a9c51";
const KEY_ENV: &str = "CALLPLAN_IT_SECRET_KEY";

/// A campaign whose plan has `base_url` and whose one recipient cell
/// holds the key.
fn campaign(base_url: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        format!(
            "name: secrets\n\
             from_number: \"+14155550100\"\n\
             agent_version_id: av_sandbox\n\
             recipients: recipients.csv\n\
             api:\n  base_url: \"{base_url}\"\n  api_key_env: {KEY_ENV}\n  \
             request_timeout_s: 0.5\n  connect_timeout_s: 0.5\n\
             variables:\n  clinic_name: Sunrise Dental\n\
             dispatch:\n  concurrency: 2\n  rate_per_second: 1000\n  max_attempts: 1\n"
        ),
    )
    .expect("write plan");
    std::fs::write(
        dir.path().join("recipients.csv"),
        format!("to_number,customer_name,note\n+16502530001,Ada,{KEY}\n+16502530002,Bob,plain\n"),
    )
    .expect("write csv");
    (dir, plan)
}

fn callplan(dir: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env(KEY_ENV, KEY)
        .env_remove("DIALNEXA_API_KEY")
        .env_remove("DIALNEXA_BASE_URL")
        .env("RUST_LOG", "trace")
        .env("NO_PROXY", "127.0.0.1")
        .stdin(Stdio::null())
        .output()
        .expect("run callplan")
}

/// Fails naming the output or file that holds the key.
fn assert_no_key(what: &str, o: &Output) {
    for (stream, bytes) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
        assert!(
            !String::from_utf8_lossy(bytes).contains(KEY),
            "{what}: the key is in {stream}:\n{}",
            show(o)
        );
    }
}

/// Every file under `dir` but the inputs, searched for the key. Returns
/// how many were searched.
fn assert_no_key_in_files(dir: &Path) -> usize {
    let mut searched = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let name = p.file_name().unwrap_or_default();
            if name == "plan.yaml" || name == "recipients.csv" {
                continue;
            }
            let bytes = std::fs::read(&p).expect("read file");
            assert!(
                !String::from_utf8_lossy(&bytes).contains(KEY),
                "the key is in {}:\n{}",
                p.display(),
                String::from_utf8_lossy(&bytes)
            );
            searched += 1;
        }
    }
    searched
}

/// The base URLs with the key pasted in, and whether validate finds them bad.
fn pasted() -> [(&'static str, String, bool); 4] {
    [
        ("userinfo", format!("ftp://{KEY}@127.0.0.1/v1"), true),
        ("path", format!("http://127.0.0.1:1/{KEY}/v1"), false),
        (
            "query",
            format!("http://127.0.0.1:1/v1?api_key={KEY}"),
            false,
        ),
        ("plain text", KEY.to_string(), true),
    ]
}

#[test]
fn a_key_pasted_into_the_base_url_is_never_printed_by_validate() {
    for (how, url, bad) in pasted() {
        let (dir, plan) = campaign(&url);
        let plan = plan.to_str().unwrap();
        let text = callplan(dir.path(), &["validate", plan]);
        assert_no_key(&format!("{how}: validate"), &text);
        let json = callplan(dir.path(), &["validate", plan, "--format", "json"]);
        assert_no_key(&format!("{how}: validate --format json"), &json);
        let errors = callplan(
            dir.path(),
            &["validate", plan, "--errors-out", "to-fix.csv"],
        );
        assert_no_key(&format!("{how}: validate --errors-out"), &errors);
        assert!(dir.path().join("to-fix.csv").exists(), "{}", show(&errors));
        assert!(assert_no_key_in_files(dir.path()) >= 1);
        let stdout = String::from_utf8_lossy(&text.stdout).into_owned();
        assert_eq!(stdout.contains("bad_base_url"), bad, "{how}: {stdout}");
        if bad {
            assert!(
                stdout.contains("***"),
                "{how}: the URL is shown masked: {stdout}"
            );
            let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
            assert_eq!(doc["ok"], false, "{how}");
        }
    }
}

#[test]
fn a_key_pasted_into_the_base_url_is_never_printed_or_written_by_run() {
    for (how, url, _) in pasted() {
        let (dir, plan) = campaign(&url);
        let plan = plan.to_str().unwrap();
        let dry = callplan(dir.path(), &["run", plan, "--dry-run"]);
        assert_no_key(&format!("{how}: run --dry-run"), &dry);
        let run = callplan(dir.path(), &["run", plan, "--quiet"]);
        assert_no_key(&format!("{how}: run"), &run);
        assert_ne!(run.status.code(), Some(0), "{how}: {}", show(&run));
        assert_no_key_in_files(dir.path());
    }
    // A dead port: the rows' errors (which quote the URL) reach the file.
    let (dir, plan) = campaign(&format!("http://127.0.0.1:1/{KEY}/v1"));
    let run = callplan(dir.path(), &["run", plan.to_str().unwrap(), "--quiet"]);
    let results = std::fs::read_to_string(dir.path().join("secrets.results.csv"))
        .unwrap_or_else(|e| panic!("results file ({e}): {}", show(&run)));
    assert!(results.lines().count() > 2, "{results}");
    assert!(!results.contains(KEY), "{results}");
}

#[test]
fn the_key_is_never_printed_by_a_traced_run_against_the_sandbox() {
    let mut config = callplan::sandbox::Config::unlimited();
    config.numbers = vec!["+14155550100".into()];
    config.time_scale = 600.0;
    let sb = TestSandbox::start(config);
    // The query is dropped before sending; the key stays in the plan.
    let (dir, plan) = campaign(&format!("{}?token={KEY}", sb.base_url()));
    let plan = plan.to_str().unwrap();
    let dry = callplan(dir.path(), &["run", plan, "--dry-run"]);
    assert_no_key("run --dry-run against the sandbox", &dry);
    assert_eq!(dry.status.code(), Some(0), "{}", show(&dry));
    let run = callplan(dir.path(), &["run", plan]);
    assert_no_key("run at RUST_LOG=trace", &run);
    assert_eq!(run.status.code(), Some(0), "{}", show(&run));
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("TRACE"),
        "trace logging was on: {}",
        show(&run)
    );
    assert_eq!(sb.ledger_calls().len(), 2, "both rows were dialled");
    assert!(assert_no_key_in_files(dir.path()) >= 1);
    let status = callplan(
        dir.path(),
        &[
            "status",
            dir.path().join("secrets.results.csv").to_str().unwrap(),
        ],
    );
    assert_no_key("status", &status);
}
