//! Engine errors as Python exceptions: one family under `simcore.SimulationError` (a
//! `ValueError`), one subclass per [`SimError`] variant, so callers can catch broadly or
//! precisely. The exceptions are re-exported by the `simcore` package.

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use simcore::SimError;

create_exception!(
    simcore,
    SimulationError,
    PyValueError,
    "Something the engine refused: a bad parameter, a wrong length, an unknown id or variable, an unsupported combination."
);
create_exception!(
    simcore,
    InvalidParameterError,
    SimulationError,
    "A parameter outside its domain (a negative time constant, p > 1, ...)."
);
create_exception!(
    simcore,
    LengthMismatchError,
    SimulationError,
    "An array whose length does not match what it describes."
);
create_exception!(
    simcore,
    IndexOutOfRangeError,
    SimulationError,
    "A neuron or synapse index out of range."
);
create_exception!(
    simcore,
    UnknownIdError,
    SimulationError,
    "An id (population, projection, generator, monitor, ...) the network does not hold."
);
create_exception!(
    simcore,
    UnknownVariableError,
    SimulationError,
    "A state variable (or parameter) the model does not have."
);
create_exception!(
    simcore,
    UnsupportedError,
    SimulationError,
    "A combination the engine does not support (a conductance synapse on a current-based LIF)."
);

/// The Python exception for an engine error; the message is the engine's.
pub fn to_py(error: SimError) -> PyErr {
    let message = error.to_string();
    match error {
        SimError::InvalidParameter { .. } => InvalidParameterError::new_err(message),
        SimError::LengthMismatch { .. } => LengthMismatchError::new_err(message),
        SimError::IndexOutOfRange { .. } => IndexOutOfRangeError::new_err(message),
        SimError::UnknownId { .. } => UnknownIdError::new_err(message),
        SimError::UnknownVariable { .. } => UnknownVariableError::new_err(message),
        SimError::Unsupported(_) => UnsupportedError::new_err(message),
    }
}

/// `?` for engine results inside binding code: `net.run(n).py()?`.
pub trait IntoPyResult<T> {
    /// Maps the engine error with [`to_py`].
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for simcore::Result<T> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}

/// Registers the exception family on the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("SimulationError", py.get_type::<SimulationError>())?;
    m.add(
        "InvalidParameterError",
        py.get_type::<InvalidParameterError>(),
    )?;
    m.add("LengthMismatchError", py.get_type::<LengthMismatchError>())?;
    m.add(
        "IndexOutOfRangeError",
        py.get_type::<IndexOutOfRangeError>(),
    )?;
    m.add("UnknownIdError", py.get_type::<UnknownIdError>())?;
    m.add(
        "UnknownVariableError",
        py.get_type::<UnknownVariableError>(),
    )?;
    m.add("UnsupportedError", py.get_type::<UnsupportedError>())?;
    Ok(())
}
