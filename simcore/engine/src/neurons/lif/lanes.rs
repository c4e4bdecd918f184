//! The fused LIF loop of the common case (see `Exact::fast_tile`) for `f32` state and one-byte
//! refractory counters, written once over a vector width ([`Lanes`]: AVX2's eight lanes in
//! `avx2.rs`, AVX-512's sixteen in `avx512.rs`). The portable loop, vectorised by the compiler,
//! widens each byte counter to a lane mask and reduces every threshold comparison to a flag,
//! about twice the instructions of the arithmetic itself. Here the counters count down a
//! vector at a time in byte lanes, and the threshold test marks which groups of
//! [`GROUP`] neurons hold a `v` above it, so that only those are scanned for the spikes. The
//! products and sums are the portable loop's, in its order and without FMA, so every bit of
//! the state is the same at either width.

use super::GROUP;

/// The loop's coefficients, rounded to `f32` (see `Exact::fast_tile_body`).
pub(super) struct Coefficients<const TERMS: usize> {
    pub(super) e_m: f32,
    pub(super) c0: f32,
    /// The external current's term, added last when `EXTRA`.
    pub(super) extra: f32,
    /// The threshold the loop marks the groups of neurons against.
    pub(super) v_th: f32,
    /// Each receptor's coefficient in `v` and its decay.
    pub(super) c: [f32; TERMS],
    pub(super) d: [f32; TERMS],
}

/// One vector width of the loop: its `f32` vector and the operations the loop needs. Each is
/// inlined into a caller that enables the instructions it uses.
pub(super) trait Lanes {
    /// Neurons per vector (a divisor of [`GROUP`]).
    const WIDTH: usize;
    type V: Copy;
    unsafe fn splat(x: f32) -> Self::V;
    unsafe fn load(at: *const f32) -> Self::V;
    unsafe fn store(at: *mut f32, x: Self::V);
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    /// Counts down the `WIDTH` counters at `at` (stopping at 0) and returns `next` in the
    /// lanes whose counter is now 0 (the free neurons), `old` in the others.
    unsafe fn count_down(at: *mut u8, old: Self::V, next: Self::V) -> Self::V;
    /// Whether some lane of `x` is above the same lane of `th` (a NaN is not).
    unsafe fn any_above(x: Self::V, th: Self::V) -> bool;
}

/// Advances the first `v.len() / L::WIDTH * L::WIDTH` neurons (`rows`: the receptor values,
/// `counters`: the refractory counters, at least as long as `v`) by one step; returns how many
/// it advanced and which groups of [`GROUP`] of them hold a `v` above `k.v_th` afterwards (bit
/// `g` for neurons `g * GROUP..(g + 1) * GROUP`; a NaN is not above). `v` holds at most
/// `32 * GROUP` neurons.
///
/// # Safety
/// The caller enables the instructions of `L`'s operations, and the CPU has them.
#[inline(always)]
pub(super) unsafe fn advance<L: Lanes, const TERMS: usize, const EXTRA: bool>(
    k: &Coefficients<TERMS>,
    v: &mut [f32],
    rows: [&mut [f32]; TERMS],
    counters: &mut [u8],
) -> (usize, u32) {
    let n = v.len() / L::WIDTH * L::WIDTH;
    assert!(n <= 32 * GROUP && counters.len() >= n && rows.iter().all(|r| r.len() >= n));
    let (e_m, c0, extra, v_th) = (
        L::splat(k.e_m),
        L::splat(k.c0),
        L::splat(k.extra),
        L::splat(k.v_th),
    );
    let c = k.c.map(|c| L::splat(c));
    let d = k.d.map(|d| L::splat(d));
    let mut crossed = 0u32;
    for i in (0..n).step_by(L::WIDTH) {
        // SAFETY: i + WIDTH <= n, and every slice holds at least n values.
        let at = v.as_mut_ptr().add(i);
        let old = L::load(at);
        let x: [L::V; TERMS] = std::array::from_fn(|t| L::load(rows[t].as_ptr().add(i)));
        let mut s = L::splat(0.0);
        for t in 0..TERMS {
            let term = L::mul(c[t], x[t]);
            s = if t == 0 { term } else { L::add(s, term) };
        }
        let mut next = L::add(c0, L::add(s, L::mul(e_m, old)));
        if EXTRA {
            next = L::add(next, extra);
        }
        let new = L::count_down(counters.as_mut_ptr().add(i), old, next);
        L::store(at, new);
        for t in 0..TERMS {
            L::store(rows[t].as_mut_ptr().add(i), L::mul(x[t], d[t]));
        }
        crossed |= u32::from(L::any_above(new, v_th)) << (i / GROUP);
    }
    (n, crossed)
}
