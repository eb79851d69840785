use std::path::Path;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::*;
use crate::dispatch::Target;
use crate::plan::{self, Plan};
use crate::results::{Record, RowRef, Status, Table};

fn plan(extra: &str) -> Plan {
    let yaml = format!(
        "name: t\nfrom_number: \"+14155550100\"\nagent_version_id: av\nrecipients: r.csv\n{extra}"
    );
    plan::from_yaml(&yaml, Path::new("/tmp/plan.yaml")).expect("plan")
}

const WINDOWED: &str = "schedule:\n  timezone: America/New_York\n  hours: \"09:00-18:00\"\n  \
     days: [mon, tue, wed, thu, fri]\nredial:\n  on: [no_answer, busy]\n  max: 2\n  after: 2h\n";

const ENDS_IN_JUNE: &str = "schedule:\n  hours: \"09:00-18:00\"\n  end_at: 2026-06-30T20:00Z\n\
     redial:\n  on: [no_answer]\n  max: 2\n  after: 2h\n";

fn ended(status: &str, round: u32, at: &str, next_at: &str) -> Record {
    let mut r = Record::new("k", 2, "+12125550100", round, Status::parse(status));
    r.call_id = "call_1".into();
    r.updated_at = at.into();
    r.next_at = next_at.into();
    r
}

fn ny() -> TimeZone {
    TimeZone::get("America/New_York").expect("zone")
}

fn ts(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn reference(i: u64) -> RowRef {
    RowRef {
        key: compact_str::format_compact!("k{i}"),
        row: i,
        to_number: compact_str::format_compact!("+1212555{i:04}"),
    }
}

/// Rows 2.. as given: `t` dialable (New York), `s` suppressed, `i` invalid.
fn rows(kinds: &str) -> Rows {
    rows_in(kinds, Some(ny()))
}

/// [`rows`], the dialable ones in `zone`.
fn rows_in(kinds: &str, zone: Option<TimeZone>) -> Rows {
    let mut rows = Rows::default();
    let mut targets = crate::dispatch::Targets::default();
    for (n, kind) in kinds.chars().enumerate() {
        let r = reference(n as u64 + 2);
        let mut target = Target::new(&r.key, r.row, &r.to_number);
        match kind {
            't' => {
                targets.push(target, zone.clone());
            }
            's' => {
                target.listed = true;
                targets.push(target, None);
            }
            _ => rows.invalid.push((r, "bad_number: not a number".into())),
        }
    }
    rows.targets = std::sync::Arc::new(targets);
    rows.rows_read = kinds.len() as u64;
    rows
}

#[test]
fn the_input_order_is_derived_from_the_targets_and_the_invalid_rows() {
    let r = rows("tisti");
    let order: Vec<u64> = r.in_order().map(|(_, row, _)| row).collect();
    assert_eq!(order, [2, 3, 4, 5, 6]);
    let keys: Vec<String> = r.in_order().map(|(key, _, _)| key.to_string()).collect();
    assert_eq!(keys, ["k2", "k3", "k4", "k5", "k6"]);
    let listed: Vec<_> = r.targets.iter().filter(|(_, t)| t.listed).collect();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].1.to_number, "+12125550004");
}

fn table(records: &[(u64, &str)]) -> Table {
    let mut t = Table::default();
    for (i, status) in records {
        let r = reference(*i);
        let mut rec = Record::new(&r.key, r.row, &r.to_number, 1, Status::parse(status));
        if matches!(rec.status, Status::Call(_)) {
            rec.call_id = compact_str::format_compact!("call_{i}");
        }
        t.upsert(rec);
    }
    t
}

