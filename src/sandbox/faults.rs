//! Choosing the fault of a request. Each `/v1` request draws from its own
//! stream (the seed and its arrival number), so one seed and one request
//! order give the same faults; at most one fault per request.

use std::time::Duration;

use super::config::Faults;
use super::rng::SplitMix64;

const REQUEST_STREAM: u64 = 0xFA17_FA17_FA17_FA17;
const READ_STREAM: u64 = 0x0EAD_FA17_0EAD_FA17;

/// What happens to a create request besides its normal handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    /// Answer this 5xx; create nothing.
    ServerError(u16),
    /// Reset the connection; create nothing.
    Drop,
    /// Create the call, then reset the connection without answering.
    LostResponse,
    /// Create the call, answer after this delay.
    Slow(Duration),
}

/// The fault and added latency of request number `n`.
pub(crate) fn draw(faults: &Faults, seed: u64, n: u64) -> (Fault, Duration) {
    if faults.is_none() {
        return (Fault::None, Duration::ZERO);
    }
    let mut rng = SplitMix64::stream(seed, REQUEST_STREAM, n);
    let u = rng.unit();
    let latency = rng.between(faults.latency_ms.min, faults.latency_ms.max);
    let code = [500, 502, 503][(rng.next_u64() % 3) as usize];
    let t_error = faults.server_error_rate;
    let t_drop = t_error + faults.drop_rate;
    let t_lost = t_drop + faults.lost_response_rate;
    let t_slow = t_lost + faults.slow_rate;
    let fault = if u < t_error {
        Fault::ServerError(code)
    } else if u < t_drop {
        Fault::Drop
    } else if u < t_lost {
        Fault::LostResponse
    } else if u < t_slow {
        Fault::Slow(Duration::from_millis(faults.slow_ms))
    } else {
        Fault::None
    };
    (fault, Duration::from_micros((latency * 1000.0) as u64))
}

/// The 5xx status a read (request number `n`) answers instead of its
/// data, if `faults.read_error_rate` picks it; its own stream, so reads
/// faulted or not leave the create faults as they were.
pub(crate) fn draw_read(faults: &Faults, seed: u64, n: u64) -> Option<u16> {
    if faults.read_error_rate <= 0.0 {
        return None;
    }
    let mut rng = SplitMix64::stream(seed, READ_STREAM, n);
    let u = rng.unit();
    let code = [500, 502, 503][(rng.next_u64() % 3) as usize];
    (u < faults.read_error_rate).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::Range;

    #[test]
    fn rates_are_honoured_and_draws_repeat() {
        let f = Faults {
            server_error_rate: 0.1,
            drop_rate: 0.2,
            lost_response_rate: 0.3,
            slow_rate: 0.1,
            slow_ms: 7,
            latency_ms: Range::new(1.0, 3.0),
            read_error_rate: 0.0,
        };
        let mut counts = [0u32; 5];
        for n in 0..10_000 {
            let (fault, latency) = draw(&f, 9, n);
            assert_eq!(draw(&f, 9, n), (fault, latency));
            assert!((1000..=3000).contains(&latency.as_micros()));
            let k = match fault {
                Fault::ServerError(c) => {
                    assert!([500, 502, 503].contains(&c));
                    0
                }
                Fault::Drop => 1,
                Fault::LostResponse => 2,
                Fault::Slow(d) => {
                    assert_eq!(d, Duration::from_millis(7));
                    3
                }
                Fault::None => 4,
            };
            counts[k] += 1;
        }
        for (k, expect) in [1000, 2000, 3000, 1000, 3000].iter().enumerate() {
            let c = f64::from(counts[k]);
            assert!((c - f64::from(*expect)).abs() < 250.0, "{counts:?}");
        }
        assert_eq!(
            draw(&Faults::default(), 9, 1),
            (Fault::None, Duration::ZERO)
        );
    }

    #[test]
    fn read_errors_follow_their_rate_and_repeat() {
        let f = Faults {
            read_error_rate: 0.25,
            ..Faults::default()
        };
        let mut faulted = 0;
        for n in 0..10_000 {
            let code = draw_read(&f, 9, n);
            assert_eq!(draw_read(&f, 9, n), code);
            if let Some(c) = code {
                assert!([500, 502, 503].contains(&c));
                faulted += 1;
            }
        }
        assert!((2250..=2750).contains(&faulted), "{faulted}");
        assert_eq!(draw_read(&Faults::default(), 9, 1), None);
    }
}
