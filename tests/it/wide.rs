//! A recipients file much wider than the default (34 columns, cells of a
//! few KiB holding quotes, commas, line breaks and non-ASCII text, CRLF
//! line ends), through kill -9 and resume: `run` keeps only where each row
//! is and reads it back when it dials it, so this is the test of that
//! second read. Nobody is called twice, no call_id is lost, and every
//! call's variables in the sandbox's ledger are the row's cells exactly.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::common::{TestSandbox, show};
use crate::run::{
    Camp, assert_calls_once_and_recorded, assert_no_call_without_intent, code, number, of_campaign,
    run, runner, sandbox_config,
};

const ROWS: usize = 60;
const COLUMNS: usize = 32;

/// The text of row `i`'s variable column `j`: short or of a few KiB, with
/// what a CSV must quote (quotes, commas, line breaks) and what is not
/// ASCII, never white space at either end (cells are sent trimmed).
fn cell(i: usize, j: usize) -> String {
    let base = match j % 4 {
        0 => format!("plain {i}-{j}"),
        1 => format!("Quote \"{i}\", comma, {j}"),
        2 => format!("Zoë, 東京 {i}\r\nline two; ünïcödé {j} 🎉"),
        _ => format!("x{i}y{j}"),
    };
    if j % 8 == 5 {
        // A cell of about 3 KiB: many lines, quotes and commas.
        let line = format!("«{i}» \"q\", ça va, {j}\n");
        let mut long = line.repeat(3072 / line.len());
        long.push_str("end");
        long
    } else {
        base
    }
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The campaign's folder: a plan with no default variables (so a call's
/// variables are its row's cells and nothing else) and the wide CSV. Row
/// i's cells, by column name, are returned by number.
fn wide_camp(name: &str) -> (Camp, HashMap<String, BTreeMap<String, String>>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let plan = dir.path().join("plan.yaml");
    let yaml = format!(
        "name: {name}\nfrom_number: \"+14155550100\"\nagent_version_id: av_sandbox\n\
         recipients: recipients.csv\n\
         api:\n  request_timeout_s: 0.2\n  connect_timeout_s: 1\n  list_lag_s: 0\n\
         dispatch:\n  concurrency: 8\n  rate_per_second: 60\n  max_attempts: 3\n"
    );
    std::fs::write(&plan, yaml).expect("write plan");
    let names: Vec<String> = (0..COLUMNS).map(|j| format!("v{j:02}")).collect();
    let mut csv = format!("to_number,customer_name,{}\r\n", names.join(","));
    let mut expected = HashMap::new();
    for i in 0..ROWS {
        let mut row = BTreeMap::from([("customer_name".to_string(), format!("Clïent {i}, Sr."))]);
        let mut line = format!("{},{}", number(i), quoted(&row["customer_name"]));
        for (j, column) in names.iter().enumerate() {
            let text = cell(i, j);
            line.push(',');
            line.push_str(&quoted(&text));
            row.insert(column.clone(), text);
        }
        csv.push_str(&line);
        csv.push_str("\r\n");
        expected.insert(number(i), row);
    }
    assert!(
        csv.len() > ROWS * 10_000,
        "a wide file: {} bytes",
        csv.len()
    );
    std::fs::write(dir.path().join("recipients.csv"), csv).expect("write csv");
    let results = dir.path().join(format!("{name}.results.csv"));
    (Camp { dir, plan, results }, expected)
}

/// Lines in the results file so far (0 when there is none yet).
fn lines(path: &Path) -> usize {
    std::fs::read(path).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
}

/// Every call's variables are its row's cells, exactly.
fn assert_variables_are_the_rows(
    calls: &[Value],
    expected: &HashMap<String, BTreeMap<String, String>>,
) {
    for call in calls {
        let to = call["to_number"].as_str().expect("to_number");
        let want = expected
            .get(to)
            .unwrap_or_else(|| panic!("a call to {to}, not a row"));
        let got: BTreeMap<String, String> = serde_json::from_value(call["variables"].clone())
            .unwrap_or_else(|e| {
                panic!("variables of the call to {to}: {e}: {}", call["variables"])
            });
        assert_eq!(&got, want, "the call to {to}");
    }
}

/// Three kill -9s per campaign, each once the log has grown by a number of
/// lines (so it lands while rows are being dialled), then a run to the end.
#[test]
fn a_wide_file_survives_kill_9_and_every_call_carries_its_rows_cells() {
    let sb = TestSandbox::start(sandbox_config(false));
    let mut landed = 0;
    for name in ["wide0", "wide1"] {
        let (c, expected) = wide_camp(name);
        for more in [6, 20, 30] {
            let before = lines(&c.results);
            let mut child = runner(&c, &sb.base_url(), &["--quiet"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn callplan");
            let exited = loop {
                if child.try_wait().expect("wait").is_some() {
                    break true;
                }
                if lines(&c.results) >= before + more {
                    child.kill().expect("SIGKILL");
                    break false;
                }
                std::thread::sleep(Duration::from_millis(2));
            };
            child.wait().expect("reap");
            let calls = of_campaign(&sb.ledger_calls(), name);
            assert_no_call_without_intent(&calls, &c.results);
            assert_variables_are_the_rows(&calls, &expected);
            if !exited && calls.len() < ROWS {
                landed += 1;
            }
        }
        let o = run(&c, &sb.base_url(), &["--quiet"]);
        assert_eq!(code(&o), 0, "{}", show(&o));
        let calls = of_campaign(&sb.ledger_calls(), name);
        assert_eq!(
            assert_calls_once_and_recorded(&calls, &c.results),
            ROWS,
            "{name}"
        );
        assert_variables_are_the_rows(&calls, &expected);
        let recorded = crate::common::records(&c.results);
        assert_eq!(recorded.len(), ROWS);
        assert!(recorded.iter().all(|r| !r["call_id"].is_empty()));
    }
    assert!(landed > 0, "no kill landed while rows were being dialled");
}
