//! Spike-time generators: output `neurons[k]` spikes at step `steps[k]` (Brian2's
//! `SpikeGeneratorGroup`; use [`crate::params::delay_steps`]-style rounding, `round(t/dt)`,
//! to turn times into steps).

use crate::error::{Result, SimError};

/// A generator replaying given spikes.
#[derive(Debug, Clone)]
pub struct SpikeTimes {
    n: usize,
    events: Vec<(u64, u32)>,
    cursor: usize,
}

impl SpikeTimes {
    /// `n` outputs; spike `k` is output `neurons[k]` at step `steps[k]`. Errors on an index
    /// `>= n`, unequal lengths, or the same output twice in one step.
    pub fn new(n: usize, neurons: &[u32], steps: &[u64]) -> Result<Self> {
        if neurons.len() != steps.len() {
            return Err(SimError::length(
                "spike_times.steps",
                neurons.len(),
                steps.len(),
            ));
        }
        if let Some(&j) = neurons.iter().find(|&&j| j as usize >= n) {
            return Err(SimError::index("spike_times output", j as usize, n));
        }
        let mut events: Vec<(u64, u32)> =
            steps.iter().copied().zip(neurons.iter().copied()).collect();
        events.sort_unstable();
        if let Some(w) = events.windows(2).find(|w| w[0] == w[1]) {
            return Err(SimError::invalid(
                "spike_times",
                format!("output {} spikes twice in step {}", w[0].1, w[0].0),
            ));
        }
        Ok(SpikeTimes {
            n,
            events,
            cursor: 0,
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

    /// Appends the outputs spiking at `step` (ascending); spikes of past steps are skipped.
    pub(crate) fn emit(&mut self, step: u64, out: &mut Vec<u32>) {
        while self.cursor < self.events.len() && self.events[self.cursor].0 < step {
            self.cursor += 1;
        }
        while self.cursor < self.events.len() && self.events[self.cursor].0 == step {
            out.push(self.events[self.cursor].1);
            self.cursor += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replays_in_order_and_validates() {
        let mut g = SpikeTimes::new(3, &[2, 0, 1], &[5, 5, 7]).unwrap();
        let mut out = Vec::new();
        g.emit(4, &mut out);
        assert!(out.is_empty());
        g.emit(5, &mut out);
        assert_eq!(out, vec![0, 2]);
        out.clear();
        g.emit(7, &mut out);
        assert_eq!(out, vec![1]);
        assert!(SpikeTimes::new(3, &[3], &[0]).is_err());
        assert!(SpikeTimes::new(3, &[1, 1], &[2, 2]).is_err());
        assert!(SpikeTimes::new(3, &[1], &[2, 3]).is_err());
    }
}
