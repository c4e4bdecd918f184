//! The fused LIF loop of the common case (see `Exact::fast_tile`) for `f32` state and one-byte
//! refractory counters, written in AVX2 intrinsics. The portable loop, vectorised by the
//! compiler, widens each byte counter to a lane mask and reduces every threshold comparison to
//! a flag, about twice the instructions of the arithmetic itself. Here the counters count down
//! eight at a time in byte lanes and are widened once, and the threshold test marks which
//! groups of sixteen neurons hold a `v` above it, so that only those are scanned for the
//! spikes. The products and sums are the portable loop's, in its order and without FMA, so
//! every bit of the state is the same.

use std::arch::x86_64::*;

/// The loop's coefficients, rounded to `f32` (see `Exact::fast_tile_body`).
pub(super) struct Coefficients<const TERMS: usize> {
    pub(super) e_m: f32,
    pub(super) c0: f32,
    /// The external current's term, added last when `EXTRA`.
    pub(super) extra: f32,
    /// The threshold the loop marks the groups of sixteen neurons against.
    pub(super) v_th: f32,
    /// Each receptor's coefficient in `v` and its decay.
    pub(super) c: [f32; TERMS],
    pub(super) d: [f32; TERMS],
}

/// Advances the first `v.len() / 8 * 8` neurons (`rows`: the receptor values, `counters`: the
/// refractory counters, at least as long as `v`) by one step; returns how many it advanced and
/// which groups of sixteen of them hold a `v` above `k.v_th` afterwards (bit `g` for neurons
/// `16 g..16 g + 16`; a NaN is not above). `v` holds at most 512 neurons.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn advance<const TERMS: usize, const EXTRA: bool>(
    k: &Coefficients<TERMS>,
    v: &mut [f32],
    rows: [&mut [f32]; TERMS],
    counters: &mut [u8],
) -> (usize, u32) {
    let n = v.len() / 8 * 8;
    assert!(n <= 512 && counters.len() >= n && rows.iter().all(|r| r.len() >= n));
    let (e_m, c0, extra, v_th) = (
        _mm256_set1_ps(k.e_m),
        _mm256_set1_ps(k.c0),
        _mm256_set1_ps(k.extra),
        _mm256_set1_ps(k.v_th),
    );
    let c = k.c.map(|c| _mm256_set1_ps(c));
    let d = k.d.map(|d| _mm256_set1_ps(d));
    let (one, zero) = (_mm_set1_epi8(1), _mm_setzero_si128());
    let mut crossed = 0u32;
    for i in (0..n).step_by(8) {
        // SAFETY: i + 8 <= n, and every slice holds at least n values.
        let at = v.as_mut_ptr().add(i);
        let old = _mm256_loadu_ps(at);
        let x: [__m256; TERMS] = std::array::from_fn(|t| _mm256_loadu_ps(rows[t].as_ptr().add(i)));
        let mut s = _mm256_setzero_ps();
        for t in 0..TERMS {
            let term = _mm256_mul_ps(c[t], x[t]);
            s = if t == 0 { term } else { _mm256_add_ps(s, term) };
        }
        let mut next = _mm256_add_ps(c0, _mm256_add_ps(s, _mm256_mul_ps(e_m, old)));
        if EXTRA {
            next = _mm256_add_ps(next, extra);
        }
        let count = counters.as_mut_ptr().add(i).cast::<__m128i>();
        let left = _mm_subs_epu8(_mm_loadl_epi64(count), one);
        _mm_storel_epi64(count, left);
        let free = _mm256_cvtepi8_epi32(_mm_cmpeq_epi8(left, zero));
        let new = _mm256_blendv_ps(old, next, _mm256_castsi256_ps(free));
        _mm256_storeu_ps(at, new);
        for t in 0..TERMS {
            _mm256_storeu_ps(rows[t].as_mut_ptr().add(i), _mm256_mul_ps(x[t], d[t]));
        }
        let above = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(new, v_th));
        crossed |= u32::from(above != 0) << (i / 16);
    }
    (n, crossed)
}

/// Calls `hit` with the position of every value of `v` above `th`, in order (a NaN is not
/// above): eight compared at a time, one branch per eight, where the portable scan of
/// `Lif::advance` tests each value.
///
/// # Safety
/// The CPU must support AVX2.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn for_each_above(v: &[f32], th: f32, mut hit: impl FnMut(usize)) {
    let n = v.len() / 8 * 8;
    let th8 = _mm256_set1_ps(th);
    for i in (0..n).step_by(8) {
        // SAFETY: i + 8 <= n <= v.len().
        let x = _mm256_loadu_ps(v.as_ptr().add(i));
        let mut above = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(x, th8)) as u32;
        while above != 0 {
            hit(i + above.trailing_zeros() as usize);
            above &= above - 1;
        }
    }
    for (k, &x) in v[n..].iter().enumerate() {
        if x > th {
            hit(n + k);
        }
    }
}
