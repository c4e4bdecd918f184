//! Pair-based spike-timing-dependent plasticity with exponential traces.
//!
//! Each pre-synaptic spike, when it reaches the synapse (emission + delay, like Brian2's
//! `on_pre`), leaves a trace `x_pre` that decays with `tau_pre`; each post-synaptic spike leaves
//! `x_post` decaying with `tau_post`. At a post spike every incoming synapse is potentiated by
//! its current `x_pre`; at a pre arrival every outgoing synapse is depressed by its target's
//! `x_post`. For a single pair with `dt = t_post - t_arrival`:
//!
//! * additive: `dw = +a_plus exp(-dt/tau_pre)` for `dt >= 0`, `-a_minus exp(dt/tau_post)` for
//!   `dt < 0`, then `w` is clipped to `[w_min, w_max]`;
//! * multiplicative (soft bounds): `dw = +a_plus (w_max - w) exp(-dt/tau_pre)` and
//!   `-a_minus (w - w_min) exp(dt/tau_post)`.
//!
//! `a_plus` and `a_minus` are in weight units (additive) or dimensionless (multiplicative);
//! both are magnitudes (>= 0). Traces are dimensionless, +1 per spike (all-to-all pairing) or
//! set to 1 (nearest-spike pairing). They are decayed lazily and exactly, so a spike costs work
//! only on its own synapses. A pre arrival and a post spike in the same step count as
//! pre-before-post (`dt = 0`), as in Brian2 where `on_pre` runs before `on_post`.

use crate::error::{finite, non_negative, positive, Result, SimError};

/// How the weight change depends on the weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bounds {
    /// Changes independent of `w`, hard clipped to `[w_min, w_max]`.
    Additive,
    /// Potentiation scales with `w_max - w`, depression with `w - w_min` (soft bounds).
    Multiplicative,
}

/// Which spike pairs interact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pairing {
    /// Every pre/post pair (traces add up).
    AllToAll,
    /// Only the nearest spikes (traces reset to 1).
    Nearest,
}

/// Parameters of the STDP rule (times in seconds, weights in the projection's weight unit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StdpParams {
    /// Decay of the pre-synaptic trace (s).
    pub tau_pre: f64,
    /// Decay of the post-synaptic trace (s).
    pub tau_post: f64,
    /// Potentiation amplitude (>= 0).
    pub a_plus: f64,
    /// Depression amplitude (>= 0).
    pub a_minus: f64,
    /// Lower weight bound.
    pub w_min: f64,
    /// Upper weight bound.
    pub w_max: f64,
    /// Additive or multiplicative.
    pub bounds: Bounds,
    /// All-to-all or nearest-spike.
    pub pairing: Pairing,
}

impl StdpParams {
    pub(crate) fn validate(&self) -> Result<()> {
        positive("stdp.tau_pre", self.tau_pre)?;
        positive("stdp.tau_post", self.tau_post)?;
        non_negative("stdp.a_plus", self.a_plus)?;
        non_negative("stdp.a_minus", self.a_minus)?;
        finite("stdp.w_min", self.w_min)?;
        finite("stdp.w_max", self.w_max)?;
        if self.w_min > self.w_max {
            return Err(SimError::invalid(
                "stdp.w_max",
                format!("must be >= w_min ({} > {})", self.w_min, self.w_max),
            ));
        }
        Ok(())
    }
}

/// A decaying trace evaluated lazily: `value * exp(-(t - last) dt / tau)`.
#[derive(Debug, Clone)]
struct Traces {
    value: Vec<f64>,
    last: Vec<u64>,
    /// `-dt/tau`.
    rate: f64,
}

impl Traces {
    fn new(n: usize, dt: f64, tau: f64) -> Self {
        Traces {
            value: vec![0.0; n],
            last: vec![0; n],
            rate: -dt / tau,
        }
    }

