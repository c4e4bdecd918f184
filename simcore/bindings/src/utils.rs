//! What every binding needs: the one way to run engine work without the GIL (and honour
//! Ctrl-C), and the conversions of Python arguments to engine parameters.

use numpy::PyReadonlyArray1;
use pyo3::marker::Ungil;
use pyo3::prelude::*;
use simcore::{Delays, Param};

/// Runs `work` with the GIL released (other Python threads run meanwhile), then checks for
/// signals, so a Ctrl-C that arrived during the work raises `KeyboardInterrupt` right after it.
/// Every call that may take long goes through here; callers split long work into slices.
pub fn detached<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    F: Ungil + FnOnce() -> T,
    T: Ungil,
{
    let out = py.detach(work);
    py.check_signals()?;
    Ok(out)
}

/// A per-neuron (or per-synapse) parameter: one float, or a 1-D float64 array.
#[derive(FromPyObject)]
pub enum ParamArg<'py> {
    /// The same value everywhere.
    Scalar(f64),
    /// One value per element.
    Array(PyReadonlyArray1<'py, f64>),
}

impl ParamArg<'_> {
    /// The engine parameter (arrays are copied once, into the engine).
    pub fn to_param(&self) -> PyResult<Param> {
        Ok(match self {
            ParamArg::Scalar(x) => Param::Scalar(*x),
            ParamArg::Array(a) => Param::Array(a.as_slice()?.to_vec()),
        })
    }
}

/// Synaptic delays in steps: one for all synapses, or a 1-D uint32 array.
#[derive(FromPyObject)]
pub enum DelayArg<'py> {
    /// The same delay for every synapse.
    Uniform(u32),
    /// One delay per synapse (input order).
    Each(PyReadonlyArray1<'py, u32>),
}

impl DelayArg<'_> {
    /// The engine's delays.
    pub fn to_delays(&self) -> PyResult<Delays> {
        Ok(match self {
            DelayArg::Uniform(d) => Delays::Uniform(*d),
            DelayArg::Each(a) => Delays::PerSynapse(a.as_slice()?.to_vec()),
        })
    }
}

/// A contiguous slice of a read-only array (numpy arrays the Python layer made contiguous).
pub fn slice<'a, T: numpy::Element>(array: &'a PyReadonlyArray1<'_, T>) -> PyResult<&'a [T]> {
    Ok(array.as_slice()?)
}
