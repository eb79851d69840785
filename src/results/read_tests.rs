//! Tests of reading a results file back (`read`).

use std::fs::OpenOptions;
use std::io::Write;

use super::*;
use crate::results::legacy::legacy_file;
use crate::results::line::push_line;
use crate::results::record::Status;
use crate::results::state::state_path;
use crate::results::test_support::{header, ident, rec, write_log};
use crate::wire::CallStatus;

/// A file of the current layout: the column header and `lines`.
fn current_file(lines: &[&str]) -> String {
    let mut text = COLUMNS.join(",") + "\n";
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    text
}

const ROW_A: &str =
    "a,2,+16505550199,+14155550100,av_1,1,queued,call_1,1,201,,,,,2026-01-01T00:00:00.000Z,june";

#[test]
fn absent_or_empty_file_is_nothing_to_resume() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("none.csv");
    assert!(read(&p).unwrap().is_none());
    std::fs::write(&p, "").unwrap();
    assert!(read(&p).unwrap().is_none());
    // A crash while the very first line was written, in either layout.
    std::fs::write(&p, "key,row,to_nu").unwrap();
    assert!(read(&p).unwrap().is_none());
    std::fs::write(&p, "#callplan resu").unwrap();
    assert!(read(&p).unwrap().is_none());
    // The header and no row, no state: nobody was dialled.
    std::fs::write(&p, current_file(&[])).unwrap();
    assert!(read(&p).unwrap().is_none());
}

#[test]
fn roundtrip_last_record_wins_and_order_is_first_seen() {
    let d = tempfile::tempdir().unwrap();
    let mut a2 = rec("a", Status::Call(CallStatus::Queued));
    a2.call_id = "call_1".into();
    a2.http_status = Some(201);
    a2.attempts = 1;
    a2.from_number = "+442079460000".into();
    a2.agent_version_id = "av_es".into();
    let path = write_log(
        d.path(),
        vec![
            rec("a", Status::Dispatching),
            rec("b", Status::Dispatching),
            a2.clone(),
        ],
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(&(COLUMNS.join(",") + "\n")), "{text}");
    assert!(!text.contains('#'), "no comment line: {text}");
    let log = read(&path).unwrap().unwrap();
    assert_eq!(log.header, header(), "from the state file");
    assert_eq!(log.lines, 3);
    assert_eq!(log.torn_bytes, 0);
    assert_eq!(log.table.len(), 2);
    assert_eq!(log.table.get("a"), Some(a2));
    assert_eq!(log.table.get("b").unwrap().status, Status::Dispatching);
    let keys: Vec<_> = log.table.iter().map(|r| r.key).collect();
    assert_eq!(keys, ["a", "b"]);
}

#[test]
fn torn_last_line_is_ignored_then_cut_before_appending() {
    let d = tempfile::tempdir().unwrap();
    let path = write_log(d.path(), vec![rec("a", Status::Dispatching)]);
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"a,2,+16505550199,+14155550100,av_1,1,queued,call_9,1,2\0")
        .unwrap();
    drop(f);
    let log = read(&path).unwrap().unwrap();
    assert_eq!(log.table.get("a").unwrap().status, Status::Dispatching);
    assert_eq!(log.torn_bytes, 55, "a NUL in the torn part is ignored too");
    // Appending again must not glue onto the torn bytes.
    let path = write_log(d.path(), vec![rec("b", Status::Pending)]);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("call_9"), "{text}");
    assert_eq!(text.lines().count(), 3, "header, a, b: {text}");
    let log = read(&path).unwrap().unwrap();
    assert_eq!(log.torn_bytes, 0);
    assert_eq!(log.table.len(), 2);
}

#[test]
fn a_bom_and_blank_lines_from_a_spreadsheet_are_tolerated() {
    let d = tempfile::tempdir().unwrap();
    let path = write_log(d.path(), vec![rec("a", Status::Dispatching)]);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        format!("\u{feff}{}\r\n\r\n", text.trim_end().replace('\n', "\r\n")),
    )
    .unwrap();
    let log = read(&path).unwrap().unwrap();
    assert_eq!(log.table.get("a").unwrap().status, Status::Dispatching);
}

