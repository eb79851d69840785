//! Integration tests: `callplan run` and `callplan status`, through the
//! binary, against the sandbox (in this test process, so that killing the
//! runner never kills the server that counts its calls).
//!
//! What they hold the runner to: each recipient called at most once per
//! round (the ledger), every call_id the API returned in the results file,
//! no call without a durable intent, every answer classified as the README
//! says, and the key never written anywhere.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use callplan::sandbox::{Config, Faults, RateLimit, VersionState};
use serde_json::Value;

use crate::common::{TestSandbox, bin, latest, offline, online, records, show};

const KEY: &str = "sk_test_9f8e7d6c5b4a_SUPERSECRET";

/// A campaign in a temp folder: plan, recipients, results.
pub(crate) struct Camp {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) plan: PathBuf,
    pub(crate) results: PathBuf,
}

/// Plan settings a test may change.
#[derive(Clone)]
pub(crate) struct PlanOpts {
    pub(crate) name: &'static str,
    pub(crate) rows: usize,
    pub(crate) from_number: &'static str,
    pub(crate) agent: &'static str,
    pub(crate) concurrency: u32,
    pub(crate) rate: f64,
    pub(crate) max_attempts: u32,
    pub(crate) request_timeout_s: f64,
    /// Extra rows appended as raw CSV lines (after the generated ones).
    pub(crate) extra_rows: Vec<String>,
}

impl Default for PlanOpts {
    fn default() -> Self {
        PlanOpts {
            name: "itest",
            rows: 50,
            from_number: "+14155550100",
            agent: "av_sandbox",
            concurrency: 16,
            rate: 5000.0,
            max_attempts: 3,
            request_timeout_s: 1.0,
            extra_rows: Vec::new(),
        }
    }
}

/// The n-th test number: valid US numbers, all distinct.
pub(crate) fn number(i: usize) -> String {
    let area = ["650", "415", "212", "312", "617", "206", "303", "512"][i / 10_000 % 8];
    format!("+1{area}253{:04}", i % 10_000)
}

pub(crate) fn camp(o: &PlanOpts) -> Camp {
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = dir.path().join("plan.yaml");
    let yaml = format!(
        "name: {}\n\
         from_number: \"{}\"\n\
         agent_version_id: {}\n\
         recipients: recipients.csv\n\
         api:\n  request_timeout_s: {}\n  connect_timeout_s: 1\n  list_lag_s: 0\n\
         variables:\n  clinic_name: Sunrise Dental\n\
         metadata:\n  source: itest\n\
         dispatch:\n  concurrency: {}\n  rate_per_second: {}\n  max_attempts: {}\n",
        o.name, o.from_number, o.agent, o.request_timeout_s, o.concurrency, o.rate, o.max_attempts
    );
    std::fs::write(&plan, yaml).expect("write plan");
    let mut csv = String::from("to_number,customer_name\n");
    for i in 0..o.rows {
        csv.push_str(&format!("{},Customer {i}\n", number(i)));
    }
    for r in &o.extra_rows {
        csv.push_str(r);
        csv.push('\n');
    }
    std::fs::write(dir.path().join("recipients.csv"), csv).expect("write csv");
    let results = dir.path().join(format!("{}.results.csv", o.name));
    Camp { dir, plan, results }
}

/// A sandbox config for `PlanOpts::default()`'s workspace: no limits, no
/// faults, a fast clock, idempotency as asked.
pub(crate) fn sandbox_config(idempotency: bool) -> Config {
    let mut c = Config::unlimited();
    c.idempotency = idempotency;
    c.time_scale = 600.0;
    c.numbers = vec!["+14155550100".into()];
    c.agent_versions = BTreeMap::from([
        ("av_sandbox".into(), VersionState::Published),
        ("av_draft".into(), VersionState::Draft),
    ]);
    c
}

pub(crate) fn runner(c: &Camp, base_url: &str, args: &[&str]) -> Command {
    let mut cmd = online(c.dir.path(), base_url, KEY);
    cmd.arg("run").arg(&c.plan).args(args);
    cmd
}

pub(crate) fn run(c: &Camp, base_url: &str, args: &[&str]) -> Output {
    runner(c, base_url, args).output().expect("run callplan")
}

/// `callplan run PLAN --sandbox ARGS` in the campaign's folder, with no
/// key and no base URL in its environment: a rehearsal needs neither.
fn rehearse(c: &Camp, args: &[&str]) -> Output {
    offline(c.dir.path())
        .arg("run")
        .arg(&c.plan)
        .arg("--sandbox")
        .args(args)
        .output()
        .expect("run callplan")
}

pub(crate) fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn status_counts(path: &Path) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for r in latest(path).values() {
        *m.entry(r["status"].clone()).or_insert(0) += 1;
    }
    m
}

/// Ledger calls per `callplan_key` (of every campaign; see [`of_campaign`]).
fn ledger_by_key(calls: &[Value]) -> HashMap<String, Vec<String>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for c in calls {
        let key = c["metadata"]["callplan_key"]
            .as_str()
            .expect("every call carries callplan_key")
            .to_string();
        m.entry(key)
            .or_default()
            .push(c["call_id"].as_str().expect("call_id").to_string());
    }
    m
}

/// The two promises: nobody called twice, and every call_id the API
/// created is in the results file under its key.
fn assert_once_and_recorded(sb: &TestSandbox, results: &Path) -> usize {
    assert_calls_once_and_recorded(&sb.ledger_calls(), results)
}

/// The calls of one campaign.
pub(crate) fn of_campaign(calls: &[Value], name: &str) -> Vec<Value> {
    calls
        .iter()
        .filter(|c| c["metadata"]["callplan_campaign"] == name)
        .cloned()
        .collect()
}

pub(crate) fn assert_calls_once_and_recorded(calls: &[Value], results: &Path) -> usize {
    let by_key = ledger_by_key(calls);
    for (k, ids) in &by_key {
        assert_eq!(
            ids.len(),
            1,
            "key {k} was called {} times: {ids:?}",
            ids.len()
        );
    }
    let latest = latest(results);
    for (k, ids) in &by_key {
        let rec = latest
            .get(k)
            .unwrap_or_else(|| panic!("ledger key {k} missing from results"));
        assert_eq!(&rec["call_id"], &ids[0], "key {k}: {rec:?}");
    }
    calls.len()
}

/// Right after a crash: nobody called twice, and every call the API
/// created has at least its intent on disk (its outcome may be missing:
/// the next run reconciles it).
pub(crate) fn assert_no_call_without_intent(calls: &[Value], results: &Path) {
    let by_key = ledger_by_key(calls);
    for (k, ids) in &by_key {
        assert_eq!(
            ids.len(),
            1,
            "key {k} was called {} times: {ids:?}",
            ids.len()
        );
    }
    if by_key.is_empty() {
        return;
    }
    let latest = latest(results);
    for (k, ids) in &by_key {
        let rec = latest
            .get(k)
            .unwrap_or_else(|| panic!("a call for {k} without any record"));
        assert!(
            rec["call_id"] == ids[0]
                || ["dispatching", "in_doubt"].contains(&rec["status"].as_str()),
            "key {k}: {rec:?}"
        );
    }
}

/// Counts printed in the summary table (`  status   n`), up to `total`.
fn summary_counts(stdout: &str) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    let mut inside = false;
    for line in stdout.lines() {
        if line == "summary" {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        let mut parts = line.split_whitespace();
        match (parts.next(), parts.next(), parts.next()) {
            (Some("total"), Some(_), None) => break,
            (Some(s), Some(n), None) if line.starts_with("  ") => {
                m.insert(s.to_string(), n.parse().expect("count"));
            }
            _ => break,
        }
    }
    m
}

