//! The fused LIF loop (`lanes.rs`) eight neurons at a time, for CPUs with AVX2: the counters
//! count down eight byte lanes at a time and are widened once to select the free neurons; and
//! the threshold scan of the tiles where some neuron crossed.

use std::arch::x86_64::*;

use super::lanes::{self, Coefficients, Lanes};

struct Avx2;

impl Lanes for Avx2 {
    const WIDTH: usize = 8;
    type V = __m256;

    #[inline(always)]
    unsafe fn splat(x: f32) -> __m256 {
        _mm256_set1_ps(x)
    }

    #[inline(always)]
    unsafe fn load(at: *const f32) -> __m256 {
        _mm256_loadu_ps(at)
    }

    #[inline(always)]
    unsafe fn store(at: *mut f32, x: __m256) {
        _mm256_storeu_ps(at, x)
    }

    #[inline(always)]
    unsafe fn add(a: __m256, b: __m256) -> __m256 {
        _mm256_add_ps(a, b)
    }

    #[inline(always)]
    unsafe fn mul(a: __m256, b: __m256) -> __m256 {
        _mm256_mul_ps(a, b)
    }

    #[inline(always)]
    unsafe fn count_down(at: *mut u8, old: __m256, next: __m256) -> __m256 {
        let at = at.cast::<__m128i>();
        let left = _mm_subs_epu8(_mm_loadl_epi64(at), _mm_set1_epi8(1));
        _mm_storel_epi64(at, left);
        let free = _mm256_cvtepi8_epi32(_mm_cmpeq_epi8(left, _mm_setzero_si128()));
        _mm256_blendv_ps(old, next, _mm256_castsi256_ps(free))
    }

    #[inline(always)]
    unsafe fn any_above(x: __m256, th: __m256) -> bool {
        _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(x, th)) != 0
    }
}

/// [`lanes::advance`] eight neurons at a time.
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
    lanes::advance::<Avx2, TERMS, EXTRA>(k, v, rows, counters)
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
