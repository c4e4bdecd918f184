//! Injected currents: constant or piecewise constant (step) amplitudes, in amperes, into all
//! neurons of a population or a subset. The amplitude of a step applies for the whole step
//! (the LIF's exact integration treats it as constant over the step).

use crate::error::{Result, SimError};

/// A current injected into a population.
#[derive(Debug, Clone)]
pub struct CurrentInput {
    pub(crate) population: usize,
    pub(crate) neurons: Option<Vec<u32>>,
    /// `(first step, amplitude in A)`, ascending steps.
    schedule: Vec<(u64, f64)>,
    cursor: usize,
    value: f64,
}

impl CurrentInput {
    /// A current of `schedule[k].1` amperes from step `schedule[k].0` until the next entry
    /// (0 A before the first). A constant current is `[(0, amps)]`.
    pub(crate) fn new(
        population: usize,
        neurons: Option<Vec<u32>>,
        schedule: Vec<(u64, f64)>,
    ) -> Result<Self> {
        if let Some((_, a)) = schedule.iter().find(|(_, a)| !a.is_finite()) {
            return Err(SimError::invalid(
                "current.amplitude",
                format!("must be finite, got {a}"),
            ));
        }
        if schedule.windows(2).any(|w| w[0].0 >= w[1].0) {
            return Err(SimError::invalid(
                "current.schedule",
                "steps must be strictly increasing",
            ));
        }
        Ok(CurrentInput {
            population,
            neurons,
            schedule,
            cursor: 0,
            value: 0.0,
        })
    }

    /// Amplitude now (A).
    pub fn value(&self) -> f64 {
        self.value
    }

    /// Moves to `step`; true if the amplitude changed.
    pub(crate) fn advance(&mut self, step: u64) -> bool {
        let mut changed = false;
        while self.cursor < self.schedule.len() && self.schedule[self.cursor].0 <= step {
            let v = self.schedule[self.cursor].1;
            changed |= v.to_bits() != self.value.to_bits();
            self.value = v;
            self.cursor += 1;
        }
        changed
    }

    /// Replaces what is left of the schedule by a constant `amps` from `step` on.
    pub(crate) fn set_amplitude(&mut self, step: u64, amps: f64) -> Result<()> {
        if !amps.is_finite() {
            return Err(SimError::invalid(
                "current.amplitude",
                format!("must be finite, got {amps}"),
            ));
        }
        self.schedule.truncate(self.cursor);
        self.schedule.push((step, amps));
        Ok(())
    }
}
