//! The simulator's clocks. Real time orders events and stamps them
//! (`created_at`, `started_at`, `ended_at` are wall-clock instants, so a
//! client's `start_date` filter and its own clock agree); the scaled clock
//! paces a call's life: at `time_scale` 60, a call that talks for 120
//! simulated seconds ends two real seconds after it is answered and reports
//! `duration_s` 120.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A monotonic origin, its wall-clock reading, and the time scale.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    origin: Instant,
    origin_wall_us: i64,
    scale: f64,
}

impl Clock {
    pub(crate) fn new(scale: f64) -> Clock {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Clock {
            origin: Instant::now(),
            origin_wall_us: wall,
            scale,
        }
    }

    /// Real microseconds since the origin (monotonic).
    pub(crate) fn now_us(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// Unix microseconds of a monotonic reading.
    pub(crate) fn wall_us(&self, mono_us: u64) -> i64 {
        self.origin_wall_us
            .saturating_add(i64::try_from(mono_us).unwrap_or(i64::MAX))
    }

    /// Real microseconds that `sim_ms` simulated milliseconds last.
    pub(crate) fn real_us(&self, sim_ms: u64) -> u64 {
        (sim_ms as f64 * 1000.0 / self.scale).ceil() as u64
    }
}

/// `2026-05-23T10:15:00.123Z`: RFC 3339 in UTC, truncated (never rounded up)
/// to the millisecond, so `start_date=<created_at>` still finds the call.
pub(crate) fn format_ts(unix_us: i64, out: &mut String) {
    let ms = unix_us.div_euclid(1000);
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    if !(0..=9999).contains(&y) {
        use std::fmt::Write as _;
        let _ = write!(
            out,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60
        );
        return;
    }
    // Digits by hand: this runs for every call in every answer.
    let mut buf = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut v: i64| {
        for i in (at..at + width).rev() {
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y);
    put(5, 2, i64::from(m));
    put(8, 2, i64::from(d));
    put(11, 2, sod / 3600);
    put(14, 2, (sod / 60) % 60);
    put(17, 2, sod % 60);
    put(20, 3, milli);
    out.push_str(std::str::from_utf8(&buf).unwrap_or(""));
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (y, m, d).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Reads a `start_date` / `end_date` filter: an RFC 3339 instant
/// (`2026-05-23T10:15:00Z`, any offset), a date-time without offset (UTC),
/// or a date (midnight UTC). Unix microseconds.
pub(crate) fn parse_instant(s: &str) -> Option<i64> {
    if let Ok(ts) = s.parse::<jiff::Timestamp>() {
        return Some(ts.as_microsecond());
    }
    if let Ok(dt) = s.parse::<jiff::civil::DateTime>() {
        return dt
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp().as_microsecond());
    }
    if let Ok(d) = s.parse::<jiff::civil::Date>() {
        return d
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp().as_microsecond());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(us: i64) -> String {
        let mut s = String::new();
        format_ts(us, &mut s);
        s
    }

    #[test]
    fn formats_like_jiff_truncated_to_ms() {
        for us in [
            0i64,
            1_779_531_300_123_999,
            951_782_400_000_000, // 2000-02-29
            4_102_444_799_999_999,
            -1,
        ] {
            let ts = jiff::Timestamp::from_microsecond(us.div_euclid(1000) * 1000).unwrap();
            let expected = ts.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
            assert_eq!(fmt(us), expected, "{us}");
        }
        assert_eq!(fmt(1_779_531_300_123_999), "2026-05-23T10:15:00.123Z");
    }

    #[test]
    fn parses_instants_dates_and_rejects_junk() {
        let us = 1_779_531_300_123_000;
        assert_eq!(parse_instant("2026-05-23T10:15:00.123Z"), Some(us));
        assert_eq!(parse_instant("2026-05-23T12:15:00.123+02:00"), Some(us));
        assert_eq!(parse_instant("2026-05-23T10:15:00.123"), Some(us));
        assert_eq!(parse_instant("2026-05-23"), Some(1_779_494_400_000_000));
        for junk in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-05-23T25:00:00Z",
            "\u{0}",
        ] {
            assert_eq!(parse_instant(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn scaled_durations() {
        let c = Clock::new(60.0);
        assert_eq!(c.real_us(120_000), 2_000_000);
        assert_eq!(c.wall_us(5) - c.wall_us(0), 5);
    }
}