#[test]
fn clean_run_of_1000_rows() {
    let sb = TestSandbox::start(sandbox_config(true));
    let c = camp(&PlanOpts {
        rows: 1000,
        ..PlanOpts::default()
    });
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(assert_once_and_recorded(&sb, &c.results), 1000);
    let recs = records(&c.results);
    assert_eq!(recs.len(), 1000, "compacted: one line per recipient");
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r["row"], (i + 2).to_string(), "input order");
        assert_eq!(r["to_number"], number(i));
        assert_eq!(r["key"], number(i), "the key defaults to the number");
        assert_eq!(r["status"], "queued");
        assert_eq!(r["http_status"], "201");
        assert_eq!(r["attempts"], "1");
    }
    let text = std::fs::read_to_string(&c.results).unwrap();
    assert!(
        !text.contains("#callplan run"),
        "compaction drops run lines"
    );
    let summary = summary_counts(&text_out(&o));
    assert_eq!(summary, status_counts(&c.results));
    // The request carried plan and row data, metadata and the idempotency key.
    let calls = sb.ledger_calls();
    let first = &calls
        .iter()
        .find(|c| c["to_number"] == number(0).as_str())
        .expect("row 2's call");
    assert_eq!(first["variables"]["customer_name"], "Customer 0");
    assert_eq!(first["variables"]["clinic_name"], "Sunrise Dental");
    assert_eq!(first["metadata"]["source"], "itest");
    assert_eq!(first["metadata"]["callplan_campaign"], "itest");
    assert_eq!(first["metadata"]["callplan_round"], "1");
    assert_eq!(
        first["idempotency_key"],
        format!("itest:{}:1", number(0)).as_str()
    );
    // A rerun dials nobody.
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(sb.ledger_calls().len(), 1000);
}

fn text_out(o: &Output) -> String {
    text(&o.stdout)
}

#[test]
fn limit_then_resume_and_status() {
    let sb = TestSandbox::start(sandbox_config(true));
    let c = camp(&PlanOpts {
        rows: 100,
        ..PlanOpts::default()
    });
    let o = run(&c, &sb.base_url(), &["--limit", "30"]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(assert_once_and_recorded(&sb, &c.results), 30);
    let counts = status_counts(&c.results);
    assert_eq!(counts.get("queued"), Some(&30), "{counts:?}");
    assert_eq!(counts.get("pending"), Some(&70), "{counts:?}");
    // The first 30 rows in input order were dialled.
    let recs = records(&c.results);
    assert!(recs[..30].iter().all(|r| r["status"] == "queued"));
    assert!(
        text_out(&o).contains("resume: callplan run"),
        "{}",
        show(&o)
    );

    let st = Command::new(bin())
        .args(["status", "--format", "json"])
        .arg(&c.results)
        .output()
        .unwrap();
    assert_eq!(code(&st), 0, "{}", show(&st));
    let j: Value = serde_json::from_slice(&st.stdout).expect("status JSON");
    assert_eq!(j["counts"]["queued"], 30);
    assert_eq!(j["to_dial"], 70);
    assert_eq!(j["campaign"], "itest");
    let resume = j["resume"].as_str().unwrap();
    assert!(
        resume.starts_with("callplan run ") && resume.contains("plan.yaml"),
        "{resume}"
    );
    let st = Command::new(bin())
        .arg("status")
        .arg(&c.results)
        .output()
        .unwrap();
    let out = text_out(&st);
    assert!(out.contains("a rerun dials 70"), "{out}");
    assert!(out.contains("resume: callplan run"), "{out}");

    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(assert_once_and_recorded(&sb, &c.results), 100);
    assert_eq!(status_counts(&c.results).get("queued"), Some(&100));
}

#[test]
fn blocked_destination_is_rejected_and_the_run_goes_on() {
    let mut cfg = sandbox_config(true);
    cfg.blocked_prefixes = vec!["+44".into()];
    let sb = TestSandbox::start(cfg);
    let c = camp(&PlanOpts {
        rows: 20,
        extra_rows: vec!["+442079460000,Uk One".into(), "+442079460001,Uk Two".into()],
        ..PlanOpts::default()
    });
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(code(&o), 4, "{}", show(&o));
    assert_eq!(assert_once_and_recorded(&sb, &c.results), 20);
    let latest = latest(&c.results);
    let uk = &latest["+442079460000"];
    assert_eq!(uk["status"], "rejected");
    assert_eq!(uk["http_status"], "403");
    assert!(!uk["error"].is_empty(), "the API's message is kept: {uk:?}");
    // A rerun does not send rejected rows again.
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(code(&o), 4, "{}", show(&o));
    assert_eq!(
        sb.stats()["answers"]["403"].as_u64(),
        Some(2),
        "rejected rows are not retried"
    );
}

#[test]
fn oversized_row_is_rejected() {
    let sb = TestSandbox::start(sandbox_config(true));
    let big = "x".repeat(70 * 1024);
    let c = camp(&PlanOpts {
        rows: 5,
        extra_rows: vec![format!("+16502530999,{big}")],
        ..PlanOpts::default()
    });
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(code(&o), 4, "{}", show(&o));
    let latest = latest(&c.results);
    assert_eq!(latest["+16502530999"]["status"], "rejected");
    assert_eq!(latest["+16502530999"]["http_status"], "413");
    assert_eq!(assert_once_and_recorded(&sb, &c.results), 5);
}

/// Workspace-wide answers stop the run with exit 3, the API's message and
/// what to fix; nothing more is sent and a rerun resumes.
#[test]
fn workspace_wide_answers_stop_with_exit_3() {
    let cases: [(PlanOpts, Option<Vec<String>>, &str, &str); 3] = [
        (
            PlanOpts {
                from_number: "+14155550199",
                ..PlanOpts::default()
            },
            None,
            "403",
            "from_number",
        ),
        (
            PlanOpts {
                agent: "av_draft",
                ..PlanOpts::default()
            },
            None,
            "403",
            "publish",
        ),
        (
            PlanOpts::default(),
            Some(vec!["another-key".to_string()]),
            "401",
            "API key",
        ),
    ];
    for (opts, keys, http, fix) in cases {
        let mut cfg = sandbox_config(true);
        if let Some(k) = keys {
            cfg.api_keys = k;
        }
        let sb = TestSandbox::start(cfg);
        let c = camp(&PlanOpts {
            rows: 200,
            concurrency: 2,
            rate: 200.0,
            ..opts
        });
        let o = run(&c, &sb.base_url(), &[]);
        assert_eq!(code(&o), 3, "{}", show(&o));
        let out = text_out(&o);
        assert!(out.contains(&format!("HTTP {http}")), "{out}");
        assert!(out.contains("fix: ") && out.contains(fix), "{out}");
        assert!(out.contains("resume: callplan run"), "{out}");
        assert_eq!(sb.ledger_calls().len(), 0);
        let sent = sb.stats()["requests"].as_u64().unwrap();
        assert!(sent <= 4, "stopped at once, not after {sent} requests");
        let counts = status_counts(&c.results);
        assert_eq!(counts.get("pending"), Some(&200), "{counts:?}");
        assert!(!text(&o.stderr).contains(KEY));
    }
}

#[test]
fn breaker_stops_after_ten_identical_rejections() {
    let mut cfg = sandbox_config(true);
    cfg.blocked_prefixes = vec!["+1".into()];
    let sb = TestSandbox::start(cfg);
    let c = camp(&PlanOpts {
        rows: 300,
        concurrency: 1,
        rate: 500.0,
        ..PlanOpts::default()
    });
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(code(&o), 3, "{}", show(&o));
    assert!(
        text_out(&o).contains("first 10 answers were all the same rejection"),
        "{}",
        show(&o)
    );
    // The window's rows were refused for the plan's fault, not their own:
    // `pending` with the API's message, so that the rerun after the fix
    // dials them.
    let counts = status_counts(&c.results);
    assert_eq!(counts.get("rejected"), None, "{counts:?}");
    assert_eq!(counts.get("pending"), Some(&300), "{counts:?}");
    let l = latest(&c.results);
    let refused: Vec<_> = l
        .values()
        .filter(|r| !r["http_status"].is_empty())
        .collect();
    assert_eq!(refused.len(), 10, "{refused:?}");
    assert!(
        refused
            .iter()
            .all(|r| r["status"] == "pending" && !r["error"].is_empty())
    );
    drop(sb);
    let sb = TestSandbox::start(sandbox_config(true));
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(assert_once_and_recorded(&sb, &c.results), 300);
}

#[test]
fn server_errors_are_retried_then_recorded_as_error() {
    let mut cfg = sandbox_config(true);
    cfg.faults = Faults {
        server_error_rate: 1.0,
        ..Faults::default()
    };
    let sb = TestSandbox::start(cfg);
    let c = camp(&PlanOpts {
        rows: 6,
        max_attempts: 3,
        ..PlanOpts::default()
    });
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(code(&o), 4, "{}", show(&o));
    assert_eq!(
        sb.stats()["requests"].as_u64(),
        Some(18),
        "3 attempts per row"
    );
    for r in latest(&c.results).values() {
        assert_eq!(r["status"], "error", "{r:?}");
        assert_eq!(r["attempts"], "3");
        assert!(r["error"].contains("gave up after 3 attempts"), "{r:?}");
    }
    // `error` rows are dialled again by a rerun.
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(code(&o), 4, "{}", show(&o));
    assert_eq!(sb.stats()["requests"].as_u64(), Some(36));
}

#[test]
fn refused_connection_is_retried_then_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = camp(&PlanOpts {
        rows: 3,
        max_attempts: 2,
        ..PlanOpts::default()
    });
    let o = run(&c, &format!("http://127.0.0.1:{port}/v1"), &[]);
    assert_eq!(code(&o), 4, "{}", show(&o));
    for r in latest(&c.results).values() {
        assert_eq!(r["status"], "error", "{r:?}");
        assert!(r["error"].contains("could not connect"), "{r:?}");
    }
}

