//! Current-based leaky integrate-and-fire neuron with exact integration.
//!
//! `tau_m dv/dt = (E_L - v) + R_m (I_syn + I_ext)`, spike when `v > V_th` (and not refractory),
//! then `v <- V_reset`. Between spikes the membrane equation is linear with piecewise-constant
//! `I_ext` and exponential/alpha synaptic currents, so each step applies its exact propagator:
//! `v <- c0 + (sum_k c_k x_k + e_m v) + R_m (1 - e_m) I_ext` with `e_m = exp(-dt/tau_m)` and
//! `c0 = E_L - E_L e_m` (the same expressions, in the same order, as Brian2's `exact` method,
//! so a Brian2 model with `method='exact'` is reproduced bit for bit until the first
//! difference in a transcendental function).
//!
//! Brian2's CUBA model (`dv/dt = (ge + gi - (v - El))/taum` with `ge`, `gi` in volts) is this
//! model with `R_m = 1 ohm` and exponential-current receptors whose weights are the voltages.

use crate::error::{finite, non_negative, positive, Result};
use crate::neurons::{
    check_n, for_each_block, unsupported, BlockView, Counter, NeuronModel, RefSteps, TILE,
};
use crate::params::{Param, PerNeuron, Precision, Real};
use crate::synapses::{current_propagator, Receptors, Stored, SynapseKind, BLOCK};

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod lanes;

/// Neurons per bit of a [`Crossing`].
const GROUP: usize = 16;
const _: () = assert!(TILE <= 32 * GROUP, "a tile's groups fit in a u32");

/// Where a tile's update may have left a `v` above the threshold: bit `g` for the tile's
/// neurons `g * GROUP..(g + 1) * GROUP`. The spike scan goes through those groups only: at a
/// few hertz most tiles of a large population hold a spike each step, but few of its groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Crossing(u32);

impl Crossing {
    pub(crate) const NONE: Crossing = Crossing(0);
    /// Every group: the whole tile is scanned.
    pub(crate) const ALL: Crossing = Crossing(u32::MAX);

    fn all_if(any: bool) -> Crossing {
        if any {
            Self::ALL
        } else {
            Self::NONE
        }
    }

    /// The parts of a tile of `len` neurons to scan, in order, adjacent groups as one part.
    fn ranges(self, len: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let first = bits.trailing_zeros();
            let run = (bits >> first).trailing_ones();
            bits &= !((((1u64 << run) - 1) << first) as u32);
            let start = first as usize * GROUP;
            (start < len).then(|| start..((first + run) as usize * GROUP).min(len))
        })
    }
}

/// Parameters of [`Lif`] (scalars or one value per neuron).
#[derive(Debug, Clone, PartialEq)]
pub struct LifParams {
    /// Membrane time constant (s).
    pub tau_m: Param,
    /// Resting (leak reversal) potential (V).
    pub e_l: Param,
    /// Reset potential (V).
    pub v_reset: Param,
    /// Threshold (V): spike when `v > v_threshold`.
    pub v_threshold: Param,
    /// Membrane resistance (ohm).
    pub r_m: Param,
    /// Refractory period (s).
    pub t_ref: Param,
}

impl Default for LifParams {
    fn default() -> Self {
        LifParams {
            tau_m: 10e-3.into(),
            e_l: (-70e-3).into(),
            v_reset: (-70e-3).into(),
            v_threshold: (-50e-3).into(),
            r_m: 100e6.into(),
            t_ref: 2e-3.into(),
        }
    }
}

/// Exact one-step propagator of a leaky membrane driven by current kernels; shared by [`Lif`]
/// and the leaky integrator.
#[derive(Debug, Clone, Default)]
pub(crate) struct Exact {
    /// Uniform coefficients and at most two exponential receptors: one fused loop.
    fast: Option<Fast>,
    e_m: Option<PerNeuron>,
    c0: Option<PerNeuron>,
    r_i: Option<PerNeuron>,
    terms: Vec<Term>,
}

#[derive(Debug, Clone)]
struct Fast {
    e_m: f64,
    c0: f64,
    r_i: f64,
    /// (row, coefficient, decay) of each exponential receptor, rows ascending.
    terms: Vec<(usize, f64, f64)>,
}

#[derive(Debug, Clone)]
struct Term {
    /// Row of the value `x` in the block.
    value_row: usize,
    /// Row of the alpha rise `h`, if any.
    rise_row: Option<usize>,
    cx: PerNeuron,
    ch: PerNeuron,
    /// `exp(-dt/tau)` of the receptor.
    decay: f64,
    /// `dt/tau` of the receptor (alpha rise).
    rise: f64,
}

