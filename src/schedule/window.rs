//! The one decision "may this recipient be called now?", for everything
//! that dials: triage when it sorts the rows at the start of a run, and the
//! dial loop again just before each request (time passes between the two).
//! A plan without a schedule is always open; a row without a zone of its
//! own is judged in UTC (validation gives every dialable row of a scheduled
//! plan a zone, so that happens only for rows that are not dialled anyway).

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::{Schedule, WindowState};

/// What to do with a call due now, by the plan's calling windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Dial it now.
    OpenNow,
    /// The window is closed (or the campaign has not started): dial it at
    /// this instant, the next opening.
    WaitUntil(Timestamp),
    /// `end_at` has passed, or no window opens before it: never dial it.
    Ended,
}

/// Whether a call to a recipient living in `zone` may start at `now`
/// under `schedule` (`None`: the plan has no `schedule:`, always open).
pub fn calling_window(
    schedule: Option<&Schedule>,
    zone: Option<&TimeZone>,
    now: Timestamp,
) -> Window {
    let Some(schedule) = schedule else {
        return Window::OpenNow;
    };
    let utc = TimeZone::UTC;
    match schedule.window_state(zone.unwrap_or(&utc), now) {
        WindowState::Open { .. } => Window::OpenNow,
        WindowState::Closed { opens_at } | WindowState::NotStarted { opens_at } => {
            Window::WaitUntil(opens_at)
        }
        WindowState::Ended => Window::Ended,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn schedule() -> Schedule {
        Schedule::from_spec(&super::super::ScheduleSpec {
            timezone: Some("America/New_York".into()),
            hours: Some("09:00-18:00".into()),
            days: Some(vec!["mon".into(), "tue".into()]),
            start_at: Some("2026-06-01T00:00:00Z".into()),
            end_at: Some("2026-06-30T00:00:00Z".into()),
        })
        .expect("schedule")
    }

    #[test]
    fn no_schedule_is_always_open() {
        assert_eq!(
            calling_window(None, None, ts("2026-06-06T03:00:00Z")),
            Window::OpenNow
        );
    }

    #[test]
    fn open_closed_not_started_and_ended() {
        let s = schedule();
        let ny = TimeZone::get("America/New_York").expect("zone");
        // Tuesday 2 June, 11:00 EDT: open.
        let now = ts("2026-06-02T15:00:00Z");
        assert_eq!(calling_window(Some(&s), Some(&ny), now), Window::OpenNow);
        // Tuesday 20:00 EDT: closed until Monday 8 June 09:00 EDT.
        assert_eq!(
            calling_window(Some(&s), Some(&ny), ts("2026-06-03T00:00:00Z")),
            Window::WaitUntil(ts("2026-06-08T13:00:00Z"))
        );
        // Before start_at: the first window (Monday 1 June 09:00 EDT).
        assert_eq!(
            calling_window(Some(&s), Some(&ny), ts("2026-05-20T15:00:00Z")),
            Window::WaitUntil(ts("2026-06-01T13:00:00Z"))
        );
        assert_eq!(
            calling_window(Some(&s), Some(&ny), ts("2026-07-01T15:00:00Z")),
            Window::Ended
        );
        // No zone: judged in UTC (Tuesday 15:00 UTC is open, 08:00 is not).
        assert_eq!(calling_window(Some(&s), None, now), Window::OpenNow);
        assert_eq!(
            calling_window(Some(&s), None, ts("2026-06-02T08:00:00Z")),
            Window::WaitUntil(ts("2026-06-02T09:00:00Z"))
        );
    }
}