/// With a proxy in the environment every request goes through it (reqwest
/// honours it; the direct create client stands aside): here the "proxy" is
/// the sandbox and the base URL a closed port, so a request that went
/// around the proxy could not connect.
#[test]
fn a_proxy_in_the_environment_carries_every_request() {
    let sb = TestSandbox::start(sandbox_config(true));
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = camp(&PlanOpts {
        rows: 20,
        ..PlanOpts::default()
    });
    let o = runner(&c, &format!("http://127.0.0.1:{closed}/v1"), &["--wait"])
        .env("HTTP_PROXY", sb.url())
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .output()
        .expect("run callplan");
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(assert_once_and_recorded(&sb, &c.results), 20);
    // Every call followed to its end: the look-ups went through it too.
    for r in latest(&c.results).values() {
        assert!(!r["end_reason"].is_empty(), "{r:?}");
    }
}

/// Answers lost after the call was created (and answers too slow to wait
/// for) are reconciled within the run: the call is found and adopted,
/// never dialled again, even where the API ignores idempotency keys.
#[test]
fn lost_and_slow_answers_are_reconciled_not_resent() {
    for faults in [
        Faults {
            lost_response_rate: 1.0,
            ..Faults::default()
        },
        Faults {
            slow_rate: 1.0,
            slow_ms: 2500,
            ..Faults::default()
        },
    ] {
        let mut cfg = sandbox_config(false);
        cfg.faults = faults;
        let sb = TestSandbox::start(cfg);
        let c = camp(&PlanOpts {
            rows: 20,
            request_timeout_s: 0.5,
            ..PlanOpts::default()
        });
        let o = run(&c, &sb.base_url(), &[]);
        assert_eq!(code(&o), 0, "{}", show(&o));
        assert_eq!(assert_once_and_recorded(&sb, &c.results), 20);
        for r in latest(&c.results).values() {
            assert!(!r["call_id"].is_empty(), "{r:?}");
            assert_eq!(r["attempts"], "1", "{r:?}");
        }
    }
}

/// Every answer lost, and half of the look-ups' list requests answered
/// 5xx: a page that failed is asked for again, so a row stays in doubt
/// only when three asks in a row fail (one row in eight, where one in two
/// would without asking again); nobody is called twice, and a row in
/// doubt says why.
#[test]
fn a_lookup_whose_list_fails_asks_again() {
    let mut cfg = sandbox_config(false);
    cfg.seed = 11;
    cfg.faults = Faults {
        lost_response_rate: 1.0,
        read_error_rate: 0.5,
        ..Faults::default()
    };
    let sb = TestSandbox::start(cfg);
    let c = camp(&PlanOpts {
        rows: 60,
        concurrency: 8,
        request_timeout_s: 0.3,
        ..PlanOpts::default()
    });
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(sb.ledger_calls().len(), 60, "one call a row: {}", show(&o));
    let last = latest(&c.results);
    let in_doubt: Vec<_> = last
        .values()
        .filter(|r| r["status"] == "in_doubt")
        .collect();
    for r in &in_doubt {
        assert!(r["error"].contains("call lookup failed"), "{r:?}");
        assert!(r["call_id"].is_empty(), "{r:?}");
    }
    assert!(
        in_doubt.len() <= 20,
        "{} of 60 rows in doubt",
        in_doubt.len()
    );
    assert_eq!(
        code(&o),
        if in_doubt.is_empty() { 0 } else { 4 },
        "{}",
        show(&o)
    );
    let stats = sb.stats();
    let lists = stats["by_route"]["list"].as_u64().unwrap_or(0);
    let failed = stats["faults"]["server_error"].as_u64().unwrap_or(0);
    assert!(failed > 0, "{stats}");
    assert_eq!(
        lists - failed,
        (60 - in_doubt.len()) as u64,
        "one list read a row found: {stats}"
    );
}

/// A request dropped before anything was created is confirmed absent by
/// the lookup and sent again, up to max_attempts.
#[test]
fn dropped_requests_are_confirmed_absent_and_resent() {
    let mut cfg = sandbox_config(false);
    cfg.faults = Faults {
        drop_rate: 1.0,
        ..Faults::default()
    };
    let sb = TestSandbox::start(cfg);
    let c = camp(&PlanOpts {
        rows: 4,
        max_attempts: 2,
        request_timeout_s: 0.3,
        ..PlanOpts::default()
    });
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(code(&o), 4, "{}", show(&o));
    assert_eq!(sb.ledger_calls().len(), 0);
    assert_eq!(
        sb.stats()["faults"]["drop"].as_u64(),
        Some(8),
        "2 sends per row, each dropped and then looked up"
    );
    for r in latest(&c.results).values() {
        assert_eq!(r["status"], "error", "{r:?}");
        assert!(r["error"].contains("confirmed not created"), "{r:?}");
    }
}

