//! Thin PyO3 wrappers over the `simcore` engine crate; no engine logic lives here.
use pyo3::prelude::*;

/// The `simcore._native` extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ENGINE_VERSION", simcore::VERSION)?;
    Ok(())
}
