//! Neuron models: one trait ([`NeuronModel`]), one enum ([`Neuron`]), one file per model.
//!
//! All models work in SI units (seconds, volts, amperes, siemens, farads, ohms) on state held
//! as structure-of-arrays, in `f64` by default: then the engine's results agree with Brian2
//! (which computes in double precision) spike for spike until the first floating-point
//! divergence. A network may ask for `f32` ([`crate::Precision`]): a model with a
//! single-precision kernel (current-based LIF) then holds its state, and its receptors', in
//! `f32`, halving the memory traffic per step (what bounds speed for large populations) and
//! doubling the SIMD width; parameters and propagators are computed in `f64` and rounded once.
//! Its spike trains leave the `f64` ones at the first rounding difference; their statistics
//! do not. Models without such a kernel stay in `f64`.
//!
//! Time step order (Brian2's schedule): every population runs its *state update and threshold*
//! ([`NeuronModel::update`]), then every projection propagates spikes, then every population
//! runs its *reset* ([`NeuronModel::reset`]).
//!
//! Refractoriness follows Brian2: a neuron that spiked at step `s` is refractory at step `n`
//! while `n - s < refractory_steps`, with `refractory_steps = timestep(t_ref, dt)`; while
//! refractory its membrane potential is held and it cannot spike, but its synaptic and
//! adaptation variables evolve. Synaptic inputs (including delta jumps) still arrive.
//!
//! Populations update in blocks of [`BLOCK`] neurons, in parallel with rayon when there is more
//! than one; each block lists its own spikes and the lists are joined in block order, so the
//! result does not depend on the number of threads.

pub mod adex;
pub mod izhikevich;
pub mod leaky_integrator;
pub mod lif;
pub mod lif_cond;

use crate::error::{Result, SimError};
use crate::params::{timestep, PerNeuron, Precision};
use crate::synapses::{Receptors, Stored, SynapseKind, BLOCK};
use rayon::prelude::*;

pub use adex::{AdEx, AdExParams};
pub use izhikevich::{Izhikevich, IzhikevichParams};
pub use leaky_integrator::{LeakyIntegrator, LeakyIntegratorParams};
pub use lif::{Lif, LifParams};
pub use lif_cond::{LifCond, LifCondParams};

/// Neurons per tile inside a block: the scratch arrays of one tile stay in L1. Each tile
/// costs a call and, when one of its neurons spikes, a scan of the tile: 512 ran CUBA 2-4%
/// faster than 256 or 1024 at 40,000 and 400,000 neurons on 2 threads.
pub(crate) const TILE: usize = 512;

/// What every neuron model provides. State variable 0 is always the membrane potential `v`.
pub trait NeuronModel: Send + Sync {
    /// The model's name (`"lif"`, `"adex"`, ...).
    fn kind(&self) -> &'static str;
    /// Number of neurons.
    fn len(&self) -> usize;
    /// Whether the population is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Whether the model emits spikes.
    fn is_spiking(&self) -> bool {
        true
    }
    /// Names of the state variables (index = position); `v` first.
    fn state_names(&self) -> &'static [&'static str];
    /// State variable `var`, one value per neuron, when the state is held in `f64` (empty in
    /// `f32`; [`Neuron::values`] reads either).
    fn state(&self, var: usize) -> &[f64];
    /// State variable `var`, mutable (`f64` state).
    fn state_mut(&mut self, var: usize) -> &mut [f64];
    /// State variable `var` when the state is held in `f32` (empty in `f64`).
    fn state32(&self, _var: usize) -> &[f32] {
        &[]
    }
    /// State variable `var`, mutable (`f32` state).
    fn state32_mut(&mut self, _var: usize) -> &mut [f32] {
        &mut []
    }
    /// The precision the state is held in.
    fn precision(&self) -> Precision {
        Precision::F64
    }
    /// Asks for `wanted` precision (after [`NeuronModel::prepare`]) and returns the one the
    /// state is now held in: models without a single-precision kernel stay in `f64`.
    fn set_precision(&mut self, _wanted: Precision) -> Precision {
        Precision::F64
    }
    /// Whether a receptor of this kind can drive the model (checked once, when the receptor
    /// is added). Most models take every kind.
    fn accepts(&self, _kind: &SynapseKind) -> Result<()> {
        Ok(())
    }
    /// Precomputes propagators for time step `dt` and the given receptors.
    fn prepare(&mut self, dt: f64, receptors: &Receptors) -> Result<()>;
    /// State update and threshold for step `step`: advances `v`, the model's other variables and
    /// the receptors; pushes spiking neurons into `spikes[block]` (cleared by the caller).
    /// `i_ext` is the external current (A).
    fn update(
        &mut self,
        step: u64,
        receptors: &mut Receptors,
        i_ext: &PerNeuron,
        spikes: &mut [Vec<u32>],
    );
    /// Reset of the neurons that spiked this step.
    fn reset(&mut self, spikes: &[u32]);
}