impl Exact {
    pub(crate) fn new(
        tau_m: &PerNeuron,
        e_l: &PerNeuron,
        r_m: &PerNeuron,
        dt: f64,
        receptors: &Receptors,
    ) -> Self {
        let e_m = tau_m.map(|tau| (-dt / tau).exp());
        let c0 = combine(e_l, &e_m, |el, em| el - el * em);
        let r_i = combine(r_m, &e_m, |r, em| r * (1.0 - em));
        let mut terms = Vec::new();
        for r in receptors.list() {
            let n_states = r.kind.n_states();
            if n_states == 0 {
                continue;
            }
            let (cx, ch) = match tau_m {
                PerNeuron::Uniform(tm) => {
                    let (cx, ch) = current_propagator(&r.kind, *tm, dt);
                    (PerNeuron::Uniform(cx), PerNeuron::Uniform(ch))
                }
                PerNeuron::Each(tms) => {
                    let pairs: Vec<(f64, f64)> = tms
                        .iter()
                        .map(|&tm| current_propagator(&r.kind, tm, dt))
                        .collect();
                    (
                        PerNeuron::from_values(pairs.iter().map(|p| p.0).collect()),
                        PerNeuron::from_values(pairs.iter().map(|p| p.1).collect()),
                    )
                }
            };
            // fold in R_m (exactly x when R_m == 1)
            let cx = combine(r_m, &cx, |r, c| r * c);
            let ch = combine(r_m, &ch, |r, c| r * c);
            let (value_row, rise_row) = if n_states == 2 {
                (r.row + 1, Some(r.row))
            } else {
                (r.row, None)
            };
            terms.push(Term {
                value_row,
                rise_row,
                cx,
                ch,
                decay: r.decay,
                rise: r.rise,
            });
        }
        let fast = match (&e_m, &c0, &r_i) {
            (PerNeuron::Uniform(em), PerNeuron::Uniform(c0), PerNeuron::Uniform(ri))
                if terms.len() <= 2
                    && terms
                        .iter()
                        .all(|t| t.rise_row.is_none() && t.cx.uniform().is_some()) =>
            {
                let terms: Vec<(usize, f64, f64)> = terms
                    .iter()
                    .map(|t| (t.value_row, t.cx.uniform().unwrap_or(0.0), t.decay))
                    .collect();
                Some(Fast {
                    e_m: *em,
                    c0: *c0,
                    r_i: *ri,
                    terms,
                })
            }
            _ => None,
        };
        Exact {
            fast,
            e_m: Some(e_m),
            c0: Some(c0),
            r_i: Some(r_i),
            terms,
        }
    }

    /// Whether the fused loop (and so the `f32` kernel) applies.
    pub(crate) fn is_fast(&self) -> bool {
        self.fast.is_some()
    }

