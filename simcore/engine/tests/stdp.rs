//! Pair-based STDP against its closed form.

use simcore::{
    Bounds, ConnectOptions, Delays, Lif, LifParams, Network, Neuron, Pairing, Param, Rule, Source,
    StdpParams, SynapseKind,
};

const DT: f64 = 1e-4;
const TAU_PRE: f64 = 16.8e-3;
const TAU_POST: f64 = 33.7e-3;
const A_PLUS: f64 = 0.01;
const A_MINUS: f64 = 0.0125;

fn params(bounds: Bounds) -> StdpParams {
    StdpParams {
        tau_pre: TAU_PRE,
        tau_post: TAU_POST,
        a_plus: A_PLUS,
        a_minus: A_MINUS,
        w_min: 0.0,
        w_max: 1.0,
        bounds,
        pairing: Pairing::AllToAll,
    }
}

/// One pre neuron (spikes at `pre`, synapse delay `delay`) onto one post neuron forced to spike
/// at each step of `post`; returns the final weight starting from `w0`.
fn run_pairs(pre: &[u64], post: &[u64], delay: u32, stdp: StdpParams, w0: f64) -> f64 {
    let mut net = Network::new(DT).unwrap();
    // a tiny R_m: the plastic synapse (weights ~0.5 A) must not move the membrane
    let cell = LifParams {
        t_ref: 0.0.into(),
        r_m: 1e-9.into(),
        ..LifParams::default()
    };
    let pop = net
        .add_population("post", Neuron::Lif(Lif::new(1, &cell).unwrap()))
        .unwrap();
    let kick = net.add_receptor(pop, "kick", SynapseKind::Delta).unwrap();
    let syn = net
        .add_receptor(pop, "syn", SynapseKind::ExpCurrent { tau: 5e-3 })
        .unwrap();
    // the forcing input lands one step before the post spike
    let force_steps: Vec<u64> = post.iter().map(|&s| s - 1).collect();
    let force = net
        .add_spike_times(1, &vec![0; force_steps.len()], &force_steps)
        .unwrap();
    net.connect(
        Source::Generator(force),
        kick,
        &Rule::OneToOne,
        ConnectOptions::default(),
        &Param::Scalar(1.0),
        &Delays::Uniform(0),
    )
    .unwrap();
    let src = net.add_spike_times(1, &vec![0; pre.len()], pre).unwrap();
    let proj = net
        .connect(
            Source::Generator(src),
            syn,
            &Rule::OneToOne,
            ConnectOptions::default(),
            &Param::Scalar(w0),
            &Delays::Uniform(delay),
        )
        .unwrap();
    net.enable_stdp(proj, stdp).unwrap();
    net.add_spike_monitor(Source::Population(pop), None)
        .unwrap();
    let out = net.run(3000).unwrap();
    assert_eq!(
        out.spikes[0].steps, post,
        "the post neuron spikes when forced, and only then"
    );
    net.projection(proj).unwrap().weights()[0]
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * b.abs().max(1e-3)
}

#[test]
fn additive_pre_before_post_potentiates_by_the_closed_form() {
    for lag in [0u64, 1, 10, 100, 400] {
        let w0 = 0.5;
        let w = run_pairs(&[1000], &[1000 + lag], 0, params(Bounds::Additive), w0);
        let expected = w0 + A_PLUS * (-(lag as f64) * DT / TAU_PRE).exp();
        assert!(close(w, expected), "lag {lag}: {w} vs {expected}");
    }
}

#[test]
fn additive_post_before_pre_depresses_by_the_closed_form() {
    for lag in [1u64, 10, 100, 400] {
        let w0 = 0.5;
        let w = run_pairs(&[1000 + lag], &[1000], 0, params(Bounds::Additive), w0);
        let expected = w0 - A_MINUS * (-(lag as f64) * DT / TAU_POST).exp();
        assert!(close(w, expected), "lag {lag}: {w} vs {expected}");
    }
}

#[test]
fn multiplicative_bounds_scale_with_the_distance_to_the_bound() {
    let lag = 50u64;
    for w0 in [0.1, 0.5, 0.9] {
        let w = run_pairs(
            &[1000],
            &[1000 + lag],
            0,
            params(Bounds::Multiplicative),
            w0,
        );
        let expected = w0 + A_PLUS * (1.0 - w0) * (-(lag as f64) * DT / TAU_PRE).exp();
        assert!(close(w, expected), "LTP w0 {w0}: {w} vs {expected}");
        let w = run_pairs(
            &[1000 + lag],
            &[1000],
            0,
            params(Bounds::Multiplicative),
            w0,
        );
        let expected = w0 - A_MINUS * w0 * (-(lag as f64) * DT / TAU_POST).exp();
        assert!(close(w, expected), "LTD w0 {w0}: {w} vs {expected}");
    }
}

#[test]
fn timing_uses_the_arrival_after_the_delay() {
    // pre emitted at 1000 with delay 30 arrives at 1030; post at 1020 is *before* the arrival
    let w = run_pairs(&[1000], &[1020], 30, params(Bounds::Additive), 0.5);
    let expected = 0.5 - A_MINUS * (-10.0 * DT / TAU_POST).exp();
    assert!(close(w, expected), "{w} vs {expected}");
}

#[test]
fn all_to_all_pairs_add_and_hard_bounds_clip() {
    let (a, b) = (1000u64, 1000u64);
    let w = run_pairs(&[a], &[b + 10, b + 30], 0, params(Bounds::Additive), 0.5);
    let expected = 0.5 + A_PLUS * ((-10.0 * DT / TAU_PRE).exp() + (-30.0 * DT / TAU_PRE).exp());
    assert!(close(w, expected), "{w} vs {expected}");
    let big = StdpParams {
        a_plus: 0.8,
        ..params(Bounds::Additive)
    };
    assert_eq!(run_pairs(&[a], &[b + 1], 0, big, 0.5), 1.0);
    let big = StdpParams {
        a_minus: 0.8,
        ..params(Bounds::Additive)
    };
    assert_eq!(run_pairs(&[a + 1], &[b], 0, big, 0.5), 0.0);
    // nearest-spike pairing: only the latest pre spike counts
    let nearest = StdpParams {
        pairing: Pairing::Nearest,
        ..params(Bounds::Additive)
    };
    let w = run_pairs(&[a, a + 10], &[b + 20], 0, nearest, 0.5);
    let expected = 0.5 + A_PLUS * (-10.0 * DT / TAU_PRE).exp();
    assert!(close(w, expected), "{w} vs {expected}");
}

#[test]
fn invalid_stdp_parameters_are_rejected() {
    let mut net = Network::new(DT).unwrap();
    let pop = net
        .add_population(
            "p",
            Neuron::Lif(Lif::new(2, &LifParams::default()).unwrap()),
        )
        .unwrap();
    let r = net
        .add_receptor(pop, "e", SynapseKind::ExpCurrent { tau: 5e-3 })
        .unwrap();
    let proj = net
        .connect(
            Source::Population(pop),
            r,
            &Rule::AllToAll,
            ConnectOptions::default(),
            &Param::Scalar(0.1),
            &Delays::Uniform(1),
        )
        .unwrap();
    let bad = StdpParams {
        w_min: 2.0,
        ..params(Bounds::Additive)
    };
    let err = net.enable_stdp(proj, bad).unwrap_err();
    assert!(err.to_string().contains("w_max"), "{err}");
    let bad = StdpParams {
        tau_pre: 0.0,
        ..params(Bounds::Additive)
    };
    assert!(net.enable_stdp(proj, bad).is_err());
}