/// The neuron model family.
#[derive(Debug, Clone)]
pub enum Neuron {
    /// Current-based leaky integrate-and-fire, exact integration.
    Lif(Lif),
    /// Conductance-based leaky integrate-and-fire.
    LifCond(LifCond),
    /// Adaptive exponential integrate-and-fire.
    AdEx(AdEx),
    /// Izhikevich (2003).
    Izhikevich(Izhikevich),
    /// Non-spiking leaky integrator (readouts).
    LeakyIntegrator(LeakyIntegrator),
}

macro_rules! dispatch {
    ($self:expr, $m:ident => $e:expr) => {
        match $self {
            Neuron::Lif($m) => $e,
            Neuron::LifCond($m) => $e,
            Neuron::AdEx($m) => $e,
            Neuron::Izhikevich($m) => $e,
            Neuron::LeakyIntegrator($m) => $e,
        }
    };
}

impl NeuronModel for Neuron {
    fn kind(&self) -> &'static str {
        dispatch!(self, m => m.kind())
    }
    fn len(&self) -> usize {
        dispatch!(self, m => m.len())
    }
    fn is_spiking(&self) -> bool {
        dispatch!(self, m => m.is_spiking())
    }
    fn state_names(&self) -> &'static [&'static str] {
        dispatch!(self, m => m.state_names())
    }
    fn state(&self, var: usize) -> &[f64] {
        dispatch!(self, m => m.state(var))
    }
    fn state_mut(&mut self, var: usize) -> &mut [f64] {
        dispatch!(self, m => m.state_mut(var))
    }
    fn state32(&self, var: usize) -> &[f32] {
        dispatch!(self, m => m.state32(var))
    }
    fn state32_mut(&mut self, var: usize) -> &mut [f32] {
        dispatch!(self, m => m.state32_mut(var))
    }
    fn precision(&self) -> Precision {
        dispatch!(self, m => m.precision())
    }
    fn set_precision(&mut self, wanted: Precision) -> Precision {
        dispatch!(self, m => m.set_precision(wanted))
    }
    fn accepts(&self, kind: &SynapseKind) -> Result<()> {
        dispatch!(self, m => m.accepts(kind))
    }
    fn prepare(&mut self, dt: f64, receptors: &Receptors) -> Result<()> {
        dispatch!(self, m => m.prepare(dt, receptors))
    }
    fn update(
        &mut self,
        step: u64,
        receptors: &mut Receptors,
        i_ext: &PerNeuron,
        spikes: &mut [Vec<u32>],
    ) {
        dispatch!(self, m => m.update(step, receptors, i_ext, spikes))
    }
    fn reset(&mut self, spikes: &[u32]) {
        dispatch!(self, m => m.reset(spikes))
    }
}

impl Neuron {
    /// Index of state variable `name`.
    pub fn var_index(&self, name: &str) -> Option<usize> {
        self.state_names().iter().position(|&n| n == name)
    }

    fn is_f32(&self) -> bool {
        self.precision() == Precision::F32
    }

    /// Value of state variable `var` of neuron `j`, whatever the precision.
    #[inline]
    pub fn value(&self, var: usize, j: usize) -> f64 {
        if self.is_f32() {
            self.state32(var)[j] as f64
        } else {
            self.state(var)[j]
        }
    }

    /// State variable `var`, one value per neuron, whatever the precision.
    pub fn values(&self, var: usize) -> Vec<f64> {
        if self.is_f32() {
            self.state32(var).iter().map(|&x| x as f64).collect()
        } else {
            self.state(var).to_vec()
        }
    }

    /// Sets state variable `var` (one value per neuron; rounded in `f32`).
    pub fn set_values(&mut self, var: usize, values: &[f64]) {
        if self.is_f32() {
            let state = self.state32_mut(var);
            state
                .iter_mut()
                .zip(values)
                .for_each(|(s, &x)| *s = x as f32);
        } else {
            self.state_mut(var).copy_from_slice(values);
        }
    }

    /// The membrane potential, for synapses that jump it.
    pub(crate) fn voltage(&mut self) -> Voltage<'_> {
        if self.is_f32() {
            Voltage::F32(self.state32_mut(0))
        } else {
            Voltage::F64(self.state_mut(0))
        }
    }
}