#[test]
fn malformed_line_is_an_error_naming_it() {
    let d = tempfile::tempdir().unwrap();
    let path = write_log(
        d.path(),
        vec![rec("a", Status::Dispatching), rec("b", Status::Dispatching)],
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines.insert(2, "x,not-a-row,+1,,,1,queued,,,,,,,,,june".into());
    let write = |lines: &[String]| std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    write(&lines);
    let err = read(&path).unwrap_err();
    assert!(
        matches!(err, ResultsError::Malformed { line: 3, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains("line 3") && msg.contains("`row`"), "{msg}");

    lines[2] = "too,few,fields".into();
    write(&lines);
    let msg = read(&path).unwrap_err().to_string();
    assert!(msg.contains("line 3: expected 16 fields, found 3"), "{msg}");

    // A NUL byte inside a line (issue 13), plain or quoted.
    for bad in [
        "x,2,+1\0,,,1,queued,,,,,,,,,june",
        "\"x\0\",2,+1,,,1,queued,,,,,,,,,june",
    ] {
        lines[2] = bad.into();
        write(&lines);
        let msg = read(&path).unwrap_err().to_string();
        assert!(msg.contains("line 3: the line holds a NUL byte"), "{msg}");
    }
    // A comment line is no longer skipped: it is not a record.
    lines[2] = "#callplan run,plan=/p.yaml".into();
    write(&lines);
    let msg = read(&path).unwrap_err().to_string();
    assert!(msg.contains("line 3: expected 16 fields, found 2"), "{msg}");
}

#[test]
fn rows_of_two_campaigns_are_an_error_naming_the_line() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("r.csv");
    let b = ROW_A
        .replace("a,2,", "b,3,")
        .replace(",june", ",sandbox/june");
    std::fs::write(&p, current_file(&[ROW_A, &b])).unwrap();
    let msg = read(&p).unwrap_err().to_string();
    assert!(
        msg.contains(
            "line 3: column `campaign` is `sandbox/june`, but the rows before it are `june`'s"
        ),
        "{msg}"
    );
    let empty = ROW_A.replace(",june", ",");
    std::fs::write(&p, current_file(&[&empty])).unwrap();
    let msg = read(&p).unwrap_err().to_string();
    assert!(msg.contains("line 2: column `campaign` is empty"), "{msg}");
}

#[test]
fn without_its_state_file_a_file_says_its_campaign_from_its_rows() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("r.csv");
    std::fs::write(&p, current_file(&[ROW_A])).unwrap();
    let log = read(&p).unwrap().unwrap();
    let lone = Identity {
        from_number: String::new(),
        agent_version_id: String::new(),
        ..ident()
    };
    assert_eq!(log.header.identity, lone);
    assert_eq!(
        log.header.resume_command(),
        format!("callplan run PLAN --results {}", p.display())
    );
    // A rehearsal's rows say so without any state file.
    let sb = ROW_A.replace(",june", ",sandbox/june");
    std::fs::write(&p, current_file(&[&sb])).unwrap();
    let log = read(&p).unwrap().unwrap();
    assert!(log.header.identity.sandbox);
    assert!(!log.header.identity.admits(&ident()));
    // A state file of another campaign (a CSV copied over) is ignored.
    let mut other = header();
    other.identity.campaign = "july".into();
    super::super::state::write_state(&p, &other).unwrap();
    std::fs::write(&p, current_file(&[ROW_A])).unwrap();
    assert_eq!(read(&p).unwrap().unwrap().header.identity, lone);
    // An unreadable one too; with no row at all it is nothing to resume.
    std::fs::write(state_path(&p), "{").unwrap();
    assert_eq!(read(&p).unwrap().unwrap().header.identity, lone);
    std::fs::write(&p, current_file(&[])).unwrap();
    assert!(read(&p).unwrap().is_none());
}

#[test]
fn a_file_of_the_first_layout_reads_as_before() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("r.csv");
    let h = header();
    let file = legacy_file(
        &h,
        &[
            "a,2,+16505550199,1,dispatching,,1,,,,,,2026-01-01T00:00:00.000Z",
            "\"#callplan run\",3,+16505550198,1,queued,call_2,1,201,\"x, y\",,,,",
            "a,2,+16505550199,1,completed,call_1,1,201,,hangup,31.5,,",
        ],
    );
    std::fs::write(&p, file).unwrap();
    let log = read(&p).unwrap().unwrap();
    assert!(log.legacy);
    assert_eq!(log.header.identity, ident());
    assert_eq!(log.header.rows, h.rows, "from the run line");
    assert_eq!(log.lines, 3);
    let a = log.table.get("a").unwrap();
    assert_eq!(a.status, Status::Call(CallStatus::Completed));
    assert_eq!(a.duration_s, "31.5");
    // The layout's one caller ID and agent version, on every row.
    assert_eq!(a.from_number, "+14155550100");
    assert_eq!(a.agent_version_id, "av_1");
    let hash = log.table.get("#callplan run").unwrap();
    assert_eq!(hash.error, "x, y");
    // Its own rules still hold: a line of 13 fields, no other.
    let mut bad = legacy_file(&h, &["a,2,+1,1,queued"]);
    std::fs::write(&p, &bad).unwrap();
    let msg = read(&p).unwrap_err().to_string();
    assert!(msg.contains("line 3: expected 13 fields, found 5"), "{msg}");
    bad = legacy_file(&h, &[]);
    let text = String::from_utf8(bad)
        .unwrap()
        .replace("key,row,", "kee,row,");
    std::fs::write(&p, text).unwrap();
    let msg = read(&p).unwrap_err().to_string();
    assert!(msg.contains("line 2: expected the column header"), "{msg}");
}

