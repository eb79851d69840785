//! Integration tests: `callplan export`, through the binary, over a real
//! campaign run against the sandbox. The poller does not fill the
//! post-call store yet, so each test writes it the way the poller will:
//! every call of the results file fetched with `GET /v1/calls/{id}` and
//! kept through `Outcome::from_call`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use callplan::outcomes::{Outcome, Store, store_path};
use callplan::sandbox::{AnalysisFields, Config, Outcomes, VersionState};
use callplan::wire::Call;
use serde_json::Value;

use crate::common::{TestSandbox, client, online, show};

const KEY: &str = "sk_test_export_SUPERSECRET";

/// A campaign in a temp folder whose recipients have columns that clash
/// with the call columns (`status`, `summary`) and non-ASCII names.
struct Camp {
    dir: tempfile::TempDir,
    plan: PathBuf,
    results: PathBuf,
}

const HEADER: &str = "patient_id,to_number,customer_name,status,summary";

fn rows() -> Vec<String> {
    [
        "P-001,+16502530001,José Ñúñez,vip,loyal since 2019",
        "P-002,+16502530002,Zoë Ødegård 東京,,",
        "P-003,+16502530003,Ana Silva,new,",
        "P-004,+16502530004,Not Dialled Yet,,",
    ]
    .map(String::from)
    .to_vec()
}

fn camp(name: &str) -> Camp {
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        format!(
            "name: {name}\nfrom_number: \"+14155550100\"\nagent_version_id: av_sandbox\n\
             recipients: recipients.csv\ncolumns:\n  key: patient_id\n\
             variables:\n  clinic_name: Sunrise Dental\n\
             dispatch:\n  concurrency: 4\n  rate_per_second: 1000\n"
        ),
    )
    .unwrap();
    let csv = format!("{HEADER}\n{}\n", rows().join("\n"));
    std::fs::write(dir.path().join("recipients.csv"), csv).unwrap();
    let results = dir.path().join(format!("{name}.results.csv"));
    Camp { dir, plan, results }
}

/// Every call answered, with three analysis fields: one plain, one that
/// a spreadsheet would run as a formula, one non-ASCII.
fn sandbox() -> TestSandbox {
    let mut c = Config::unlimited();
    c.time_scale = 600.0;
    c.numbers = vec!["+14155550100".into()];
    c.agent_versions = BTreeMap::from([("av_sandbox".into(), VersionState::Published)]);
    c.outcomes = Outcomes {
        completed: 1.0,
        no_answer: 0.0,
        busy: 0.0,
        voicemail: 0.0,
        failed: 0.0,
    };
    c.post_call_analysis = AnalysisFields::new([
        ("appointment_confirmed", vec!["yes"]),
        ("note", vec!["=HYPERLINK(\"http://evil.invalid\")"]),
        ("mood", vec!["très bien — 良い"]),
    ]);
    TestSandbox::start(c)
}

fn callplan(c: &Camp, sb: &TestSandbox, args: &[&str]) -> Output {
    online(c.dir.path(), &sb.base_url(), KEY)
        .args(args)
        .output()
        .expect("run callplan")
}

