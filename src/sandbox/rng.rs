//! The simulator's randomness: SplitMix64, a tiny generator whose output is
//! fixed by its algorithm (not by a crate version), so a seed means the same
//! ledger on every build. Streams are derived from the one configured seed:
//! one per created call (keyed by its index) and one per request (keyed by
//! its arrival number), so a call's fate does not shift when faults are
//! turned on, and no lock is needed to draw.

/// SplitMix64 (Steele, Lea, Flood 2014): 64 bits of state, good mixing.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// The generator of item `n` of stream `salt` under `seed`.
    pub(crate) fn stream(seed: u64, salt: u64, n: u64) -> SplitMix64 {
        SplitMix64::new(mix(mix(seed ^ salt) ^ n.wrapping_mul(GOLDEN)))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix(self.0)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi] (hi when lo == hi).
    pub(crate) fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Index of the weight that a draw lands in; weights are >= 0 with a positive sum.
    pub(crate) fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        // Rounding left x at the very top: the last non-zero weight.
        weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
    }
}

/// SplitMix64's finalizer: a bijection on u64 that scatters every bit.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_draws_and_streams_differ() {
        let a: Vec<u64> = (0..4)
            .map(|n| SplitMix64::stream(7, 1, n).next_u64())
            .collect();
        let b: Vec<u64> = (0..4)
            .map(|n| SplitMix64::stream(7, 1, n).next_u64())
            .collect();
        assert_eq!(a, b);
        assert_ne!(a[0], a[1]);
        assert_ne!(
            SplitMix64::stream(7, 1, 0).next_u64(),
            SplitMix64::stream(8, 1, 0).next_u64()
        );
        // The algorithm, not a crate, fixes the output: SplitMix64's reference value.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn weighted_follows_weights() {
        let mut r = SplitMix64::new(3);
        let mut counts = [0u32; 3];
        for _ in 0..10_000 {
            counts[r.weighted(&[1.0, 0.0, 3.0])] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!((2_200..2_800).contains(&counts[0]), "{counts:?}");
        let u = r.unit();
        assert!((0.0..1.0).contains(&u));
    }
}