/// The membrane potentials of a population, at its precision.
pub(crate) enum Voltage<'a> {
    F64(&'a mut [f64]),
    F32(&'a mut [f32]),
}

/// Refractory steps per neuron (Brian2's `timestep(t_ref, dt)`).
#[derive(Debug, Clone)]
pub(crate) enum RefSteps {
    Uniform(u32),
    Each(Box<[u32]>),
}

impl RefSteps {
    pub(crate) fn new(t_ref: &PerNeuron, dt: f64) -> Self {
        let steps = |t: f64| timestep(t, dt).min(u32::MAX as u64) as u32;
        match t_ref {
            PerNeuron::Uniform(t) => RefSteps::Uniform(steps(*t)),
            PerNeuron::Each(ts) => RefSteps::Each(ts.iter().map(|&t| steps(t)).collect()),
        }
    }

    /// The longest refractory period (steps).
    pub(crate) fn max(&self) -> u32 {
        match self {
            RefSteps::Uniform(s) => *s,
            RefSteps::Each(s) => s.iter().copied().max().unwrap_or(0),
        }
    }

    #[inline(always)]
    pub(crate) fn get(&self, j: usize) -> u32 {
        match self {
            RefSteps::Uniform(s) => *s,
            RefSteps::Each(s) => s[j],
        }
    }
}

/// A per-neuron refractory countdown, as narrow as the refractory periods allow (the counters
/// are read in every step's update, so their width is memory traffic). `()` counts nothing:
/// a model without refractoriness passes it and the hold in the fused loops compiles away.
pub(crate) trait Counter: Copy + Send + Sync + 'static {
    /// The counter of a neuron that just spiked.
    fn set(steps: u32) -> Self;
    /// Counts down one step: returns `true` when the neuron is free (`n - s >=
    /// refractory_steps`, Brian2's rule; the counter was set to `refractory_steps` at the
    /// spike of step `s`).
    fn tick(&mut self) -> bool;
    /// Whether the neuron is free (after this step's [`Counter::tick`]).
    fn free(self) -> bool;
    /// The counters as bytes, when they are (the width an explicit SIMD loop handles).
    #[inline(always)]
    fn bytes(_counters: &mut [Self]) -> Option<&mut [u8]> {
        None
    }
}

impl Counter for () {
    #[inline(always)]
    fn set(_: u32) -> Self {}
    #[inline(always)]
    fn tick(&mut self) -> bool {
        true
    }
    #[inline(always)]
    fn free(self) -> bool {
        true
    }
}

macro_rules! counter {
    ($t:ty, $bytes:expr) => {
        impl Counter for $t {
            /// `steps` must fit (the caller picks the width from the largest).
            #[inline(always)]
            fn set(steps: u32) -> Self {
                steps as $t
            }
            #[inline(always)]
            fn tick(&mut self) -> bool {
                let c = self.saturating_sub(1);
                *self = c;
                c == 0
            }
            #[inline(always)]
            fn free(self) -> bool {
                self == 0
            }
            #[inline(always)]
            fn bytes(counters: &mut [Self]) -> Option<&mut [u8]> {
                $bytes(counters)
            }
        }
    };
}
counter!(u8, Some);
counter!(u32, |_| None);

/// Runs `work` over every block of a population, in parallel when there is more than one:
/// the blocks are cut into [`pieces`] (one per thread), the pieces run in parallel and each
/// runs its blocks in order. `vars` are the model's per-neuron variables (up to four, each of
/// length `n`; pass empty slices for the rest), `aux` one more per-neuron array of any type
/// (refractory counters; may be empty). Cutting is by block index only, so what each block
/// computes does not depend on the number of threads.
pub(crate) fn for_each_block<T: Stored, A: Send, F>(
    n: usize,
    vars: [&mut [T]; 4],
    aux: &mut [A],
    receptors: &mut Receptors,
    spikes: &mut [Vec<u32>],
    work: &F,
) where
    F: Fn(BlockView<'_, A, T>) + Sync,
{
    let (list, rec, block_len) = T::blocks(receptors);
    let mut rest = Span {
        first: 0,
        n,
        vars,
        aux,
        rec,
        spikes,
    };
    let run = |mut span: Span<'_, A, T>| {
        while span.n > 0 {
            let block = span.split_off(1, block_len);
            if let Some(out) = block.spikes.first_mut() {
                work(BlockView {
                    start: block.first,
                    vars: block.vars,
                    aux: block.aux,
                    receptors: list,
                    rec: block.rec,
                    spikes: out,
                });
            }
        }
    };
    let (n_blocks, threads) = (n.div_ceil(BLOCK), rayon::current_num_threads());
    if n_blocks <= 1 || threads <= 1 {
        return run(rest); // one piece, and no list of them to allocate
    }
    let spans: Vec<Span<'_, A, T>> = pieces(n_blocks, threads)
        .into_iter()
        .map(|blocks| rest.split_off(blocks.len(), block_len))
        .collect();
    spans.into_par_iter().for_each(run);
}

