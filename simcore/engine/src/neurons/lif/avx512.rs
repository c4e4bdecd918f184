//! The fused LIF loop (`lanes.rs`) sixteen neurons at a time, for CPUs with AVX-512 (F, BW,
//! VL): the counters count down sixteen byte lanes at a time and select the free neurons by a
//! mask register directly.

use std::arch::x86_64::*;

use super::lanes::{self, Coefficients, Lanes};

struct Avx512;

impl Lanes for Avx512 {
    const WIDTH: usize = 16;
    type V = __m512;

    #[inline(always)]
    unsafe fn splat(x: f32) -> __m512 {
        _mm512_set1_ps(x)
    }

    #[inline(always)]
    unsafe fn load(at: *const f32) -> __m512 {
        _mm512_loadu_ps(at)
    }

    #[inline(always)]
    unsafe fn store(at: *mut f32, x: __m512) {
        _mm512_storeu_ps(at, x)
    }

    #[inline(always)]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        _mm512_add_ps(a, b)
    }

    #[inline(always)]
    unsafe fn mul(a: __m512, b: __m512) -> __m512 {
        _mm512_mul_ps(a, b)
    }

    #[inline(always)]
    unsafe fn count_down(at: *mut u8, old: __m512, next: __m512) -> __m512 {
        let at = at.cast::<__m128i>();
        let left = _mm_subs_epu8(_mm_loadu_si128(at), _mm_set1_epi8(1));
        _mm_storeu_si128(at, left);
        _mm512_mask_mov_ps(old, _mm_cmpeq_epi8_mask(left, _mm_setzero_si128()), next)
    }

    #[inline(always)]
    unsafe fn any_above(x: __m512, th: __m512) -> bool {
        _mm512_cmp_ps_mask::<_CMP_GT_OQ>(x, th) != 0
    }
}

/// [`lanes::advance`] sixteen neurons at a time.
///
/// # Safety
/// The CPU must support AVX-512 F, BW and VL.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn advance<const TERMS: usize, const EXTRA: bool>(
    k: &Coefficients<TERMS>,
    v: &mut [f32],
    rows: [&mut [f32]; TERMS],
    counters: &mut [u8],
) -> (usize, u32) {
    lanes::advance::<Avx512, TERMS, EXTRA>(k, v, rows, counters)
}
