//! Adaptive exponential integrate-and-fire neuron (Brette & Gerstner 2005).
//!
//! `C dv/dt = -g_L (v - E_L) + g_L D_T exp((v - V_T)/D_T) - w + I_syn + I_ext`,
//! `tau_w dw/dt = a (v - E_L) - w`; spike when `v > V_peak`, then `v <- V_r`, `w <- w + b`.
//! Forward Euler on `v` and `w` together (Brian2's `euler`), which is what the published
//! firing-pattern parameter sets (Naud et al. 2008) are usually simulated with at small `dt`.
//! The exponent is capped at `(V_peak - V_T)/D_T + 10` so that a voltage pushed far beyond the
//! peak (by a delta input) cannot overflow; below the peak the cap never acts.

use crate::error::{finite, non_negative, positive, Result, SimError};
use crate::neurons::{check_n, for_each_block, BlockView, Counter, NeuronModel, RefSteps, TILE};
use crate::params::{Param, PerNeuron};
use crate::synapses::{decay_block, drive_block, Receptors};

/// Parameters of [`AdEx`].
#[derive(Debug, Clone, PartialEq)]
pub struct AdExParams {
    /// Membrane capacitance (F).
    pub c_m: Param,
    /// Leak conductance (S).
    pub g_l: Param,
    /// Leak reversal potential (V).
    pub e_l: Param,
    /// Threshold slope factor's centre, the rheobase threshold `V_T` (V).
    pub v_t: Param,
    /// Slope factor `D_T` (V, > 0).
    pub delta_t: Param,
    /// Subthreshold adaptation (S).
    pub a: Param,
    /// Adaptation time constant (s).
    pub tau_w: Param,
    /// Spike-triggered adaptation increment (A).
    pub b: Param,
    /// Reset potential (V).
    pub v_reset: Param,
    /// Spike detection threshold (V).
    pub v_peak: Param,
    /// Refractory period (s).
    pub t_ref: Param,
}

impl Default for AdExParams {
    /// Naud et al. (2008) "tonic spiking": C = 200 pF, g_L = 10 nS, E_L = -70 mV, V_T = -50 mV,
    /// D_T = 2 mV, a = 2 nS, tau_w = 30 ms, b = 0, V_r = -58 mV; V_peak = 0 mV; no refractory.
    fn default() -> Self {
        AdExParams {
            c_m: 200e-12.into(),
            g_l: 10e-9.into(),
            e_l: (-70e-3).into(),
            v_t: (-50e-3).into(),
            delta_t: 2e-3.into(),
            a: 2e-9.into(),
            tau_w: 30e-3.into(),
            b: 0.0.into(),
            v_reset: (-58e-3).into(),
            v_peak: 0.0.into(),
            t_ref: 0.0.into(),
        }
    }
}

/// A population of AdEx neurons. State: `v` (V), `w` (A).
#[derive(Debug, Clone)]
pub struct AdEx {
    n: usize,
    c_m: PerNeuron,
    g_l: PerNeuron,
    e_l: PerNeuron,
    v_t: PerNeuron,
    delta_t: PerNeuron,
    a: PerNeuron,
    tau_w: PerNeuron,
    b: PerNeuron,
    v_reset: PerNeuron,
    v_peak: PerNeuron,
    t_ref: PerNeuron,
    v: Vec<f64>,
    w: Vec<f64>,
    counters: Vec<u32>,
    ref_steps: RefSteps,
    dt: f64,
}

impl AdEx {
    /// `n` neurons; `v` starts at `e_l`, `w` at 0.
    pub fn new(n: usize, p: &AdExParams) -> Result<Self> {
        check_n("adex", n)?;
        let e_l = p.e_l.resolve("adex.e_l", n, finite)?;
        let v_t = p.v_t.resolve("adex.v_t", n, finite)?;
        let v_peak = p.v_peak.resolve("adex.v_peak", n, finite)?;
        for j in 0..n {
            if v_peak.get(j) <= v_t.get(j) {
                return Err(SimError::invalid(
                    "adex.v_peak",
                    format!("must be above v_t ({} <= {})", v_peak.get(j), v_t.get(j)),
                ));
            }
        }
        Ok(AdEx {
            n,
            c_m: p.c_m.resolve("adex.c_m", n, positive)?,
            g_l: p.g_l.resolve("adex.g_l", n, positive)?,
            v: e_l.to_vec(n),
            w: vec![0.0; n],
            e_l,
            v_t,
            delta_t: p.delta_t.resolve("adex.delta_t", n, positive)?,
            a: p.a.resolve("adex.a", n, finite)?,
            tau_w: p.tau_w.resolve("adex.tau_w", n, positive)?,
            b: p.b.resolve("adex.b", n, finite)?,
            v_reset: p.v_reset.resolve("adex.v_reset", n, finite)?,
            v_peak,
            t_ref: p.t_ref.resolve("adex.t_ref", n, non_negative)?,
            counters: vec![0; n],
            ref_steps: RefSteps::Uniform(0),
            dt: 0.0,
        })
    }
}

impl NeuronModel for AdEx {
    fn kind(&self) -> &'static str {
        "adex"
    }
    fn len(&self) -> usize {
        self.n
    }
    fn state_names(&self) -> &'static [&'static str] {
        &["v", "w"]
    }
    fn state(&self, var: usize) -> &[f64] {
        if var == 1 {
            &self.w
        } else {
            &self.v
        }
    }
    fn state_mut(&mut self, var: usize) -> &mut [f64] {
        if var == 1 {
            &mut self.w
        } else {
            &mut self.v
        }
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
        let (c_m, g_l, e_l, v_t, d_t) = (&self.c_m, &self.g_l, &self.e_l, &self.v_t, &self.delta_t);
        let (a, tau_w, v_peak, ref_steps, dt) =
            (&self.a, &self.tau_w, &self.v_peak, &self.ref_steps, self.dt);
        let work = |bv: BlockView<'_, u32>| {
            let BlockView {
                start,
                vars: [v, w, ..],
                aux: counters,
                receptors,
                rec,
                spikes,
                ..
            } = bv;
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
                    let (v0, w0) = (v[l], w[l]);
                    let (gl, el, dtj, vpk) = (g_l.get(j), e_l.get(j), d_t.get(j), v_peak.get(j));
                    let arg = ((v0 - v_t.get(j)) / dtj).min((vpk - v_t.get(j)) / dtj + 10.0);
                    let i_syn = is[k] + ge[k] - gt[k] * v0;
                    let dv = (-gl * (v0 - el) + gl * dtj * arg.exp() - w0 + i_syn + i_ext.get(j))
                        / c_m.get(j);
                    let dw = (a.get(j) * (v0 - el) - w0) / tau_w.get(j);
                    if counters[l].tick() {
                        v[l] = v0 + dt * dv;
                    }
                    w[l] = w0 + dt * dw;
                    if counters[l] == 0 && v[l] > vpk {
                        spikes.push(j as u32);
                        counters[l] = ref_steps.get(j);
                    }
                }
            }
        };
        for_each_block(
            self.n,
            [&mut self.v, &mut self.w, &mut [], &mut []],
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
            self.w[j] += self.b.get(j);
        }
    }
}
