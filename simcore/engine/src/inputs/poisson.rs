//! Poisson spike generators.
//!
//! Each of `n` outputs spikes in a step with probability `rate * dt` (Brian2's `PoissonGroup`).
//! With one rate for all outputs, the `n x steps` Bernoulli trials are walked as one sequence
//! by geometric jumps, so a step costs time in proportion to its spikes, not to `n`. With
//! per-output rates each output draws once per step. Rates may change between chunks; the
//! process is memoryless, so the change takes effect exactly from the next step.

use crate::error::{Result, SimError};
use crate::params::{Param, PerNeuron};
use crate::rng::Rng;

/// `n` independent Poisson spike trains.
#[derive(Debug, Clone)]
pub struct PoissonGroup {
    n: usize,
    rates: PerNeuron,
    rng: Rng,
    /// Per-step spike probability (set by `prepare`).
    p: Option<PerNeuron>,
    dt: f64,
    /// Trials to skip before the next spike (uniform rate).
    skip: u64,
}

fn rate_check(name: &str, r: f64) -> Result<()> {
    if r.is_finite() && r >= 0.0 {
        Ok(())
    } else {
        Err(SimError::invalid(
            name,
            format!("must be a finite rate >= 0 Hz, got {r}"),
        ))
    }
}

impl PoissonGroup {
    /// `n` trains at `rates` (Hz, scalar or one per output), drawing from `seed`.
    pub fn new(n: usize, rates: &Param, seed: u64) -> Result<Self> {
        let rates = rates.resolve("poisson.rate", n, rate_check)?;
        Ok(PoissonGroup {
            n,
            rates,
            rng: Rng::stream(seed, 0x9015_5011),
            p: None,
            dt: 0.0,
            skip: 0,
        })
    }

    /// Number of outputs.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether there are no outputs.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The current rates (Hz).
    pub fn rates(&self) -> &PerNeuron {
        &self.rates
    }

    /// Changes the rates (Hz); effective from the next step run.
    pub fn set_rates(&mut self, rates: &Param) -> Result<()> {
        let rates = rates.resolve("poisson.rate", self.n, rate_check)?;
        let old = std::mem::replace(&mut self.rates, rates);
        if self.p.is_some() {
            let dt = self.dt;
            if let Err(e) = self.prepare(dt) {
                self.rates = old;
                self.prepare(dt)?;
                return Err(e);
            }
        }
        Ok(())
    }

    pub(crate) fn prepare(&mut self, dt: f64) -> Result<()> {
        let p = self.rates.map(|r| r * dt);
        for j in 0..self.n.min(if p.uniform().is_some() { 1 } else { self.n }) {
            if p.get(j) > 1.0 {
                return Err(SimError::invalid(
                    "poisson.rate",
                    format!(
                        "{} Hz exceeds one spike per step of {dt} s",
                        self.rates.get(j)
                    ),
                ));
            }
        }
        self.dt = dt;
        if let PerNeuron::Uniform(p) = p {
            self.skip = self.draw_gap(p);
        }
        self.p = Some(p);
        Ok(())
    }

    fn draw_gap(&mut self, p: f64) -> u64 {
        if p <= 0.0 {
            u64::MAX
        } else if p >= 1.0 {
            0
        } else {
            self.rng.geometric((-p).ln_1p())
        }
    }

    /// Appends this step's spiking outputs (ascending).
    pub(crate) fn emit(&mut self, out: &mut Vec<u32>) {
        match self.p {
            Some(PerNeuron::Uniform(p)) => {
                if p <= 0.0 {
                    return;
                }
                let n = self.n as u64;
                let mut pos = self.skip;
                while pos < n {
                    out.push(pos as u32);
                    pos = pos.saturating_add(1).saturating_add(self.draw_gap(p));
                }
                self.skip = pos - n;
            }
            Some(PerNeuron::Each(ref ps)) => {
                for (j, &p) in ps.iter().enumerate() {
                    if self.rng.uniform() < p {
                        out.push(j as u32);
                    }
                }
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_and_poisson_statistics() {
        let (n, rate, dt, steps) = (1000, 20.0, 1e-4, 10_000);
        let mut g = PoissonGroup::new(n, &Param::Scalar(rate), 1).unwrap();
        g.prepare(dt).unwrap();
        let mut counts = vec![0usize; n];
        let mut out = Vec::new();
        for _ in 0..steps {
            out.clear();
            g.emit(&mut out);
            assert!(out.windows(2).all(|w| w[0] < w[1]));
            for &j in &out {
                counts[j as usize] += 1;
            }
        }
        let mean = counts.iter().sum::<usize>() as f64 / n as f64;
        let expected = rate * dt * steps as f64; // 20 spikes in 1 s
        assert!((mean - expected).abs() < 0.05 * expected, "{mean}");
        let var = counts
            .iter()
            .map(|&c| (c as f64 - mean).powi(2))
            .sum::<f64>()
            / n as f64;
        assert!((var / mean - 1.0).abs() < 0.15, "Fano {}", var / mean);
    }

    #[test]
    fn rate_changes_and_validation() {
        let mut g = PoissonGroup::new(10, &Param::Scalar(0.0), 2).unwrap();
        g.prepare(1e-3).unwrap();
        let mut out = Vec::new();
        g.emit(&mut out);
        assert!(out.is_empty());
        g.set_rates(&Param::Scalar(1000.0)).unwrap();
        g.emit(&mut out);
        assert_eq!(out.len(), 10);
        assert!(g.set_rates(&Param::Scalar(2000.0)).is_err());
        assert_eq!(g.rates().uniform(), Some(1000.0));
        assert!(PoissonGroup::new(3, &Param::Scalar(-1.0), 0).is_err());
        let mut per = PoissonGroup::new(3, &Param::Array(vec![0.0, 1000.0, 0.0]), 0).unwrap();
        per.prepare(1e-3).unwrap();
        out.clear();
        per.emit(&mut out);
        assert_eq!(out, vec![1]);
    }
}