#[test]
fn a_redial_due_outside_the_window_moves_to_the_next_opening() {
    let p = plan(WINDOWED);
    let rules = Rules::Plan(&p);
    // Tuesday 2026-06-02 17:00 EDT (21:00 UTC), no answer, 2 h wait:
    // 19:00 is closed, so Wednesday 09:00 EDT (13:00 UTC).
    let r = ended("no_answer", 1, "2026-06-02T21:00:00Z", "");
    assert_eq!(
        rules.redial_due(&r, Some(&ny())),
        Some(ts("2026-06-03T13:00:00Z"))
    );
    // Friday 17:00 EDT: Monday 09:00.
    let r = ended("busy", 1, "2026-06-05T21:00:00Z", "");
    assert_eq!(
        rules.redial_due(&r, Some(&ny())),
        Some(ts("2026-06-08T13:00:00Z"))
    );
    // next_at written when the call ended wins.
    let r = ended(
        "no_answer",
        2,
        "2026-06-02T21:00:00Z",
        "2026-06-04T14:00:00Z",
    );
    assert_eq!(
        rules.redial_due(&r, Some(&ny())),
        Some(ts("2026-06-04T14:00:00Z"))
    );
}

#[test]
fn endings_not_listed_and_used_up_rounds_are_never_redialled() {
    let p = plan(WINDOWED);
    let rules = Rules::Plan(&p);
    for (status, round) in [
        ("completed", 1),
        ("voicemail", 1),
        ("no_answer", 3),
        ("queued", 1),
    ] {
        let r = ended(
            status,
            round,
            "2026-06-02T15:00:00Z",
            "2026-06-02T17:00:00Z",
        );
        assert_eq!(rules.redial_due(&r, Some(&ny())), None, "{status} {round}");
    }
    for status in [
        Status::Rejected,
        Status::Suppressed,
        Status::InDoubt,
        Status::Invalid,
    ] {
        let mut r = ended(
            "no_answer",
            1,
            "2026-06-02T15:00:00Z",
            "2026-06-02T17:00:00Z",
        );
        r.status = status.clone();
        assert_eq!(rules.redial_due(&r, Some(&ny())), None, "{status}");
    }
    // Without a redial section nothing is.
    let r = ended("no_answer", 1, "2026-06-02T15:00:00Z", "");
    let bare = plan("");
    assert_eq!(Rules::Plan(&bare).redial_due(&r, Some(&ny())), None);
    // A hostile next_at is ignored, the time is computed instead.
    let r = ended("no_answer", 1, "2026-06-02T15:00:00Z", "=cmd|' /C calc'!A0");
    assert_eq!(
        rules.redial_due(&r, Some(&ny())),
        Some(ts("2026-06-02T17:00:00Z"))
    );
}

#[test]
fn every_row_is_counted_under_exactly_one_reason() {
    let p = plan(WINDOWED);
    // 2 new, 3 pending, 4 dispatching, 5 in_doubt, 6 completed, 7 queued,
    // 8 no_answer (redial due), 9 suppressed, 10 invalid, 11 rejected.
    let rows = rows("tttttttsit");
    let mut t = table(&[
        (3, "pending"),
        (4, "dispatching"),
        (5, "in_doubt"),
        (6, "completed"),
        (7, "queued"),
        (11, "rejected"),
    ]);
    let mut redial = ended("no_answer", 1, "2026-06-02T12:00:00Z", "");
    redial.key = "k8".into();
    t.upsert(redial);
    // Tuesday 2 June 2026, 11:00 EDT: open.
    let out = triage(Rules::Plan(&p), &rows, Some(&t), ts("2026-06-02T15:00:00Z"));
    let c = &out.counts;
    assert_eq!((c.dial, c.redials_due, c.dial_now()), (2, 1, 3), "{c:?}");
    assert_eq!((c.to_look_up, c.in_doubt), (2, 1), "{c:?}");
    assert_eq!(c.settled_total(), 3, "{c:?}");
    assert_eq!(c.settled.get("queued"), Some(&1), "{c:?}");
    assert_eq!(c.in_progress, 1, "{c:?}");
    assert_eq!((c.suppressed, c.invalid), (1, 1), "{c:?}");
    assert_eq!(c.total(), c.rows, "{c:?}");
    assert_eq!(out.dial.len(), 3);
    assert_eq!(out.dial[2].round, 2, "the redial is round 2");
    assert_eq!(out.look_up.len(), 2);
    let recorded: Vec<&str> = out.record.iter().map(|r| r.status.as_str()).collect();
    assert_eq!(recorded, ["suppressed", "invalid"]);
}