/// A row left `dispatching` whose lookup cannot be done stays `in_doubt`
/// and is not dialled; `--redial-in-doubt` dials it.
#[test]
fn unverifiable_rows_stay_in_doubt() {
    let c = camp(&PlanOpts {
        rows: 3,
        request_timeout_s: 0.2,
        ..PlanOpts::default()
    });
    // A log as a killed run leaves it: row 2 sent, answer never recorded.
    write_first_layout_log(
        &c,
        &format!(
            "{n},2,{n},1,dispatching,,1,,,,,,2020-01-01T00:00:00.000Z\n",
            n = number(0)
        ),
    );
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dead = format!("http://127.0.0.1:{port}/v1");
    let o = run(&c, &dead, &["--limit", "0"]);
    assert_eq!(code(&o), 4, "{}", show(&o));
    let l = latest(&c.results);
    assert_eq!(l[&number(0)]["status"], "in_doubt", "{:?}", l[&number(0)]);
    assert!(l[&number(0)]["error"].contains("lookup failed"));
    // It keeps its intent's time: the next lookup searches from there, not
    // from this run's time (which would miss the call).
    assert_eq!(
        l[&number(0)]["updated_at"],
        "2020-01-01T00:00:00.000Z",
        "{:?}",
        l[&number(0)]
    );
    let st = Command::new(bin())
        .arg("status")
        .arg(&c.results)
        .output()
        .unwrap();
    assert!(
        text_out(&st).contains(&format!("key {}", number(0))),
        "{}",
        show(&st)
    );

    // The API is back and has no such call: the next run's lookup can tell
    // now (confirmed absent), so the row is dialled with the others.
    let sb = TestSandbox::start(sandbox_config(true));
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(assert_once_and_recorded(&sb, &c.results), 3);

    let c2 = camp(&PlanOpts {
        rows: 1,
        request_timeout_s: 0.2,
        ..PlanOpts::default()
    });
    // A lone results file (no state file beside it) of this campaign.
    std::fs::write(
        &c2.results,
        format!(
            "{}\n{n},2,{n},+14155550100,av_sandbox,1,in_doubt,,1,,lost,,,,2020-01-01T00:00:00.000Z,itest\n",
            callplan::results::COLUMNS.join(","),
            n = number(0)
        ),
    )
    .unwrap();
    // Rerun after rerun with the lookup failing, the row stays in doubt and
    // its time stays the original send's.
    for _ in 0..2 {
        let o = run(&c2, &dead, &[]);
        assert_eq!(code(&o), 4, "{}", show(&o));
        let r = &latest(&c2.results)[&number(0)];
        assert_eq!(r["status"], "in_doubt");
        assert_eq!(r["updated_at"], "2020-01-01T00:00:00.000Z", "{r:?}");
    }
    // --redial-in-doubt dials it although the lookup still cannot tell;
    // the API being unreachable, that send fails to connect: `error`.
    let o = run(&c2, &dead, &["--redial-in-doubt"]);
    assert_eq!(code(&o), 4, "{}", show(&o));
    let r = &latest(&c2.results)[&number(0)];
    assert_eq!(r["status"], "error", "{r:?}");
    assert!(r["error"].contains("could not connect"), "{r:?}");
}

#[test]
fn a_request_is_looked_up_under_the_number_it_was_sent_to() {
    let c = camp(&PlanOpts {
        rows: 2,
        request_timeout_s: 0.2,
        ..PlanOpts::default()
    });
    // A killed run sent row 2's request to another number than the CSV's
    // (the CSV was edited since): not found there, the row must not be
    // dialled at the new number as if confirmed absent.
    let old = "+14155550999";
    write_first_layout_log(
        &c,
        &format!(
            "{n},2,{old},1,dispatching,,1,,,,,,2020-01-01T00:00:00.000Z\n",
            n = number(0)
        ),
    );
    let sb = TestSandbox::start(sandbox_config(true));
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(code(&o), 4, "{}", show(&o));
    let r = &latest(&c.results)[&number(0)];
    assert_eq!(r["status"], "in_doubt", "{r:?}");
    assert_eq!(r["to_number"], old, "{r:?}");
    assert!(r["error"].contains("the CSV now has"), "{r:?}");
    let calls = sb.ledger_calls();
    assert!(
        calls
            .iter()
            .all(|c| c["metadata"]["callplan_key"] != number(0).as_str()),
        "{calls:?}"
    );
    assert_eq!(calls.len(), 1, "only the other row is dialled");
}

#[test]
fn an_unreadable_send_time_keeps_the_row_in_doubt() {
    let c = camp(&PlanOpts {
        rows: 2,
        request_timeout_s: 0.2,
        ..PlanOpts::default()
    });
    // Without the send time there is no window to search: a guess (now)
    // would miss an older call and dial again.
    write_first_layout_log(
        &c,
        &format!("{n},2,{n},1,dispatching,,1,,,,,,yesterday\n", n = number(0)),
    );
    let sb = TestSandbox::start(sandbox_config(true));
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(code(&o), 4, "{}", show(&o));
    let r = &latest(&c.results)[&number(0)];
    assert_eq!(r["status"], "in_doubt", "{r:?}");
    assert!(r["error"].contains("is not a time"), "{r:?}");
    let calls = sb.ledger_calls();
    assert_eq!(calls.len(), 1, "only the other row is dialled: {calls:?}");
    assert!(
        calls
            .iter()
            .all(|c| c["metadata"]["callplan_key"] != number(0).as_str()),
        "{calls:?}"
    );
}

#[test]
fn a_hostile_attempts_count_does_not_overflow() {
    let c = camp(&PlanOpts {
        rows: 1,
        ..PlanOpts::default()
    });
    write_first_layout_log(
        &c,
        &format!(
            "{n},2,{n},1,error,,4294967295,503,,,,,2020-01-01T00:00:00.000Z\n",
            n = number(0)
        ),
    );
    let sb = TestSandbox::start(sandbox_config(true));
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    let r = &latest(&c.results)[&number(0)];
    assert_eq!(r["attempts"], "4294967295", "{r:?}");
    assert_eq!(assert_once_and_recorded(&sb, &c.results), 1);
}

#[test]
fn pacing_under_409_lowers_the_cap_and_everyone_is_called_once() {
    let mut cfg = sandbox_config(true);
    cfg.concurrency_limit = 4;
    cfg.time_scale = 200.0; // calls last ~0.1-1 s real time
    cfg.ring_seconds = callplan::sandbox::Range::new(5.0, 20.0);
    cfg.talk_seconds = callplan::sandbox::Range::new(5.0, 60.0);
    let sb = TestSandbox::start(cfg);
    let c = camp(&PlanOpts {
        rows: 60,
        concurrency: 16,
        rate: 1000.0,
        ..PlanOpts::default()
    });
    let mut cmd = runner(&c, &sb.base_url(), &[]);
    cmd.env("RUST_LOG", "callplan=info");
    let o = cmd.output().unwrap();
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(assert_once_and_recorded(&sb, &c.results), 60);
    let answered_409 = sb.stats()["answers"]["409"].as_u64().unwrap_or(0);
    assert!(answered_409 > 0, "the test must provoke 409s");
    assert!(
        text(&o.stderr).contains("in-flight cap lowered"),
        "{}",
        show(&o)
    );
    let out = text_out(&o);
    assert!(
        out.contains(&format!("409 answers {answered_409}")),
        "{out}"
    );
}