    /// The fused loop of the common case; returns where some neuron's `v` may have ended
    /// above `v_th`: a free one that crossed it, or a refractory one held there (rare, and the
    /// caller checks which are free; leaving freedom out of the test keeps the loop's masks
    /// narrow). `counters` (one per neuron of the tile) count down in the same pass, and a
    /// refractory neuron keeps its `v` (selected, not branched on, so the loop vectorises).
    /// In `f64` the coefficients are used as they are; in `f32` they are rounded once.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn fast_tile<T: Real, C: Counter>(
        fast: &Fast,
        lo: usize,
        hi: usize,
        v: &mut [T],
        rec: &mut [T],
        counters: &mut [C],
        i_ext: f64,
        v_th: T,
    ) -> Crossing {
        // Adding a zero current changes no sum: `x + 0 = x` unless `x` is `-0`, and the sum
        // `c0 + (..)` is never `-0` when `c0` is not zero. Then the loop leaves it out.
        if fast.r_i * i_ext == 0.0 && T::of(fast.c0) != T::default() {
            Self::fast_tile_on::<T, C, false>(fast, lo, hi, v, rec, counters, 0.0, v_th)
        } else {
            Self::fast_tile_on::<T, C, true>(fast, lo, hi, v, rec, counters, i_ext, v_th)
        }
    }

    /// [`Exact::fast_tile`] on the best loop this CPU and these types have: the intrinsics
    /// (`f32` state, byte counters; AVX-512 or AVX2), the portable loop compiled for AVX2, or
    /// the portable loop; `EXTRA`: whether the external current is added.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn fast_tile_on<T: Real, C: Counter, const EXTRA: bool>(
        fast: &Fast,
        lo: usize,
        hi: usize,
        v: &mut [T],
        rec: &mut [T],
        counters: &mut [C],
        i_ext: f64,
        v_th: T,
    ) -> Crossing {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            let mut th = [v_th];
            if let (Some(v), Some(rec), Some(counters), Some(&mut [v_th])) = (
                T::singles(v),
                T::singles(rec),
                C::bytes(counters),
                T::singles(&mut th),
            ) {
                // SAFETY: the CPU has AVX2.
                return unsafe {
                    Self::fast_tile_intrinsics::<EXTRA>(fast, lo, hi, v, rec, counters, i_ext, v_th)
                };
            }
            // SAFETY: the CPU has AVX2. Only the vector width changes: without FMA every
            // product and sum is rounded as in the portable loop, so results are identical.
            return unsafe {
                Self::fast_tile_avx2::<T, C, EXTRA>(fast, lo, hi, v, rec, counters, i_ext, v_th)
            };
        }
        let any = Self::fast_tile_body::<T, C, EXTRA>(fast, lo, hi, v, rec, counters, i_ext, v_th);
        Crossing::all_if(any)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn fast_tile_avx2<T: Real, C: Counter, const EXTRA: bool>(
        fast: &Fast,
        lo: usize,
        hi: usize,
        v: &mut [T],
        rec: &mut [T],
        counters: &mut [C],
        i_ext: f64,
        v_th: T,
    ) -> Crossing {
        let any = Self::fast_tile_body::<T, C, EXTRA>(fast, lo, hi, v, rec, counters, i_ext, v_th);
        Crossing::all_if(any)
    }

    /// The fused loop on `f32` state with byte counters: the intrinsics of [`advance`] over
    /// the tile's whole vectors, the portable loop over the rest.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn fast_tile_intrinsics<const EXTRA: bool>(
        fast: &Fast,
        lo: usize,
        hi: usize,
        v: &mut [f32],
        rec: &mut [f32],
        counters: &mut [u8],
        i_ext: f64,
        v_th: f32,
    ) -> Crossing {
        let (e_m, c0, extra) = (fast.e_m as f32, fast.c0 as f32, (fast.r_i * i_ext) as f32);
        let row = |r: usize| r * BLOCK + lo..r * BLOCK + hi;
        let (done, crossed) = match fast.terms.as_slice() {
            [] => {
                let k = lanes::Coefficients {
                    e_m,
                    c0,
                    extra,
                    v_th,
                    c: [],
                    d: [],
                };
                advance::<0, EXTRA>(&k, &mut v[lo..hi], [], counters)
            }
            [(r, c, d)] => {
                let (c, d) = ([*c as f32], [*d as f32]);
                let k = lanes::Coefficients {
                    e_m,
                    c0,
                    extra,
                    v_th,
                    c,
                    d,
                };
                advance::<1, EXTRA>(&k, &mut v[lo..hi], [&mut rec[row(*r)]], counters)
            }
            [(r1, c1, d1), (r2, c2, d2)] => {
                let (c, d) = ([*c1 as f32, *c2 as f32], [*d1 as f32, *d2 as f32]);
                let k = lanes::Coefficients {
                    e_m,
                    c0,
                    extra,
                    v_th,
                    c,
                    d,
                };
                let (head, tail) = rec.split_at_mut(r2 * BLOCK);
                let rows = [&mut head[row(*r1)], &mut tail[lo..hi]];
                advance::<2, EXTRA>(&k, &mut v[lo..hi], rows, counters)
            }
            _ => unreachable!("the fused loop takes at most two receptors"),
        };
        let rest = Self::fast_tile_body::<f32, u8, EXTRA>(
            fast,
            lo + done,
            hi,
            v,
            rec,
            &mut counters[done..],
            i_ext,
            v_th,
        );
        // The portable loop's neurons, if it flagged: from the group it starts in.
        let rest = if rest { u32::MAX << (done / GROUP) } else { 0 };
        Crossing(crossed | rest)
    }

    /// The loop; `EXTRA`: whether the external current is added.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn fast_tile_body<T: Real, C: Counter, const EXTRA: bool>(
        fast: &Fast,
        lo: usize,
        hi: usize,
        v: &mut [T],
        rec: &mut [T],
        counters: &mut [C],
        i_ext: f64,
        v_th: T,
    ) -> bool {
        let (em, c0, extra) = (T::of(fast.e_m), T::of(fast.c0), T::of(fast.r_i * i_ext));
        let v = &mut v[lo..hi];
        let counters = &mut counters[..v.len()];
        let zero = T::default();
        let mut any = false;
        let add = |x: T| if EXTRA { x + extra } else { x };
        // Same expressions, in the same order, as the general path (and Brian2).
        match fast.terms.as_slice() {
            [] => {
                for (v, k) in v.iter_mut().zip(counters.iter_mut()) {
                    let next = add(c0 + (zero + em * *v));
                    let free = k.tick();
                    *v = if free { next } else { *v };
                    any |= *v > v_th;
                }
            }
            [(r, c, d)] => {
                let (c, d) = (T::of(*c), T::of(*d));
                let xs = &mut rec[r * BLOCK + lo..r * BLOCK + hi];
                for ((v, x), k) in v.iter_mut().zip(xs.iter_mut()).zip(counters.iter_mut()) {
                    let s = c * *x;
                    *x *= d;
                    let next = add(c0 + (s + em * *v));
                    let free = k.tick();
                    *v = if free { next } else { *v };
                    any |= *v > v_th;
                }
            }
            [(r1, c1, d1), (r2, c2, d2)] => {
                let (c1, d1, c2, d2) = (T::of(*c1), T::of(*d1), T::of(*c2), T::of(*d2));
                let (head, tail) = rec.split_at_mut(r2 * BLOCK);
                let xs = &mut head[r1 * BLOCK + lo..r1 * BLOCK + hi];
                let ys = &mut tail[lo..hi];
                for (((v, x), y), k) in v
                    .iter_mut()
                    .zip(xs.iter_mut())
                    .zip(ys.iter_mut())
                    .zip(counters.iter_mut())
                {
                    let s = c1 * *x + c2 * *y;
                    *x *= d1;
                    *y *= d2;
                    let next = add(c0 + (s + em * *v));
                    let free = k.tick();
                    *v = if free { next } else { *v };
                    any |= *v > v_th;
                }
            }
            _ => unreachable!("the fused loop takes at most two receptors"),
        }
        any
    }

    /// The `f32` kernel: the fused loop, with a per-neuron external current added after it
    /// (`x + 0 = x`, so this is the same sum as the `f64` general path's).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn tile32<C: Counter>(
        &self,
        start: usize,
        range: std::ops::Range<usize>,
        v: &mut [f32],
        rec: &mut [f32],
        counters: &mut [C],
        i_ext: &PerNeuron,
        v_th: f32,
    ) -> Crossing {
        let (lo, hi) = (range.start, range.end);
        let Some(fast) = &self.fast else {
            return Crossing::ALL;
        };
        match i_ext {
            PerNeuron::Uniform(i) => Self::fast_tile(fast, lo, hi, v, rec, counters, *i, v_th),
            PerNeuron::Each(is) => {
                Self::fast_tile(fast, lo, hi, v, rec, counters, 0.0, v_th);
                let mut any = false;
                for ((v, &i), k) in v[lo..hi]
                    .iter_mut()
                    .zip(&is[start + lo..start + hi])
                    .zip(counters.iter())
                {
                    if k.free() {
                        *v += (fast.r_i * i) as f32;
                        any |= *v > v_th;
                    }
                }
                Crossing::all_if(any)
            }
        }
    }

    /// Advances local neurons `range` of a block by one step, receptors included (every
    /// receptor of a current-based model is a term here). `counters` (one per neuron of the
    /// range; `()` for none) count down the refractory steps: a refractory neuron keeps its
    /// `v`, its receptors evolve.
    /// Returns false only when no free neuron can have crossed `v_th` (uniform threshold; pass
    /// `f64::INFINITY` when there is none).
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn tile<C: Counter>(
        &self,
        start: usize,
        range: std::ops::Range<usize>,
        v: &mut [f64],
        rec: &mut [f64],
        counters: &mut [C],
        i_ext: &PerNeuron,
        v_th: f64,
    ) -> Crossing {
        let (lo, hi) = (range.start, range.end);
        if let (Some(fast), PerNeuron::Uniform(i)) = (&self.fast, i_ext) {
            return Self::fast_tile(fast, lo, hi, v, rec, counters, *i, v_th);
        }
        let (Some(e_m), Some(c0), Some(r_i)) = (&self.e_m, &self.c0, &self.r_i) else {
            return Crossing::NONE;
        };
        let m = hi - lo;
        let mut scratch = [0.0f64; TILE];
        let syn = &mut scratch[..m];
        let j0 = start + lo;
        for t in &self.terms {
            // contribution of the start-of-step value, then the exact decay, in one pass
            let (d, k) = (t.decay, t.rise);
            match t.rise_row {
                None => {
                    let xs = &mut rec[t.value_row * BLOCK + lo..t.value_row * BLOCK + hi];
                    match &t.cx {
                        PerNeuron::Uniform(c) => {
                            let c = *c;
                            for (o, x) in syn.iter_mut().zip(xs.iter_mut()) {
                                *o += c * *x;
                                *x *= d;
                            }
                        }
                        PerNeuron::Each(cs) => {
                            for ((o, x), &c) in
                                syn.iter_mut().zip(xs.iter_mut()).zip(&cs[j0..j0 + m])
                            {
                                *o += c * *x;
                                *x *= d;
                            }
                        }
                    }
                }
                Some(h_row) => {
                    // rows are adjacent: h at h_row, x at h_row + 1
                    let (hs, xs) = rec[h_row * BLOCK..(h_row + 2) * BLOCK].split_at_mut(BLOCK);
                    for (l, (h, x)) in hs[lo..hi].iter_mut().zip(&mut xs[lo..hi]).enumerate() {
                        let j = j0 + l;
                        syn[l] += t.cx.get(j) * *x;
                        syn[l] += t.ch.get(j) * *h;
                        *x = (*x + *h * k) * d;
                        *h *= d;
                    }
                }
            }
        }
        let v = &mut v[lo..hi];
        let mut before = [0.0f64; TILE];
        let before = &mut before[..m];
        before.copy_from_slice(v);
        match (e_m, c0, r_i, i_ext) {
            (
                PerNeuron::Uniform(em),
                PerNeuron::Uniform(c0),
                PerNeuron::Uniform(ri),
                PerNeuron::Uniform(i),
            ) => {
                // Brian2's expression: c0 + ((c_e ge + c_i gi) + e_m v); the external-current
                // term is exactly 0 when there is none.
                let (em, c0, extra) = (*em, *c0, ri * i);
                for (v, &s) in v.iter_mut().zip(syn.iter()) {
                    *v = c0 + (s + em * *v) + extra;
                }
            }
            _ => {
                for (l, (v, &s)) in v.iter_mut().zip(syn.iter()).enumerate() {
                    let j = j0 + l;
                    *v = c0.get(j) + (s + e_m.get(j) * *v) + r_i.get(j) * i_ext.get(j);
                }
            }
        }
        for ((v, &old), k) in v.iter_mut().zip(before.iter()).zip(&mut counters[..m]) {
            if !k.tick() {
                *v = old;
            }
        }
        Crossing::ALL
    }
}

