//! Monitors: what a run records, handed back chunk by chunk.
//!
//! * spikes of a source (all outputs or a subset), as `(neuron, step)` pairs;
//! * state variables of a subset of a population, sampled every `every` steps at the start of
//!   the step (Brian2's `StateMonitor` in its default `start` slot: the state at time `step dt`);
//! * the population rate of a source in bins of `bin` steps (Hz = spikes / (n bin dt)).
//!
//! [`crate::Network::run`] drains every monitor into a [`ChunkOutput`]: what was recorded
//! since the previous chunk. A rate bin is emitted once complete; a partial bin carries over.

use crate::error::{Result, SimError};
use crate::network::{MonitorId, PopulationId, Source};
use std::ops::Range;

/// Spikes recorded in a chunk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpikeData {
    /// The monitor.
    pub monitor: MonitorId,
    /// Neuron index of each spike (within its source).
    pub neurons: Vec<u32>,
    /// Step of each spike (time = step dt).
    pub steps: Vec<u64>,
}

/// State samples recorded in a chunk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateData {
    /// The monitor.
    pub monitor: MonitorId,
    /// The variable's name.
    pub variable: String,
    /// The recorded neurons (columns).
    pub neurons: Vec<u32>,
    /// Step of each sample (rows).
    pub steps: Vec<u64>,
    /// Row-major `steps.len() x neurons.len()` values, SI units of the variable.
    pub values: Vec<f64>,
}

/// Population rates recorded in a chunk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateData {
    /// The monitor.
    pub monitor: MonitorId,
    /// First step of each bin.
    pub steps: Vec<u64>,
    /// Mean rate over the bin (Hz).
    pub rates: Vec<f64>,
}

/// What all monitors recorded during one chunk `[start_step, end_step)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChunkOutput {
    /// First step of the chunk.
    pub start_step: u64,
    /// One past the last step of the chunk.
    pub end_step: u64,
    /// Spike monitors, in the order they were added.
    pub spikes: Vec<SpikeData>,
    /// State monitors, in the order they were added.
    pub states: Vec<StateData>,
    /// Rate monitors, in the order they were added.
    pub rates: Vec<RateData>,
    /// Synaptic events delivered during the chunk.
    pub synaptic_events: u64,
}

impl ChunkOutput {
    /// Appends the chunk that directly follows this one (`next.start_step == self.end_step`,
    /// same monitors), so several runs read as one: records are concatenated per monitor.
    pub fn append(&mut self, next: ChunkOutput) {
        debug_assert_eq!(next.start_step, self.end_step);
        self.end_step = next.end_step;
        self.synaptic_events += next.synaptic_events;
        for (mine, theirs) in self.spikes.iter_mut().zip(next.spikes) {
            mine.neurons.extend_from_slice(&theirs.neurons);
            mine.steps.extend_from_slice(&theirs.steps);
        }
        for (mine, theirs) in self.states.iter_mut().zip(next.states) {
            mine.steps.extend_from_slice(&theirs.steps);
            mine.values.extend_from_slice(&theirs.values);
        }
        for (mine, theirs) in self.rates.iter_mut().zip(next.rates) {
            mine.steps.extend_from_slice(&theirs.steps);
            mine.rates.extend_from_slice(&theirs.rates);
        }
    }
}

/// Where a state variable lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarRef {
    /// Variable of the neuron model.
    Model(usize),
    /// Row of the receptor state.
    Receptor(usize),
}

/// Which of a source's neurons a spike monitor records.
#[derive(Debug, Clone)]
pub(crate) enum Selection {
    All,
    /// A run of neurons (such as a population that runs inside a larger one): recording reads
    /// no table, where a mask costs a cache miss per spike of the whole source.
    Run(Range<u32>),
    Mask(Vec<bool>),
}

impl Selection {
    /// The selection of `neurons` of a source of `n`.
    pub(crate) fn of(neurons: &[u32], n: usize) -> Result<Self> {
        if let Some(&j) = neurons.iter().find(|&&j| j as usize >= n) {
            return Err(SimError::index("monitored neuron", j as usize, n));
        }
        let run = neurons.windows(2).all(|w| w[1] == w[0] + 1);
        Ok(match (neurons.first(), neurons.last()) {
            (Some(&first), Some(&last)) if run => Selection::Run(first..last + 1),
            _ => {
                let mut mask = vec![false; n];
                for &j in neurons {
                    mask[j as usize] = true;
                }
                Selection::Mask(mask)
            }
        })
    }

    fn holds(&self, j: u32) -> bool {
        match self {
            Selection::All => true,
            Selection::Run(run) => run.contains(&j),
            Selection::Mask(mask) => mask[j as usize],
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct SpikeMonitor {
    pub source: Source,
    pub selection: Selection,
    pub data: SpikeData,
}

impl SpikeMonitor {
    pub(crate) fn record(&mut self, step: u64, spikes: &[u32]) {
        for &j in spikes {
            if self.selection.holds(j) {
                self.data.neurons.push(j);
                self.data.steps.push(step);
            }
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct StateMonitor {
    pub population: PopulationId,
    pub var: VarRef,
    pub every: u64,
    pub data: StateData,
}

#[derive(Debug, Clone)]
pub(crate) struct RateMonitor {
    pub source: Source,
    /// The neurons counted (all of the source's, or a run of them).
    pub selection: Selection,
    pub n: usize,
    pub bin: u64,
    pub dt: f64,
    pub count: u64,
    pub filled: u64,
    pub bin_start: u64,
    pub data: RateData,
}

impl RateMonitor {
    pub(crate) fn record(&mut self, step: u64, spikes: &[u32]) {
        if self.filled == 0 {
            self.bin_start = step;
        }
        self.count += match &self.selection {
            Selection::All => spikes.len(),
            some => spikes.iter().filter(|&&j| some.holds(j)).count(),
        } as u64;
        self.filled += 1;
        if self.filled == self.bin {
            let denom = self.n.max(1) as f64 * self.bin as f64 * self.dt;
            self.data.steps.push(self.bin_start);
            self.data.rates.push(self.count as f64 / denom);
            self.count = 0;
            self.filled = 0;
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Monitor {
    Spikes(SpikeMonitor),
    State(StateMonitor),
    Rate(RateMonitor),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selection_holds_exactly_the_neurons_listed() {
        for list in [&[4u32, 5, 6][..], &[6, 4, 5], &[0, 9], &[7], &[]] {
            let selection = Selection::of(list, 10).unwrap();
            for j in 0..10 {
                assert_eq!(selection.holds(j), list.contains(&j), "{list:?} {j}");
            }
        }
        assert!(matches!(
            Selection::of(&[4, 5, 6], 10),
            Ok(Selection::Run(_))
        ));
        assert!(Selection::of(&[4, 10], 10).is_err());
    }
}
