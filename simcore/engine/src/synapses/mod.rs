//! Synapse models (the receptors a population exposes) and their state.
//!
//! A *receptor* is one synaptic input channel of a population, with its own state per neuron:
//! `ge` and `gi` of Brian2's CUBA example are two exponential-current receptors. Every
//! projection ([`projection::Projection`]) delivers into exactly one receptor; several
//! projections may share one, and their inputs then add up as in Brian2's `ge += w`.
//!
//! | kind | state per neuron | a spike of weight `w` | weight unit |
//! |---|---|---|---|
//! | [`SynapseKind::Delta`] | none | `v += w` | volt |
//! | [`SynapseKind::ExpCurrent`] | `I` (A) | `I += w` | ampere |
//! | [`SynapseKind::ExpConductance`] | `g` (S) | `g += w` | siemens |
//! | [`SynapseKind::AlphaCurrent`] | `I`, `I_h` (A) | `I_h += e w` | ampere (peak, reached after `tau`) |
//! | [`SynapseKind::AlphaConductance`] | `g`, `g_h` (S) | `g_h += e w` | siemens (peak) |
//!
//! Exponential states decay exactly (`x <- x exp(-dt/tau)`); alpha kernels are the exact
//! solution of `dh/dt = -h/tau`, `dx/dt = (h - x)/tau`. A current receptor contributes `x`
//! amperes to the membrane equation, a conductance receptor `g (E_rev - v)`.
//!
//! Storage is structure-of-arrays in blocks of [`BLOCK`] neurons: within a block, each state
//! row is contiguous (vectorisable decay), and a block of every row sits together, so one block
//! of neurons touches one contiguous piece of memory when the population updates in parallel,
//! and a range of blocks is one contiguous piece that a thread delivers spikes into.

pub mod projection;

use crate::error::{finite, positive, Result, SimError};
use crate::params::{Precision, Real};

/// Neurons per block: the unit of parallel work and of receptor storage. A power of two.
pub const BLOCK: usize = 4096;
/// `log2(BLOCK)`.
pub const LOG_BLOCK: u32 = 12;
const _: () = assert!(1 << LOG_BLOCK == BLOCK);

/// A synapse model: what a spike does to its target and how that effect decays.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SynapseKind {
    /// Instantaneous voltage jump `v += w` (w in volts). No state.
    Delta,
    /// Exponentially decaying current (time constant `tau`, seconds); w in amperes.
    ExpCurrent {
        /// Decay time constant (s).
        tau: f64,
    },
    /// Exponentially decaying conductance with reversal potential `e_rev` (V); w in siemens.
    ExpConductance {
        /// Decay time constant (s).
        tau: f64,
        /// Reversal potential (V).
        e_rev: f64,
    },
    /// Alpha-shaped current `w (t/tau) exp(1 - t/tau)` (peak `w` amperes at `t = tau`).
    AlphaCurrent {
        /// Time to peak (s).
        tau: f64,
    },
    /// Alpha-shaped conductance (peak `w` siemens at `t = tau`), reversal potential `e_rev` (V).
    AlphaConductance {
        /// Time to peak (s).
        tau: f64,
        /// Reversal potential (V).
        e_rev: f64,
    },
}

impl SynapseKind {
    /// The kind's name, as in the spec and the error messages.
    pub fn name(&self) -> &'static str {
        match self {
            SynapseKind::Delta => "delta",
            SynapseKind::ExpCurrent { .. } => "exp_current",
            SynapseKind::ExpConductance { .. } => "exp_conductance",
            SynapseKind::AlphaCurrent { .. } => "alpha_current",
            SynapseKind::AlphaConductance { .. } => "alpha_conductance",
        }
    }

    /// State rows per neuron: 0 (delta), 1 (exponential) or 2 (alpha: rise `h`, value `x`).
    pub fn n_states(&self) -> usize {
        match self {
            SynapseKind::Delta => 0,
            SynapseKind::ExpCurrent { .. } | SynapseKind::ExpConductance { .. } => 1,
            SynapseKind::AlphaCurrent { .. } | SynapseKind::AlphaConductance { .. } => 2,
        }
    }

    /// Whether the receptor acts through a conductance (`g (E_rev - v)`).
    pub fn is_conductance(&self) -> bool {
        matches!(
            self,
            SynapseKind::ExpConductance { .. } | SynapseKind::AlphaConductance { .. }
        )
    }

    /// The time constant, if any.
    pub fn tau(&self) -> Option<f64> {
        match *self {
            SynapseKind::Delta => None,
            SynapseKind::ExpCurrent { tau }
            | SynapseKind::ExpConductance { tau, .. }
            | SynapseKind::AlphaCurrent { tau }
            | SynapseKind::AlphaConductance { tau, .. } => Some(tau),
        }
    }

    /// The reversal potential of a conductance receptor.
    pub fn e_rev(&self) -> Option<f64> {
        match *self {
            SynapseKind::ExpConductance { e_rev, .. }
            | SynapseKind::AlphaConductance { e_rev, .. } => Some(e_rev),
            _ => None,
        }
    }

    fn validate(&self, receptor: &str) -> Result<()> {
        if let Some(tau) = self.tau() {
            positive(&format!("{receptor}.tau"), tau)?;
        }
        if let Some(e) = self.e_rev() {
            finite(&format!("{receptor}.e_rev"), e)?;
        }
        Ok(())
    }
}

