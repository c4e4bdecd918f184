//! Inputs: spike generators (Poisson, given spike times) and injected currents.
//!
//! Generators are spike sources like populations: projections connect them to receptors.
//! They emit in the threshold phase of a step, as Brian2's `PoissonGroup` and
//! `SpikeGeneratorGroup` do. Currents add to a population's external current `I_ext` (A).

pub mod current;
pub mod poisson;
pub mod spike_times;

pub use current::CurrentInput;
pub use poisson::PoissonGroup;
pub use spike_times::SpikeTimes;

use crate::error::Result;

/// A spike generator.
#[derive(Debug, Clone)]
pub enum Generator {
    /// Independent Poisson trains.
    Poisson(PoissonGroup),
    /// Spikes at given steps.
    SpikeTimes(SpikeTimes),
}

impl Generator {
    /// Number of outputs.
    pub fn len(&self) -> usize {
        match self {
            Generator::Poisson(g) => g.len(),
            Generator::SpikeTimes(g) => g.len(),
        }
    }

    /// Whether there are no outputs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The generator's kind (`"poisson"`, `"spike_times"`).
    pub fn kind(&self) -> &'static str {
        match self {
            Generator::Poisson(_) => "poisson",
            Generator::SpikeTimes(_) => "spike_times",
        }
    }

    pub(crate) fn prepare(&mut self, dt: f64) -> Result<()> {
        match self {
            Generator::Poisson(g) => g.prepare(dt),
            Generator::SpikeTimes(_) => Ok(()),
        }
    }

    /// Appends the indices that spike at `step` (ascending).
    pub(crate) fn emit(&mut self, step: u64, out: &mut Vec<u32>) {
        match self {
            Generator::Poisson(g) => g.emit(out),
            Generator::SpikeTimes(g) => g.emit(step, out),
        }
    }
}