/// The most blocks in one piece of [`for_each_block`]: as many pieces as threads, since a
/// fork costs a task hand-over and blocks are equal work.
fn piece_blocks(n_blocks: usize, threads: usize) -> usize {
    n_blocks.div_ceil(threads.max(1))
}

/// The pieces (ranges of blocks, in order) that [`for_each_block`] cuts `n_blocks` blocks
/// into on `threads` threads: halves of halves, so that rayon, which halves a list of pieces
/// to run them in parallel, runs the first piece on the calling thread and, on two threads,
/// the second on the other one. Spike delivery hands each thread the same blocks, so that a
/// block's state is written by one core only and stays in its cache from delivery to the
/// next update.
pub(crate) fn pieces(n_blocks: usize, threads: usize) -> Vec<std::ops::Range<usize>> {
    fn halve(blocks: std::ops::Range<usize>, piece: usize, out: &mut Vec<std::ops::Range<usize>>) {
        let n = blocks.len();
        if n <= piece {
            if n > 0 {
                out.push(blocks);
            }
            return;
        }
        let mid = blocks.start + n / 2;
        halve(blocks.start..mid, piece, out);
        halve(mid..blocks.end, piece, out);
    }
    let mut out = Vec::new();
    halve(0..n_blocks, piece_blocks(n_blocks, threads), &mut out);
    out
}

/// Consecutive neurons of a population (whole blocks, but for a last partial one): their
/// variables, counters, receptor state and spike lists.
struct Span<'a, A, T> {
    /// Global index of the first neuron.
    first: usize,
    /// Neurons.
    n: usize,
    vars: [&'a mut [T]; 4],
    aux: &'a mut [A],
    rec: &'a mut [T],
    spikes: &'a mut [Vec<u32>],
}

impl<'a, A, T> Span<'a, A, T> {
    /// Takes the first `blocks` blocks off the front of the span (`block_len`: receptor
    /// values per block) and returns them.
    fn split_off(&mut self, blocks: usize, block_len: usize) -> Span<'a, A, T> {
        let at = (blocks * BLOCK).min(self.n);
        let vars = std::mem::take(&mut self.vars).map(|var| split(var, at));
        let (head_aux, tail_aux) = split(std::mem::take(&mut self.aux), at);
        let (head_rec, tail_rec) = std::mem::take(&mut self.rec).split_at_mut(blocks * block_len);
        let (head_spikes, tail_spikes) = split(std::mem::take(&mut self.spikes), blocks);
        let [(a0, a1), (b0, b1), (c0, c1), (d0, d1)] = vars;
        let head = Span {
            first: self.first,
            n: at,
            vars: [a0, b0, c0, d0],
            aux: head_aux,
            rec: head_rec,
            spikes: head_spikes,
        };
        *self = Span {
            first: self.first + at,
            n: self.n - at,
            vars: [a1, b1, c1, d1],
            aux: tail_aux,
            rec: tail_rec,
            spikes: tail_spikes,
        };
        head
    }
}

/// Splits at `at`, leaving an empty slice empty on both sides.
fn split<T>(slice: &mut [T], at: usize) -> (&mut [T], &mut [T]) {
    if slice.is_empty() {
        (&mut [], &mut [])
    } else {
        slice.split_at_mut(at)
    }
}

/// One block's share of a population's state, handed to the model's block update.
pub(crate) struct BlockView<'a, A = u32, T = f64> {
    /// Global index of the block's first neuron.
    pub start: usize,
    /// Model variables (as many as the model passed), block slices.
    pub vars: [&'a mut [T]; 4],
    /// The block's share of the per-neuron auxiliary array (refractory counters).
    pub aux: &'a mut [A],
    /// The population's receptors.
    pub receptors: &'a [crate::synapses::Receptor],
    /// The block's receptor state (`BLOCK` per row).
    pub rec: &'a mut [T],
    /// Where the block's spikes go.
    pub spikes: &'a mut Vec<u32>,
}

/// The error for a receptor a model cannot take.
pub(crate) fn unsupported(model: &str, kind: &SynapseKind, hint: &str) -> SimError {
    SimError::Unsupported(format!(
        "a {} receptor on a {model} population{hint}",
        kind.name()
    ))
}

/// Checks that an initial-state array, if given, matches the population.
pub(crate) fn check_n(model: &str, n: usize) -> Result<()> {
    if n > u32::MAX as usize {
        return Err(SimError::invalid(
            format!("{model}.n"),
            format!("{n} neurons exceed the 2^32 limit"),
        ));
    }
    Ok(())
}