/// One receptor of a population.
#[derive(Debug, Clone)]
pub struct Receptor {
    /// Its name, unique in the population (`"ge"`).
    pub name: String,
    /// Its synapse model.
    pub kind: SynapseKind,
    /// First state row of this receptor within a block.
    pub(crate) row: usize,
    /// `exp(-dt/tau)` (set by `prepare`).
    pub(crate) decay: f64,
    /// `dt/tau` (alpha kernels).
    pub(crate) rise: f64,
}

impl Receptor {
    /// Where a spike into this receptor lands.
    pub(crate) fn sink(&self) -> Sink {
        match self.kind {
            SynapseKind::Delta => Sink::Voltage,
            SynapseKind::ExpCurrent { .. } | SynapseKind::ExpConductance { .. } => Sink::Row {
                row: self.row,
                factor: 1.0,
            },
            SynapseKind::AlphaCurrent { .. } | SynapseKind::AlphaConductance { .. } => Sink::Row {
                row: self.row,
                factor: std::f64::consts::E,
            },
        }
    }
}

/// The receptors of one population and their state, block-major (see the module docs).
/// The state is held at the population's precision: in `data` (`f64`) or in `data32` (`f32`);
/// the other is empty.
#[derive(Debug, Clone)]
pub struct Receptors {
    n: usize,
    rows: usize,
    list: Vec<Receptor>,
    precision: Precision,
    data: Vec<f64>,
    data32: Vec<f32>,
}

/// The block-major state of a population's receptors at one precision: the receptors, the
/// storage and the length of a block's chunk of the storage.
pub(crate) type Blocks<'a, T> = (&'a [Receptor], &'a mut [T], usize);

/// The state types receptors can be held in.
pub(crate) trait Stored: Real {
    fn blocks(r: &mut Receptors) -> Blocks<'_, Self>;
}

impl Stored for f64 {
    fn blocks(r: &mut Receptors) -> Blocks<'_, f64> {
        let len = r.block_len();
        (&r.list, &mut r.data, len)
    }
}

impl Stored for f32 {
    fn blocks(r: &mut Receptors) -> Blocks<'_, f32> {
        let len = r.block_len();
        (&r.list, &mut r.data32, len)
    }
}

/// The block-major state of a population's receptors, at its precision.
pub(crate) enum State<'a> {
    F64(&'a mut [f64]),
    F32(&'a mut [f32]),
}

/// Where a spike's weight lands: a state row of a receptor (scaled by `factor`), or the voltage.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sink {
    Voltage,
    Row { row: usize, factor: f64 },
}

impl Receptors {
    pub(crate) fn new(n: usize) -> Self {
        // A population without receptor state still has one (unused) row per block, so that
        // the per-block chunks of `data` line up with the blocks of neurons.
        Receptors {
            n,
            rows: 0,
            list: Vec::new(),
            precision: Precision::F64,
            data: vec![0.0; n.div_ceil(BLOCK) * BLOCK],
            data32: Vec::new(),
        }
    }

    /// The precision the state is held in.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Converts the state to `precision`.
    pub(crate) fn set_precision(&mut self, precision: Precision) {
        if precision == self.precision {
            return;
        }
        match precision {
            Precision::F32 => {
                self.data32 = crate::memory::collect(self.data.iter().map(|&x| x as f32));
                self.data = Vec::new();
            }
            Precision::F64 => {
                self.data = crate::memory::collect(self.data32.iter().map(|&x| x as f64));
                self.data32 = Vec::new();
            }
        }
        self.precision = precision;
    }

    /// Number of blocks.
    pub(crate) fn n_blocks(&self) -> usize {
        self.n.div_ceil(BLOCK)
    }

    /// The receptors, in the order they were added.
    pub fn list(&self) -> &[Receptor] {
        &self.list
    }