#[test]
fn a_closed_window_waits_and_is_recorded_pending_with_its_opening() {
    let p = plan(WINDOWED);
    // Saturday 6 June: the next opening is Monday 09:00 EDT.
    let out = triage(
        Rules::Plan(&p),
        &rows("tt"),
        None,
        ts("2026-06-06T15:00:00Z"),
    );
    let c = &out.counts;
    assert_eq!((c.dial_now(), c.waiting_for_window), (0, 2), "{c:?}");
    assert_eq!(c.next_window_at, Some(ts("2026-06-08T13:00:00Z")));
    assert_eq!(out.wait.len(), 2);
    assert!(
        out.record
            .iter()
            .all(|r| r.status == Status::Pending && r.next_at == "2026-06-08T13:00:00Z"),
        "{:?}",
        out.record
    );
    assert!(c.describe(None).contains("2 waiting for their window"));
}

/// The bug of the windows fixture: invalid and suppressed rows were one
/// count, and rows past `end_at` were not counted at all.
#[test]
fn past_end_at_suppressed_and_invalid_each_have_their_own_count() {
    let p = plan(ENDS_IN_JUNE);
    let out = triage(
        Rules::Plan(&p),
        &rows("ttiss"),
        None,
        ts("2026-07-01T12:00:00Z"),
    );
    let c = &out.counts;
    assert_eq!(
        (c.dial_now(), c.past_end_at, c.invalid, c.suppressed),
        (0, 2, 1, 2),
        "{c:?}"
    );
    assert_eq!(c.total(), 5);
    assert!(out.dial.is_empty() && out.wait.is_empty());
    let line = c.describe(None);
    for part in [
        "0 to dial now",
        "1 invalid",
        "2 suppressed (do-not-call)",
        "2 past the schedule's end_at",
    ] {
        assert!(line.contains(part), "{part}: {line}");
    }
}

#[test]
fn a_redial_that_no_window_before_end_at_can_hold_is_settled() {
    let p = plan(ENDS_IN_JUNE);
    let mut t = Table::default();
    let mut rec = ended(
        "no_answer",
        1,
        "2026-06-30T17:00:00Z",
        "2026-07-01T09:00:00Z",
    );
    rec.key = "k2".into();
    t.upsert(rec);
    let out = triage(
        Rules::Plan(&p),
        &rows("t"),
        Some(&t),
        ts("2026-06-30T18:00:00Z"),
    );
    assert_eq!(
        out.counts.settled.get("no_answer"),
        Some(&1),
        "{:?}",
        out.counts
    );
    assert!(out.wait.is_empty());
}

#[test]
fn a_second_row_with_the_same_key_is_a_duplicate() {
    let mut r = rows("t");
    let mut again = Target::new("k2", 3, "+12125550003");
    again.to_number = "+12125550003".into();
    std::sync::Arc::make_mut(&mut r.targets).push(again, Some(ny()));
    r.rows_read = 2;
    let p = plan("");
    let out = triage(Rules::Plan(&p), &r, None, ts("2026-06-02T15:00:00Z"));
    assert_eq!((out.counts.dial, out.counts.duplicate_keys), (1, 1));
    assert_eq!(out.counts.total(), 2);
}

/// Issue 13's disagreement: two rows `in_doubt` are looked up first by
/// `run`, so `status` must not call the campaign done.
#[test]
fn rows_in_doubt_are_to_look_up_under_either_rules() {
    let t = table(&[(2, "in_doubt"), (3, "in_doubt")]);
    let p = plan("");
    let now = ts("2026-06-02T15:00:00Z");
    let with_plan = triage(Rules::Plan(&p), &rows("tt"), Some(&t), now).counts;
    assert_eq!((with_plan.to_look_up, with_plan.in_doubt), (2, 2));
    let log_rows = rows_in("tt", None);
    let file_only = triage(Rules::FileOnly, &log_rows, Some(&t), now).counts;
    assert_eq!(with_plan, file_only);
}

