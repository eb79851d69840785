//! Integration tests of issue 5 through the binary, against the sandbox in
//! this test process: do-not-call lists on resume, outcomes polled to the
//! end (`run --wait`, `track`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use callplan::sandbox::{Config, VersionState};
use serde_json::Value;

use crate::common::{TestSandbox, bin, latest, online, records, show};

const KEY: &str = "sk_test_campaign_0123456789";

/// A campaign in a temp folder.
struct Camp {
    dir: tempfile::TempDir,
    plan: PathBuf,
    results: PathBuf,
}

/// The n-th test number: valid, distinct US numbers.
fn number(i: usize) -> String {
    format!("+1650253{:04}", i % 10_000)
}

/// A plan of `rows` recipients with `extra` appended to its YAML.
fn camp(name: &str, rows: usize, extra: &str) -> Camp {
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = dir.path().join("plan.yaml");
    let yaml = format!(
        "name: {name}\n\
         from_number: \"+14155550100\"\n\
         agent_version_id: av_sandbox\n\
         recipients: recipients.csv\n\
         api:\n  request_timeout_s: 1\n  connect_timeout_s: 1\n  list_lag_s: 0\n\
         dispatch:\n  concurrency: 8\n  rate_per_second: 2000\n  max_attempts: 3\n\
         {extra}"
    );
    std::fs::write(&plan, yaml).expect("write plan");
    let mut csv = String::from("to_number,customer_name\n");
    for i in 0..rows {
        csv.push_str(&format!("{},Customer {i}\n", number(i)));
    }
    std::fs::write(dir.path().join("recipients.csv"), csv).expect("write csv");
    let results = dir.path().join(format!("{name}.results.csv"));
    Camp { dir, plan, results }
}

fn sandbox_config(time_scale: f64) -> Config {
    let mut c = Config::unlimited();
    c.idempotency = true;
    c.time_scale = time_scale;
    c.numbers = vec!["+14155550100".into()];
    c.agent_versions = BTreeMap::from([("av_sandbox".into(), VersionState::Published)]);
    c
}

fn command(c: &Camp, base_url: &str, sub: &str, args: &[&str]) -> Command {
    let mut cmd = online(c.dir.path(), base_url, KEY);
    cmd.arg(sub).arg(&c.plan).args(args);
    cmd
}

fn run(c: &Camp, base_url: &str, args: &[&str]) -> Output {
    command(c, base_url, "run", args)
        .output()
        .expect("run callplan")
}

/// Ledger calls per destination number.
fn calls_by_number(calls: &[Value]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for c in calls {
        let to = c["to_number"].as_str().expect("to_number").to_string();
        *m.entry(to).or_insert(0) += 1;
    }
    m
}

/// `callplan status --format json` of a campaign's results, at `now`.
fn status_at(c: &Camp, now: &str) -> Value {
    let o = Command::new(bin())
        .args(["status", "--format", "json"])
        .arg(&c.results)
        .env("CALLPLAN_TEST_NOW", now)
        .output()
        .expect("status");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    serde_json::from_slice(&o.stdout).expect("status JSON")
}

fn write_dnc(c: &Camp, numbers: &[String]) {
    let mut s = String::from("phone_number\n");
    for n in numbers {
        s.push_str(n);
        s.push('\n');
    }
    std::fs::write(c.dir.path().join("dnc.csv"), s).expect("write dnc.csv");
}