#[test]
fn pacing_under_429_honours_retry_after() {
    let mut cfg = sandbox_config(true);
    cfg.rate_limit = RateLimit {
        per_second: 20.0,
        burst: 5,
    };
    let sb = TestSandbox::start(cfg);
    let c = camp(&PlanOpts {
        rows: 25,
        concurrency: 8,
        rate: 1000.0,
        ..PlanOpts::default()
    });
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(assert_once_and_recorded(&sb, &c.results), 25);
    let answered_429 = sb.stats()["answers"]["429"].as_u64().unwrap_or(0);
    assert!(answered_429 > 0, "the test must provoke 429s");
    // Waiting for Retry-After (a pause for everyone) keeps the refusals
    // few; hammering at the client's rate would collect hundreds. The bound
    // leaves room for a loaded machine (27 were seen once under load), where
    // the refill after each pause lands less evenly.
    assert!(answered_429 < 50, "{answered_429} 429s for 25 rows");
}

/// kill -9 at a random moment, rerun, repeat until a run finishes by
/// itself; 20 rounds (a fresh campaign each), with the sandbox's
/// idempotency on, and again off (reconciliation alone). After every kill:
/// nobody called twice and no call without its intent on disk; at the end
/// of each round: everyone called exactly once, every call_id in the file.
#[test]
fn kill_9_at_random_moments_never_calls_twice() {
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill -9 test seed {base}");
    // Idempotency on and off side by side, each with its own sandbox.
    let kills: u32 = std::thread::scope(|s| {
        let runs: Vec<_> = [true, false]
            .into_iter()
            .map(|idempotency| {
                s.spawn(move || kill_rounds(idempotency, base ^ u64::from(idempotency)))
            })
            .collect();
        runs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    eprintln!("{kills} kills landed while dialling");
    assert!(kills >= 10, "only {kills} kills landed while dialling");
}

fn kill_rounds(idempotency: bool, mut seed: u64) -> u32 {
    const NAMES: [&str; 20] = [
        "k00", "k01", "k02", "k03", "k04", "k05", "k06", "k07", "k08", "k09", "k10", "k11", "k12",
        "k13", "k14", "k15", "k16", "k17", "k18", "k19",
    ];
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut kills = 0;
    let sb = TestSandbox::start(sandbox_config(idempotency));
    for name in NAMES {
        let c = camp(&PlanOpts {
            name,
            rows: 50,
            concurrency: 8,
            rate: 400.0,
            request_timeout_s: 0.2,
            ..PlanOpts::default()
        });
        let mut done = false;
        for _ in 0..8 {
            let mut child = runner(&c, &sb.base_url(), &["--quiet"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let wait = Duration::from_millis(next() % 250);
            let start = Instant::now();
            let mut exited = false;
            while start.elapsed() < wait {
                if child.try_wait().unwrap().is_some() {
                    exited = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            if !exited {
                child.kill().unwrap(); // SIGKILL
            }
            let status = child.wait().unwrap();
            let calls = of_campaign(&sb.ledger_calls(), name);
            assert_no_call_without_intent(&calls, &c.results);
            if !exited && !calls.is_empty() && calls.len() < 50 {
                kills += 1; // landed while dialling
            }
            if exited {
                assert_eq!(status.code(), Some(0), "{name}, idempotency {idempotency}");
                done = true;
                break;
            }
        }
        if !done {
            let o = run(&c, &sb.base_url(), &["--quiet"]);
            assert_eq!(code(&o), 0, "{}", show(&o));
        }
        let calls = of_campaign(&sb.ledger_calls(), name);
        assert_eq!(
            assert_calls_once_and_recorded(&calls, &c.results),
            50,
            "{name}, idempotency {idempotency}"
        );
        let recs = records(&c.results);
        assert_eq!(recs.len(), 50);
        assert!(recs.iter().all(|r| !r["call_id"].is_empty()));
    }
    kills
}

/// Server errors, drops, lost answers and slow answers over 2,000 rows,
/// with idempotency off: no duplicates, every row settled or in doubt, and
/// the summary's counts are the file's.
#[test]
fn fault_mix_over_2000_rows() {
    let mut cfg = sandbox_config(false);
    cfg.faults = Faults {
        server_error_rate: 0.05,
        drop_rate: 0.03,
        lost_response_rate: 0.03,
        slow_rate: 0.01,
        slow_ms: 1200,
        ..Faults::default()
    };
    let sb = TestSandbox::start(cfg);
    let c = camp(&PlanOpts {
        rows: 2000,
        concurrency: 32,
        rate: 5000.0,
        max_attempts: 5,
        request_timeout_s: 0.5,
        ..PlanOpts::default()
    });
    let o = run(&c, &sb.base_url(), &["--quiet"]);
    assert!(matches!(code(&o), 0 | 4), "{}", show(&o));
    assert_once_and_recorded(&sb, &c.results);
    let counts = status_counts(&c.results);
    assert_eq!(counts.values().sum::<u64>(), 2000);
    // Settled (a call's status, adopted calls may have ended already),
    // `error` (nothing created), or `in_doubt`: never left open.
    for s in counts.keys() {
        assert!(
            !["pending", "dispatching", ""].contains(&s.as_str()),
            "unsettled status {s}: {counts:?}"
        );
    }
    assert_eq!(summary_counts(&text_out(&o)), counts);
    let faults = &sb.stats()["faults"];
    for kind in ["server_error", "drop", "lost_response", "slow"] {
        assert!(
            faults[kind].as_u64().unwrap_or(0) > 0,
            "no {kind} injected: {faults}"
        );
    }
}

/// The results file cannot grow (RLIMIT_FSIZE, as a full disk): dialling
/// stops at once, and every call the API created has its intent on disk.
#[cfg(unix)]
#[test]
fn failed_write_stops_dialling_and_no_call_lacks_an_intent() {
    let sb = TestSandbox::start(sandbox_config(true));
    let c = camp(&PlanOpts {
        rows: 300,
        concurrency: 8,
        rate: 2000.0,
        ..PlanOpts::default()
    });
    // bash's ulimit -f counts 1024-byte blocks: 12 KiB of results at most.
    let mut cmd = Command::new("bash");
    cmd.arg("-c")
        .arg(r#"trap "" XFSZ; ulimit -f 12; exec "$0" "$@""#)
        .arg(bin())
        .arg("run")
        .arg(&c.plan)
        .arg("--quiet")
        .current_dir(c.dir.path())
        .env("DIALNEXA_API_KEY", KEY)
        .env("DIALNEXA_BASE_URL", sb.base_url());
    let o = cmd.output().unwrap();
    assert_eq!(code(&o), 2, "{}", show(&o));
    assert!(text(&o.stderr).contains("File too large"), "{}", show(&o));
    // Said once on the error line, and the exit line says what happened.
    let error_line = text(&o.stderr)
        .lines()
        .find(|l| l.starts_with("error: "))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no error line: {}", show(&o)));
    assert_eq!(
        error_line.matches("(os error 27)").count(),
        1,
        "{error_line}"
    );
    assert!(
        text(&o.stdout).contains("exit 2: the results file cannot be written"),
        "{}",
        show(&o)
    );
    let calls = sb.ledger_calls();
    assert!(
        !calls.is_empty() && calls.len() < 300,
        "{} calls",
        calls.len()
    );
    // Every created call has a durable intent (a complete `dispatching` line).
    let text = std::fs::read_to_string(&c.results).unwrap();
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let intents: HashSet<&str> = complete
        .lines()
        .filter(|l| l.contains(",dispatching,"))
        .filter_map(|l| l.split(',').next())
        .collect();
    for k in ledger_by_key(&calls).keys() {
        assert!(
            intents.contains(k.as_str()),
            "call for {k} without an intent on disk"
        );
    }
    // Room again: the rerun reconciles and finishes, nobody twice.
    let o = run(&c, &sb.base_url(), &["--quiet"]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(assert_once_and_recorded(&sb, &c.results), 300);
}

#[test]
fn the_key_is_never_written_anywhere_even_at_trace() {
    let sb = TestSandbox::start(sandbox_config(true));
    let c = camp(&PlanOpts {
        rows: 5,
        extra_rows: vec!["+442079460000,Uk".into()],
        ..PlanOpts::default()
    });
    let mut cmd = runner(&c, &sb.base_url(), &[]);
    cmd.env("RUST_LOG", "trace");
    let o = cmd.output().unwrap();
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert!(text(&o.stderr).contains("TRACE"), "trace logging was on");
    assert!(!text(&o.stdout).contains(KEY));
    assert!(!text(&o.stderr).contains(KEY));
    for e in std::fs::read_dir(c.dir.path()).unwrap() {
        let p = e.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(KEY),
            "key found in {}",
            p.display()
        );
    }
    // The key did reach the server (the run worked), only there.
    assert_eq!(sb.ledger_calls().len(), 6);
}

#[test]
fn missing_key_is_exit_2_before_any_work() {
    let sb = TestSandbox::start(sandbox_config(true));
    let c = camp(&PlanOpts::default());
    let o = runner(&c, &sb.base_url(), &[])
        .env_remove("DIALNEXA_API_KEY")
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", show(&o));
    assert!(text(&o.stderr).contains("DIALNEXA_API_KEY"), "{}", show(&o));
    assert!(!c.results.exists());
    assert_eq!(sb.stats()["requests"].as_u64(), Some(0));
}

#[test]
fn insecure_base_url_is_refused() {
    let c = camp(&PlanOpts::default());
    let o = run(&c, "http://api.dialnexa.com/v1", &[]);
    assert_eq!(code(&o), 2, "{}", show(&o));
    assert!(text(&o.stderr).contains("must use https"), "{}", show(&o));
}

#[test]
fn dry_run_shows_requests_and_sends_nothing() {
    let sb = TestSandbox::start(sandbox_config(true));
    let c = camp(&PlanOpts {
        rows: 10,
        ..PlanOpts::default()
    });
    let o = runner(&c, &sb.base_url(), &["--dry-run"])
        .env_remove("DIALNEXA_API_KEY")
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", show(&o));
    let out = text_out(&o);
    assert!(out.contains("Bearer ********"), "{out}");
    assert!(
        out.contains(&format!("\"Idempotency-Key\": \"itest:{}:1\"", number(0))),
        "{out}"
    );
    assert!(out.contains("dry run: 10 calls would be sent"), "{out}");
    assert_eq!(sb.stats()["requests"].as_u64(), Some(0));
    assert!(!c.results.exists(), "a dry run writes nothing");
}

/// Issue 13: a dry run with an unusable base URL says so and exits 2, as
/// the real run would, after showing everything else.
#[test]
fn dry_run_exits_2_when_the_base_url_is_unusable() {
    let c = camp(&PlanOpts {
        rows: 3,
        ..PlanOpts::default()
    });
    for url in ["ftp://127.0.0.1/v1", "not a url", "http://"] {
        let o = runner(&c, url, &["--dry-run"]).output().unwrap();
        assert_eq!(code(&o), 2, "{url}: {}", show(&o));
        assert!(
            text_out(&o).contains("unusable base URL"),
            "{url}: {}",
            show(&o)
        );
        assert!(
            text(&o.stderr).contains("a real run would stop"),
            "{}",
            show(&o)
        );
        let j = runner(&c, url, &["--dry-run", "--format", "json"])
            .output()
            .unwrap();
        assert_eq!(code(&j), 2, "{url}: {}", show(&j));
        let doc: serde_json::Value = serde_json::from_slice(&j.stdout).expect("json");
        assert_eq!(doc["exit"]["code"], 2, "{doc:#}");
    }
    assert!(!c.results.exists(), "a dry run writes nothing");
}

#[test]
fn results_of_another_campaign_are_refused() {
    let sb = TestSandbox::start(sandbox_config(true));
    let c = camp(&PlanOpts {
        rows: 3,
        ..PlanOpts::default()
    });
    assert_eq!(code(&run(&c, &sb.base_url(), &[])), 0);
    let before = std::fs::read(&c.results).unwrap();
    let plan = std::fs::read_to_string(&c.plan)
        .unwrap()
        .replace("av_sandbox", "av_other");
    std::fs::write(&c.plan, plan).unwrap();
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(code(&o), 2, "{}", show(&o));
    assert!(
        text(&o.stderr).contains("belongs to another campaign"),
        "{}",
        show(&o)
    );
    assert_eq!(std::fs::read(&c.results).unwrap(), before, "left untouched");
    assert_eq!(sb.ledger_calls().len(), 3);
}

#[test]
fn invalid_rows_block_or_are_skipped() {
    let sb = TestSandbox::start(sandbox_config(true));
    let c = camp(&PlanOpts {
        rows: 5,
        extra_rows: vec!["12,Bad Number".into()],
        ..PlanOpts::default()
    });
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(code(&o), 1, "{}", show(&o));
    assert!(text_out(&o).contains("nothing was dialled"), "{}", show(&o));
    assert_eq!(sb.stats()["requests"].as_u64(), Some(0));
    assert!(!c.results.exists());

    let o = run(&c, &sb.base_url(), &["--skip-invalid"]);
    assert_eq!(code(&o), 4, "{}", show(&o));
    assert_eq!(assert_once_and_recorded(&sb, &c.results), 5);
    let recs = records(&c.results);
    assert_eq!(recs.len(), 6);
    assert_eq!(recs[5]["status"], "invalid");
    assert_eq!(recs[5]["row"], "7");
    assert!(!recs[5]["error"].is_empty());
}

#[cfg(unix)]
#[test]
fn sigterm_stops_saves_and_resumes() {
    let sb = TestSandbox::start(sandbox_config(true));
    let c = camp(&PlanOpts {
        rows: 200,
        concurrency: 4,
        rate: 50.0,
        ..PlanOpts::default()
    });
    let child = runner(&c, &sb.base_url(), &["--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Stop it once it has dialled someone (polled, not a fixed sleep: on a
    // loaded machine the run may take seconds to start).
    let started = std::time::Instant::now();
    while sb.ledger_calls().is_empty() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 130, "{}", show(&o));
    assert!(
        text_out(&o).contains("resume: callplan run"),
        "{}",
        show(&o)
    );
    let recs = records(&c.results);
    assert_eq!(recs.len(), 200, "compacted on the way out");
    let n = assert_once_and_recorded(&sb, &c.results);
    assert!(n > 0 && n < 200, "{n} calls before the stop");
    let o = run(&c, &sb.base_url(), &["--quiet"]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(assert_once_and_recorded(&sb, &c.results), 200);
}

#[test]
fn sandbox_flag_runs_the_whole_campaign_in_process() {
    let c = camp(&PlanOpts {
        rows: 30,
        rate: 200.0,
        ..PlanOpts::default()
    });
    let o = rehearse(&c, &[]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    let sandbox_results = c.dir.path().join("itest.results.sandbox.csv");
    assert_eq!(records(&sandbox_results).len(), 30);
    assert!(
        !c.results.exists(),
        "a rehearsal never writes the real file"
    );
    assert!(
        summary_counts(&text_out(&o)).get("queued") == Some(&30),
        "{}",
        show(&o)
    );
}

/// What a plain CSV reader makes of a results file, as it is: Python's
/// `csv.DictReader` when python3 is there, else the csv crate reading line
/// 1 as the header. The field names of line 1, and the rows, each checked
/// to have every field (only a torn last line, one without its newline,
/// may be short, and is left out).
fn plain_reader_rows(path: &Path) -> (Vec<String>, Vec<HashMap<String, String>>) {
    const SCRIPT: &str = r#"
import csv, json, sys
data = open(sys.argv[1], newline="").read()
torn = not data.endswith("\n")
with open(sys.argv[1], newline="") as f:
    rd = csv.DictReader(f)
    rows = list(rd)
    names = rd.fieldnames
for i, row in enumerate(rows):
    short = None in row.values() or None in row
    assert not short or (torn and i == len(rows) - 1), ("row", i + 2, row)
if torn and rows:
    rows.pop()
print(json.dumps({"fieldnames": names, "rows": rows}))
"#;
    if let Ok(o) = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(path)
        .output()
    {
        assert!(o.status.success(), "{}", show(&o));
        let v: Value = serde_json::from_slice(&o.stdout).expect("python's JSON");
        let names = v["fieldnames"]
            .as_array()
            .expect("field names")
            .iter()
            .map(|n| n.as_str().unwrap().to_string())
            .collect();
        let rows = v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect()
            })
            .collect();
        return (names, rows);
    }
    let data = std::fs::read(path).unwrap();
    let complete = &data[..data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)];
    let mut rd = csv::Reader::from_reader(complete);
    let names: Vec<String> = rd.headers().unwrap().iter().map(String::from).collect();
    let rows = rd
        .records()
        .map(|r| {
            let r = r.expect("every complete row parses with every field");
            names
                .iter()
                .cloned()
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect();
    (names, rows)
}

/// A plain CSV reader finds `call_id` on line 1 and every row whole: in a
/// log a run was killed in the middle of, and after the rerun compacts it.
#[cfg(unix)]
#[test]
fn a_plain_csv_reader_opens_the_results_file_mid_run_and_after() {
    let sb = TestSandbox::start(sandbox_config(true));
    let c = camp(&PlanOpts {
        rows: 200,
        concurrency: 4,
        rate: 40.0,
        ..PlanOpts::default()
    });
    let mut child = runner(&c, &sb.base_url(), &["--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Until some calls are on disk (or the run ended by itself).
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(30)
        && child.try_wait().unwrap().is_none()
        && std::fs::read_to_string(&c.results).map_or(0, |t| t.matches("queued").count()) < 10
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let (names, rows) = plain_reader_rows(&c.results);
    assert_eq!(names[7], "call_id", "{names:?}");
    assert_eq!(names.join(","), callplan::results::COLUMNS.join(","));
    let called = of_campaign(&sb.ledger_calls(), "itest").len();
    assert!(called > 0 && called < 200, "killed mid-way: {called} calls");
    assert!(rows.iter().any(|r| !r["call_id"].is_empty()), "{rows:?}");
    for r in &rows {
        assert_eq!(r["campaign"], "itest", "{r:?}");
        assert!(!r["status"].is_empty(), "{r:?}");
    }
    assert_eq!(
        rows.len(),
        records(&c.results).len(),
        "the same rows as ours"
    );
    // The rerun finishes and compacts: one whole row per recipient.
    let o = run(&c, &sb.base_url(), &["--quiet"]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(assert_once_and_recorded(&sb, &c.results), 200);
    let (names, rows) = plain_reader_rows(&c.results);
    assert_eq!(names[7], "call_id");
    assert_eq!(rows.len(), 200);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["row"], (i + 2).to_string(), "input order");
        assert!(r["call_id"].starts_with("call_"), "{r:?}");
        assert_eq!(r["from_number"], "+14155550100", "{r:?}");
        assert_eq!(r["agent_version_id"], "av_sandbox", "{r:?}");
    }
    let state = c.dir.path().join(".itest.results.csv.state");
    let state: Value = serde_json::from_slice(&std::fs::read(state).unwrap()).unwrap();
    assert_eq!(state["campaign"], "itest");
    assert_eq!(state["target"], "api");
    assert_eq!(state["rows"], 200);
}

/// A results file in the first layout (a `#callplan results v1` comment on
/// line 1, a run line inside) resumes as before, and the run leaves it in
/// the current layout with its state file.
#[test]
fn a_results_file_of_the_first_layout_resumes_and_is_migrated() {
    let sb = TestSandbox::start(sandbox_config(true));
    let c = camp(&PlanOpts {
        rows: 3,
        ..PlanOpts::default()
    });
    assert_eq!(code(&run(&c, &sb.base_url(), &["--limit", "1"])), 0);
    let done = &records(&c.results)[0];
    let call = done["call_id"].clone();
    assert!(call.starts_with("call_"), "{done:?}");
    let old = format!(
        "#callplan results v1,campaign=itest,from_number=+14155550100,agent_version_id=av_sandbox,plan={plan}\n\
         key,row,to_number,round,status,call_id,attempts,http_status,error,end_reason,duration_s,next_at,updated_at\n\
         {n},2,{n},1,queued,{call},1,201,,,,,2020-01-01T00:00:00.000Z\n\
         #callplan run,started_at=2020-01-01T00:00:00.000Z,plan={plan},rows=3\n",
        plan = c.plan.display(),
        n = number(0),
    );
    std::fs::write(&c.results, old).unwrap();
    std::fs::remove_file(c.dir.path().join(".itest.results.csv.state")).unwrap();
    let st = Command::new(bin())
        .arg("status")
        .arg(&c.results)
        .output()
        .unwrap();
    assert!(st.status.success(), "{}", show(&st));
    assert!(
        text_out(&st).contains(&format!("callplan run {}", c.plan.display())),
        "the resume command from the comment lines: {}",
        show(&st)
    );
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    assert_eq!(
        assert_once_and_recorded(&sb, &c.results),
        3,
        "row 2 not dialled again"
    );
    let recs = records(&c.results);
    assert_eq!(recs.len(), 3);
    assert_eq!(recs[0]["call_id"], call);
    assert_eq!(recs[0]["from_number"], "+14155550100");
    assert!(c.dir.path().join(".itest.results.csv.state").exists());
}

/// A rehearsal's file is refused by a real run and the reverse, with its
/// state file or without it (a lone copy of the CSV).
#[test]
fn a_rehearsal_file_and_a_real_one_refuse_each_other_even_alone() {
    let sb = TestSandbox::start(sandbox_config(true));
    let c = camp(&PlanOpts {
        rows: 2,
        rate: 200.0,
        ..PlanOpts::default()
    });
    let o = rehearse(&c, &[]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    let rehearsal = c.dir.path().join("itest.results.sandbox.csv");
    assert!(
        records(&rehearsal)
            .iter()
            .all(|r| r["campaign"] == "sandbox/itest")
    );
    let state = c.dir.path().join(".itest.results.sandbox.csv.state");
    for with_state in [true, false] {
        if !with_state {
            std::fs::remove_file(&state).unwrap();
        }
        let before = std::fs::read(&rehearsal).unwrap();
        let o = run(
            &c,
            &sb.base_url(),
            &["--results", rehearsal.to_str().unwrap()],
        );
        assert_eq!(code(&o), 2, "{}", show(&o));
        assert!(
            text(&o.stderr).contains("a --sandbox rehearsal"),
            "{}",
            show(&o)
        );
        assert_eq!(std::fs::read(&rehearsal).unwrap(), before, "left untouched");
    }
    assert_eq!(code(&run(&c, &sb.base_url(), &[])), 0);
    std::fs::remove_file(c.dir.path().join(".itest.results.csv.state")).unwrap();
    let results = c.results.to_str().expect("a UTF-8 path");
    let o = rehearse(&c, &["--results", results]);
    assert_eq!(code(&o), 2, "{}", show(&o));
    assert!(
        text(&o.stderr).contains("belongs to another campaign"),
        "{}",
        show(&o)
    );
    assert_eq!(
        sb.ledger_calls().len(),
        2,
        "the real run dialled its two rows once"
    );
}

/// Issue 13, item 3: half the answers are lost after the call is created,
/// and the call list shows a call only 2.5 s after its creation, longer
/// than the 0.5 s request timeout (idempotency off, so a resend is a
/// second call). With `api.list_lag_s: 3` nobody is called twice and every
/// call is found; with `list_lag_s: 0` (the old rule) the same sandbox
/// rings people again, which shows the test can fail.
#[test]
fn a_call_list_lagging_past_the_request_timeout_never_calls_anyone_twice() {
    let mut cfg = sandbox_config(false);
    cfg.list_lag_ms = 2500;
    cfg.faults = Faults {
        lost_response_rate: 0.5,
        ..Faults::default()
    };
    let sb = TestSandbox::start(cfg);
    let campaign = |name: &'static str, lag: &str| {
        let c = camp(&PlanOpts {
            name,
            rows: 30,
            request_timeout_s: 0.5,
            ..PlanOpts::default()
        });
        let plan = std::fs::read_to_string(&c.plan).expect("plan");
        let plan = plan.replace("  list_lag_s: 0\n", &format!("  list_lag_s: {lag}\n"));
        std::fs::write(&c.plan, plan).expect("plan");
        c
    };

    let c = campaign("lagging", "3");
    let o = run(&c, &sb.base_url(), &["--quiet"]);
    assert_eq!(code(&o), 0, "{}", show(&o));
    let calls = of_campaign(&sb.ledger_calls(), "lagging");
    assert_eq!(calls.len(), 30, "everyone called once");
    assert_calls_once_and_recorded(&calls, &c.results);
    let counts = status_counts(&c.results);
    for unsettled in ["in_doubt", "pending", "dispatching", "error"] {
        assert_eq!(counts.get(unsettled), None, "{counts:?}");
    }
    assert!(
        latest(&c.results)
            .values()
            .all(|r| !r["call_id"].is_empty()),
        "{}",
        show(&o)
    );

    let old = campaign("nolag", "0");
    let o = run(&old, &sb.base_url(), &["--quiet"]);
    assert!(matches!(code(&o), 0 | 4), "{}", show(&o));
    let twice = ledger_by_key(&of_campaign(&sb.ledger_calls(), "nolag"))
        .values()
        .filter(|ids| ids.len() > 1)
        .count();
    assert!(twice > 0, "the sandbox's lag should fool a lag of 0");
}

/// Issue 13, item 6: a row left `dispatching` with a time a day in the
/// future (a clock moved back, a file from another machine) is looked up
/// now, with a warning, instead of at that time; as nothing is found and
/// the time was further off than the clock skew allowed, it stays in doubt.
#[test]
fn a_future_intent_time_is_looked_up_now_with_a_warning() {
    let c = camp(&PlanOpts {
        rows: 2,
        request_timeout_s: 0.2,
        ..PlanOpts::default()
    });
    let tomorrow = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
    write_first_layout_log(
        &c,
        &format!(
            "{n},2,{n},1,dispatching,,1,,,,,,{at}\n",
            n = number(0),
            at = tomorrow.strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        ),
    );
    let mut cfg = sandbox_config(true);
    cfg.list_lag_ms = 0;
    let sb = TestSandbox::start(cfg);
    let mut cmd = runner(&c, &sb.base_url(), &[]);
    // Sooner than the default 60 s list lag.
    let plan = std::fs::read_to_string(&c.plan).expect("plan");
    std::fs::write(
        &c.plan,
        plan.replace("  list_lag_s: 0\n", "  list_lag_s: 1\n"),
    )
    .expect("plan");
    let o = cmd.output().expect("run callplan");
    assert_eq!(code(&o), 4, "{}", show(&o));
    assert!(text(&o.stderr).contains("in the future"), "{}", show(&o));
    let r = &latest(&c.results)[&number(0)];
    assert_eq!(r["status"], "in_doubt", "{r:?}");
    assert!(r["error"].contains("in the future"), "{r:?}");
    assert_eq!(sb.ledger_calls().len(), 1, "only the other row is dialled");
}

/// A rerun after a crash: the row the crash left open waits for its lookup
/// (a request timeout after its intent, two minutes here), and the other
/// rows are dialled meanwhile instead of after it.
#[test]
fn rows_left_open_by_a_crash_do_not_hold_back_the_others() {
    let c = camp(&PlanOpts {
        rows: 6,
        request_timeout_s: 120.0,
        ..PlanOpts::default()
    });
    write_first_layout_log(
        &c,
        &format!(
            "{n},2,{n},1,dispatching,,1,,,,,,{at}\n",
            n = number(0),
            at = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        ),
    );
    let sb = TestSandbox::start(sandbox_config(true));
    let mut child = runner(&c, &sb.base_url(), &[])
        .spawn()
        .expect("run callplan");
    // Not a timing: a count, waited for far less than the open row's wait.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while sb.ledger_calls().len() < 5 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let calls = sb.ledger_calls();
    child.kill().expect("kill");
    let _ = child.wait();
    assert_eq!(
        calls.len(),
        5,
        "the five other rows, while row 2 waits: {calls:?}"
    );
    assert!(
        calls.iter().all(|c| c["to_number"] != number(0).as_str()),
        "the open row is not sent before its lookup: {calls:?}"
    );
}

/// Writes `c`'s results file as a killed run of the first layout left it:
/// its comment and column lines, then `records` (CSV lines).
fn write_first_layout_log(c: &Camp, records: &str) {
    let log = format!(
        "#callplan results v1,campaign=itest,from_number=+14155550100,agent_version_id=av_sandbox,plan={}\n\
         key,row,to_number,round,status,call_id,attempts,http_status,error,end_reason,duration_s,next_at,updated_at\n\
         {records}",
        c.plan.display(),
    );
    std::fs::write(&c.results, log).unwrap();
}

/// The two orders of a rerun after a crash, run to the end: the open row,
/// confirmed never created, is sent once (after the other rows, or first
/// with `--limit`), and nobody is called twice.
#[test]
fn an_open_row_confirmed_absent_is_sent_once_after_the_others_or_first_with_a_limit() {
    for limit in [None, Some("2")] {
        let c = camp(&PlanOpts {
            rows: 4,
            request_timeout_s: 0.5,
            ..PlanOpts::default()
        });
        let at = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S%.3fZ");
        write_first_layout_log(
            &c,
            &format!("{n},2,{n},1,dispatching,,1,,,,,,{at}\n", n = number(0)),
        );
        let sb = TestSandbox::start(sandbox_config(true));
        let args: Vec<&str> = limit.map(|l| vec!["--limit", l]).unwrap_or_default();
        let o = run(&c, &sb.base_url(), &args);
        assert_eq!(code(&o), 0, "{limit:?}: {}", show(&o));
        let sent: Vec<String> = sb
            .ledger_calls()
            .iter()
            .map(|c| c["to_number"].as_str().unwrap_or_default().to_string())
            .collect();
        let mut once = sent.clone();
        once.sort();
        once.dedup();
        assert_eq!(
            once.len(),
            sent.len(),
            "{limit:?}: someone called twice: {sent:?}"
        );
        match limit {
            None => assert_eq!(sent.len(), 4, "every row once: {sent:?}"),
            Some(_) => assert_eq!(
                once,
                [number(0), number(1)],
                "with --limit 2 the open row comes first: {sent:?}"
            ),
        }
        assert!(
            sent.contains(&number(0)),
            "{limit:?}: the open row was sent"
        );
    }
}
