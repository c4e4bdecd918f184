//! Synaptic plasticity rules.

pub mod stdp;

pub use stdp::{Bounds, Pairing, StdpParams};