#[test]
fn do_not_call_number_added_between_runs_is_not_called_on_resume() {
    let sb = TestSandbox::start(sandbox_config(600.0));
    let c = camp("dnc", 10, "suppress: [dnc.csv]\n");
    write_dnc(&c, &[number(0)]);

    // Run 1 dials five rows; row 0 is listed from the start.
    let o = run(&c, &sb.base_url(), &["--limit", "5"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("1 suppressed (do-not-call)"),
        "{}",
        show(&o)
    );
    let called = calls_by_number(&sb.ledger_calls());
    assert_eq!(called.len(), 5, "{called:?}");
    assert!(!called.contains_key(&number(0)));

    // Number 7 (not dialled yet) joins the list before the resume.
    write_dnc(&c, &[number(0), number(7)]);
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let called = calls_by_number(&sb.ledger_calls());
    assert!(!called.contains_key(&number(0)), "{called:?}");
    assert!(!called.contains_key(&number(7)), "{called:?}");
    assert_eq!(called.len(), 8, "{called:?}");
    assert!(called.values().all(|&n| n == 1), "{called:?}");
    let last = latest(&c.results);
    assert_eq!(last[&number(0)]["status"], "suppressed");
    assert_eq!(last[&number(7)]["status"], "suppressed");
    assert!(last[&number(7)]["call_id"].is_empty());

    // A number taken off the list is dialled on the next run.
    write_dnc(&c, &[number(7)]);
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let called = calls_by_number(&sb.ledger_calls());
    assert_eq!(called.get(&number(0)), Some(&1), "{called:?}");
    assert!(!called.contains_key(&number(7)), "{called:?}");
}

const TERMINAL: [&str; 6] = [
    "completed",
    "failed",
    "no_answer",
    "busy",
    "voicemail",
    "cancelled",
];

/// Every recipient's last record is the call's final state as the sandbox
/// ledger has it: terminal status, end reason and duration.
fn assert_outcomes_recorded(sb: &TestSandbox, results: &Path, rows: usize) {
    let last = latest(results);
    assert_eq!(last.len(), rows);
    let ledger: HashMap<String, Value> = sb
        .ledger_calls()
        .into_iter()
        .map(|c| (c["call_id"].as_str().expect("call_id").to_string(), c))
        .collect();
    assert_eq!(ledger.len(), rows);
    for (k, r) in &last {
        let status = r["status"].as_str();
        assert!(TERMINAL.contains(&status), "{k}: {r:?}");
        let call = &ledger[&r["call_id"]];
        assert_eq!(
            call["status"].as_str(),
            Some(status),
            "{k}: {r:?} vs {call}"
        );
        assert_eq!(
            call["end_reason"].as_str().unwrap_or(""),
            r["end_reason"],
            "{k}: {r:?} vs {call}"
        );
        match call["duration_s"].as_f64() {
            Some(d) => {
                let got: f64 = r["duration_s"].parse().expect("duration_s is a number");
                assert!((got - d).abs() < 1e-6, "{k}: {r:?} vs {call}");
            }
            None => assert_eq!(r["duration_s"], "", "{k}: {r:?}"),
        }
    }
}

#[test]
fn run_wait_records_every_outcome() {
    let sb = TestSandbox::start(sandbox_config(600.0));
    let c = camp("outcomes", 30, "");
    let o = run(&c, &sb.base_url(), &["--wait", "--poll-every", "1s"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_outcomes_recorded(&sb, &c.results, 30);
    let st = status_at(&c, "2026-11-30T00:00:00Z");
    assert_eq!(st["verdict"], "done", "{st}");
    let ended: u64 = st["outcomes"]
        .as_object()
        .expect("outcomes")
        .values()
        .flat_map(|m| m.as_object().expect("reasons").values())
        .map(|n| n.as_u64().expect("count"))
        .sum();
    assert_eq!(ended, 30, "{st}");
    // Outcomes vary (the sandbox's mix): at least one call was answered.
    let last = latest(&c.results);
    assert!(
        last.values()
            .any(|r| r["status"] == "completed" && !r["duration_s"].is_empty()),
        "{last:?}"
    );
}

#[test]
fn track_records_outcomes_of_calls_left_in_progress() {
    let sb = TestSandbox::start(sandbox_config(600.0));
    let c = camp("tracking", 20, "");
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let last = latest(&c.results);
    assert!(
        last.values().all(|r| r["status"] == "queued"),
        "without --wait the create answer is the last word: {last:?}"
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("callplan track"),
        "{}",
        show(&o)
    );

    let o = command(&c, &sb.base_url(), "track", &["--poll-every", "1s"])
        .output()
        .expect("run callplan track");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_outcomes_recorded(&sb, &c.results, 20);
    // Nothing was dialled by track.
    assert_eq!(sb.ledger_calls().len(), 20);

    // Nothing left: track says so and exits 0.
    let o = command(&c, &sb.base_url(), "track", &[])
        .output()
        .expect("run callplan track");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("nothing to track"),
        "{}",
        show(&o)
    );
}

/// Most calls alive at once per the ledger, a call counting from its
/// creation to its end (a superset of ringing + in progress).
fn max_overlap(calls: &[Value]) -> usize {
    let ts = |c: &Value, f: &str| -> jiff::Timestamp {
        c[f].as_str()
            .unwrap_or_else(|| panic!("{f} missing: {c}"))
            .parse()
            .unwrap_or_else(|e| panic!("{f}: {e}: {c}"))
    };
    // Ends sort before starts at the same instant.
    let mut events: Vec<(jiff::Timestamp, i32)> = Vec::new();
    for c in calls {
        events.push((ts(c, "created_at"), 1));
        events.push((ts(c, "ended_at"), -1));
    }
    events.sort();
    let (mut now, mut max) = (0i32, 0i32);
    for (_, d) in events {
        now += d;
        max = max.max(now);
    }
    max as usize
}

#[test]
fn max_active_calls_is_never_exceeded() {
    let sb = TestSandbox::start(sandbox_config(300.0));
    let c = camp("livecap", 12, "");
    // The cap is a dispatch key: append it to the plan's dispatch section.
    let plan = std::fs::read_to_string(&c.plan).expect("plan");
    let plan = plan.replace(
        "  max_attempts: 3\n",
        "  max_attempts: 3\n  max_active_calls: 3\n",
    );
    std::fs::write(&c.plan, plan).expect("plan");
    let o = run(&c, &sb.base_url(), &["--wait", "--poll-every", "1s"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let calls = sb.ledger_calls();
    assert_eq!(calls.len(), 12);
    let peak = max_overlap(&calls);
    assert!(peak <= 3, "{peak} calls alive at once");
    assert!(peak >= 2, "the cap was not used at all (peak {peak})");
    assert_outcomes_recorded(&sb, &c.results, 12);
}

#[test]
fn redials_have_their_own_rounds_and_keys_and_a_rerun_picks_them_up() {
    let mut cfg = sandbox_config(600.0);
    cfg.outcomes.completed = 30.0;
    cfg.outcomes.no_answer = 70.0;
    cfg.outcomes.busy = 0.0;
    cfg.outcomes.voicemail = 0.0;
    cfg.outcomes.failed = 0.0;
    let sb = TestSandbox::start(cfg);
    let c = camp(
        "redials",
        12,
        "redial:\n  on: [no_answer]\n  max: 2\n  after: 1s\n",
    );
    // Round 1, fire and forget; then track: outcomes and next_at, no dial.
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let o = command(&c, &sb.base_url(), "track", &["--poll-every", "1s"])
        .output()
        .expect("track");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(sb.ledger_calls().len(), 12, "track dialled");
    let last = latest(&c.results);
    let unanswered = last.values().filter(|r| r["status"] == "no_answer").count();
    assert!(unanswered > 0, "{last:?}");
    let st = status_at(&c, "2026-01-01T00:00:00Z");
    assert_eq!(st["redials_pending"], unanswered, "{st}");
    assert_eq!(
        st["outcomes"]["no_answer"]
            .as_object()
            .map(|m| m.values().filter_map(Value::as_u64).sum::<u64>()),
        Some(unanswered as u64),
        "{st}"
    );
    for r in last.values() {
        assert_eq!(
            r["next_at"].is_empty(),
            r["status"] != "no_answer",
            "next_at only for a redialled ending: {r:?}"
        );
    }

    // The rerun dials the due redials and waits for every round.
    let o = run(&c, &sb.base_url(), &["--wait", "--poll-every", "1s"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));

    let calls = sb.ledger_calls();
    let mut by_key: HashMap<String, Vec<&Value>> = HashMap::new();
    for call in &calls {
        let key = call["metadata"]["callplan_key"].as_str().expect("key");
        by_key.entry(key.to_string()).or_default().push(call);
    }
    assert_eq!(by_key.len(), 12);
    let mut redialled = 0;
    for (key, calls) in &mut by_key {
        calls.sort_by_key(|c| c["created_at"].as_str().unwrap_or("").to_string());
        assert!(calls.len() <= 3, "{key}: {} calls", calls.len());
        for (i, call) in calls.iter().enumerate() {
            let round = i + 1;
            assert_eq!(
                call["idempotency_key"].as_str(),
                Some(format!("redials:{key}:{round}").as_str()),
                "{key}: {call}"
            );
            let status = call["status"].as_str().unwrap_or("");
            if round < calls.len() {
                assert_eq!(
                    status, "no_answer",
                    "{key}: round {round} redialled after {status}"
                );
            } else {
                assert!(
                    status == "completed" || round == 3,
                    "{key}: round {round} ended {status} and was not redialled"
                );
            }
        }
        redialled += calls.len() - 1;
        let rec = &latest(&c.results)[key];
        assert_eq!(rec["round"], calls.len().to_string(), "{rec:?}");
        assert_eq!(
            Some(rec["call_id"].as_str()),
            calls[calls.len() - 1]["call_id"].as_str()
        );
        assert!(rec["next_at"].is_empty(), "{rec:?}");
    }
    assert!(redialled >= unanswered, "{redialled} redials");
    // Every round has its own lines in the log.
    let log = records(&c.results);
    assert!(log.iter().any(|r| r["round"] == "2"));
}

/// A scheduled campaign (New York hours, weekdays, until April 30) whose
/// rows carry their own zones.
fn windowed(name: &str, rows: &[(&str, &str)]) -> Camp {
    let c = camp(
        name,
        0,
        "schedule:\n  timezone: America/New_York\n  hours: \"09:00-20:00\"\n  \
         days: [mon, tue, wed, thu, fri]\n  end_at: 2026-04-30T20:00-04:00\n",
    );
    let mut csv = String::from("to_number,customer_name,timezone\n");
    for (i, (number, zone)) in rows.iter().enumerate() {
        csv.push_str(&format!("{number},Customer {i},{zone}\n"));
    }
    std::fs::write(c.dir.path().join("recipients.csv"), csv).expect("write csv");
    c
}

fn run_at(c: &Camp, base_url: &str, now: &str, args: &[&str]) -> Output {
    command(c, base_url, "run", args)
        .env("CALLPLAN_TEST_NOW", now)
        .output()
        .expect("run callplan")
}

fn called(sb: &TestSandbox) -> Vec<String> {
    let mut v: Vec<String> = sb
        .ledger_calls()
        .iter()
        .map(|c| c["to_number"].as_str().expect("to_number").to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn windows_per_time_zone_through_both_dst_changes() {
    const NY: &str = "+16502530001";
    const LONDON: &str = "+16502530002";
    const SYDNEY: &str = "+16502530003";
    let sb = TestSandbox::start(sandbox_config(600.0));
    let c = windowed(
        "windows",
        &[
            (NY, "America/New_York"),
            (LONDON, "Europe/London"),
            (SYDNEY, "Australia/Sydney"),
        ],
    );
    // Monday 2 March, 13:30 UTC: 08:30 EST in New York (closed), 13:30 in
    // London (open), 00:30 Tuesday in Sydney (closed).
    let o = run_at(&c, &sb.base_url(), "2026-03-02T13:30:00Z", &["--no-wait"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("rerun then"),
        "{}",
        show(&o)
    );
    assert_eq!(called(&sb), [LONDON]);
    let last = latest(&c.results);
    assert_eq!(last[NY]["status"], "pending");
    assert_eq!(last[NY]["next_at"], "2026-03-02T14:00:00Z");
    assert_eq!(last[SYDNEY]["next_at"], "2026-03-02T22:00:00Z");
    let st = status_at(&c, "2026-03-02T13:30:00Z");
    assert_eq!(st["waiting_for_window"], 2, "{st}");
    assert_eq!(st["next_window_at"], "2026-03-02T14:00:00Z", "{st}");
    assert_eq!(st["to_dial_now"], 0, "{st}");
    assert!(
        st["verdict"]
            .as_str()
            .unwrap()
            .starts_with("nothing to dial now; next at 2026-03-02T14:00:00Z"),
        "{st}"
    );
    // At 14:00 the New York row may be dialled.
    let st = status_at(&c, "2026-03-02T14:00:01Z");
    assert_eq!(st["to_dial_now"], 1, "{st}");
    assert_eq!(st["verdict"], "1 to dial now", "{st}");

    // Monday 9 March, same UTC time: New York is on EDT since the 8th, so
    // 09:30 there: open.
    let o = run_at(&c, &sb.base_url(), "2026-03-09T13:30:00Z", &["--no-wait"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(called(&sb), [NY, LONDON]);

    // Monday 6 April, 22:30 UTC: Sydney left daylight time on the 5th, so
    // 08:30 AEST on Tuesday (closed; it would be 09:30 under AEDT).
    let o = run_at(&c, &sb.base_url(), "2026-04-06T22:30:00Z", &["--no-wait"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(called(&sb), [NY, LONDON]);
    assert_eq!(
        latest(&c.results)[SYDNEY]["next_at"],
        "2026-04-06T23:00:00Z"
    );
    // An hour later it is 09:30 there: dialled.
    let o = run_at(&c, &sb.base_url(), "2026-04-06T23:30:00Z", &["--no-wait"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert_eq!(called(&sb), [NY, LONDON, SYDNEY]);
}

#[test]
fn a_run_waits_for_the_window_and_nothing_is_dialled_after_end_at() {
    const NY: &str = "+16502530011";
    let sb = TestSandbox::start(sandbox_config(600.0));
    // One second before New York's window opens: the run waits, then dials.
    let c = windowed("waits", &[(NY, "America/New_York")]);
    let o = run_at(&c, &sb.base_url(), "2026-03-02T13:59:59Z", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("nothing to dial now: waiting until"),
        "{}",
        show(&o)
    );
    assert_eq!(called(&sb), [NY]);

    // After end_at: reported, not dialled, exit 0.
    let c = windowed("ended", &[("+16502530012", "America/New_York")]);
    let o = run_at(&c, &sb.base_url(), "2026-05-04T13:30:00Z", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("end_at has passed"),
        "{}",
        show(&o)
    );
    assert_eq!(called(&sb), [NY]);
}

/// 2,000 rows with redials under the run issue's fault mix (idempotency
/// off, so a resend would be a second call): at most one call per key per
/// round, a round only after a redialled ending of the one before, and
/// every row's last call in the results file.
#[test]
fn redials_under_the_fault_mix_never_duplicate_a_round() {
    use callplan::sandbox::Faults;
    let mut cfg = sandbox_config(600.0);
    cfg.idempotency = false;
    cfg.faults = Faults {
        server_error_rate: 0.05,
        drop_rate: 0.03,
        lost_response_rate: 0.03,
        slow_rate: 0.01,
        slow_ms: 1200,
        ..Faults::default()
    };
    let sb = TestSandbox::start(cfg);
    let c = camp(
        "faultmix",
        2000,
        "redial:\n  on: [no_answer, busy, voicemail, failed]\n  max: 1\n  after: 1s\n",
    );
    // Faster timeouts and more attempts, as the run issue's fault-mix test.
    let plan = std::fs::read_to_string(&c.plan).expect("plan");
    let plan = plan
        .replace("request_timeout_s: 1\n", "request_timeout_s: 0.5\n")
        .replace("concurrency: 8\n", "concurrency: 32\n")
        .replace("rate_per_second: 2000\n", "rate_per_second: 5000\n")
        .replace("max_attempts: 3\n", "max_attempts: 5\n");
    std::fs::write(&c.plan, plan).expect("plan");
    let o = run(
        &c,
        &sb.base_url(),
        &["--quiet", "--wait", "--poll-every", "1s"],
    );
    assert!(matches!(o.status.code(), Some(0 | 4)), "{}", show(&o));

    let calls = sb.ledger_calls();
    let mut rounds: HashMap<(String, u64), Vec<&Value>> = HashMap::new();
    for call in &calls {
        let key = call["metadata"]["callplan_key"].as_str().expect("key");
        let round: u64 = call["metadata"]["callplan_round"]
            .as_str()
            .and_then(|r| r.parse().ok())
            .expect("callplan_round");
        rounds
            .entry((key.to_string(), round))
            .or_default()
            .push(call);
    }
    for ((key, round), v) in &rounds {
        assert_eq!(v.len(), 1, "{key} round {round} called {} times", v.len());
        assert!(*round <= 2, "{key}: round {round}");
        if *round == 2 {
            let first = &rounds
                .get(&(key.clone(), 1))
                .unwrap_or_else(|| panic!("{key}: round 2 without round 1"))[0];
            let ended = first["status"].as_str().unwrap_or("");
            assert!(
                ["no_answer", "busy", "voicemail", "failed"].contains(&ended),
                "{key}: redialled after {ended}"
            );
        }
    }
    let redialled = rounds.keys().filter(|(_, r)| *r == 2).count();
    assert!(redialled > 100, "only {redialled} redials");
    let last = latest(&c.results);
    assert_eq!(last.len(), 2000);
    let mut in_doubt = 0;
    for (key, rec) in &last {
        let round: u64 = rec["round"].parse().expect("round");
        if let Some(v) = rounds.get(&(key.clone(), round)) {
            // A lost answer whose look-up failed too (a loaded machine, a
            // 0.5 s timeout) leaves the row in doubt: no call_id claimed,
            // never redialled blind, and the exit code says so (4).
            if rec["status"] == "in_doubt" && rec["call_id"].is_empty() {
                in_doubt += 1;
            } else {
                let made = v[0]["call_id"].as_str().unwrap_or("?");
                assert_eq!(rec["call_id"].as_str(), made, "{rec:?}");
            }
        }
        assert!(
            !["pending", "dispatching", "queued", "ringing", "in_progress"]
                .contains(&rec["status"].as_str()),
            "unsettled: {rec:?}"
        );
    }
    if in_doubt > 0 {
        assert_eq!(
            o.status.code(),
            Some(4),
            "{in_doubt} in doubt: {}",
            show(&o)
        );
    }
}

/// A row an earlier run left `dispatching` whose number has since been
/// listed: it is looked up (no call found), and the check just before the
/// resend stops it: recorded `suppressed`, never dialled.
#[test]
fn a_listed_row_left_dispatching_is_looked_up_but_not_resent() {
    let sb = TestSandbox::start(sandbox_config(600.0));
    let c = camp("dncresume", 3, "suppress: [dnc.csv]\n");
    write_dnc(&c, &[number(0)]);
    std::fs::write(
        &c.results,
        format!(
            "#callplan results v1,campaign=dncresume,from_number=+14155550100,agent_version_id=av_sandbox\n\
             key,row,to_number,round,status,call_id,attempts,http_status,error,end_reason,duration_s,next_at,updated_at\n\
             {n},2,{n},1,dispatching,,1,,,,,,2026-01-01T00:00:00.000Z\n",
            n = number(0)
        ),
    )
    .expect("write results");
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("1 to look up first"),
        "{}",
        show(&o)
    );
    let called = calls_by_number(&sb.ledger_calls());
    assert!(!called.contains_key(&number(0)), "{called:?}");
    assert_eq!(called.len(), 2, "{called:?}");
    assert_eq!(latest(&c.results)[&number(0)]["status"], "suppressed");
}
