//! simcore: the SPIKE-X spiking-network engine.
//!
//! This crate knows nothing about Python; the `simcore-bindings` crate wraps it for
//! `simcore._native`, and `cargo test` exercises it directly.
//!
//! Units: everything is SI — seconds, volts, amperes, siemens, farads, ohms, hertz — and `f64`
//! at the API; the state of a population may be held in `f32` ([`Precision`]).
//! Time is counted in integer steps of `dt`; synaptic delays and spike times are whole steps.
//!
//! ```
//! use simcore::{Network, Neuron, Lif, LifParams, SynapseKind, Rule, ConnectOptions, Param, Delays, Source};
//! let mut net = Network::new(1e-4).unwrap();
//! let pop = net.add_population("exc", Neuron::Lif(Lif::new(100, &LifParams::default()).unwrap())).unwrap();
//! let ge = net.add_receptor(pop, "ge", SynapseKind::ExpCurrent { tau: 5e-3 }).unwrap();
//! let input = net.add_poisson(100, &Param::Scalar(50.0), 1).unwrap();
//! net.connect(Source::Generator(input), ge, &Rule::OneToOne, ConnectOptions::default(),
//!             &Param::Scalar(1e-10), &Delays::Uniform(0)).unwrap();
//! let spikes = net.add_spike_monitor(Source::Population(pop), None).unwrap();
//! let chunk = net.run(1000).unwrap();
//! assert_eq!(chunk.spikes[0].monitor, spikes);
//! ```

pub mod connectivity;
pub mod error;
pub mod inputs;
mod memory;
pub mod monitors;
pub mod network;
pub mod neurons;
pub mod params;
pub mod plasticity;
pub mod rng;
pub mod synapses;

pub use connectivity::{Block, ConnectOptions, Connectivity, Rule};
pub use error::{Result, SimError};
pub use inputs::Generator;
pub use monitors::{ChunkOutput, RateData, SpikeData, StateData};
pub use network::{
    Change, CurrentId, GeneratorId, MonitorId, Network, Population, PopulationId, ProjectionId,
    ReceptorId, Source,
};
pub use neurons::{
    AdEx, AdExParams, Izhikevich, IzhikevichParams, LeakyIntegrator, LeakyIntegratorParams, Lif,
    LifCond, LifCondParams, LifParams, Neuron, NeuronModel,
};
pub use params::{delay_steps, timestep, Param, PerNeuron, Precision};
pub use plasticity::{Bounds, Pairing, StdpParams};
pub use synapses::projection::{Delays, Projection};
pub use synapses::SynapseKind;

/// The engine's version, as recorded with every run so results can be traced to a build.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[cfg(test)]
mod tests {
    #[test]
    fn version_is_the_crate_version() {
        assert_eq!(super::VERSION, "0.1.0");
    }
}
