//! Conductance-based leaky integrate-and-fire neuron.
//!
//! `C_m dv/dt = g_L (E_L - v) + sum_k g_k (E_k - v) + I_syn + I_ext`, spike when `v > V_th`,
//! then `v <- V_reset`. The equation is linear in `v` with coefficients that change with the
//! synaptic conductances, so each step uses exponential Euler (Brian2's `exponential_euler`):
//! conductances are frozen at their start-of-step values and `v` relaxes exactly towards
//! `v_inf = (g_L E_L + sum g_k E_k + I) / G` with time constant `C_m / G`, `G = g_L + sum g_k`.
//! Unconditionally stable, exact when the conductances are constant.

use crate::error::{finite, non_negative, positive, Result};
use crate::neurons::{check_n, for_each_block, BlockView, Counter, NeuronModel, RefSteps, TILE};
use crate::params::{Param, PerNeuron};
use crate::synapses::{decay_block, drive_block, Receptors};

/// Parameters of [`LifCond`].
#[derive(Debug, Clone, PartialEq)]
pub struct LifCondParams {
    /// Membrane capacitance (F).
    pub c_m: Param,
    /// Leak conductance (S).
    pub g_l: Param,
    /// Leak reversal potential (V).
    pub e_l: Param,
    /// Reset potential (V).
    pub v_reset: Param,
    /// Threshold (V).
    pub v_threshold: Param,
    /// Refractory period (s).
    pub t_ref: Param,
}

impl Default for LifCondParams {
    /// Vogels & Abbott (2005) COBA: 200 pF, 10 nS, -60 mV, reset -60 mV, threshold -50 mV, 5 ms.
    fn default() -> Self {
        LifCondParams {
            c_m: 200e-12.into(),
            g_l: 10e-9.into(),
            e_l: (-60e-3).into(),
            v_reset: (-60e-3).into(),
            v_threshold: (-50e-3).into(),
            t_ref: 5e-3.into(),
        }
    }
}

/// A population of conductance-based LIF neurons. State: `v` (V).
#[derive(Debug, Clone)]
pub struct LifCond {
    n: usize,
    c_m: PerNeuron,
    g_l: PerNeuron,
    e_l: PerNeuron,
    v_reset: PerNeuron,
    v_threshold: PerNeuron,
    t_ref: PerNeuron,
    v: Vec<f64>,
    counters: Vec<u32>,
    ref_steps: RefSteps,
    dt: f64,
}

impl LifCond {
    /// `n` neurons; `v` starts at `e_l`.
    pub fn new(n: usize, params: &LifCondParams) -> Result<Self> {
        check_n("lif_cond", n)?;
        let e_l = params.e_l.resolve("lif_cond.e_l", n, finite)?;
        Ok(LifCond {
            n,
            c_m: params.c_m.resolve("lif_cond.c_m", n, positive)?,
            g_l: params.g_l.resolve("lif_cond.g_l", n, positive)?,
            v: e_l.to_vec(n),
            e_l,
            v_reset: params.v_reset.resolve("lif_cond.v_reset", n, finite)?,
            v_threshold: params
                .v_threshold
                .resolve("lif_cond.v_threshold", n, finite)?,
            t_ref: params.t_ref.resolve("lif_cond.t_ref", n, non_negative)?,
            counters: vec![0; n],
            ref_steps: RefSteps::Uniform(0),
            dt: 0.0,
        })
    }
}

impl NeuronModel for LifCond {
    fn kind(&self) -> &'static str {
        "lif_cond"
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
    fn prepare(&mut self, dt: f64, _receptors: &Receptors) -> Result<()> {
        self.dt = dt;
        self.ref_steps = RefSteps::new(&self.t_ref, dt);
        Ok(())
    }
    fn update(
        &mut self,
        _step: u64,
        receptors: &mut Receptors,
        i_ext: &PerNeuron,
        spikes: &mut [Vec<u32>],
    ) {
        let (c_m, g_l, e_l, v_th, ref_steps, dt) = (
            &self.c_m,
            &self.g_l,
            &self.e_l,
            &self.v_threshold,
            &self.ref_steps,
            self.dt,
        );
        let work = |b: BlockView<'_, u32>| {
            let BlockView {
                start,
                vars: [v, ..],
                aux: counters,
                receptors,
                rec,
                spikes,
                ..
            } = b;
            let len = v.len();
            for lo in (0..len).step_by(TILE) {
                let hi = (lo + TILE).min(len);
                let m = hi - lo;
                let (mut gt, mut ge, mut is) = ([0.0; TILE], [0.0; TILE], [0.0; TILE]);
                drive_block(
                    receptors,
                    rec,
                    lo,
                    hi,
                    &mut gt[..m],
                    &mut ge[..m],
                    &mut is[..m],
                );
                decay_block(receptors, rec, lo, hi);
                for l in lo..hi {
                    let j = start + l;
                    let k = l - lo;
                    if counters[l].tick() {
                        let gl = g_l.get(j);
                        let g = gl + gt[k];
                        let v_inf = (gl * e_l.get(j) + ge[k] + is[k] + i_ext.get(j)) / g;
                        v[l] = v_inf + (v[l] - v_inf) * (-g * dt / c_m.get(j)).exp();
                    }
                    if counters[l] == 0 && v[l] > v_th.get(j) {
                        spikes.push(j as u32);
                        counters[l] = ref_steps.get(j);
                    }
                }
            }
        };
        for_each_block(
            self.n,
            [&mut self.v, &mut [], &mut [], &mut []],
            &mut self.counters,
            receptors,
            spikes,
            &work,
        );
    }
    fn reset(&mut self, spikes: &[u32]) {
        for &j in spikes {
            let j = j as usize;
            self.v[j] = self.v_reset.get(j);
        }
    }
}
