//! Integration tests of local caller IDs and per-row agent versions
//! (issue 10) through the binary, against the sandbox in this test
//! process: which number each recipient is called from (in the ledger),
//! that the choice holds across redial rounds and reruns, least-used
//! balancing, a row's own agent version, the validation findings, and a
//! 403 for one number of the pool.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use callplan::sandbox::{Config, VersionState};
use serde_json::Value;

use crate::common::{TestSandbox, bin, latest, online, show};

const KEY: &str = "sk_test_callerid_0123456789";
const DEFAULT: &str = "+14155550100";
const GB: &str = "+442079460000";
const GB2: &str = "+442079460001";
const NYC: &str = "+12125550100";

/// A campaign in a temp folder.
struct Camp {
    dir: tempfile::TempDir,
    plan: PathBuf,
    results: PathBuf,
}

/// A plan with `extra` YAML and recipients `csv` (header included).
fn camp(name: &str, extra: &str, csv: &str) -> Camp {
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = dir.path().join("plan.yaml");
    let yaml = format!(
        "name: {name}\n\
         from_number: \"{DEFAULT}\"\n\
         agent_version_id: av_sandbox\n\
         recipients: recipients.csv\n\
         api:\n  request_timeout_s: 2\n  connect_timeout_s: 1\n\
         dispatch:\n  concurrency: 1\n  rate_per_second: 2000\n  max_attempts: 3\n\
         {extra}"
    );
    std::fs::write(&plan, yaml).expect("write plan");
    std::fs::write(dir.path().join("recipients.csv"), csv).expect("write csv");
    let results = dir.path().join(format!("{name}.results.csv"));
    Camp { dir, plan, results }
}