#[test]
fn other_files_are_refused_not_overwritten() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("recipients.csv");
    std::fs::write(&p, "to_number,name\n+16505550199,Alex\n").unwrap();
    assert!(matches!(read(&p), Err(ResultsError::NotResults { .. })));
    std::fs::write(&p, "no newline at all").unwrap();
    assert!(matches!(read(&p), Err(ResultsError::NotResults { .. })));
    // The columns of another version are not ours.
    std::fs::write(&p, COLUMNS.join(",") + ",extra\n").unwrap();
    assert!(matches!(read(&p), Err(ResultsError::NotResults { .. })));
    std::fs::write(&p, "#callplan results v9,campaign=x\n").unwrap();
    assert!(matches!(read(&p), Err(ResultsError::Version { .. })));
    std::fs::write(&p, "#callplan results v1,campaign=x\n").unwrap();
    assert!(matches!(
        read(&p),
        Err(ResultsError::Malformed { line: 1, .. })
    ));
    // Binary garbage never panics.
    std::fs::write(&p, b"\xff\xfe\x00\"\n\"\n,,,\n").unwrap();
    assert!(read(&p).is_err());
}

#[test]
fn hostile_field_values_roundtrip_on_one_line() {
    let d = tempfile::tempdir().unwrap();
    let mut r = rec("#callplan run", Status::Rejected);
    r.error = "bad, \"quoted\"\nsecond line\r".into();
    r.to_number = "+1,2".into();
    let path = write_log(d.path(), vec![r.clone()]);
    let text = std::fs::read_to_string(&path).unwrap();
    // columns, one record
    assert_eq!(text.lines().count(), 2, "{text}");
    let got = read(&path).unwrap().unwrap();
    let back = got.table.get("#callplan run").unwrap();
    assert_eq!(back.error, "bad, \"quoted\" second line ");
    assert_eq!(back.to_number, "+1,2");
}

proptest::proptest! {
    #[test]
    fn records_read_back_through_the_file(key in "[^\r\n\0]{1,20}", err in "[^\0]{0,40}", call in "[a-z0-9_\",]{0,12}", from in "[+0-9,\"]{0,14}") {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("r.csv");
        let mut r = rec(&key, Status::Call(CallStatus::Queued));
        r.error = err.as_str().into();
        r.call_id = call.as_str().into();
        r.from_number = from.as_str().into();
        let mut content = Vec::new();
        push_line(&mut content, COLUMNS, false);
        r.write_to("june", &mut content);
        std::fs::write(&path, &content).unwrap();
        let log = read(&path).unwrap().unwrap();
        let back = log.table.get(&key).unwrap();
        proptest::prop_assert_eq!(&back.error, &err.replace(['\r', '\n'], " "));
        proptest::prop_assert_eq!(&back.call_id, &call);
        proptest::prop_assert_eq!(&back.from_number, &from);
        proptest::prop_assert_eq!(back.status.clone(), Status::Call(CallStatus::Queued));
        proptest::prop_assert_eq!(&log.header.identity.campaign, "june");
    }

    #[test]
    fn reading_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(proptest::arbitrary::any::<u8>(), 0..400)) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.csv");
        for first in [
            COLUMNS.join(",") + "\n",
            "#callplan results v1,campaign=a,from_number=b,agent_version_id=c\n".to_string(),
        ] {
            let mut content = first.into_bytes();
            content.extend_from_slice(&bytes);
            std::fs::write(&p, &content).unwrap();
            let _ = read(&p);
        }
        std::fs::write(&p, &bytes).unwrap();
        let _ = read(&p);
        // Split after any of its line breaks, the file reads the same.
        let mut content = (COLUMNS.join(",") + "\n").into_bytes();
        content.extend_from_slice(&bytes);
        content.push(b'\n');
        std::fs::write(&p, &content).unwrap();
        proptest::prop_assert_eq!(seen(read_with(&p, 0)), seen(read_with(&p, u64::MAX)));
        // A hostile state file beside a file with a row.
        std::fs::write(state_path(&p), &bytes).unwrap();
        std::fs::write(&p, current_file(&[ROW_A])).unwrap();
        proptest::prop_assert!(read(&p).is_ok());
    }
}