fn each_len(a: &PerNeuron, b: &PerNeuron) -> usize {
    match (a, b) {
        (PerNeuron::Each(x), _) | (_, PerNeuron::Each(x)) => x.len(),
        _ => 1,
    }
}

pub(crate) fn combine(a: &PerNeuron, b: &PerNeuron, f: impl Fn(f64, f64) -> f64) -> PerNeuron {
    match (a, b) {
        (PerNeuron::Uniform(x), PerNeuron::Uniform(y)) => PerNeuron::Uniform(f(*x, *y)),
        _ => PerNeuron::from_values((0..each_len(a, b)).map(|j| f(a.get(j), b.get(j))).collect()),
    }
}

/// A population of current-based LIF neurons. State: `v` (V).
#[derive(Debug, Clone)]
pub struct Lif {
    n: usize,
    tau_m: PerNeuron,
    e_l: PerNeuron,
    v_reset: PerNeuron,
    v_threshold: PerNeuron,
    r_m: PerNeuron,
    t_ref: PerNeuron,
    /// `v` in `f64`, or (empty and) in `v32` when the population runs in `f32`.
    v: Vec<f64>,
    v32: Vec<f32>,
    /// Refractory steps left per neuron.
    counters: Counters,
    ref_steps: RefSteps,
    exact: Exact,
}