#[test]
fn without_the_plan_next_at_is_believed() {
    let mut t = table(&[(2, "pending"), (3, "pending")]);
    let mut waiting = t.get("k2").expect("k2");
    waiting.next_at = "2026-06-02T16:00:00Z".into();
    t.upsert(waiting);
    let mut redial = ended(
        "no_answer",
        1,
        "2026-06-02T12:00:00Z",
        "2026-06-03T12:00:00Z",
    );
    redial.key = "k4".into();
    t.upsert(redial);
    let mut r = rows_in("ttt", None);
    r.unseen = 2;
    r.rows_read = 5;
    let c = triage(Rules::FileOnly, &r, Some(&t), ts("2026-06-02T15:00:00Z")).counts;
    assert_eq!(c.waiting_for_window, 1, "{c:?}");
    assert_eq!(c.next_window_at, Some(ts("2026-06-02T16:00:00Z")));
    assert_eq!(c.redials_later, 1, "{c:?}");
    assert_eq!(
        c.dial, 3,
        "row 3 and the two rows no record mentions: {c:?}"
    );
    assert_eq!(c.total(), 5);
}

#[test]
fn describe_says_the_limit() {
    let c = Counts {
        rows: 10,
        dial: 10,
        ..Counts::default()
    };
    assert!(
        c.describe(Some(4))
            .starts_with("4 to dial now (--limit; 6 more later), 0 already settled"),
        "{}",
        c.describe(Some(4))
    );
}

#[test]
fn the_resume_command_has_absolute_quoted_paths() {
    let cmd = ResumeCommand::new(
        Path::new("/plans/june plan.yaml"),
        None,
        Some(Path::new("/tmp/r.csv")),
        true,
        true,
    );
    assert_eq!(
        cmd.to_string(),
        "callplan run '/plans/june plan.yaml' --results /tmp/r.csv --skip-invalid --sandbox"
    );
    let relative = ResumeCommand::new(
        Path::new("p.yaml"),
        Some(Path::new("./in.csv")),
        None,
        false,
        false,
    );
    let cwd = std::env::current_dir().expect("cwd");
    assert_eq!(
        relative.to_string(),
        format!(
            "callplan run {} --recipients {}",
            crate::text::shell_quote(&cwd.join("p.yaml").display().to_string()),
            crate::text::shell_quote(&cwd.join("in.csv").display().to_string())
        )
    );
}

#[test]
fn without_redials_a_settled_status_settles_and_a_suppressed_one_is_dialled_anew() {
    let p = plan("");
    // 2 completed, 3 no_answer, 4 queued, 5 suppressed (now on no list),
    // 6 pending, 7 rejected, 8 the key of row 2 again.
    let mut rows = rows("tttttt");
    let mut again = Target::new("k2", 8, "+12125550008");
    again.to_number = "+12125550008".into();
    std::sync::Arc::make_mut(&mut rows.targets).push(again, Some(ny()));
    rows.rows_read = 7;
    let t = table(&[
        (2, "completed"),
        (3, "no_answer"),
        (4, "queued"),
        (5, "suppressed"),
        (6, "pending"),
        (7, "rejected"),
    ]);
    let out = triage(Rules::Plan(&p), &rows, Some(&t), ts("2026-06-02T15:00:00Z"));
    let c = &out.counts;
    let settled: Vec<(&str, u64)> = c.settled.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        settled,
        [
            ("completed", 1),
            ("no_answer", 1),
            ("queued", 1),
            ("rejected", 1)
        ],
        "{c:?}"
    );
    assert_eq!(c.in_progress, 1, "{c:?}");
    assert_eq!((c.dial, c.duplicate_keys), (2, 1), "{c:?}");
    let dialled: Vec<u32> = out.dial.iter().map(|j| j.target).collect();
    assert_eq!(dialled, [3, 4], "rows 5 and 6, in input order");
    assert_eq!(c.total(), c.rows, "{c:?}");
}
