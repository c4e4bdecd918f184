//! Per-neuron parameters: one value for the whole population, or one per neuron.

use crate::error::{Result, SimError};

/// A parameter as the user gives it: a scalar shared by every neuron, or one value per neuron.
/// Units are those of the field it fills (documented there), always SI.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// The same value for every neuron.
    Scalar(f64),
    /// One value per neuron (length = population size).
    Array(Vec<f64>),
}

impl From<f64> for Param {
    fn from(value: f64) -> Self {
        Param::Scalar(value)
    }
}

impl From<Vec<f64>> for Param {
    fn from(values: Vec<f64>) -> Self {
        Param::Array(values)
    }
}

impl From<&[f64]> for Param {
    fn from(values: &[f64]) -> Self {
        Param::Array(values.to_vec())
    }
}

impl Param {
    /// Resolves against a population of `n` neurons, checking every value with `check`.
    pub(crate) fn resolve(
        &self,
        name: &str,
        n: usize,
        check: impl Fn(&str, f64) -> Result<()>,
    ) -> Result<PerNeuron> {
        match self {
            Param::Scalar(x) => {
                check(name, *x)?;
                Ok(PerNeuron::Uniform(*x))
            }
            Param::Array(values) => {
                if values.len() != n {
                    return Err(SimError::length(name, n, values.len()));
                }
                for (i, &x) in values.iter().enumerate() {
                    check(&format!("{name}[{i}]"), x)?;
                }
                Ok(PerNeuron::from_values(values.clone()))
            }
        }
    }
}

/// A resolved per-neuron quantity. Arrays whose values are all equal collapse to `Uniform`,
/// so the fast (vectorised, scalar-coefficient) paths are taken whenever they can be.
#[derive(Debug, Clone, PartialEq)]
pub enum PerNeuron {
    /// Same value everywhere.
    Uniform(f64),
    /// One value per neuron.
    Each(Box<[f64]>),
}

impl PerNeuron {
    pub(crate) fn from_values(values: Vec<f64>) -> Self {
        match values.first() {
            Some(&first) if values.iter().all(|&x| x.to_bits() == first.to_bits()) => {
                PerNeuron::Uniform(first)
            }
            _ => PerNeuron::Each(values.into_boxed_slice()),
        }
    }

    /// The value for neuron `i`.
    #[inline(always)]
    pub fn get(&self, i: usize) -> f64 {
        match self {
            PerNeuron::Uniform(x) => *x,
            PerNeuron::Each(values) => values[i],
        }
    }

    /// `Some(value)` when uniform.
    #[inline]
    pub fn uniform(&self) -> Option<f64> {
        match self {
            PerNeuron::Uniform(x) => Some(*x),
            PerNeuron::Each(_) => None,
        }
    }

    /// Applies `f` to every value (keeping uniformity).
    pub(crate) fn map(&self, f: impl Fn(f64) -> f64) -> PerNeuron {
        match self {
            PerNeuron::Uniform(x) => PerNeuron::Uniform(f(*x)),
            PerNeuron::Each(values) => {
                PerNeuron::from_values(values.iter().map(|&x| f(x)).collect())
            }
        }
    }

    /// Expands to `n` values.
    pub fn to_vec(&self, n: usize) -> Vec<f64> {
        match self {
            PerNeuron::Uniform(x) => vec![*x; n],
            PerNeuron::Each(values) => values.to_vec(),
        }
    }
}

/// The floating-point type a population's state is stored and advanced in.
///
/// `F64` (the default) is what Brian2 and NEST compute in, and what exact parity with Brian2
/// needs. `F32` halves the memory traffic of every step and doubles the SIMD width; spike
/// trains then differ from `F64` ones after the first rounding difference, but their
/// statistics (rates, ISI CVs) agree. Populations whose model has no single-precision kernel
/// (see [`crate::Network::set_precision`]) stay in `F64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    /// Double precision.
    #[default]
    F64,
    /// Single precision.
    F32,
}

impl Precision {
    /// `"float64"` or `"float32"`, as in the spec.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F64 => "float64",
            Precision::F32 => "float32",
        }
    }
}

/// A floating-point type the engine can hold state in (`f64` or `f32`).
pub(crate) trait Real:
    Copy
    + Send
    + Sync
    + Default
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::AddAssign
    + std::ops::MulAssign
    + std::fmt::Debug
    + 'static
{
    /// Rounds an `f64` to this type.
    fn of(x: f64) -> Self;
    /// The values as `f32`, when they are (the type an explicit SIMD loop handles).
    #[inline(always)]
    fn singles(_values: &mut [Self]) -> Option<&mut [f32]> {
        None
    }
}

impl Real for f64 {
    #[inline(always)]
    fn of(x: f64) -> Self {
        x
    }
}

impl Real for f32 {
    #[inline(always)]
    fn of(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn singles(values: &mut [Self]) -> Option<&mut [f32]> {
        Some(values)
    }
}

/// Brian2's `timestep(t, dt)`: the whole number of steps in `t`, robust to `t` being a hair
/// below a multiple of `dt` (`floor((t + 1e-3 dt) / dt)`). Used for refractory periods.
pub fn timestep(t: f64, dt: f64) -> u64 {
    let steps = ((t + 1e-3 * dt) / dt).floor();
    if steps <= 0.0 {
        0
    } else {
        steps as u64
    }
}

/// A time in seconds rounded to the nearest whole number of steps (used for synaptic delays
/// and spike times). Errors on negative or non-finite times and on counts beyond `u32::MAX`.
pub fn delay_steps(seconds: f64, dt: f64) -> Result<u32> {
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(SimError::invalid(
            "delay",
            format!("must be finite and >= 0 s, got {seconds}"),
        ));
    }
    let steps = (seconds / dt).round();
    if steps > u32::MAX as f64 {
        return Err(SimError::invalid(
            "delay",
            format!("{seconds} s is too many steps of {dt} s"),
        ));
    }
    Ok(steps as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::positive;

    #[test]
    fn scalars_arrays_and_collapse() {
        let p = Param::from(0.02).resolve("tau", 3, positive).unwrap();
        assert_eq!(p.uniform(), Some(0.02));
        let p = Param::from(vec![1.0, 1.0])
            .resolve("tau", 2, positive)
            .unwrap();
        assert_eq!(p.uniform(), Some(1.0));
        let p = Param::from(vec![1.0, 2.0])
            .resolve("tau", 2, positive)
            .unwrap();
        assert_eq!(p.get(1), 2.0);
        assert!(matches!(
            Param::from(vec![1.0]).resolve("tau", 2, positive),
            Err(SimError::LengthMismatch { .. })
        ));
        let err = Param::from(vec![1.0, -1.0])
            .resolve("tau", 2, positive)
            .unwrap_err();
        assert!(err.to_string().contains("tau[1]"), "{err}");
    }

    #[test]
    fn brian2_timestep() {
        assert_eq!(timestep(5e-3, 1e-4), 50);
        assert_eq!(timestep(0.0, 1e-4), 0);
        assert_eq!(timestep(2e-3, 0.1e-3), 20);
        assert_eq!(delay_steps(1.5e-3, 1e-4).unwrap(), 15);
        assert!(delay_steps(-1.0, 1e-4).is_err());
    }
}