    /// Index of the receptor called `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.list.iter().position(|r| r.name == name)
    }

    /// Adds a receptor; existing state is kept. Errors on a duplicate name or bad parameters.
    pub(crate) fn add(&mut self, name: &str, kind: SynapseKind) -> Result<usize> {
        if name.is_empty() {
            return Err(SimError::invalid("receptor name", "must not be empty"));
        }
        if self.find(name).is_some() {
            return Err(SimError::invalid(
                format!("receptor {name:?}"),
                "a receptor of this name already exists in the population",
            ));
        }
        kind.validate(name)?;
        // the layout changes: rebuilt in f64, converted again when the network is prepared
        self.set_precision(Precision::F64);
        let old_rows = self.rows;
        let new_rows = old_rows + kind.n_states();
        let nb = self.n_blocks();
        let (old_len, new_len) = (BLOCK * old_rows.max(1), BLOCK * new_rows.max(1));
        let mut data = crate::memory::zeroed(nb * new_len);
        for b in 0..nb {
            for r in 0..old_rows {
                let from = b * old_len + r * BLOCK;
                let to = b * new_len + r * BLOCK;
                data[to..to + BLOCK].copy_from_slice(&self.data[from..from + BLOCK]);
            }
        }
        self.data = data;
        self.rows = new_rows;
        self.list.push(Receptor {
            name: name.to_string(),
            kind,
            row: old_rows,
            decay: 1.0,
            rise: 0.0,
        });
        Ok(self.list.len() - 1)
    }

    /// Computes the per-step propagators for time step `dt`.
    pub(crate) fn prepare(&mut self, dt: f64) {
        for r in &mut self.list {
            if let Some(tau) = r.kind.tau() {
                r.decay = (-dt / tau).exp();
                r.rise = dt / tau;
            }
        }
    }

    /// Flat index of state `row` of neuron `j`.
    #[inline(always)]
    pub(crate) fn index(&self, row: usize, j: usize) -> usize {
        (j >> LOG_BLOCK) * self.block_len() + row * BLOCK + (j & (BLOCK - 1))
    }

    /// Where a spike into receptor `r` lands.
    #[cfg(test)]
    pub(crate) fn sink(&self, r: usize) -> Sink {
        self.list[r].sink()
    }

    /// Raw block-major state.
    #[cfg(test)]
    pub(crate) fn data_mut(&mut self) -> &mut [f64] {
        &mut self.data
    }

    /// The block-major state, at its precision.
    #[cfg(test)]
    pub(crate) fn state_mut(&mut self) -> State<'_> {
        self.split_mut().1
    }

    /// The receptors and, apart, their block-major state at its precision.
    #[inline(always)]
    pub(crate) fn split_mut(&mut self) -> (&[Receptor], State<'_>) {
        match self.precision {
            Precision::F64 => (&self.list, State::F64(&mut self.data)),
            Precision::F32 => (&self.list, State::F32(&mut self.data32)),
        }
    }

    /// Length of one block's chunk of the state (`BLOCK * rows`, at least `BLOCK`).
    #[inline(always)]
    pub(crate) fn block_len(&self) -> usize {
        BLOCK * self.rows.max(1)
    }

    /// The names of the receptor state variables: `name` for the value (current or
    /// conductance), `name_h` for the rise variable of an alpha kernel.
    pub fn state_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for r in &self.list {
            match r.kind.n_states() {
                1 => names.push(r.name.clone()),
                2 => {
                    names.push(r.name.clone());
                    names.push(format!("{}_h", r.name));
                }
                _ => {}
            }
        }
        names
    }

    /// The state row holding variable `name` (see [`Receptors::state_names`]).
    pub(crate) fn row_of(&self, name: &str) -> Option<usize> {
        for r in &self.list {
            match r.kind.n_states() {
                1 if r.name == name => return Some(r.row),
                2 if r.name == name => return Some(r.row + 1),
                2 if name.strip_suffix("_h") == Some(r.name.as_str()) => return Some(r.row),
                _ => {}
            }
        }
        None
    }

    /// Reads state `row` of neuron `j`.
    #[inline]
    pub(crate) fn get(&self, row: usize, j: usize) -> f64 {
        let i = self.index(row, j);
        match self.precision {
            Precision::F64 => self.data[i],
            Precision::F32 => self.data32[i] as f64,
        }
    }

    /// Copies state `row` out as one value per neuron.
    pub(crate) fn gather(&self, row: usize) -> Vec<f64> {
        (0..self.n).map(|j| self.get(row, j)).collect()
    }

    /// Writes state `row` from one value per neuron.
    pub(crate) fn scatter(&mut self, row: usize, values: &[f64]) {
        for (j, &x) in values.iter().enumerate() {
            let i = self.index(row, j);
            match self.precision {
                Precision::F64 => self.data[i] = x,
                Precision::F32 => self.data32[i] = x as f32,
            }
        }
    }

    /// The `f64` block-major state (see [`Blocks`]).
    #[cfg(test)]
    pub(crate) fn blocks_mut(&mut self) -> Blocks<'_, f64> {
        f64::blocks(self)
    }
}

