//! A tiny seeded PRNG (splitmix64), public so tests that drive the emulator can share it.
//!
//! The emulator needs reproducible randomness (jitter, fault rates, generated ids) so a failing
//! test can be replayed with the same seed; randomized tests of its users need the same. One
//! generator serves both instead of a copy per test suite. splitmix64 is a few lines, passes
//! BigCrush, and avoids pulling `rand` and its dependency tree into every crate that uses the
//! emulator.
//!
//! ```
//! use kendra_local::rng::SplitMix64;
//!
//! let mut a = SplitMix64::new(7);
//! let mut b = SplitMix64::new(7);
//! assert_eq!(a.next_u64(), b.next_u64()); // same seed, same sequence
//! let die = a.below(6) + 1;
//! assert!((1..=6).contains(&die));
//! ```

use std::time::Duration;

/// A splitmix64 generator. Not cryptographic; only for simulation and tests.
///
/// Its sequence is part of the API: the same seed gives the same numbers in every release, so
/// a seed printed by a failing test replays it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose sequence is fixed by `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`: `next_u64() % n`, so a test that used its own splitmix64 copy
    /// keeps its sequence. The modulo bias is below 2^-40 for `n` under 2^24, negligible for
    /// picking test cases. `below(0)` is 0 rather than a panic.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64().checked_rem(n).unwrap_or(0)
    }

    /// A float uniformly distributed in `[0, 1)` (53 random bits).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p` (clamped to `0..=1`); never consumes randomness when `p` is 0,
    /// so turning a fault off does not shift the sequence of the others.
    pub fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 || p.is_nan() {
            return false;
        }
        if p >= 1.0 {
            return true;
        }
        self.next_f64() < p
    }

    /// A duration uniformly distributed in `[0, max]`.
    pub fn jitter(&mut self, max: Duration) -> Duration {
        if max.is_zero() {
            return Duration::ZERO;
        }
        let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.next_u64() % nanos.saturating_add(1))
    }

    /// A uuid-shaped, 36-character lowercase hex id (8-4-4-4-12), which satisfies Kendra's
    /// IndexId constraints.
    pub fn uuid_like(&mut self) -> String {
        let a = self.next_u64();
        let b = self.next_u64();
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        let mut c = SplitMix64::new(43);
        assert_ne!(xs[0], c.next_u64());
    }

    #[test]
    fn below_stays_in_range_and_matches_the_modulo_of_next_u64() {
        let mut r = SplitMix64::new(5);
        let mut copy = r.clone();
        for n in [1, 2, 3, 10, 1000, u64::MAX] {
            let x = r.below(n);
            assert!(x < n);
            assert_eq!(x, copy.next_u64() % n);
        }
        assert_eq!(r.below(0), 0);
        let seen: std::collections::HashSet<u64> = (0..200).map(|_| r.below(4)).collect();
        assert_eq!(seen.len(), 4, "every value of 0..4 comes up");
    }

    #[test]
    fn the_sequence_is_fixed_for_a_seed() {
        // splitmix64's published first output for seed 0; the same seed must keep replaying
        // the same sequence in every release.
        assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn floats_and_jitter_stay_in_range() {
        let mut r = SplitMix64::new(7);
        for _ in 0..10_000 {
            let f = r.next_f64();
            assert!((0.0..1.0).contains(&f));
            assert!(r.jitter(Duration::from_millis(5)) <= Duration::from_millis(5));
        }
        assert_eq!(r.jitter(Duration::ZERO), Duration::ZERO);
        assert!(!r.chance(0.0));
        assert!(r.chance(1.0));
    }

    #[test]
    fn chance_is_roughly_the_rate() {
        let mut r = SplitMix64::new(1);
        let hits = (0..100_000).filter(|_| r.chance(0.25)).count();
        assert!((23_000..27_000).contains(&hits), "{hits}");
    }

    #[test]
    fn uuid_like_is_a_valid_index_id() {
        let mut r = SplitMix64::new(9);
        let id = r.uuid_like();
        assert_eq!(id.len(), 36);
        assert!(crate::protocol::is_valid_index_id(&id), "{id}");
        assert_ne!(id, r.uuid_like());
    }
}
