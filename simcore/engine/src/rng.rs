//! The engine's random numbers: xoshiro256++ seeded through SplitMix64.
//!
//! Written here (about 80 lines) rather than taken from a crate so that the stream for a given
//! seed can never change under a dependency update: one seed gives one network and one Poisson
//! train on every machine, every build and every thread count. Parallel work draws from
//! independent streams derived from `(seed, stream id)`, never from a shared generator, so the
//! result does not depend on how the work is split between threads.

/// SplitMix64 step: used to expand seeds and to mix stream ids.
#[inline]
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256++ (Blackman & Vigna): fast, 256 bits of state, passes BigCrush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator for `seed` (stream 0).
    pub fn new(seed: u64) -> Self {
        Self::stream(seed, 0)
    }

    /// An independent generator for `(seed, stream)`: stream ids are mixed into the seed
    /// through SplitMix64, so neighbouring ids give unrelated sequences.
    pub fn stream(seed: u64, stream: u64) -> Self {
        let mut mix = stream ^ 0x5DEE_CE66_D1CE_4E5B;
        let key = seed ^ splitmix64(&mut mix).rotate_left(17);
        let mut state = key;
        let mut s = [0u64; 4];
        for word in &mut s {
            *word = splitmix64(&mut state);
        }
        if s == [0; 4] {
            s[0] = 1; // the all-zero state is the one fixed point of xoshiro
        }
        Rng { s }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `(0, 1]`: safe to take the logarithm of.
    #[inline]
    pub fn uniform_open0(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `[0, n)`, unbiased (Lemire's multiply-and-reject). `n` must be > 0.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let mut m = (self.next_u64() as u128) * (n as u128);
        let mut low = m as u64;
        if low < n {
            let threshold = n.wrapping_neg() % n;
            while low < threshold {
                m = (self.next_u64() as u128) * (n as u128);
                low = m as u64;
            }
        }
        (m >> 64) as u64
    }

    /// Number of failures before the first success of a Bernoulli(p) sequence, given
    /// `ln_q = ln(1 - p)` (pass `f64::NEG_INFINITY` for p = 1, and do not call for p = 0).
    /// Saturates at `u64::MAX`.
    #[inline]
    pub fn geometric(&mut self, ln_q: f64) -> u64 {
        let g = (self.uniform_open0().ln() / ln_q).floor();
        if g >= u64::MAX as f64 {
            u64::MAX
        } else {
            g as u64 // -0.0 and 0.0 both give 0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_streams_differ() {
        let mut a = Rng::stream(7, 3);
        let mut b = Rng::stream(7, 3);
        let mut c = Rng::stream(7, 4);
        let xs: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn the_stream_for_a_seed_never_changes() {
        // Pinned: if this changes, every seeded network changes. Update only on purpose.
        let mut r = Rng::new(42);
        let first = r.next_u64();
        let mut again = Rng::new(42);
        assert_eq!(first, again.next_u64());
        assert_eq!(first, PINNED_FIRST_DRAW_SEED_42);
    }

    const PINNED_FIRST_DRAW_SEED_42: u64 = 577_571_162_165_924_113;

    #[test]
    fn uniform_moments_and_below_range() {
        let mut r = Rng::new(1);
        let n = 200_000;
        let mean = (0..n).map(|_| r.uniform()).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.005, "mean {mean}");
        let mut counts = [0usize; 7];
        for _ in 0..70_000 {
            counts[r.below(7) as usize] += 1;
        }
        for c in counts {
            assert!((c as f64 - 10_000.0).abs() < 500.0, "{counts:?}");
        }
    }

    #[test]
    fn geometric_mean_matches() {
        let mut r = Rng::new(3);
        let p: f64 = 0.05;
        let ln_q = (-p).ln_1p();
        let n = 100_000;
        let mean = (0..n).map(|_| r.geometric(ln_q) as f64).sum::<f64>() / n as f64;
        let expected = (1.0 - p) / p;
        assert!(
            (mean - expected).abs() / expected < 0.02,
            "mean {mean} vs {expected}"
        );
        assert_eq!(r.geometric(f64::NEG_INFINITY), 0);
    }
}
