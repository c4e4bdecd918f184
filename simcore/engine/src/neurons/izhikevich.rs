//! Izhikevich (2003) neuron, in SI units.
//!
//! `dv/dt = k2 v^2 + k1 v + k0 - u + I / C_m`, `du/dt = a (b v - u)`; spike when
//! `v >= v_peak`, then `v <- c`, `u <- u + d`. With the defaults `k2 = 0.04 /(mV ms)`
//! `= 4e4 /(V s)`, `k1 = 5 /ms = 5e3 /s`, `k0 = 140 mV/ms = 140 V/s` this is the published model
//! with `v` in volts and `u` in V/s; the published `a, b` (per ms) are multiplied by 1e3, `c`
//! (mV) by 1e-3, `d` (mV/ms) stays numerically the same in V/s. Currents (A) enter through
//! `C_m`; with the default `C_m = 1 pF`, an input of `I` pA is the paper's `I` (as in NEST).
//! Forward Euler on `v` and `u` together (Brian2's `euler`).

use crate::error::{finite, non_negative, positive, Result};
use crate::neurons::{check_n, for_each_block, BlockView, Counter, NeuronModel, RefSteps, TILE};
use crate::params::{Param, PerNeuron};
use crate::synapses::{decay_block, drive_block, Receptors};

/// Parameters of [`Izhikevich`].
#[derive(Debug, Clone, PartialEq)]
pub struct IzhikevichParams {
    /// Recovery rate `a` (1/s); the paper's 0.02/ms is 20/s.
    pub a: Param,
    /// Recovery sensitivity `b` (1/s); the paper's 0.2/ms is 200/s.
    pub b: Param,
    /// Reset potential `c` (V).
    pub c: Param,
    /// Recovery increment `d` (V/s, numerically the paper's mV/ms).
    pub d: Param,
    /// Spike cut-off (V), 30 mV in the paper.
    pub v_peak: Param,
    /// Capacitance converting input currents (F); 1 pF makes 1 pA one paper unit.
    pub c_m: Param,
    /// Quadratic coefficient (1/(V s)).
    pub k2: Param,
    /// Linear coefficient (1/s).
    pub k1: Param,
    /// Constant term (V/s).
    pub k0: Param,
    /// Refractory period (s), 0 in the paper.
    pub t_ref: Param,
}

impl IzhikevichParams {
    /// The paper's parameters from its per-ms/mV values: `a`, `b` (1/ms), `c` (mV), `d` (mV/ms).
    pub fn from_paper(a: f64, b: f64, c: f64, d: f64) -> Self {
        IzhikevichParams {
            a: (a * 1e3).into(),
            b: (b * 1e3).into(),
            c: (c * 1e-3).into(),
            d: d.into(),
            ..Self::default()
        }
    }
}

impl Default for IzhikevichParams {
    /// Regular spiking: a = 0.02/ms, b = 0.2/ms, c = -65 mV, d = 8 mV/ms.
    fn default() -> Self {
        IzhikevichParams {
            a: 20.0.into(),
            b: 200.0.into(),
            c: (-65e-3).into(),
            d: 8.0.into(),
            v_peak: 30e-3.into(),
            c_m: 1e-12.into(),
            k2: 4e4.into(),
            k1: 5e3.into(),
            k0: 140.0.into(),
            t_ref: 0.0.into(),
        }
    }
}

/// A population of Izhikevich neurons. State: `v` (V), `u` (V/s).
#[derive(Debug, Clone)]
pub struct Izhikevich {
    n: usize,
    a: PerNeuron,
    b: PerNeuron,
    c: PerNeuron,
    d: PerNeuron,
    v_peak: PerNeuron,
    c_m: PerNeuron,
    k2: PerNeuron,
    k1: PerNeuron,
    k0: PerNeuron,
    t_ref: PerNeuron,
    v: Vec<f64>,
    u: Vec<f64>,
    counters: Vec<u32>,
    ref_steps: RefSteps,
    dt: f64,
}

impl Izhikevich {
    /// `n` neurons; `v` starts at `c`, `u` at `b c`.
    pub fn new(n: usize, p: &IzhikevichParams) -> Result<Self> {
        check_n("izhikevich", n)?;
        let b = p.b.resolve("izhikevich.b", n, finite)?;
        let c = p.c.resolve("izhikevich.c", n, finite)?;
        Ok(Izhikevich {
            n,
            a: p.a.resolve("izhikevich.a", n, finite)?,
            v: c.to_vec(n),
            u: (0..n).map(|j| b.get(j) * c.get(j)).collect(),
            b,
            c,
            d: p.d.resolve("izhikevich.d", n, finite)?,
            v_peak: p.v_peak.resolve("izhikevich.v_peak", n, finite)?,
            c_m: p.c_m.resolve("izhikevich.c_m", n, positive)?,
            k2: p.k2.resolve("izhikevich.k2", n, finite)?,
            k1: p.k1.resolve("izhikevich.k1", n, finite)?,
            k0: p.k0.resolve("izhikevich.k0", n, finite)?,
            t_ref: p.t_ref.resolve("izhikevich.t_ref", n, non_negative)?,
            counters: vec![0; n],
            ref_steps: RefSteps::Uniform(0),
            dt: 0.0,
        })
    }
}

impl NeuronModel for Izhikevich {
    fn kind(&self) -> &'static str {
        "izhikevich"
    }
    fn len(&self) -> usize {
        self.n
    }
    fn state_names(&self) -> &'static [&'static str] {
        &["v", "u"]
    }
    fn state(&self, var: usize) -> &[f64] {
        if var == 1 {
            &self.u
        } else {
            &self.v
        }
    }
    fn state_mut(&mut self, var: usize) -> &mut [f64] {
        if var == 1 {
            &mut self.u
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
        let (a, b, v_peak, c_m, k2, k1, k0) = (
            &self.a,
            &self.b,
            &self.v_peak,
            &self.c_m,
            &self.k2,
            &self.k1,
            &self.k0,
        );
        let (ref_steps, dt) = (&self.ref_steps, self.dt);
        let work = |bv: BlockView<'_, u32>| {
            let BlockView {
                start,
                vars: [v, u, ..],
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
                    let (v0, u0) = (v[l], u[l]);
                    let i_total = is[k] + ge[k] - gt[k] * v0 + i_ext.get(j);
                    let dv = k2.get(j) * v0 * v0 + k1.get(j) * v0 + k0.get(j) - u0
                        + i_total / c_m.get(j);
                    let du = a.get(j) * (b.get(j) * v0 - u0);
                    if counters[l].tick() {
                        v[l] = v0 + dt * dv;
                    }
                    u[l] = u0 + dt * du;
                    if counters[l] == 0 && v[l] >= v_peak.get(j) {
                        spikes.push(j as u32);
                        counters[l] = ref_steps.get(j);
                    }
                }
            }
        };
        for_each_block(
            self.n,
            [&mut self.v, &mut self.u, &mut [], &mut []],
            &mut self.counters,
            receptors,
            spikes,
            &work,
        );
    }
    fn reset(&mut self, spikes: &[u32]) {
        for &j in spikes {
            let j = j as usize;
            self.v[j] = self.c.get(j);
            self.u[j] += self.d.get(j);
        }
    }
}
