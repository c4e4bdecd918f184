//! The fused LIF loop of `avx2.rs` sixteen neurons at a time, for CPUs with AVX-512 (F, BW,
//! VL): the counters count down sixteen byte lanes at a time and select the free neurons by a
//! mask register directly. The same products and sums in the same order, without FMA, so
//! every bit of the state is the portable loop's.

use std::arch::x86_64::*;

use super::avx2::Coefficients;

/// Advances the first `v.len() / 16 * 16` neurons as `avx2::advance` does eight at a time;
/// returns how many it advanced and which groups of sixteen hold a `v` above `k.v_th`
/// afterwards (bit `g` for neurons `16 g..16 g + 16`; a NaN is not above). `v` holds at most
/// 512 neurons.
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
    let n = v.len() / 16 * 16;
    assert!(n <= 512 && counters.len() >= n && rows.iter().all(|r| r.len() >= n));
    let (e_m, c0, extra, v_th) = (
        _mm512_set1_ps(k.e_m),
        _mm512_set1_ps(k.c0),
        _mm512_set1_ps(k.extra),
        _mm512_set1_ps(k.v_th),
    );
    let c = k.c.map(|c| _mm512_set1_ps(c));
    let d = k.d.map(|d| _mm512_set1_ps(d));
    let (one, zero) = (_mm_set1_epi8(1), _mm_setzero_si128());
    let mut crossed = 0u32;
    for i in (0..n).step_by(16) {
        // SAFETY: i + 16 <= n, and every slice holds at least n values.
        let at = v.as_mut_ptr().add(i);
        let old = _mm512_loadu_ps(at);
        let x: [__m512; TERMS] = std::array::from_fn(|t| _mm512_loadu_ps(rows[t].as_ptr().add(i)));
        let mut s = _mm512_setzero_ps();
        for t in 0..TERMS {
            let term = _mm512_mul_ps(c[t], x[t]);
            s = if t == 0 { term } else { _mm512_add_ps(s, term) };
        }
        let mut next = _mm512_add_ps(c0, _mm512_add_ps(s, _mm512_mul_ps(e_m, old)));
        if EXTRA {
            next = _mm512_add_ps(next, extra);
        }
        let count = counters.as_mut_ptr().add(i).cast::<__m128i>();
        let left = _mm_subs_epu8(_mm_loadu_si128(count), one);
        _mm_storeu_si128(count, left);
        let new = _mm512_mask_mov_ps(old, _mm_cmpeq_epi8_mask(left, zero), next);
        _mm512_storeu_ps(at, new);
        for t in 0..TERMS {
            _mm512_storeu_ps(rows[t].as_mut_ptr().add(i), _mm512_mul_ps(x[t], d[t]));
        }
        let above = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(new, v_th);
        crossed |= u32::from(above != 0) << (i / 16);
    }
    (n, crossed)
}