/// The refractory counters: one byte per neuron when every refractory period fits in one (the
/// usual case; they are read in every step's update, so their width is memory traffic).
#[derive(Debug, Clone)]
enum Counters {
    Small(Vec<u8>),
    Large(Vec<u32>),
}

impl Counters {
    /// The counters for periods of at most `max` steps, keeping the current counts.
    fn fit(&self, max: u32) -> Counters {
        let counts: Vec<u32> = match self {
            Counters::Small(c) => c.iter().map(|&x| x as u32).collect(),
            Counters::Large(c) => c.clone(),
        };
        if max <= u8::MAX as u32 {
            Counters::Small(counts.iter().map(|&x| x.min(max) as u8).collect())
        } else {
            Counters::Large(counts)
        }
    }
}

impl Lif {
    /// `n` neurons with `params`; `v` starts at `e_l`.
    pub fn new(n: usize, params: &LifParams) -> Result<Self> {
        check_n("lif", n)?;
        let tau_m = params.tau_m.resolve("lif.tau_m", n, positive)?;
        let e_l = params.e_l.resolve("lif.e_l", n, finite)?;
        let v_reset = params.v_reset.resolve("lif.v_reset", n, finite)?;
        let v_threshold = params.v_threshold.resolve("lif.v_threshold", n, finite)?;
        let r_m = params.r_m.resolve("lif.r_m", n, positive)?;
        let t_ref = params.t_ref.resolve("lif.t_ref", n, non_negative)?;
        Ok(Lif {
            n,
            v: e_l.to_vec(n),
            v32: Vec::new(),
            tau_m,
            e_l,
            v_reset,
            v_threshold,
            r_m,
            t_ref,
            counters: Counters::Small(vec![0; n]),
            ref_steps: RefSteps::Uniform(0),
            exact: Exact::default(),
        })
    }
}

