//! The documented bounds of every number a user can type: rates, timeouts,
//! counts and durations, in the plan or on the command line. Both the plan
//! checks (`validate`, a finding with a fix) and the flag parsers (a clap
//! value error) read them from here, so the two can never disagree, and the
//! README's table is written from this file. Outside these bounds a value is
//! refused before any work starts; the engine's timers are total anyway
//! (saturating), so a value that slipped past would wait long, not panic.

use std::num::NonZeroU32;
use std::time::Duration;

/// Slowest pacing: one call a day. Below it the gap between two calls
/// outlasts any campaign (and `1 / rate` stops fitting a timer).
pub const MIN_RATE: f64 = 1.0 / 86_400.0;
/// Fastest pacing: one request a microsecond, finer than any timer spaces
/// them; effectively unpaced (the benchmarks use it).
pub const MAX_RATE: f64 = 1_000_000.0;
/// Shortest connect or request timeout, in seconds (1 ms).
pub const MIN_TIMEOUT_S: f64 = 0.001;
/// Longest connect or request timeout, in seconds (10 minutes): a request
/// that takes longer is lost, and a row in doubt waits this long for its
/// lookup.
pub const MAX_TIMEOUT_S: f64 = 600.0;
/// Most create requests in flight (`dispatch.concurrency`, `--concurrency`).
pub const MAX_CONCURRENCY: u32 = 10_000;
/// Most sends of one row per run (`dispatch.max_attempts`).
pub const MAX_ATTEMPTS: u32 = 100;
/// Largest cap on live calls (`dispatch.max_active_calls`).
pub const MAX_ACTIVE_CALLS: u32 = 100_000;
/// Shortest time between two polls of one call (`--poll-every`).
pub const MIN_POLL_EVERY: Duration = Duration::from_secs(1);
/// Longest time between two polls of one call (`--poll-every`): a day.
pub const MAX_POLL_EVERY: Duration = Duration::from_secs(86_400);
/// Most rows one run may dial (`--limit`): far more than any list holds.
pub const MAX_LIMIT: u64 = 1_000_000_000_000;

/// A number as a message shows it: `0.5`, `600`, but `1e-320` rather
/// than three hundred zeros.
pub fn show_f64(v: f64) -> String {
    let plain = v.to_string();
    if plain.len() > 12 {
        format!("{v:e}")
    } else {
        plain
    }
}

/// A number setting with its bounds, for messages: `between 0.001 and 600`.
pub fn describe_f64(min: f64, max: f64) -> String {
    format!("between {min} and {max}")
}

/// True when `v` is a finite number within `[min, max]`.
pub fn within(v: f64, min: f64, max: f64) -> bool {
    v.is_finite() && (min..=max).contains(&v)
}

/// `--rate`: requests per second within [`MIN_RATE`]..=[`MAX_RATE`].
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number of requests per second"))?;
    if within(v, MIN_RATE, MAX_RATE) {
        Ok(v)
    } else {
        Err(format!(
            "out of bounds: use a rate from one call a day ({MIN_RATE:.7}) to {MAX_RATE} per second"
        ))
    }
}

/// `--concurrency`: 1..=[`MAX_CONCURRENCY`].
pub fn parse_concurrency(s: &str) -> Result<NonZeroU32, String> {
    let v: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number"))?;
    u32::try_from(v)
        .ok()
        .filter(|v| *v <= MAX_CONCURRENCY)
        .and_then(NonZeroU32::new)
        .ok_or_else(|| format!("out of bounds: use 1 to {MAX_CONCURRENCY}"))
}

/// `--limit`: 0..=[`MAX_LIMIT`] rows.
pub fn parse_limit(s: &str) -> Result<u64, String> {
    let v: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a whole number of rows"))?;
    if v <= MAX_LIMIT {
        Ok(v)
    } else {
        Err(format!("out of bounds: use 0 to {MAX_LIMIT}"))
    }
}

/// `--poll-every`: a humantime duration within
/// [`MIN_POLL_EVERY`]..=[`MAX_POLL_EVERY`].
pub fn parse_poll_every(s: &str) -> Result<humantime::Duration, String> {
    let d: humantime::Duration = s
        .trim()
        .parse()
        .map_err(|e| format!("`{s}`: {e}; write a duration like 5s, 1m or 1h"))?;
    let std: Duration = d.into();
    if (MIN_POLL_EVERY..=MAX_POLL_EVERY).contains(&std) {
        Ok(d)
    } else {
        Err(format!(
            "out of bounds: use {} to {}",
            humantime::format_duration(MIN_POLL_EVERY),
            humantime::format_duration(MAX_POLL_EVERY)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_parsers_refuse_what_is_out_of_bounds() {
        for bad in [
            "1e-300", "1e-19", "0", "-1", "NaN", "inf", "1e7", "x", "0.00001",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_rate("5"), Ok(5.0));
        assert_eq!(parse_rate("0.0001"), Ok(0.0001));
        assert_eq!(parse_rate("1000000"), Ok(MAX_RATE));
        for bad in ["0", "-1", "10001", "99999999999", "x"] {
            assert!(parse_concurrency(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_concurrency("8").map(NonZeroU32::get), Ok(8));
        assert_eq!(parse_limit("0"), Ok(0));
        assert!(parse_limit("1000000000001").is_err());
        assert!(parse_limit("-1").is_err());
        for bad in ["999999999999d", "0s", "500ms", "2days", "x"] {
            assert!(parse_poll_every(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_poll_every("5s").map(Duration::from),
            Ok(Duration::from_secs(5))
        );
        assert!(parse_poll_every("1day").is_ok());
        assert_eq!(show_f64(1e-320), "1e-320");
        assert_eq!(show_f64(0.5), "0.5");
    }
}