/// Advances every receptor state of local neurons `lo..hi` of one block by one step (exact).
#[inline]
pub(crate) fn decay_block(list: &[Receptor], block: &mut [f64], lo: usize, hi: usize) {
    for r in list {
        match r.kind.n_states() {
            1 => {
                let d = r.decay;
                for x in &mut block[r.row * BLOCK + lo..r.row * BLOCK + hi] {
                    *x *= d;
                }
            }
            2 => {
                let (d, k) = (r.decay, r.rise);
                let (h_row, x_row) = block[r.row * BLOCK..(r.row + 2) * BLOCK].split_at_mut(BLOCK);
                for (h, x) in h_row[lo..hi].iter_mut().zip(&mut x_row[lo..hi]) {
                    *x = (*x + *h * k) * d;
                    *h *= d;
                }
            }
            _ => {}
        }
    }
}

/// Adds the synaptic drive of local neurons `lo..hi` of one block, evaluated at the start of the
/// step, into `g_total` (S, summed conductance), `g_e` (A, sum of `g E_rev`) and `i_syn` (A,
/// summed currents). Total synaptic current is then `i_syn + g_e - g_total v`.
#[inline]
pub(crate) fn drive_block(
    list: &[Receptor],
    block: &[f64],
    lo: usize,
    hi: usize,
    g_total: &mut [f64],
    g_e: &mut [f64],
    i_syn: &mut [f64],
) {
    for r in list {
        let value_row = match r.kind.n_states() {
            1 => r.row,
            2 => r.row + 1,
            _ => continue,
        };
        let values = &block[value_row * BLOCK + lo..value_row * BLOCK + hi];
        match r.kind.e_rev() {
            Some(e) => {
                for ((g, ge), &x) in g_total.iter_mut().zip(g_e.iter_mut()).zip(values) {
                    *g += x;
                    *ge += x * e;
                }
            }
            None => {
                for (i, &x) in i_syn.iter_mut().zip(values) {
                    *i += x;
                }
            }
        }
    }
}

/// Exact propagator of a current kernel into a leaky membrane `tau_m dv/dt = -(v - E) + R I`:
/// over one step `dt`, a current state `x` adds `cx x` and an alpha rise state `h` adds `ch h`
/// to `v` (before the factor `R`). `tau_m` may be infinite (no leak, no coupling: both 0).
///
/// For the exponential coefficient the expression and its order of operations are those of
/// Brian2's `exact` integrator, so that trajectories agree with Brian2's bit for bit as long as
/// possible; near `tau = tau_m` a cancellation-free form takes over.
pub(crate) fn current_propagator(kind: &SynapseKind, tau_m: f64, dt: f64) -> (f64, f64) {
    let Some(tau) = kind.tau() else {
        return (0.0, 0.0);
    };
    if !tau_m.is_finite() {
        return (0.0, 0.0);
    }
    let e_m = (-dt / tau_m).exp();
    let e_s = (-dt / tau).exp();
    let a = 1.0 / tau - 1.0 / tau_m; // decay-rate difference
    let y = a * dt;
    // Contribution of the current value x: (1/tau_m) int_0^dt e^{-(dt-t)/tau_m} e^{-t/tau} dt.
    let cx = if y.abs() > 1e-3 {
        // Brian2: ((tau*exp(-dt/tau)) * (-exp(dt/tau) + exp(dt/tau_m))) * exp(-dt/tau_m) / (-tau_m + tau)
        ((tau * e_s) * (-(dt / tau).exp() + (dt / tau_m).exp())) * e_m / ((0.0 - tau_m) + tau)
    } else if y == 0.0 {
        dt / tau_m * e_m
    } else {
        e_m * (-(-y).exp_m1()) / (a * tau_m)
    };
    let ch = match kind {
        SynapseKind::AlphaCurrent { .. } | SynapseKind::AlphaConductance { .. } => {
            // (1/(tau_m tau)) e_m int_0^dt t e^{-a t} dt = e_m f(y) / (tau_m tau a^2),
            // f(y) = 1 - e^{-y}(1 + y); series near y = 0.
            if y.abs() > 0.1 {
                e_m * (1.0 - (-y).exp() * (1.0 + y)) / (tau_m * tau * a * a)
            } else {
                // f(y)/a^2 = dt^2 * sum_{k>=2} (-1)^k (k-1) y^(k-2) / k!
                let mut sum = 0.0;
                let mut power = 1.0; // y^(k-2)
                for k in 2..20u32 {
                    let sign = if k % 2 == 0 { 1.0 } else { -1.0 };
                    sum += sign * (k - 1) as f64 / factorial(k) * power;
                    power *= y;
                }
                e_m * dt * dt * sum / (tau_m * tau)
            }
        }
        _ => 0.0,
    };
    (cx, ch)
}