impl Lif {
    /// State update and threshold at either precision and counter width; `tile` advances
    /// local neurons `lo..hi` of the block starting at `start` (counting down their
    /// refractory counters, holding the refractory ones' `v`) and says whether a free one may
    /// have crossed the (uniform) threshold it is given.
    #[allow(clippy::too_many_arguments)]
    fn advance<T: Stored, C: Counter, F>(
        v_th: &PerNeuron,
        ref_steps: &RefSteps,
        counters: &mut [C],
        n: usize,
        v: &mut [T],
        receptors: &mut Receptors,
        spikes: &mut [Vec<u32>],
        tile: &F,
    ) where
        F: Fn(usize, usize, usize, &mut [T], &mut [T], &mut [C], T) -> Crossing + Sync,
    {
        // A neuron that spiked at step s is free again at step n when n - s >= refractory
        // steps (Brian2's rule): its counter is set to the refractory steps at the spike and
        // counted down at the start of every later step's update.
        let work = |b: BlockView<'_, C, T>| {
            let BlockView {
                start,
                vars: [v, ..],
                aux: counters,
                rec,
                spikes,
                ..
            } = b;
            let len = v.len();
            let uniform_th = T::of(v_th.uniform().unwrap_or(f64::NEG_INFINITY));
            for lo in (0..len).step_by(TILE) {
                let hi = (lo + TILE).min(len);
                let crossed = tile(start, lo, hi, v, rec, &mut counters[lo..hi], uniform_th);
                if crossed == Crossing::NONE {
                    continue;
                }
                let mut accept = |l: usize| {
                    if counters[l].free() {
                        let j = start + l;
                        spikes.push(j as u32);
                        counters[l] = C::set(ref_steps.get(j));
                    }
                };
                match v_th {
                    PerNeuron::Uniform(vt) => {
                        for part in crossed.ranges(hi - lo) {
                            let (a, b) = (lo + part.start, lo + part.end);
                            for_each_above(&mut v[a..b], T::of(*vt), |l| accept(a + l));
                        }
                    }
                    PerNeuron::Each(vts) => {
                        for l in lo..hi {
                            if v[l] > T::of(vts[start + l]) {
                                accept(l);
                            }
                        }
                    }
                }
            }
        };
        for_each_block(
            n,
            [v, &mut [], &mut [], &mut []],
            counters,
            receptors,
            spikes,
            &work,
        );
    }

    /// [`Lif::advance`] at the population's precision, with counters of type `C`.
    #[allow(clippy::too_many_arguments)]
    fn update_with<C: Counter>(
        exact: &Exact,
        v_th: &PerNeuron,
        ref_steps: &RefSteps,
        counters: &mut [C],
        n: usize,
        v: &mut [f64],
        v32: &mut [f32],
        receptors: &mut Receptors,
        i_ext: &PerNeuron,
        spikes: &mut [Vec<u32>],
    ) {
        if v.len() < n {
            let tile = |start: usize, lo, hi, v: &mut [f32], rec: &mut [f32], k: &mut [C], vt| {
                exact.tile32(start, lo..hi, v, rec, k, i_ext, vt)
            };
            Self::advance(v_th, ref_steps, counters, n, v32, receptors, spikes, &tile);
        } else {
            let tile = |start: usize, lo, hi, v: &mut [f64], rec: &mut [f64], k: &mut [C], vt| {
                exact.tile(start, lo..hi, v, rec, k, i_ext, vt)
            };
            Self::advance(v_th, ref_steps, counters, n, v, receptors, spikes, &tile);
        }
    }
}

/// The fused `f32` loop's intrinsics on the widest vectors this CPU has: sixteen lanes with
/// AVX-512, else eight with AVX2 (the same results either way).
///
/// # Safety
/// The CPU must support AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn advance<const TERMS: usize, const EXTRA: bool>(
    k: &lanes::Coefficients<TERMS>,
    v: &mut [f32],
    rows: [&mut [f32]; TERMS],
    counters: &mut [u8],
) -> (usize, u32) {
    if std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vl")
    {
        // SAFETY: the CPU has AVX-512 F (implied by BW), BW and VL.
        return avx512::advance::<TERMS, EXTRA>(k, v, rows, counters);
    }
    avx2::advance::<TERMS, EXTRA>(k, v, rows, counters)
}

/// Calls `hit` with the position of every value of `v` above `th`, in order: with AVX2 when
/// the CPU has it and the values are `f32` (the common case's threshold test, on the tiles
/// where some neuron crossed), else sixteen at a time, with one branch per sixteen.
#[inline]
fn for_each_above<T: Real>(v: &mut [T], th: T, hit: impl FnMut(usize)) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        let mut th = [th];
        if let (Some(v), Some(&mut [th])) = (T::singles(v), T::singles(&mut th)) {
            // SAFETY: the CPU has AVX2.
            return unsafe { avx2::for_each_above(v, th, hit) };
        }
    }
    for_each_above_portable(v, th, hit);
}

fn for_each_above_portable<T: Real>(v: &[T], th: T, mut hit: impl FnMut(usize)) {
    for (c, chunk) in v.chunks(16).enumerate() {
        if chunk.iter().fold(false, |any, &x| any | (x > th)) {
            for (k, &x) in chunk.iter().enumerate() {
                if x > th {
                    hit(c * 16 + k);
                }
            }
        }
    }
}