/// What a read found, comparable whatever path it took.
fn seen(read: Result<Option<Log>, ResultsError>) -> String {
    match read {
        Ok(None) => "nothing".into(),
        Ok(Some(l)) => format!(
            "{:?} {:?} lines {} torn {} legacy {} len {}",
            l.header,
            l.table.iter().collect::<Vec<_>>(),
            l.lines,
            l.torn_bytes,
            l.legacy,
            l.valid_len
        ),
        Err(e) => e.to_string(),
    }
}

/// A record line of campaign `june` for key `k`, in `status`, with
/// `error` (quoted on its line when it holds a comma or a quote).
fn line_of(k: u8, status: Status, error: &str, from: u8) -> Vec<u8> {
    let mut r = rec(&format!("k{k}"), status);
    r.error = error.into();
    r.from_number = format!("+1415555010{from}").into();
    r.end_reason = if k.is_multiple_of(2) {
        "hangup".into()
    } else {
        "".into()
    };
    let mut line = Vec::new();
    r.write_to("june", &mut line);
    line
}

proptest::proptest! {
    /// A log read in two halves is the log read in one pass: the same
    /// records in the same order, and the same error naming the same line
    /// when a line is bad or of another campaign, wherever the split falls.
    #[test]
    fn a_log_read_in_halves_is_the_log_read_in_one_pass(
        lines in proptest::collection::vec((0u8..6, 0usize..4, "[a-z,\"]{0,3}", 0u8..3), 1..40),
        bad in proptest::option::of((0usize..40, 0usize..3)),
    ) {
        let statuses = [
            Status::Dispatching,
            Status::Call(CallStatus::Queued),
            Status::InDoubt,
            Status::Rejected,
        ];
        let mut text = (COLUMNS.join(",") + "\n").into_bytes();
        for (i, (k, s, err, from)) in lines.iter().enumerate() {
            if let Some((at, how)) = bad && at == i {
                let wrong: &[u8] = match how {
                    0 => b"x,2,+1,,,1,queued,,,,,,,,,other\n",
                    1 => b"x,2,too few\n",
                    _ => b"\n",
                };
                text.extend_from_slice(wrong);
            }
            text.extend_from_slice(&line_of(*k, statuses[*s].clone(), err, *from));
        }
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.csv");
        std::fs::write(&p, &text).unwrap();
        let one_pass = seen(read_with(&p, u64::MAX));
        proptest::prop_assert_eq!(seen(read_with(&p, 0)), one_pass);
    }
}

#[test]
fn a_file_of_the_first_layout_or_of_no_layout_is_read_in_one_pass() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("r.csv");
    let legacy = legacy_file(
        &header(),
        &[
            "a,2,+16505550199,1,dispatching,,1,,,,,,2026-01-01T00:00:00.000Z",
            "a,2,+16505550199,1,completed,call_1,1,201,,hangup,31.5,,",
        ],
    );
    for text in [legacy.as_slice(), b"not,a,results,file\nx\n"] {
        std::fs::write(&p, text).unwrap();
        assert_eq!(seen(read_with(&p, 0)), seen(read_with(&p, u64::MAX)));
    }
    assert!(seen(read_with(&p, 0)).contains("is not a callplan results file"));
}

#[test]
fn a_log_of_the_current_layout_is_read_in_two_halves() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("r.csv");
    let mut text = (COLUMNS.join(",") + "\n").into_bytes();
    for i in 0..20u8 {
        let status = if i < 10 {
            Status::Dispatching
        } else {
            Status::Call(CallStatus::Queued)
        };
        text.extend_from_slice(&line_of(i % 10, status, "x, \"y\"", i % 3));
    }
    std::fs::write(&p, &text).unwrap();
    let file = File::open(&p).unwrap();
    let parser = halves(&p, &file, text.len() as u64).expect("read in halves");
    assert_eq!((parser.lines, parser.line), (20, 21));
    let statuses: Vec<_> = parser.table.statuses().cloned().collect();
    assert_eq!(statuses, vec![Status::Call(CallStatus::Queued); 10]);
    assert_eq!(seen(read_with(&p, 0)), seen(read_with(&p, u64::MAX)));
}