fn factorial(k: u32) -> f64 {
    (1..=k).map(|i| i as f64).product()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Integrates the linear system with tiny Euler steps as an independent check.
    fn brute(kind: SynapseKind, tau_m: f64, dt: f64, x0: f64, h0: f64) -> f64 {
        let tau = kind.tau().unwrap();
        let n = 200_000;
        let step = dt / n as f64;
        let (mut v, mut x, mut h) = (0.0, x0, h0);
        for _ in 0..n {
            let alpha = kind.n_states() == 2;
            let dv = (-v + x) / tau_m;
            let dx = if alpha { (h - x) / tau } else { -x / tau };
            let dh = -h / tau;
            v += step * dv;
            x += step * dx;
            h += step * dh;
        }
        v
    }

    #[test]
    fn propagators_match_brute_force() {
        let dt = 1e-3;
        for &(tau, tau_m) in &[
            (5e-3, 20e-3),
            (20e-3, 20e-3),
            (20e-3, 20.00001e-3),
            (2e-3, 10e-3),
        ] {
            let exp = SynapseKind::ExpCurrent { tau };
            let (cx, _) = current_propagator(&exp, tau_m, dt);
            let b = brute(exp, tau_m, dt, 1.0, 0.0);
            assert!(
                (cx - b).abs() < 1e-5 * b.abs(),
                "exp tau={tau} tau_m={tau_m}: {cx} vs {b}"
            );
            let alpha = SynapseKind::AlphaCurrent { tau };
            let (cx2, ch) = current_propagator(&alpha, tau_m, dt);
            assert_eq!(cx, cx2);
            let b = brute(alpha, tau_m, dt, 0.0, 1.0);
            assert!(
                (ch - b).abs() < 1e-5 * b.abs(),
                "alpha tau={tau} tau_m={tau_m}: {ch} vs {b}"
            );
        }
        assert_eq!(
            current_propagator(&SynapseKind::ExpCurrent { tau: 1e-3 }, f64::INFINITY, 1e-4),
            (0.0, 0.0)
        );
    }

    #[test]
    fn alpha_kernel_peaks_at_tau_with_weight() {
        let mut r = Receptors::new(1);
        r.add("a", SynapseKind::AlphaCurrent { tau: 2e-3 }).unwrap();
        let dt = 1e-5;
        r.prepare(dt);
        let Sink::Row { row, factor } = r.sink(0) else {
            panic!()
        };
        let i = r.index(row, 0);
        r.data_mut()[i] += 3.0 * factor;
        let mut peak = (0.0, 0usize);
        for step in 1..1000 {
            let (list, data, _) = r.blocks_mut();
            decay_block(list, data, 0, 1);
            let x = r.get(row + 1, 0);
            if x > peak.0 {
                peak = (x, step);
            }
        }
        assert!((peak.0 - 3.0).abs() < 1e-6, "{peak:?}");
        assert_eq!(peak.1, 200);
    }

    #[test]
    fn adding_receptors_keeps_state_and_names() {
        let mut r = Receptors::new(5000);
        r.add("ge", SynapseKind::ExpCurrent { tau: 5e-3 }).unwrap();
        r.scatter(0, &(0..5000).map(|j| j as f64).collect::<Vec<_>>());
        r.add(
            "ga",
            SynapseKind::AlphaConductance {
                tau: 1e-3,
                e_rev: 0.0,
            },
        )
        .unwrap();
        assert_eq!(r.gather(0)[4999], 4999.0);
        assert_eq!(r.state_names(), vec!["ge", "ga", "ga_h"]);
        assert_eq!(r.row_of("ga_h"), Some(1));
        assert_eq!(r.row_of("ga"), Some(2));
        assert!(r.add("ge", SynapseKind::Delta).is_err());
        assert!(r.add("bad", SynapseKind::ExpCurrent { tau: -1.0 }).is_err());
    }
}