impl NeuronModel for Lif {
    fn kind(&self) -> &'static str {
        "lif"
    }
    fn len(&self) -> usize {
        self.n
    }
    fn state_names(&self) -> &'static [&'static str] {
        &["v"]
    }
    fn state(&self, _var: usize) -> &[f64] {
        &self.v
    }
    fn state_mut(&mut self, _var: usize) -> &mut [f64] {
        &mut self.v
    }
    fn state32(&self, _var: usize) -> &[f32] {
        &self.v32
    }
    fn state32_mut(&mut self, _var: usize) -> &mut [f32] {
        &mut self.v32
    }
    fn precision(&self) -> Precision {
        if self.v.len() < self.n {
            Precision::F32
        } else {
            Precision::F64
        }
    }
    fn set_precision(&mut self, wanted: Precision) -> Precision {
        let precision = match wanted {
            Precision::F32 if self.exact.is_fast() => Precision::F32,
            _ => Precision::F64,
        };
        match (self.precision(), precision) {
            (Precision::F64, Precision::F32) => {
                self.v32 = crate::memory::collect(self.v.iter().map(|&x| x as f32));
                self.v = Vec::new();
            }
            (Precision::F32, Precision::F64) => {
                self.v = self.v32.iter().map(|&x| x as f64).collect();
                self.v32 = Vec::new();
            }
            _ => {}
        }
        precision
    }
    fn accepts(&self, kind: &SynapseKind) -> Result<()> {
        if kind.is_conductance() {
            return Err(unsupported(
                "lif",
                kind,
                " (current-based): use lif_cond for conductance synapses",
            ));
        }
        Ok(())
    }
    fn prepare(&mut self, dt: f64, receptors: &Receptors) -> Result<()> {
        self.ref_steps = RefSteps::new(&self.t_ref, dt);
        self.counters = self.counters.fit(self.ref_steps.max());
        self.exact = Exact::new(&self.tau_m, &self.e_l, &self.r_m, dt, receptors);
        Ok(())
    }
    fn update(
        &mut self,
        _step: u64,
        receptors: &mut Receptors,
        i_ext: &PerNeuron,
        spikes: &mut [Vec<u32>],
    ) {
        let Lif {
            n,
            v_threshold,
            v,
            v32,
            counters,
            ref_steps,
            exact,
            ..
        } = self;
        let (n, v_th) = (*n, &*v_threshold);
        match counters {
            Counters::Small(c) => Self::update_with(
                exact, v_th, ref_steps, c, n, v, v32, receptors, i_ext, spikes,
            ),
            Counters::Large(c) => Self::update_with(
                exact, v_th, ref_steps, c, n, v, v32, receptors, i_ext, spikes,
            ),
        }
    }
    fn reset(&mut self, spikes: &[u32]) {
        if self.precision() == Precision::F32 {
            for &j in spikes {
                let j = j as usize;
                self.v32[j] = self.v_reset.get(j) as f32;
            }
            return;
        }
        for &j in spikes {
            let j = j as usize;
            self.v[j] = self.v_reset.get(j);
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// The threshold scans find exactly the values above the threshold, in order: not one
    /// equal to it, not a NaN, whatever the length (whole vectors and a tail).
    #[test]
    fn threshold_scans_find_exactly_the_values_above() {
        let mut rng = Rng::new(11);
        let th = -0.05f32;
        for len in [0, 1, 7, 8, 9, 16, 61, TILE] {
            let mut v: Vec<f32> = (0..len)
                .map(|_| match rng.next_u64() % 8 {
                    0 => th,
                    1 => f32::NAN,
                    2 => f32::INFINITY,
                    _ => (-0.06 + 0.012 * rng.uniform()) as f32,
                })
                .collect();
            let expected: Vec<usize> = (0..len).filter(|&i| v[i] > th).collect();
            let mut portable = Vec::new();
            for_each_above_portable(&v, th, |i| portable.push(i));
            assert_eq!(portable, expected, "portable scan, {len} values");
            let mut chosen = Vec::new();
            for_each_above(&mut v, th, |i| chosen.push(i));
            assert_eq!(chosen, expected, "the scan this CPU uses, {len} values");
        }
    }

    /// A crossing's parts cover exactly its marked groups, adjacent ones joined, cut at the
    /// tile's end.
    #[test]
    fn crossings_scan_exactly_their_groups() {
        let parts = |bits: u32, len: usize| Crossing(bits).ranges(len).collect::<Vec<_>>();
        assert_eq!(parts(0, TILE), vec![]);
        assert_eq!(parts(u32::MAX, TILE), vec![0..TILE]);
        assert_eq!(parts(u32::MAX, 100), vec![0..100]);
        assert_eq!(parts(0b1011, TILE), vec![0..32, 48..64]);
        assert_eq!(parts(1 << 31, TILE), vec![496..512]);
        assert_eq!(parts((1 << 31) | 1, 200), vec![0..16]);
        assert_eq!(parts(0b110, 20), vec![16..20]);
    }

    /// The sixteen-lane (AVX-512) and eight-lane (AVX2) intrinsics leave the same bits in
    /// every state and mark the same groups as crossed, for each number of receptors, with and
    /// without an external current (the eight-lane one is what CPUs without AVX-512 run; the
    /// test below compares whichever this CPU runs with the portable loop).
    #[test]
    fn sixteen_and_eight_lane_loops_agree_bit_for_bit() {
        if !(std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl"))
        {
            return;
        }
        fn compare<const TERMS: usize, const EXTRA: bool>(rng: &mut Rng, len: usize) {
            let k = lanes::Coefficients::<TERMS> {
                e_m: 0.995,
                c0: -0.000245,
                extra: 0.0011,
                v_th: -0.0505,
                c: std::array::from_fn(|t| 0.021 + 0.01 * t as f32),
                d: std::array::from_fn(|t| 0.98 - 0.01 * t as f32),
            };
            let v: Vec<f32> = (0..len)
                .map(|_| (-0.06 + 0.012 * rng.uniform()) as f32)
                .collect();
            let rows: Vec<Vec<f32>> = (0..TERMS)
                .map(|_| {
                    (0..len)
                        .map(|_| (0.004 * rng.uniform() - 0.001) as f32)
                        .collect()
                })
                .collect();
            let counters: Vec<u8> = (0..len).map(|_| (rng.next_u64() % 4) as u8).collect();
            let run = |wide: bool| {
                let (mut v, mut rows, mut counters) = (v.clone(), rows.clone(), counters.clone());
                let mut it = rows.iter_mut();
                let slices: [&mut [f32]; TERMS] =
                    std::array::from_fn(|_| it.next().unwrap().as_mut_slice());
                // SAFETY: the CPU has AVX-512 F, BW and VL (checked above), so AVX2 too.
                let (done, crossed) = unsafe {
                    if wide {
                        avx512::advance::<TERMS, EXTRA>(&k, &mut v, slices, &mut counters)
                    } else {
                        avx2::advance::<TERMS, EXTRA>(&k, &mut v, slices, &mut counters)
                    }
                };
                let bits = |x: &[f32]| x.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                let rows: Vec<Vec<u32>> = rows.iter().map(|r| bits(r)).collect();
                (done, crossed, bits(&v), rows, counters)
            };
            let case = format!("{TERMS} receptors, external current {EXTRA}, {len} neurons");
            assert_eq!(run(true), run(false), "{case}");
        }
        let mut rng = Rng::new(11);
        for len in [16, 144, TILE] {
            compare::<0, false>(&mut rng, len);
            compare::<1, false>(&mut rng, len);
            compare::<2, false>(&mut rng, len);
            compare::<2, true>(&mut rng, len);
        }
    }

    /// The intrinsics (sixteen or eight lanes, whichever this CPU runs) and the portable loop
    /// leave the same bits in every state, mark every neuron above the threshold, and give
    /// the same answer, for each number of receptors, with and without an external current,
    /// over tiles that end inside a vector, with refractory, just-freed and free neurons.
    #[test]
    fn intrinsic_and_portable_loops_agree_bit_for_bit() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut rng = Rng::new(7);
        for terms in 0..=2 {
            let fast = Fast {
                e_m: (-0.1f64 / 20.0).exp(),
                c0: -0.049 * (1.0 - (-0.1f64 / 20.0).exp()),
                r_i: 0.37,
                terms: (0..terms)
                    .map(|t| (t * 2, 0.021 + 0.01 * t as f64, 0.98 - 0.01 * t as f64))
                    .collect(),
            };
            for (i_ext, len) in [(0.0, TILE), (0.003, 61), (-0.002, 7), (0.0, 203)] {
                let lo = 5;
                let hi = lo + len;
                let v: Vec<f32> = (0..BLOCK)
                    .map(|_| (-0.06 + 0.012 * rng.uniform()) as f32)
                    .collect();
                let rec: Vec<f32> = (0..4 * BLOCK)
                    .map(|_| (0.004 * rng.uniform() - 0.001) as f32)
                    .collect();
                let counters: Vec<u8> = (0..len).map(|_| (rng.next_u64() % 4) as u8).collect();
                let v_th = -0.0505f32;
                let (mut v1, mut rec1, mut k1) = (v.clone(), rec.clone(), counters.clone());
                let (mut v2, mut rec2, mut k2) = (v, rec, counters);
                let extra = i_ext != 0.0;
                // SAFETY: the CPU has AVX2 (checked above).
                let (a, b) = unsafe {
                    if extra {
                        (
                            Exact::fast_tile_intrinsics::<true>(
                                &fast, lo, hi, &mut v1, &mut rec1, &mut k1, i_ext, v_th,
                            ),
                            Exact::fast_tile_body::<f32, u8, true>(
                                &fast, lo, hi, &mut v2, &mut rec2, &mut k2, i_ext, v_th,
                            ),
                        )
                    } else {
                        (
                            Exact::fast_tile_intrinsics::<false>(
                                &fast, lo, hi, &mut v1, &mut rec1, &mut k1, i_ext, v_th,
                            ),
                            Exact::fast_tile_body::<f32, u8, false>(
                                &fast, lo, hi, &mut v2, &mut rec2, &mut k2, i_ext, v_th,
                            ),
                        )
                    }
                };
                let case = format!("{terms} receptors, {len} neurons");
                let first_difference = |x: &[f32], y: &[f32]| {
                    x.iter()
                        .zip(y)
                        .position(|(x, y)| x.to_bits() != y.to_bits())
                };
                assert_eq!(a != Crossing::NONE, b, "{case}: the threshold flags differ");
                let marked: Vec<usize> = a.ranges(len).flatten().collect();
                let above: Vec<usize> = (0..len).filter(|&l| v1[lo + l] > v_th).collect();
                assert!(
                    above.iter().all(|l| marked.contains(l)),
                    "{case}: a neuron above the threshold is in no marked group"
                );
                assert_eq!(first_difference(&v1, &v2), None, "{case}: v differs");
                assert_eq!(
                    first_difference(&rec1, &rec2),
                    None,
                    "{case}: a receptor differs"
                );
                assert_eq!(k1, k2, "{case}: the counters differ");
            }
        }
    }
}
