//! Thin PyO3 wrappers over the `simcore` engine crate; no engine logic lives here.
//!
//! `network.rs` wraps [`simcore::Network`], `connectivity.rs` [`simcore::Connectivity`],
//! `error.rs` maps [`simcore::SimError`] onto the `simcore.SimulationError` family, and
//! `utils.rs` holds the one helper that releases the GIL around long calls.
use pyo3::prelude::*;

mod connectivity;
mod error;
mod network;
mod utils;

/// The `simcore._native` extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ENGINE_VERSION", simcore::VERSION)?;
    m.add("BLOCK", simcore::synapses::BLOCK)?;
    m.add_class::<network::Network>()?;
    m.add_class::<network::Chunk>()?;
    m.add_class::<connectivity::Connectivity>()?;
    error::register(m)?;
    Ok(())
}