/// Dials the first three recipients (the fourth stays undialled), waits
/// for every call to end, and fills the store from `GET /v1/calls/{id}`.
fn run_and_fetch(c: &Camp, sb: &TestSandbox) {
    let plan = c.plan.to_str().unwrap();
    let o = callplan(
        c,
        sb,
        &[
            "run",
            plan,
            "--limit",
            "3",
            "--wait",
            "--poll-every",
            "1s",
            "--quiet",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    let log = callplan::results::read(&c.results)
        .unwrap()
        .expect("results file");
    let store = Store::open(&store_path(&c.results)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for r in log.table.iter().filter(|r| !r.call_id.is_empty()) {
        let url = format!("{}/calls/{}", sb.base_url(), r.call_id);
        let call: Call = rt.block_on(async {
            let resp = client().get(&url).bearer_auth(KEY).send().await.unwrap();
            assert!(resp.status().is_success(), "GET {url}: {}", resp.status());
            resp.json().await.unwrap()
        });
        store
            .append(&Outcome::from_call(&r.key, r.round, &call))
            .unwrap();
    }
    assert_eq!(store.len(), 3);
}

fn export(c: &Camp, sb: &TestSandbox, extra: &[&str]) -> Output {
    let mut args = vec!["export", c.plan.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = callplan(c, sb, &args);
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    o
}

fn csv_rows(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut rd = csv::Reader::from_reader(bytes);
    let header = rd.headers().unwrap().iter().map(String::from).collect();
    let rows = rd
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

fn cell<'a>(header: &[String], row: &'a [String], name: &str) -> &'a str {
    let i = header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("no column {name} in {header:?}"));
    &row[i]
}

#[test]
fn export_joins_each_recipient_with_its_call_in_input_order() {
    let sb = sandbox();
    let c = camp("exp-join");
    run_and_fetch(&c, &sb);
    // A recipient added since the run: in no results file.
    let mut csv = std::fs::read_to_string(c.dir.path().join("recipients.csv")).unwrap();
    csv.push_str("P-005,+16502530005,Added Later,,\n");
    std::fs::write(c.dir.path().join("recipients.csv"), csv).unwrap();

    let o = export(&c, &sb, &[]);
    let (header, rows) = csv_rows(&o.stdout);
    assert_eq!(
        header,
        [
            "patient_id",
            "to_number",
            "customer_name",
            "status",
            "summary",
            "call_id",
            "callplan.status",
            "round",
            "attempts",
            "end_reason",
            "duration_s",
            "callplan.summary",
            "sentiment",
            "recording_url",
            // The API's analysis object is read into a sorted map
            // (wire::Analysis), so a call's fields come in name order.
            "analysis.appointment_confirmed",
            "analysis.mood",
            "analysis.note",
        ]
    );
    let ids: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(ids, ["P-001", "P-002", "P-003", "P-004", "P-005"]);
    // The input's own cells come back as they were, non-ASCII too.
    assert_eq!(
        rows[0][..5],
        [
            "P-001",
            "+16502530001",
            "José Ñúñez",
            "vip",
            "loyal since 2019"
        ]
    );
    assert_eq!(rows[1][2], "Zoë Ødegård 東京");
    for row in &rows[..3] {
        assert!(cell(&header, row, "call_id").starts_with(|ch: char| ch.is_alphanumeric()));
        assert_eq!(cell(&header, row, "callplan.status"), "completed");
        assert_eq!(cell(&header, row, "round"), "1");
        assert_eq!(cell(&header, row, "analysis.appointment_confirmed"), "yes");
        // A value a spreadsheet would run is defused.
        assert_eq!(
            cell(&header, row, "analysis.note"),
            "'=HYPERLINK(\"http://evil.invalid\")"
        );
        assert_eq!(cell(&header, row, "analysis.mood"), "très bien — 良い");
        assert!(cell(&header, row, "recording_url").starts_with("http"));
        assert!(!cell(&header, row, "sentiment").is_empty());
    }
    // The sandbox's summary names the recipient, accents and all.
    assert!(
        cell(&header, &rows[0], "callplan.summary").contains("José Ñúñez"),
        "{rows:?}"
    );
    // Left by --limit: the results file's `pending`, and no call.
    let kept = ["callplan.status", "round", "attempts"];
    assert_eq!(
        kept.map(|col| cell(&header, &rows[3], col)),
        ["pending", "1", "0"]
    );
    for col in header[5..].iter().filter(|c| !kept.contains(&c.as_str())) {
        assert_eq!(cell(&header, &rows[3], col), "", "{col} of {:?}", rows[3]);
    }
    // In no results file at all: every call column empty.
    for col in &header[5..] {
        assert_eq!(cell(&header, &rows[4], col), "", "{col} of {:?}", rows[4]);
    }
    assert!(text(&o.stderr).contains("exported 5 rows"), "{}", show(&o));
    assert!(
        text(&o.stderr).contains("3 with post-call data"),
        "{}",
        show(&o)
    );
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_formula_looking_summary_is_defused_and_transcripts_keep_their_lines() {
    let sb = sandbox();
    let c = camp("exp-formula");
    run_and_fetch(&c, &sb);
    // A later line for the first call: the last line of a call wins.
    let mut outcomes = callplan::outcomes::read(&store_path(&c.results)).unwrap();
    let mut first = outcomes.remove(0);
    first.summary = Some("=cmd|'/c calc'!A1 — rappel envoyé".into());
    first.sentiment = Some("@SUM(A1)".into());
    Store::open(&store_path(&c.results))
        .unwrap()
        .append(&first)
        .unwrap();

    let o = export(&c, &sb, &["--transcripts"]);
    let (header, rows) = csv_rows(&o.stdout);
    assert_eq!(header.last().unwrap(), "transcript");
    let row = rows
        .iter()
        .find(|r| r[0] == first.key)
        .expect("the changed row");
    assert_eq!(
        cell(&header, row, "callplan.summary"),
        "'=cmd|'/c calc'!A1 — rappel envoyé"
    );
    assert_eq!(cell(&header, row, "sentiment"), "'@SUM(A1)");
    let transcript = cell(&header, row, "transcript");
    let lines: Vec<&str> = transcript.lines().collect();
    assert!(lines.len() >= 2, "{transcript}");
    assert!(lines[0].starts_with("agent: "), "{transcript}");
    assert!(
        lines.iter().any(|l| l.starts_with("user: ")),
        "{transcript}"
    );
    // The raw CSV quotes the multi-line cell.
    let raw = text(&o.stdout);
    assert!(raw.contains("\"agent: "), "{raw}");
    // The not-dialled row has an empty transcript.
    assert_eq!(cell(&header, &rows[3], "transcript"), "");
}

#[test]
fn jsonl_has_one_object_per_recipient_with_input_call_analysis() {
    let sb = sandbox();
    let c = camp("exp-jsonl");
    run_and_fetch(&c, &sb);
    let o = export(&c, &sb, &["--format", "jsonl", "--transcripts"]);
    let lines: Vec<Value> = text(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    let first = &lines[0];
    let keys: Vec<&String> = first.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 4, "{first}");
    assert_eq!(first["input"]["patient_id"], "P-001");
    assert_eq!(first["input"]["customer_name"], "José Ñúñez");
    assert_eq!(first["input"]["status"], "vip");
    assert_eq!(first["call"]["status"], "completed");
    assert_eq!(first["call"]["key"], "P-001");
    assert_eq!(first["call"]["round"], 1);
    assert!(first["call"]["call_id"].is_string());
    assert!(first["call"]["duration_s"].is_number(), "{first}");
    // Values as they are: JSON is not a spreadsheet.
    assert_eq!(
        first["analysis"]["note"],
        "=HYPERLINK(\"http://evil.invalid\")"
    );
    assert_eq!(first["analysis"]["appointment_confirmed"], "yes");
    assert!(first["transcript"].is_array(), "{first}");
    assert_eq!(first["transcript"][0]["role"], "agent");
    // The undialled recipient: its input, and a pending call without an id.
    let last = &lines[3];
    assert_eq!(last["input"]["patient_id"], "P-004");
    assert!(last["call"]["call_id"].is_null(), "{last}");
    assert_eq!(last["analysis"], serde_json::json!({}));
    assert!(last["transcript"].is_null());
    // Without --transcripts the key is left out.
    let o = export(&c, &sb, &["--format", "jsonl"]);
    let first: Value = serde_json::from_str(text(&o.stdout).lines().next().unwrap()).unwrap();
    assert!(first.get("transcript").is_none(), "{first}");
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn out_replaces_the_file_atomically_and_a_failed_export_leaves_it_whole() {
    let sb = sandbox();
    let c = camp("exp-out");
    run_and_fetch(&c, &sb);
    let out = c.dir.path().join("crm.csv");
    std::fs::write(&out, "old export\n").unwrap();
    let o = export(&c, &sb, &["--out", "crm.csv"]);
    assert!(o.stdout.is_empty(), "{}", show(&o));
    let (header, rows) = csv_rows(&std::fs::read(&out).unwrap());
    assert_eq!(header[0], "patient_id");
    assert_eq!(rows.len(), 4);
    assert!(temp_files(c.dir.path()).is_empty());

    // A damaged store fails the export: the old file stays as it was.
    let before = std::fs::read(&out).unwrap();
    let store = store_path(&c.results);
    let mut text_of_store = std::fs::read_to_string(&store).unwrap();
    text_of_store.insert_str(0, "not json\n");
    std::fs::write(&store, text_of_store).unwrap();
    let plan = c.plan.to_str().unwrap();
    let o = callplan(&c, &sb, &["export", plan, "--out", "crm.csv"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(text(&o.stderr).contains("line 1"), "{}", show(&o));
    assert_eq!(std::fs::read(&out).unwrap(), before);
    assert!(temp_files(c.dir.path()).is_empty());

    // --out must not be one of the files the export reads.
    let o = callplan(&c, &sb, &["export", plan, "--out", "recipients.csv"]);
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(
        std::fs::read_to_string(c.dir.path().join("recipients.csv"))
            .unwrap()
            .starts_with(HEADER)
    );
}

#[test]
fn the_store_survives_a_torn_last_line() {
    let sb = sandbox();
    let c = camp("exp-torn");
    run_and_fetch(&c, &sb);
    let store = store_path(&c.results);
    assert_eq!(
        store.file_name().unwrap().to_str().unwrap(),
        "exp-torn.results.calls.jsonl"
    );
    // A crash mid-write: half a line, no newline.
    let whole = std::fs::read(&store).unwrap();
    let mut torn = whole.clone();
    torn.extend_from_slice(br#"{"key":"P-003","round":1,"call_id":"x","summary":"=ha"#);
    std::fs::write(&store, &torn).unwrap();
    let o = export(&c, &sb, &[]);
    let (header, rows) = csv_rows(&o.stdout);
    assert_eq!(rows.len(), 4);
    assert_eq!(
        cell(&header, &rows[2], "analysis.appointment_confirmed"),
        "yes"
    );
    // The next writer cuts the torn bytes before it appends.
    let s = Store::open(&store).unwrap();
    assert!(s.has(cell(&header, &rows[2], "call_id")));
    drop(s);
    assert_eq!(std::fs::read(&store).unwrap(), whole);
}

#[test]
fn sandbox_flag_exports_the_rehearsal_file() {
    let sb = sandbox();
    let c = camp("exp-rehearsal");
    let plan = c.plan.to_str().unwrap();
    let o = callplan(
        &c,
        &sb,
        &["run", plan, "--sandbox", "--limit", "2", "--quiet"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    assert!(
        c.dir
            .path()
            .join("exp-rehearsal.results.sandbox.csv")
            .exists()
    );
    let o = export(&c, &sb, &["--sandbox"]);
    let (header, rows) = csv_rows(&o.stdout);
    assert_eq!(rows.len(), 4);
    assert!(!cell(&header, &rows[0], "call_id").is_empty(), "{rows:?}");
    assert!(!cell(&header, &rows[1], "call_id").is_empty(), "{rows:?}");
    assert_eq!(cell(&header, &rows[3], "call_id"), "");
    // Without --sandbox: the real campaign has no results yet.
    let o = export(&c, &sb, &[]);
    let (header, rows) = csv_rows(&o.stdout);
    assert_eq!(cell(&header, &rows[0], "call_id"), "");
    assert!(text(&o.stderr).contains("no results file"), "{}", show(&o));
}