fn sandbox(numbers: &[&str], versions: &[&str]) -> Config {
    let mut c = Config::unlimited();
    c.idempotency = true;
    c.time_scale = 600.0;
    c.numbers = numbers.iter().map(|n| n.to_string()).collect();
    c.agent_versions = versions
        .iter()
        .map(|v| (v.to_string(), VersionState::Published))
        .collect::<BTreeMap<_, _>>();
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

/// `field` of every ledger call, by destination, in creation order.
fn by_recipient(calls: &[Value], field: &str) -> HashMap<String, Vec<String>> {
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    for c in calls {
        let to = c["to_number"].as_str().expect("to_number").to_string();
        let v = c[field].as_str().expect(field).to_string();
        m.entry(to).or_default().push(v);
    }
    m
}

const POOL: &str = "local_caller_ids:\n  - number: \"+442079460000\"\n    countries: [GB]\n  - number: \"+12125550100\"\n    prefixes: [\"+1212\", \"+1646\", \"+1917\"]\n";

#[test]
fn gb_recipients_get_the_gb_number_nyc_the_nyc_one_the_rest_the_default() {
    let sb = TestSandbox::start(sandbox(&[DEFAULT, GB, NYC], &["av_sandbox"]));
    let rows = [
        ("+442079460123", GB),
        ("+441614960123", GB),
        ("+12125550142", NYC),
        ("+16465550142", NYC),
        ("+19175550142", NYC),
        ("+16502530001", DEFAULT),
        ("+33142685300", DEFAULT),
    ];
    let mut csv = String::from("to_number,customer_name\n");
    for (to, _) in rows {
        csv.push_str(&format!("{to},x\n"));
    }
    let c = camp("local", POOL, &csv);
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let from = by_recipient(&sb.ledger_calls(), "from_number");
    assert_eq!(from.len(), rows.len(), "{from:?}");
    for (to, want) in rows {
        assert_eq!(from[to], [want], "{to}");
    }
    // The summary and `status` count the calls per caller ID.
    let summary = String::from_utf8_lossy(&o.stdout);
    let line = format!("calls by caller ID: {NYC} 3, {DEFAULT} 2, {GB} 2");
    assert!(summary.contains(&line), "{summary}");
    let st = Command::new(bin())
        .args(["status", "--format", "json"])
        .arg(&c.results)
        .output()
        .expect("status");
    assert_eq!(st.status.code(), Some(0), "{}", show(&st));
    let v: Value = serde_json::from_slice(&st.stdout).expect("status JSON");
    let by = &v["usage"]["by_caller_id"];
    assert_eq!(
        (by[DEFAULT].as_u64(), by[NYC].as_u64(), by[GB].as_u64()),
        (Some(2), Some(3), Some(2)),
        "{v}"
    );
    // A dry run of the list (into a fresh results file) shows the same
    // caller IDs in the requests it shows (the first three).
    let d = tempfile::tempdir().expect("temp dir");
    let fresh = d.path().join("fresh.csv");
    let o = command(&c, &sb.base_url(), "run", &["--dry-run", "--results"])
        .arg(&fresh)
        .output()
        .expect("dry run");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for n in [GB, NYC] {
        assert!(
            out.contains(&format!("\"from_number\": \"{n}\"")),
            "{n}: {out}"
        );
    }
}

/// Two equal GB entries: recipients alternate between them; a rerun (the
/// rest of the list, then the redial round) keeps each recipient's number.
#[test]
fn equal_matches_balance_and_a_rerun_and_a_redial_keep_each_caller_id() {
    let mut cfg = sandbox(&[DEFAULT, GB, GB2], &["av_sandbox"]);
    cfg.outcomes.completed = 0.0;
    cfg.outcomes.no_answer = 100.0;
    cfg.outcomes.busy = 0.0;
    cfg.outcomes.voicemail = 0.0;
    cfg.outcomes.failed = 0.0;
    let sb = TestSandbox::start(cfg);
    let pool = format!(
        "local_caller_ids:\n  - number: \"{GB}\"\n    countries: [GB]\n  - number: \"{GB2}\"\n    \
         countries: [GB]\nredial:\n  on: [no_answer]\n  max: 1\n  after: 1s\n"
    );
    let to: Vec<String> = (0..6).map(|i| format!("+44207946{:04}", 100 + i)).collect();
    let csv = format!("to_number,customer_name\n{}\n", to.join(",x\n") + ",x");
    let c = camp("balance", &pool, &csv);

    // Half the list, then the rest in a rerun.
    let o = run(&c, &sb.base_url(), &["--limit", "3"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let first = by_recipient(&sb.ledger_calls(), "from_number");
    let picked: Vec<&str> = to.iter().map(|t| first[t][0].as_str()).collect();
    assert_eq!(
        picked,
        [GB, GB2, GB, GB2, GB, GB2],
        "least used, in list order"
    );

    // Outcomes, then the redial round in another rerun.
    let o = command(&c, &sb.base_url(), "track", &["--poll-every", "1s"])
        .output()
        .expect("track");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let o = run(&c, &sb.base_url(), &["--wait", "--poll-every", "1s"]);
    assert!(matches!(o.status.code(), Some(0 | 4)), "{}", show(&o));
    let calls = sb.ledger_calls();
    let from = by_recipient(&calls, "from_number");
    for (t, want) in to.iter().zip(picked) {
        assert_eq!(from[t], [want, want], "{t}: both rounds from one number");
    }
    let rounds: Vec<&str> = calls
        .iter()
        .filter_map(|c| c["metadata"]["callplan_round"].as_str())
        .collect();
    assert_eq!(rounds.iter().filter(|r| **r == "2").count(), 6);
}

#[test]
fn a_rows_own_agent_version_and_caller_id_are_sent() {
    let sb = TestSandbox::start(sandbox(&[DEFAULT, GB, NYC], &["av_sandbox", "av_es"]));
    let extra = format!("{POOL}columns:\n  from_number: caller_id\n  agent_version_id: agent\n");
    let csv = "to_number,caller_id,agent,customer_name\n\
               +16502530001,,av_es,Ana\n\
               +16502530002,+442079460000,,Ben\n\
               +442079460123,,,Cat\n";
    let c = camp("agents", &extra, csv);
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let calls = sb.ledger_calls();
    let agent = by_recipient(&calls, "agent_version_id");
    let from = by_recipient(&calls, "from_number");
    assert_eq!(agent["+16502530001"], ["av_es"]);
    assert_eq!(agent["+16502530002"], ["av_sandbox"]);
    assert_eq!(from["+16502530001"], [DEFAULT]);
    assert_eq!(from["+16502530002"], [GB], "the row's own caller ID");
    assert_eq!(from["+442079460123"], [GB]);
    for call in &calls {
        let vars = call["variables"].as_object().expect("variables");
        assert!(
            !vars.contains_key("caller_id") && !vars.contains_key("agent"),
            "{call}"
        );
    }
    // The summary counts the calls per agent version (more than one used).
    let summary = String::from_utf8_lossy(&o.stdout);
    assert!(
        summary.contains("calls by agent version: av_es 1, av_sandbox 2"),
        "{summary}"
    );
}

/// A row's own agent version that the workspace refuses (a draft): the
/// 403 stops the run (exit 3) naming that version; the rows not yet
/// dialled stay `pending`.
#[test]
fn a_403_for_one_rows_agent_version_stops_the_run_naming_it() {
    let mut cfg = sandbox(&[DEFAULT], &["av_sandbox"]);
    cfg.agent_versions
        .insert("av_draft".into(), VersionState::Draft);
    let sb = TestSandbox::start(cfg);
    let csv = "to_number,agent,customer_name\n\
               +16502530001,,a\n\
               +16502530002,av_draft,b\n\
               +16502530003,,c\n\
               +16502530004,,d\n";
    let c = camp("draft", "columns:\n  agent_version_id: agent\n", csv);
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("av_draft") && out.contains("HTTP 403"),
        "{}",
        show(&o)
    );
    assert_stopped_rows_pending(
        &sb.ledger_calls(),
        &c.results,
        "+16502530002",
        &[
            "+16502530001",
            "+16502530002",
            "+16502530003",
            "+16502530004",
        ],
    );
}

#[test]
fn caller_id_findings_block_the_run_before_any_call() {
    let sb = TestSandbox::start(sandbox(&[DEFAULT, GB, NYC], &["av_sandbox"]));
    let extra =
        format!("{POOL}require_local_caller_id: true\ncolumns:\n  from_number: caller_id\n");
    let csv = "to_number,caller_id,customer_name\n\
               +442079460123,,a\n\
               +16502530001,,b\n\
               +16502530002,+13105550100,c\n\
               +12125550100,,d\n";
    let c = camp("findings", &extra, csv);
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(o.status.code(), Some(1), "{}", show(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for code in [
        "no_local_caller_id]: recipients.csv, row 3",
        "caller_id_not_in_plan]: recipients.csv, row 4, column caller_id",
        "same_as_caller_id]: recipients.csv, row 5",
    ] {
        assert!(out.contains(code), "{code}: {}", show(&o));
    }
    assert!(sb.ledger_calls().is_empty());
}

/// The NYC number is not in the workspace: its first call stops the run
/// (exit 3) naming it; the rows not yet dialled stay pending.
#[test]
fn a_403_for_one_pool_number_stops_the_run_naming_it() {
    let sb = TestSandbox::start(sandbox(&[DEFAULT, GB], &["av_sandbox"]));
    let csv = "to_number,customer_name\n\
               +16502530001,a\n\
               +442079460123,b\n\
               +12125550142,c\n\
               +16502530002,d\n\
               +442079460124,e\n\
               +16502530003,f\n";
    let c = camp("forbidden", POOL, csv);
    let o = run(&c, &sb.base_url(), &[]);
    assert_eq!(o.status.code(), Some(3), "{}", show(&o));
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains(NYC) && out.contains("HTTP 403"),
        "{}",
        show(&o)
    );
    assert!(!out.contains(KEY));
    assert_stopped_rows_pending(
        &sb.ledger_calls(),
        &c.results,
        "+12125550142",
        &[
            "+16502530001",
            "+442079460123",
            "+12125550142",
            "+16502530002",
            "+442079460124",
            "+16502530003",
        ],
    );
}

/// After a run stopped on a 403 for `refused`'s call: nothing was created
/// for it and it is back to `pending` with the 403; every other row is
/// either called (its call_id in the file) or `pending`. The order rows
/// leave in is not list order (intents are written ahead of the in-flight
/// permit, and whichever row's task wakes first sends first), so which
/// rows were called before the stop is not asserted.
fn assert_stopped_rows_pending(
    calls: &[Value],
    results: &std::path::Path,
    refused: &str,
    rows: &[&str],
) {
    let called: HashMap<&str, &str> = calls
        .iter()
        .filter_map(|c| Some((c["to_number"].as_str()?, c["call_id"].as_str()?)))
        .collect();
    assert_eq!(called.len(), calls.len(), "nobody twice: {calls:?}");
    assert!(!called.contains_key(refused), "{called:?}");
    let last = latest(results);
    assert_eq!(last[refused]["status"], "pending", "{:?}", last[refused]);
    assert_eq!(last[refused]["http_status"], "403", "{:?}", last[refused]);
    for to in rows {
        match called.get(to) {
            Some(id) => assert_eq!(&last[*to]["call_id"], id, "{to}: {:?}", last[*to]),
            None => assert_eq!(last[*to]["status"], "pending", "{to}: {:?}", last[*to]),
        }
    }
}

/// Issue 10: two equal GB entries (least-used balancing decides), the
/// first run SIGKILLed mid-run (once some calls exist), resumed to the end,
/// then the redial round: every recipient is called from one caller ID in
/// every call of every round, the results file's `from_number` agrees, and
/// the pool stays balanced across the kill.
#[cfg(unix)]
#[test]
fn a_rerun_after_kill_9_and_a_redial_keep_each_caller_id() {
    const ROWS: usize = 16;
    let mut cfg = sandbox(&[DEFAULT, GB, GB2], &["av_sandbox"]);
    cfg.outcomes.completed = 0.0;
    cfg.outcomes.no_answer = 100.0;
    cfg.outcomes.busy = 0.0;
    cfg.outcomes.voicemail = 0.0;
    cfg.outcomes.failed = 0.0;
    let sb = TestSandbox::start(cfg);
    // Slow pacing, so that the kill lands while the list is being dialled.
    let pool = format!(
        "local_caller_ids:\n  - number: \"{GB}\"\n    countries: [GB]\n  - number: \"{GB2}\"\n    \
         countries: [GB]\nredial:\n  on: [no_answer]\n  max: 1\n  after: 1s\n"
    );
    let to: Vec<String> = (0..ROWS)
        .map(|i| format!("+44207946{:04}", 200 + i))
        .collect();
    let csv = format!("to_number,customer_name\n{}\n", to.join(",x\n") + ",x");
    let c = camp("killed", &pool, &csv);
    let mut child = command(&c, &sb.base_url(), "run", &["--quiet", "--rate", "4"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn run");
    // Kill it once a few calls exist (polled, not timed); it must not have
    // finished by then.
    let mut exited = None;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            exited = Some(status);
            break;
        }
        if sb.ledger_calls().len() >= 4 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        exited.is_none(),
        "the run ended before the kill: {exited:?}"
    );
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    let at_kill = sb.ledger_calls().len();
    assert!((4..ROWS).contains(&at_kill), "{at_kill} calls at the kill");

    // Resumed to the end, at full speed.
    let o = run(&c, &sb.base_url(), &["--rate", "1000"]);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let first = by_recipient(&sb.ledger_calls(), "from_number");
    assert_eq!(first.len(), ROWS, "everyone called once: {first:?}");
    let mut used: HashMap<&str, usize> = HashMap::new();
    for t in &to {
        assert_eq!(first[t].len(), 1, "{t}: {:?}", first[t]);
        assert!([GB, GB2].contains(&first[t][0].as_str()), "{t}: {first:?}");
        *used.entry(first[t][0].as_str()).or_default() += 1;
    }
    assert!(
        used.len() == 2 && used[GB].abs_diff(used[GB2]) <= 1,
        "least used across the kill: {used:?}"
    );

    // Outcomes, then the redial round.
    let o = command(&c, &sb.base_url(), "track", &["--poll-every", "1s"])
        .output()
        .expect("track");
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let o = run(&c, &sb.base_url(), &["--wait", "--poll-every", "1s"]);
    assert!(matches!(o.status.code(), Some(0 | 4)), "{}", show(&o));
    let calls = sb.ledger_calls();
    let from = by_recipient(&calls, "from_number");
    for t in &to {
        let want = first[t][0].as_str();
        assert_eq!(from[t], [want, want], "{t}: both rounds from one number");
    }
    let round2 = calls
        .iter()
        .filter(|c| c["metadata"]["callplan_round"] == "2")
        .count();
    assert_eq!(round2, ROWS, "the redial round called everyone again");
    // The results file says the same, on every line that names a caller ID.
    let text = std::fs::read_to_string(&c.results).expect("results file");
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let mut seen = 0;
    for r in rd.deserialize::<HashMap<String, String>>() {
        let r = r.expect("CSV record");
        if r["from_number"].is_empty() {
            continue;
        }
        assert_eq!(
            r["from_number"], first[&r["to_number"]][0],
            "results file line {r:?}"
        );
        seen += 1;
    }
    assert!(seen >= ROWS, "{seen} lines with a caller ID");
    let last = latest(&c.results);
    for t in &to {
        assert_eq!(last[t]["round"], "2", "{t}: {:?}", last[t]);
        assert_eq!(last[t]["from_number"], first[t][0], "{t}: {:?}", last[t]);
    }
}
