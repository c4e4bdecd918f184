//! Brian2's examples/CUBA.py (Vogels & Abbott 2005) built on simcore: shared by the CUBA tests
//! and the `cuba` example.
#![allow(dead_code)]

use simcore::rng::Rng;
use simcore::{
    Block, ConnectOptions, Connectivity, Delays, Lif, LifParams, Network, Neuron, Param,
    PopulationId, Rule, Source, SynapseKind,
};

pub const DT: f64 = 1e-4;
pub const TAUM: f64 = 20e-3;
pub const TAUE: f64 = 5e-3;
pub const TAUI: f64 = 10e-3;
pub const VT: f64 = -50e-3;
pub const VR: f64 = -60e-3;
pub const EL: f64 = -49e-3;

/// `we = (60*0.27/10) mV`, `wi = (-20*4.5/10) mV`, computed as Brian2 does.
pub fn weights() -> (f64, f64) {
    (60.0 * 0.27 / 10.0 * 1e-3, -20.0 * 4.5 / 10.0 * 1e-3)
}

pub struct Cuba {
    pub net: Network,
    pub pop: PopulationId,
    pub n: usize,
}

/// How the synapses are made.
pub enum Wiring {
    /// Brian2's rule: each pair with probability `p` (self-connections allowed).
    Probability(f64),
    /// Fixed in-degree from each of E and I (the benchmark's scaling: p = indegree / n).
    InDegree(usize),
    /// Explicit lists (e.g. Brian2's own), with initial `v`.
    Lists {
        exc: (Vec<u32>, Vec<u32>),
        inh: (Vec<u32>, Vec<u32>),
        v0: Vec<f64>,
    },
}

pub fn build(n: usize, wiring: Wiring, seed: u64) -> Cuba {
    let n_exc = n * 4 / 5;
    let n_inh = n - n_exc;
    let mut net = Network::new(DT).unwrap();
    let params = LifParams {
        tau_m: TAUM.into(),
        e_l: EL.into(),
        v_reset: VR.into(),
        v_threshold: VT.into(),
        r_m: 1.0.into(), // ge, gi are in volts
        t_ref: 5e-3.into(),
    };
    let pop = net
        .add_population("P", Neuron::Lif(Lif::new(n, &params).unwrap()))
        .unwrap();
    let ge = net
        .add_receptor(pop, "ge", SynapseKind::ExpCurrent { tau: TAUE })
        .unwrap();
    let gi = net
        .add_receptor(pop, "gi", SynapseKind::ExpCurrent { tau: TAUI })
        .unwrap();
    let options = |s: u64| ConnectOptions {
        allow_self: true,
        allow_multapses: false,
        seed: s,
    };
    // E and I are the first n_exc and the last n_inh neurons of one population
    let rows_from = |rule: Rule, n_pre: usize, pre_offset: usize, seed: u64| {
        let synapses = Connectivity::generate(&rule, n_pre, n, options(seed)).unwrap();
        let block = Block {
            synapses,
            pre_offset,
            post_offset: 0,
        };
        Connectivity::stack(n, n, vec![block]).unwrap()
    };
    let (exc, inh, v0) = match wiring {
        Wiring::Probability(p) => (
            rows_from(Rule::FixedProbability { p }, n_exc, 0, seed),
            rows_from(Rule::FixedProbability { p }, n_inh, n_exc, seed + 1),
            None,
        ),
        Wiring::InDegree(k) => (
            rows_from(Rule::FixedInDegree { k: k * 4 / 5 }, n_exc, 0, seed),
            rows_from(Rule::FixedInDegree { k: k / 5 }, n_inh, n_exc, seed + 1),
            None,
        ),
        Wiring::Lists { exc, inh, v0 } => (
            Connectivity::from_lists(n, n, &exc.0, &exc.1).unwrap(),
            Connectivity::from_lists(n, n, &inh.0, &inh.1).unwrap(),
            Some(v0),
        ),
    };
    let (we, wi) = weights();
    net.connect_with(
        Source::Population(pop),
        ge,
        exc,
        &Param::Scalar(we),
        &Delays::Uniform(0),
    )
    .unwrap();
    net.connect_with(
        Source::Population(pop),
        gi,
        inh,
        &Param::Scalar(wi),
        &Delays::Uniform(0),
    )
    .unwrap();
    let v0 = v0.unwrap_or_else(|| {
        let mut rng = Rng::stream(seed, 0xC0BA);
        (0..n).map(|_| VR + rng.uniform() * (VT - VR)).collect()
    });
    net.set_state(pop, "v", &Param::Array(v0)).unwrap();
    Cuba { net, pop, n }
}

/// Mean rate (Hz) and mean CV of ISIs over neurons with at least 3 spikes.
pub fn rate_and_cv(n: usize, duration: f64, neurons: &[u32], steps: &[u64]) -> (f64, f64) {
    let rate = neurons.len() as f64 / n as f64 / duration;
    let mut trains: Vec<Vec<u64>> = vec![Vec::new(); n];
    for (&j, &s) in neurons.iter().zip(steps) {
        trains[j as usize].push(s);
    }
    let cvs: Vec<f64> = trains
        .iter()
        .filter(|t| t.len() >= 3)
        .map(|t| {
            let isi: Vec<f64> = t.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
            let m = isi.iter().sum::<f64>() / isi.len() as f64;
            let var = isi.iter().map(|x| (x - m).powi(2)).sum::<f64>() / isi.len() as f64;
            var.sqrt() / m
        })
        .collect();
    let cv = if cvs.is_empty() {
        f64::NAN
    } else {
        cvs.iter().sum::<f64>() / cvs.len() as f64
    };
    (rate, cv)
}