    #[inline]
    fn at(&self, i: usize, step: u64) -> f64 {
        let x = self.value[i];
        if x == 0.0 {
            0.0
        } else {
            x * ((step - self.last[i]) as f64 * self.rate).exp()
        }
    }

    #[inline]
    fn spike(&mut self, i: usize, step: u64, pairing: Pairing) {
        self.value[i] = match pairing {
            Pairing::AllToAll => self.at(i, step) + 1.0,
            Pairing::Nearest => 1.0,
        };
        self.last[i] = step;
    }
}

/// The STDP state of one projection.
#[derive(Debug, Clone)]
pub(crate) struct Stdp {
    pub(crate) params: StdpParams,
    /// Pre traces, one per (source, delay) group: the group's spikes arrive together.
    pre: Traces,
    /// Post traces, one per target neuron.
    post: Traces,
    /// Incoming synapses of each target (CSC over the projection's synapse order).
    post_ptr: Vec<usize>,
    post_syn: Vec<u32>,
    /// Group of each synapse.
    syn_group: Vec<u32>,
}

impl Stdp {
    pub(crate) fn new(
        params: StdpParams,
        dt: f64,
        n_post: usize,
        targets: &[u32],
        groups: &[(usize, usize)],
    ) -> Result<Self> {
        params.validate()?;
        let mut post_ptr = vec![0usize; n_post + 1];
        for &j in targets {
            post_ptr[j as usize + 1] += 1;
        }
        for j in 0..n_post {
            post_ptr[j + 1] += post_ptr[j];
        }
        let mut fill = post_ptr.clone();
        let mut post_syn = vec![0u32; targets.len()];
        for (s, &j) in targets.iter().enumerate() {
            post_syn[fill[j as usize]] = s as u32;
            fill[j as usize] += 1;
        }
        let mut syn_group = vec![0u32; targets.len()];
        for (g, &(start, end)) in groups.iter().enumerate() {
            for x in &mut syn_group[start..end] {
                *x = g as u32;
            }
        }
        Ok(Stdp {
            params,
            pre: Traces::new(groups.len(), dt, params.tau_pre),
            post: Traces::new(n_post, dt, params.tau_post),
            post_ptr,
            post_syn,
            syn_group,
        })
    }

    /// A pre-synaptic spike of group `group` (synapses `start..end`) arrives at `step`:
    /// depress by the targets' post traces, then bump the group's pre trace.
    pub(crate) fn on_pre(
        &mut self,
        group: usize,
        start: usize,
        end: usize,
        step: u64,
        targets: &[u32],
        weights: &mut [f64],
    ) {
        let p = self.params;
        if p.a_minus > 0.0 {
            for (w, &j) in weights[start..end].iter_mut().zip(&targets[start..end]) {
                let x = self.post.at(j as usize, step);
                if x != 0.0 {
                    *w = match p.bounds {
                        Bounds::Additive => *w - p.a_minus * x,
                        Bounds::Multiplicative => *w - p.a_minus * (*w - p.w_min) * x,
                    }
                    .clamp(p.w_min, p.w_max);
                }
            }
        }
        self.pre.spike(group, step, p.pairing);
    }

    /// Post-synaptic neuron `j` spikes at `step`: potentiate its incoming synapses by their pre
    /// traces, then bump its post trace.
    pub(crate) fn on_post(&mut self, j: usize, step: u64, weights: &mut [f64]) {
        let p = self.params;
        if p.a_plus > 0.0 {
            for &s in &self.post_syn[self.post_ptr[j]..self.post_ptr[j + 1]] {
                let s = s as usize;
                let x = self.pre.at(self.syn_group[s] as usize, step);
                if x != 0.0 {
                    let w = &mut weights[s];
                    *w = match p.bounds {
                        Bounds::Additive => *w + p.a_plus * x,
                        Bounds::Multiplicative => *w + p.a_plus * (p.w_max - *w) * x,
                    }
                    .clamp(p.w_min, p.w_max);
                }
            }
        }
        self.post.spike(j, step, p.pairing);
    }
}
