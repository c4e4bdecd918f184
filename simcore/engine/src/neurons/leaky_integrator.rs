//! Non-spiking leaky integrator, for readouts.
//!
//! `tau_m dv/dt = (E_L - v) + R_m (I_syn + I_ext)`, integrated exactly like [`super::Lif`], never
//! spikes. `tau_m = +inf` makes a perfect integrator of delta inputs (`v` only moves by the
//! jumps; current inputs then have no effect, since `R_m/tau_m = 0`).

use crate::error::{finite, positive, Result, SimError};
use crate::neurons::lif::Exact;
use crate::neurons::{check_n, for_each_block, unsupported, BlockView, NeuronModel, TILE};
use crate::params::{Param, PerNeuron};
use crate::synapses::{Receptors, SynapseKind};

/// Parameters of [`LeakyIntegrator`].
#[derive(Debug, Clone, PartialEq)]
pub struct LeakyIntegratorParams {
    /// Time constant (s), may be `+inf`.
    pub tau_m: Param,
    /// Resting value (V).
    pub e_l: Param,
    /// Resistance (ohm).
    pub r_m: Param,
}

impl Default for LeakyIntegratorParams {
    fn default() -> Self {
        LeakyIntegratorParams {
            tau_m: 20e-3.into(),
            e_l: 0.0.into(),
            r_m: 1.0.into(),
        }
    }
}

/// A population of leaky integrators. State: `v` (V).
#[derive(Debug, Clone)]
pub struct LeakyIntegrator {
    n: usize,
    tau_m: PerNeuron,
    e_l: PerNeuron,
    r_m: PerNeuron,
    v: Vec<f64>,
    exact: Exact,
}

fn tau_check(name: &str, x: f64) -> Result<()> {
    if x == f64::INFINITY {
        Ok(())
    } else {
        positive(name, x)
            .map_err(|_| SimError::invalid(name, format!("must be > 0 (or +inf), got {x}")))
    }
}

impl LeakyIntegrator {
    /// `n` integrators; `v` starts at `e_l`.
    pub fn new(n: usize, params: &LeakyIntegratorParams) -> Result<Self> {
        check_n("leaky_integrator", n)?;
        let tau_m = params
            .tau_m
            .resolve("leaky_integrator.tau_m", n, tau_check)?;
        let e_l = params.e_l.resolve("leaky_integrator.e_l", n, finite)?;
        let r_m = params.r_m.resolve("leaky_integrator.r_m", n, positive)?;
        Ok(LeakyIntegrator {
            n,
            v: e_l.to_vec(n),
            tau_m,
            e_l,
            r_m,
            exact: Exact::default(),
        })
    }
}

impl NeuronModel for LeakyIntegrator {
    fn kind(&self) -> &'static str {
        "leaky_integrator"
    }
    fn len(&self) -> usize {
        self.n
    }
    fn is_spiking(&self) -> bool {
        false
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
    fn accepts(&self, kind: &SynapseKind) -> Result<()> {
        if kind.is_conductance() {
            return Err(unsupported(
                "leaky_integrator",
                kind,
                ": it takes delta and current synapses",
            ));
        }
        Ok(())
    }
    fn prepare(&mut self, dt: f64, receptors: &Receptors) -> Result<()> {
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
        let exact = &self.exact;
        let work = |b: BlockView<'_, ()>| {
            let BlockView {
                start,
                vars: [v, ..],
                rec,
                ..
            } = b;
            let len = v.len();
            for lo in (0..len).step_by(TILE) {
                let hi = (lo + TILE).min(len);
                // never refractory: no counters
                exact.tile(start, lo..hi, v, rec, &mut [(); TILE], i_ext, f64::INFINITY);
            }
        };
        for_each_block(
            self.n,
            [&mut self.v, &mut [], &mut [], &mut []],
            &mut [(); 0],
            receptors,
            spikes,
            &work,
        );
    }
    fn reset(&mut self, _spikes: &[u32]) {}
}
