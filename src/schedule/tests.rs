//! Calling-window tests. Every instant is injected; nothing reads the clock.

use super::*;
use jiff::civil::{DateTime, Time, Weekday};
use jiff::{SignedDuration, tz::TimeZone};
use proptest::prelude::*;

fn tz(name: &str) -> TimeZone {
    TimeZone::get(name).expect("zone")
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// A local wall-clock time that is not ambiguous in `zone`.
fn local(zone: &TimeZone, s: &str) -> Timestamp {
    let dt: DateTime = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
    zone.to_ambiguous_timestamp(dt)
        .unambiguous()
        .unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn schedule(hours: &str, days: &[&str]) -> Schedule {
    Schedule::from_spec(&ScheduleSpec {
        hours: Some(hours.to_string()),
        days: Some(days.iter().map(|d| d.to_string()).collect()),
        ..ScheduleSpec::default()
    })
    .expect("schedule")
}

const WEEKDAYS: &[&str] = &["mon", "tue", "wed", "thu", "fri"];
const EVERY_DAY: &[&str] = &["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The windows (open, close) that start at or after `from`, in order.
fn windows(
    s: &Schedule,
    zone: &TimeZone,
    from: Timestamp,
    n: usize,
) -> Vec<(Timestamp, Timestamp)> {
    let mut out = Vec::new();
    let mut t = from;
    while out.len() < n {
        let open = s.next_opening(zone, t).expect("a window");
        let WindowState::Open { closes_at } = s.window_state(zone, open) else {
            panic!("not open at its opening {open}");
        };
        out.push((open, closes_at));
        t = closes_at;
    }
    out
}

fn closed(opens_at: Timestamp) -> WindowState {
    WindowState::Closed { opens_at }
}

fn open(closes_at: Timestamp) -> WindowState {
    WindowState::Open { closes_at }
}

#[test]
fn business_hours_in_new_york() {
    let ny = tz("America/New_York");
    let s = schedule("09:00-20:00", WEEKDAYS);
    let l = |t| local(&ny, t);
    // Wednesday 2026-06-03.
    assert_eq!(
        s.window_state(&ny, l("2026-06-03T12:00")),
        open(l("2026-06-03T20:00"))
    );
    assert_eq!(
        s.window_state(&ny, l("2026-06-03T09:00")),
        open(l("2026-06-03T20:00"))
    );
    assert_eq!(
        s.window_state(&ny, l("2026-06-03T08:59:59")),
        closed(l("2026-06-03T09:00"))
    );
    // The end is excluded.
    assert_eq!(
        s.window_state(&ny, l("2026-06-03T20:00")),
        closed(l("2026-06-04T09:00"))
    );
    assert_eq!(
        s.next_opening(&ny, l("2026-06-03T12:00")),
        Some(l("2026-06-03T12:00"))
    );
    assert!(s.is_open(&ny, l("2026-06-03T19:59:59")));
    assert!(!s.is_open(&ny, l("2026-06-03T20:00")));
}

#[test]
fn weekends_are_skipped() {
    let ny = tz("America/New_York");
    let s = schedule("09:00-20:00", WEEKDAYS);
    let monday = local(&ny, "2026-06-08T09:00");
    for t in ["2026-06-05T20:00", "2026-06-06T12:00", "2026-06-07T23:59"] {
        assert_eq!(s.window_state(&ny, local(&ny, t)), closed(monday), "{t}");
    }
    let weekend = schedule("10:00-16:00", &["sat", "sun"]);
    assert_eq!(
        weekend.window_state(&ny, local(&ny, "2026-06-08T11:00")),
        closed(local(&ny, "2026-06-13T10:00"))
    );
}

#[test]
fn one_instant_many_zones() {
    let s = schedule("09:00-20:00", WEEKDAYS);
    let now = ts("2026-06-03T14:00:00Z"); // a Wednesday
    let cases = [
        ("America/New_York", open(ts("2026-06-04T00:00:00Z"))),
        ("America/Los_Angeles", closed(ts("2026-06-03T16:00:00Z"))),
        ("Europe/Paris", open(ts("2026-06-03T18:00:00Z"))),
        ("Asia/Tokyo", closed(ts("2026-06-04T00:00:00Z"))),
        ("Australia/Sydney", closed(ts("2026-06-03T23:00:00Z"))),
        ("Asia/Kolkata", open(ts("2026-06-03T14:30:00Z"))),
    ];
    for (name, want) in cases {
        assert_eq!(s.window_state(&tz(name), now), want, "{name}");
    }
}

#[test]
fn clock_change_dates_of_2026_are_what_the_tests_assume() {
    let transitions = |name: &str| -> Vec<String> {
        tz(name)
            .following(ts("2026-01-01T00:00:00Z"))
            .take(2)
            .map(|t| t.timestamp().to_string())
            .collect()
    };
    // New York: Sun 2026-03-08 02:00 EST -> EDT; Sun 2026-11-01 02:00 EDT -> EST.
    assert_eq!(
        transitions("America/New_York"),
        ["2026-03-08T07:00:00Z", "2026-11-01T06:00:00Z"]
    );
    // Sydney: Sun 2026-04-05 03:00 AEDT -> AEST; Sun 2026-10-04 02:00 AEST -> AEDT.
    assert_eq!(
        transitions("Australia/Sydney"),
        ["2026-04-04T16:00:00Z", "2026-10-03T16:00:00Z"]
    );
    assert_eq!(jiff::civil::date(2026, 3, 8).weekday(), Weekday::Sunday);
    assert_eq!(jiff::civil::date(2026, 10, 4).weekday(), Weekday::Sunday);
}

#[test]
fn new_york_spring_forward_week() {
    let ny = tz("America/New_York");
    let s = schedule("09:00-20:00", WEEKDAYS);
    let got = windows(&s, &ny, ts("2026-03-05T02:00:00Z"), 4);
    assert_eq!(
        got,
        [
            // Thu and Fri on EST (UTC-5)...
            (ts("2026-03-05T14:00:00Z"), ts("2026-03-06T01:00:00Z")),
            (ts("2026-03-06T14:00:00Z"), ts("2026-03-07T01:00:00Z")),
            // ...the weekend skipped, Mon and Tue on EDT (UTC-4): still 09:00 local.
            (ts("2026-03-09T13:00:00Z"), ts("2026-03-10T00:00:00Z")),
            (ts("2026-03-10T13:00:00Z"), ts("2026-03-11T00:00:00Z")),
        ]
    );
    // Saturday night, before the jump: next is Monday 09:00 EDT.
    assert_eq!(
        s.window_state(&ny, ts("2026-03-08T06:30:00Z")),
        closed(ts("2026-03-09T13:00:00Z"))
    );
}

#[test]
fn new_york_window_edge_inside_the_skipped_hour() {
    let ny = tz("America/New_York");
    let s = schedule("02:30-04:00", EVERY_DAY);
    let got = windows(&s, &ny, ts("2026-03-07T00:00:00Z"), 3);
    assert_eq!(
        got,
        [
            (ts("2026-03-07T07:30:00Z"), ts("2026-03-07T09:00:00Z")),
            // 02:30 does not exist on the 8th: the window opens at the jump, 03:00 EDT.
            (ts("2026-03-08T07:00:00Z"), ts("2026-03-08T08:00:00Z")),
            (ts("2026-03-09T06:30:00Z"), ts("2026-03-09T08:00:00Z")),
        ]
    );
    // An end edge in the gap closes the window at the jump.
    let s = schedule("01:00-02:30", EVERY_DAY);
    assert_eq!(
        s.window_state(&ny, local(&ny, "2026-03-08T01:59")),
        open(ts("2026-03-08T07:00:00Z"))
    );
}

#[test]
fn new_york_fall_back_week() {
    let ny = tz("America/New_York");
    let s = schedule("09:00-20:00", EVERY_DAY);
    let got = windows(&s, &ny, ts("2026-10-31T00:00:00Z"), 3);
    assert_eq!(
        got,
        [
            (ts("2026-10-31T13:00:00Z"), ts("2026-11-01T00:00:00Z")),
            (ts("2026-11-01T14:00:00Z"), ts("2026-11-02T01:00:00Z")),
            (ts("2026-11-02T14:00:00Z"), ts("2026-11-03T01:00:00Z")),
        ]
    );
    // 01:30 happens twice on the 1st: the window opens at the first one
    // (EDT) and runs to 03:00 EST, two and a half hours.
    let s = schedule("01:30-03:00", EVERY_DAY);
    assert_eq!(
        windows(&s, &ny, ts("2026-11-01T00:00:00Z"), 1),
        [(ts("2026-11-01T05:30:00Z"), ts("2026-11-01T08:00:00Z"))]
    );
    // A window ending at 01:30 closes at the first 01:30 and does not reopen
    // when the clocks show 01:00-01:30 again.
    let s = schedule("00:00-01:30", EVERY_DAY);
    assert_eq!(
        s.window_state(&ny, ts("2026-11-01T05:00:00Z")),
        open(ts("2026-11-01T05:30:00Z"))
    );
    assert_eq!(
        s.window_state(&ny, ts("2026-11-01T06:15:00Z")), // 01:15 EST, the second time
        closed(ts("2026-11-02T05:00:00Z"))
    );
}

#[test]
fn sydney_autumn_clock_change() {
    // DST ends Sunday 2026-04-05: Friday is on AEDT (UTC+11), Monday on AEST (UTC+10).
    let syd = tz("Australia/Sydney");
    let s = schedule("09:00-17:00", WEEKDAYS);
    let got = windows(&s, &syd, ts("2026-04-02T12:00:00Z"), 2);
    assert_eq!(
        got,
        [
            (ts("2026-04-02T22:00:00Z"), ts("2026-04-03T06:00:00Z")),
            (ts("2026-04-05T23:00:00Z"), ts("2026-04-06T07:00:00Z")),
        ]
    );
    assert_eq!(
        s.window_state(&syd, ts("2026-04-04T12:00:00Z")),
        closed(ts("2026-04-05T23:00:00Z"))
    );
}

#[test]
fn sydney_spring_clock_change() {
    // DST starts Sunday 2026-10-04: Friday on AEST (UTC+10), Monday on AEDT (UTC+11).
    let syd = tz("Australia/Sydney");
    let s = schedule("09:00-17:00", WEEKDAYS);
    let got = windows(&s, &syd, ts("2026-10-01T12:00:00Z"), 2);
    assert_eq!(
        got,
        [
            (ts("2026-10-01T23:00:00Z"), ts("2026-10-02T07:00:00Z")),
            (ts("2026-10-04T22:00:00Z"), ts("2026-10-05T06:00:00Z")),
        ]
    );
    // A window wholly inside the skipped hour does not happen that night.
    let s = schedule("02:00-02:45", EVERY_DAY);
    assert_eq!(
        s.window_state(&syd, ts("2026-10-03T14:00:00Z")),
        closed(ts("2026-10-04T15:00:00Z")) // Monday 02:00 AEDT
    );
}

#[test]
fn windows_crossing_midnight_belong_to_the_day_they_open() {
    let ny = tz("America/New_York");
    let l = |t| local(&ny, t);
    let s = schedule("20:00-02:00", &["fri"]);
    assert_eq!(
        s.window_state(&ny, l("2026-06-05T23:00")),
        open(l("2026-06-06T02:00"))
    );
    assert_eq!(
        s.window_state(&ny, l("2026-06-06T01:00")),
        open(l("2026-06-06T02:00"))
    );
    assert_eq!(
        s.window_state(&ny, l("2026-06-06T02:00")),
        closed(l("2026-06-12T20:00"))
    );
    // Thursday 01:00 is not inside anything: Wednesday is not a calling day.
    assert_eq!(
        s.window_state(&ny, l("2026-06-04T01:00")),
        closed(l("2026-06-05T20:00"))
    );
    let late = schedule("09:00-24:00", &["mon"]);
    assert_eq!(
        late.window_state(&ny, l("2026-06-08T23:59")),
        open(l("2026-06-09T00:00"))
    );
}

#[test]
fn back_to_back_days_report_the_end_of_the_stretch() {
    let ny = tz("America/New_York");
    let s = schedule("00:00-24:00", &["mon", "tue", "wed"]);
    assert_eq!(
        s.window_state(&ny, local(&ny, "2026-06-08T10:00")),
        open(local(&ny, "2026-06-11T00:00"))
    );
    let always = Schedule::from_spec(&ScheduleSpec::default()).expect("default");
    let WindowState::Open { closes_at } = always.window_state(&ny, ts("2026-06-08T10:00:00Z"))
    else {
        panic!("an empty schedule is always open");
    };
    assert!(
        closes_at.duration_since(ts("2026-06-08T10:00:00Z")) >= SignedDuration::from_hours(13 * 24)
    );
}

#[test]
fn start_at_and_end_at_clip_the_campaign() {
    let ny = tz("America/New_York");
    let l = |t| local(&ny, t);
    let s = Schedule::from_spec(&ScheduleSpec {
        timezone: Some("America/New_York".into()),
        hours: Some("09:00-20:00".into()),
        days: Some(WEEKDAYS.iter().map(|d| d.to_string()).collect()),
        start_at: Some("2026-06-03T12:00".into()), // Wednesday noon, plan zone
        end_at: Some("2026-06-05T15:00:00-04:00".into()), // Friday 15:00
    })
    .expect("schedule");
    assert_eq!(
        s.window_state(&ny, l("2026-06-01T10:00")),
        WindowState::NotStarted {
            opens_at: l("2026-06-03T12:00")
        }
    );
    assert_eq!(
        s.window_state(&ny, l("2026-06-03T12:00")),
        open(l("2026-06-03T20:00"))
    );
    assert_eq!(
        s.window_state(&ny, l("2026-06-04T21:00")),
        closed(l("2026-06-05T09:00"))
    );
    assert_eq!(
        s.window_state(&ny, l("2026-06-05T12:00")),
        open(l("2026-06-05T15:00"))
    );
    assert_eq!(
        s.window_state(&ny, l("2026-06-05T15:00")),
        WindowState::Ended
    );
    assert_eq!(s.next_opening(&ny, l("2026-06-05T15:00")), None);
    // Los Angeles opens at 12:00 New York time on Friday and closes at end_at.
    let la = tz("America/Los_Angeles");
    assert_eq!(
        s.window_state(&la, l("2026-06-05T11:00")),
        closed(l("2026-06-05T12:00"))
    );
    assert_eq!(
        s.window_state(&la, l("2026-06-05T12:30")),
        open(l("2026-06-05T15:00"))
    );
    // Tokyo's Friday window (Thu 20:00 to Fri 07:00 in New York) is over by
    // Friday noon, and its Monday is after end_at: nothing left for Tokyo.
    let tokyo = tz("Asia/Tokyo");
    assert_eq!(
        s.window_state(&tokyo, l("2026-06-04T21:00")),
        open(l("2026-06-05T07:00"))
    );
    assert_eq!(
        s.window_state(&tokyo, l("2026-06-05T12:00")),
        WindowState::Ended
    );
}

#[test]
fn not_started_skips_to_the_first_calling_day() {
    let ny = tz("America/New_York");
    let s = Schedule::from_spec(&ScheduleSpec {
        hours: Some("09:00-20:00".into()),
        days: Some(WEEKDAYS.iter().map(|d| d.to_string()).collect()),
        start_at: Some("2026-06-06T10:00:00-04:00".into()), // a Saturday
        ..ScheduleSpec::default()
    })
    .expect("schedule");
    assert_eq!(
        s.window_state(&ny, ts("2026-06-01T00:00:00Z")),
        WindowState::NotStarted {
            opens_at: local(&ny, "2026-06-08T09:00")
        }
    );
}

#[test]
fn row_zone_overrides_the_plan_zone() {
    let s = Schedule::from_spec(&ScheduleSpec {
        timezone: Some("America/New_York".into()),
        hours: Some("09:00-20:00".into()),
        ..ScheduleSpec::default()
    })
    .expect("schedule");
    let now = ts("2026-06-03T12:00:00Z"); // 08:00 in New York, 14:00 in Paris
    let plan_zone = s.timezone();
    let row_default = zone_for_row(None, Some("US"), plan_zone).expect("plan zone");
    assert_eq!(
        s.window_state(&row_default, now),
        closed(ts("2026-06-03T13:00:00Z"))
    );
    let row_paris = zone_for_row(Some("Europe/Paris"), Some("US"), plan_zone).expect("cell");
    assert_eq!(
        s.window_state(&row_paris, now),
        open(ts("2026-06-03T18:00:00Z"))
    );
    let row_fr_number = zone_for_row(None, Some("FR"), plan_zone).expect("country");
    assert_eq!(
        s.window_state(&row_fr_number, now),
        open(ts("2026-06-03T18:00:00Z"))
    );
}

#[test]
fn plan_yaml_reads_into_a_checked_schedule() {
    let yaml = "timezone: America/New_York\nhours: \"09:00-20:00\"\ndays: [mon, tue, wed, thu, fri]\nstart_at: 2026-06-01T09:00:00-04:00\nend_at: 2026-06-30 20:00\n";
    let s: Schedule = serde_saphyr::from_str(yaml).expect("yaml");
    assert_eq!(s.start_at(), Some(ts("2026-06-01T13:00:00Z")));
    assert_eq!(s.end_at(), Some(ts("2026-07-01T00:00:00Z")));
    assert_eq!(
        s.to_string(),
        "09:00-20:00 mon,tue,wed,thu,fri (America/New_York)"
    );
    // Unquoted hours are a string in YAML 1.2 too.
    let s: Schedule = serde_saphyr::from_str("hours: 09:00-17:00\n").expect("unquoted");
    assert_eq!(s.hours().to_string(), "09:00-17:00");

    let refusals = [
        ("hour: 09:00-17:00\n", "hour"),
        ("timezone: America/New_Yrok\n", "America/New_Yrok"),
        ("hours: \"25:00-26:00\"\n", "hour 25"),
        ("days: []\n", "schedule.days is empty"),
        ("days: [mon, someday]\n", "someday"),
        ("days: mon\n", ""),
        (
            "start_at: 2026-06-02T09:00Z\nend_at: 2026-06-01T09:00Z\n",
            "not after",
        ),
        ("end_at: 2026-06-30 20:00\n", "no UTC offset"),
        ("end_at: 2026-06-30\n", "without a time"),
    ];
    for (yaml, needle) in refusals {
        let err = serde_saphyr::from_str::<Schedule>(yaml)
            .expect_err(yaml)
            .to_string();
        assert!(err.contains(needle), "{yaml}: {err}");
    }
}

// ---- properties -------------------------------------------------------

const ZONES: &[&str] = &[
    "America/New_York",
    "America/Los_Angeles",
    "America/Santiago", // transitions at midnight
    "America/Havana",   // transitions at midnight / 01:00
    "Australia/Sydney",
    "Australia/Lord_Howe", // 30-minute DST shift
    "Pacific/Chatham",     // UTC+12:45 / +13:45
    "Asia/Kolkata",
    "Europe/London",
    "Asia/Beirut",
    "UTC",
];

fn arb_schedule() -> impl Strategy<Value = Schedule> {
    (0u8..24, 0u8..4, 0u8..25, 0u8..4, 1u8..128).prop_filter_map(
        "valid hours",
        |(sh, sm, eh, em, mask)| {
            let em = if eh == 24 { 0 } else { em * 15 };
            let hours = format!("{sh:02}:{:02}-{eh:02}:{em:02}", sm * 15);
            let days: Vec<String> = EVERY_DAY
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, d)| d.to_string())
                .collect();
            Schedule::from_spec(&ScheduleSpec {
                hours: Some(hours),
                days: Some(days),
                ..ScheduleSpec::default()
            })
            .ok()
        },
    )
}

fn arb_instant() -> impl Strategy<Value = Timestamp> {
    // 2025-01-01 .. 2029-01-01, to the second.
    (1_735_689_600i64..1_861_920_000).prop_map(|s| Timestamp::from_second(s).expect("in range"))
}

/// Open or not by reading the wall clock, as a person would; only trusted
/// far from clock changes, where it must agree with the engine.
fn wall_clock_oracle(s: &Schedule, zone: &TimeZone, at: Timestamp) -> bool {
    let dt = zone.to_datetime(at);
    let (date, time) = (dt.date(), dt.time());
    let h = s.hours();
    let today = s.days().contains(date.weekday());
    let yesterday = date
        .yesterday()
        .map(|d| s.days().contains(d.weekday()))
        .unwrap_or(false);
    if !h.end_next_day {
        today && h.start <= time && time < h.end
    } else if h.end == Time::midnight() {
        today && h.start <= time
    } else {
        (today && h.start <= time) || (yesterday && time < h.end)
    }
}

fn near_transition(zone: &TimeZone, at: Timestamp) -> bool {
    let margin = SignedDuration::from_hours(27);
    let near = |t: Timestamp| at.duration_since(t).abs() < margin;
    zone.preceding(at)
        .next()
        .is_some_and(|t| near(t.timestamp()))
        || zone
            .following(at)
            .next()
            .is_some_and(|t| near(t.timestamp()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn engine_agrees_with_the_wall_clock_away_from_clock_changes(
        s in arb_schedule(), zi in 0..ZONES.len(), at in arb_instant()
    ) {
        let zone = tz(ZONES[zi]);
        prop_assume!(!near_transition(&zone, at));
        prop_assert_eq!(s.is_open(&zone, at), wall_clock_oracle(&s, &zone, at), "{} at {}", s, at);
    }

    #[test]
    fn next_opening_is_the_first_open_instant(
        s in arb_schedule(), zi in 0..ZONES.len(), at in arb_instant()
    ) {
        let zone = tz(ZONES[zi]);
        let state = s.window_state(&zone, at);
        let o = s.next_opening(&zone, at).expect("no end_at, so always a next window");
        prop_assert!(o >= at);
        prop_assert!(s.is_open(&zone, o), "{} not open at its opening {}", s, o);
        match state {
            WindowState::Open { closes_at } => {
                prop_assert_eq!(o, at);
                prop_assert!(closes_at > at);
                let last = closes_at.checked_sub(SignedDuration::from_nanos(1)).expect("sub");
                prop_assert!(s.is_open(&zone, last));
            }
            WindowState::Closed { opens_at } => {
                prop_assert_eq!(o, opens_at);
                prop_assert!(opens_at > at);
                let before = opens_at.checked_sub(SignedDuration::from_nanos(1)).expect("sub");
                prop_assert!(!s.is_open(&zone, before));
                // Opens on a calling day, at its start time or at a clock jump.
                let local = zone.to_datetime(opens_at);
                prop_assert!(s.days().contains(local.date().weekday()), "{} opens {}", s, local);
                let at_jump = zone.preceding(opens_at.checked_add(SignedDuration::from_nanos(1)).expect("add"))
                    .next().is_some_and(|t| t.timestamp() == opens_at);
                prop_assert!(local.time() == s.hours().start || at_jump, "{} opens {}", s, local);
            }
            other => prop_assert!(false, "unexpected {:?}", other),
        }
    }

    #[test]
    fn clipped_schedules_stay_inside_start_and_end(
        s in arb_schedule(), zi in 0..ZONES.len(), at in arb_instant(),
        start_off in -200i64..200, len in 1i64..400,
    ) {
        let zone = tz(ZONES[zi]);
        let start = at.checked_add(SignedDuration::from_hours(start_off)).expect("add");
        let end = start.checked_add(SignedDuration::from_hours(len)).expect("add");
        let s = Schedule { start_at: Some(start), end_at: Some(end), ..s };
        match s.window_state(&zone, at) {
            WindowState::Ended => {
                prop_assert_eq!(s.next_opening(&zone, at), None);
            }
            WindowState::NotStarted { opens_at } => {
                prop_assert!(at < start && opens_at >= start && opens_at < end);
            }
            WindowState::Closed { opens_at } => {
                prop_assert!(at >= start && opens_at > at && opens_at < end);
            }
            WindowState::Open { closes_at } => {
                prop_assert!(at >= start && at < end && closes_at <= end);
            }
        }
    }

    #[test]
    fn hostile_schedule_text_never_panics(
        tzs in ".{0,40}", hours in ".{0,40}", days in proptest::collection::vec(".{0,12}", 0..8),
        start in ".{0,40}", end in ".{0,40}",
    ) {
        let spec = ScheduleSpec {
            timezone: Some(tzs),
            hours: Some(hours),
            days: Some(days),
            start_at: Some(start),
            end_at: Some(end),
        };
        let _ = Schedule::from_spec(&spec);
    }

    #[test]
    fn hours_like_text_never_panics(h1 in "[0-9]{0,3}", m1 in "[0-9]{0,3}", sep in "[-: ]{0,2}", h2 in "[0-9]{0,3}", m2 in "[0-9]{0,3}") {
        let text = format!("{h1}:{m1}{sep}{h2}:{m2}");
        if let Ok(h) = Hours::parse(&text) {
            // Whatever parses prints back and parses to the same thing.
            prop_assert_eq!(Hours::parse(&h.to_string()).expect("round trip"), h);
        }
    }
}
