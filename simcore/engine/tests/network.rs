//! The network API: chunks, monitors, parameter changes between chunks, and clear errors.

use simcore::{
    Change, ConnectOptions, Delays, LeakyIntegrator, LeakyIntegratorParams, Lif, LifCond,
    LifCondParams, LifParams, Network, Neuron, Param, Precision, Rule, SimError, Source,
    SynapseKind,
};

fn lif(n: usize) -> Neuron {
    Neuron::Lif(Lif::new(n, &LifParams::default()).unwrap())
}

#[test]
fn chunks_return_what_was_recorded_since_the_last_chunk() {
    let mut net = Network::new(1e-4).unwrap();
    let pop = net.add_population("p", lif(10)).unwrap();
    net.add_current(pop, None, vec![(0, 0.5e-9)]).unwrap();
    let all = net
        .add_spike_monitor(Source::Population(pop), None)
        .unwrap();
    let some = net
        .add_spike_monitor(Source::Population(pop), Some(&[3, 7]))
        .unwrap();
    let st = net.add_state_monitor(pop, "v", &[0, 9], 10).unwrap();
    let rate = net
        .add_rate_monitor(Source::Population(pop), None, 30)
        .unwrap();
    let a = net.run(100).unwrap();
    let b = net.run(100).unwrap();
    assert_eq!(
        (a.start_step, a.end_step, b.start_step, b.end_step),
        (0, 100, 100, 200)
    );
    assert_eq!(net.step(), 200);
    assert!((net.time() - 0.02).abs() < 1e-15);
    for out in [&a, &b] {
        let s = &out.spikes[0];
        assert_eq!(s.monitor, all);
        assert!(s
            .steps
            .iter()
            .all(|&t| t >= out.start_step && t < out.end_step));
        assert_eq!(out.spikes[1].monitor, some);
        assert!(out.spikes[1].neurons.iter().all(|&j| j == 3 || j == 7));
        assert_eq!(out.states[0].monitor, st);
        assert_eq!(out.states[0].steps.len(), 10);
        assert_eq!(out.states[0].values.len(), 20);
        assert_eq!(out.rates[0].monitor, rate);
    }
    // all 10 neurons are identical: each spikes together, subset sees 2 of them
    assert_eq!(a.spikes[0].neurons.len(), 5 * a.spikes[1].neurons.len());
    // rate bins: 30 steps; 200 steps -> 6 complete bins, split 3 + 3 across the chunks
    assert_eq!(a.rates[0].steps, vec![0, 30, 60]);
    assert_eq!(b.rates[0].steps, vec![90, 120, 150]);
    assert_eq!(a.states[0].steps[0], 0);
    assert_eq!(b.states[0].steps[0], 100);
}

#[test]
fn a_rate_monitor_of_a_range_counts_only_its_neurons() {
    let mut net = Network::new(1e-4).unwrap();
    let pop = net.add_population("p", lif(10)).unwrap();
    net.add_current(pop, Some(vec![0, 1, 2, 3]), vec![(0, 0.5e-9)])
        .unwrap();
    let all = Source::Population(pop);
    net.add_rate_monitor(all, None, 1000).unwrap();
    net.add_rate_monitor(all, Some(0..4), 1000).unwrap();
    net.add_rate_monitor(all, Some(4..10), 1000).unwrap();
    assert!(net.add_rate_monitor(all, Some(4..11), 10).is_err());
    assert!(net.add_rate_monitor(all, Some(3..3), 10).is_err());
    let out = net.run(1000).unwrap();
    let hz: Vec<f64> = out.rates.iter().map(|r| r.rates[0]).collect();
    assert!(hz[0] > 0.0);
    // the 4 driven neurons of 10 make the whole rate; the other 6 are silent
    assert!((hz[1] - hz[0] * 10.0 / 4.0).abs() < 1e-9 * hz[1]);
    assert_eq!(hz[2], 0.0);
}

#[test]
fn appended_chunks_equal_one_long_chunk() {
    let build = || {
        let mut net = Network::new(1e-4).unwrap();
        let pop = net.add_population("p", lif(10)).unwrap();
        net.add_current(pop, None, vec![(0, 0.5e-9)]).unwrap();
        net.add_spike_monitor(Source::Population(pop), None)
            .unwrap();
        net.add_state_monitor(pop, "v", &[0, 9], 7).unwrap();
        net.add_rate_monitor(Source::Population(pop), None, 30)
            .unwrap();
        net
    };
    let mut once = build();
    let whole = once.run(300).unwrap();
    let mut pieces = build();
    let mut joined = pieces.run(110).unwrap();
    joined.append(pieces.run(95).unwrap());
    joined.append(pieces.run(95).unwrap());
    assert_eq!(joined, whole);
}

#[test]
fn poisson_rate_and_weight_scale_change_at_the_next_chunk() {
    let mut net = Network::new(1e-4).unwrap();
    let gen = net.add_poisson(1000, &Param::Scalar(10.0), 5).unwrap();
    let p = LeakyIntegratorParams {
        tau_m: f64::INFINITY.into(),
        ..Default::default()
    };
    let sink = net
        .add_population(
            "sink",
            Neuron::LeakyIntegrator(LeakyIntegrator::new(1, &p).unwrap()),
        )
        .unwrap();
    let d = net.add_receptor(sink, "d", SynapseKind::Delta).unwrap();
    let proj = net
        .connect(
            Source::Generator(gen),
            d,
            &Rule::AllToAll,
            ConnectOptions::default(),
            &Param::Scalar(1.0),
            &Delays::Uniform(0),
        )
        .unwrap();
    let mon = net.add_spike_monitor(Source::Generator(gen), None).unwrap();
    let a = net.run(10_000).unwrap();
    let count_a = a.spikes[0].neurons.len() as f64;
    assert_eq!(a.spikes[0].monitor, mon);
    assert!((count_a - 10_000.0).abs() < 500.0, "{count_a}");
    assert_eq!(net.state(sink, "v").unwrap()[0], count_a);
    net.apply(Change::PoissonRates {
        generator: gen,
        rates: Param::Scalar(40.0),
    })
    .unwrap();
    net.set_weight_scale(proj, 0.5).unwrap();
    let b = net.run(10_000).unwrap();
    let count_b = b.spikes[0].neurons.len() as f64;
    assert!((count_b - 40_000.0).abs() < 1000.0, "{count_b}");
    assert_eq!(net.state(sink, "v").unwrap()[0], count_a + 0.5 * count_b);
    assert_eq!(b.synaptic_events as f64, count_b);
}

#[test]
fn conductance_and_alpha_synapses_act_as_documented() {
    let mut net = Network::new(1e-5).unwrap();
    let pop = net
        .add_population(
            "c",
            Neuron::LifCond(LifCond::new(2, &LifCondParams::default()).unwrap()),
        )
        .unwrap();
    let ex = net
        .add_receptor(
            pop,
            "ge",
            SynapseKind::ExpConductance {
                tau: 5e-3,
                e_rev: 0.0,
            },
        )
        .unwrap();
    let inh = net
        .add_receptor(
            pop,
            "gi",
            SynapseKind::AlphaConductance {
                tau: 2e-3,
                e_rev: -80e-3,
            },
        )
        .unwrap();
    let src = net.add_spike_times(1, &[0], &[0]).unwrap();
    let conn = simcore::Connectivity::from_lists(1, 2, &[0], &[0]).unwrap();
    net.connect_with(
        Source::Generator(src),
        ex,
        conn,
        &Param::Scalar(5e-9),
        &Delays::Uniform(0),
    )
    .unwrap();
    let conn = simcore::Connectivity::from_lists(1, 2, &[0], &[1]).unwrap();
    net.connect_with(
        Source::Generator(src),
        inh,
        conn,
        &Param::Scalar(5e-9),
        &Delays::Uniform(0),
    )
    .unwrap();
    net.add_state_monitor(pop, "v", &[0, 1], 1).unwrap();
    net.add_state_monitor(pop, "gi", &[1], 1).unwrap();
    let out = net.run(3000).unwrap();
    let v = &out.states[0].values;
    let el = -60e-3;
    let v0: Vec<f64> = v.iter().step_by(2).copied().collect();
    let v1: Vec<f64> = v.iter().skip(1).step_by(2).copied().collect();
    let max0 = v0.iter().cloned().fold(f64::MIN, f64::max);
    let min1 = v1.iter().cloned().fold(f64::MAX, f64::min);
    assert!(max0 > el + 1e-3 && max0 < -50e-3, "EPSP peak {max0}");
    assert!(min1 < el - 0.5e-3, "IPSP trough {min1}");
    // the alpha conductance peaks at 5 nS after tau = 2 ms (200 steps)
    let g = &out.states[1].values;
    let (k, peak) = g
        .iter()
        .enumerate()
        .fold((0, 0.0), |a, (k, &x)| if x > a.1 { (k, x) } else { a });
    assert!((peak - 5e-9).abs() < 1e-13, "{peak}");
    assert!((k as i64 - 201).abs() <= 1, "peak at step {k}");
    assert!(net.state(pop, "gi_h").is_ok());
}

#[test]
fn user_errors_are_clear_and_nothing_panics() {
    let mut net = Network::new(1e-4).unwrap();
    assert!(Network::new(0.0).is_err());
    let pop = net.add_population("p", lif(5)).unwrap();
    assert!(net.add_population("p", lif(1)).is_err(), "duplicate name");
    // a conductance synapse on a current-based LIF
    let err = net
        .add_receptor(
            pop,
            "g",
            SynapseKind::ExpConductance {
                tau: 5e-3,
                e_rev: 0.0,
            },
        )
        .unwrap_err();
    assert!(matches!(err, SimError::Unsupported(_)));
    assert!(err.to_string().contains("lif_cond"), "{err}");
    let r = net
        .add_receptor(pop, "e", SynapseKind::ExpCurrent { tau: 5e-3 })
        .unwrap();
    assert!(
        net.add_receptor(pop, "e", SynapseKind::Delta).is_err(),
        "duplicate receptor"
    );
    // unknown variable lists the known ones
    let err = net.state(pop, "w").unwrap_err();
    assert!(err.to_string().contains("v, e"), "{err}");
    assert!(net
        .set_state(pop, "v", &Param::Array(vec![0.0; 3]))
        .is_err());
    assert!(net.add_state_monitor(pop, "v", &[5], 1).is_err());
    assert!(net.add_state_monitor(pop, "v", &[0], 0).is_err());
    assert!(net
        .add_spike_monitor(Source::Population(pop), Some(&[9]))
        .is_err());
    assert!(net
        .add_current(pop, Some(vec![7]), vec![(0, 1e-9)])
        .is_err());
    assert!(net
        .add_current(pop, None, vec![(5, 1e-9), (5, 0.0)])
        .is_err());
    // unknown ids
    assert!(matches!(
        net.population(simcore::PopulationId(9)),
        Err(SimError::UnknownId { .. })
    ));
    assert!(net.set_weight_scale(simcore::ProjectionId(0), 1.0).is_err());
    assert!(net
        .set_poisson_rates(simcore::GeneratorId(0), &Param::Scalar(1.0))
        .is_err());
    // wrong sizes
    let gen = net.add_poisson(3, &Param::Scalar(1.0), 0).unwrap();
    let conn = simcore::Connectivity::from_lists(2, 5, &[0], &[0]).unwrap();
    assert!(net
        .connect_with(
            Source::Generator(gen),
            r,
            conn,
            &Param::Scalar(1.0),
            &Delays::Uniform(0)
        )
        .is_err());
    let err = net
        .connect(
            Source::Generator(gen),
            r,
            &Rule::AllToAll,
            ConnectOptions::default(),
            &Param::Array(vec![1.0; 2]),
            &Delays::Uniform(0),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            SimError::LengthMismatch {
                expected: 15,
                got: 2,
                ..
            }
        ),
        "{err}"
    );
    // a non-spiking population is no spike source
    let li = net
        .add_population(
            "li",
            Neuron::LeakyIntegrator(
                LeakyIntegrator::new(2, &LeakyIntegratorParams::default()).unwrap(),
            ),
        )
        .unwrap();
    assert!(net.add_spike_monitor(Source::Population(li), None).is_err());
    // a Poisson rate above one spike per step is caught before running
    net.set_poisson_rates(gen, &Param::Scalar(20_000.0))
        .unwrap();
    assert!(net.run(1).is_err());
    net.set_poisson_rates(gen, &Param::Scalar(20.0)).unwrap();
    assert!(net.run(1).is_ok());
    assert!(
        net.set_poisson_rates(gen, &Param::Scalar(20_000.0))
            .is_err(),
        "checked at once once prepared"
    );
}

#[test]
fn float32_applies_where_a_kernel_exists_and_state_reads_either_way() {
    let mut net = Network::new(1e-4).unwrap();
    net.set_precision(Precision::F32);
    let fast = net.add_population("fast", lif(3)).unwrap();
    let ge = net
        .add_receptor(fast, "ge", SynapseKind::ExpCurrent { tau: 5e-3 })
        .unwrap();
    let jump = net.add_receptor(fast, "jump", SynapseKind::Delta).unwrap();
    let cond = net
        .add_population(
            "cond",
            Neuron::LifCond(LifCond::new(2, &LifCondParams::default()).unwrap()),
        )
        .unwrap();
    let input = net.add_spike_times(1, &[0, 0], &[0, 1]).unwrap();
    for (target, w) in [(ge, 1e-10), (jump, 1e-3)] {
        net.connect(
            Source::Generator(input),
            target,
            &Rule::AllToAll,
            ConnectOptions::default(),
            &Param::Scalar(w),
            &Delays::Uniform(0),
        )
        .unwrap();
    }
    net.prepare().unwrap();
    assert_eq!(net.population(fast).unwrap().precision(), Precision::F32);
    // no single-precision kernel for conductance-based neurons: they stay in f64
    assert_eq!(net.population(cond).unwrap().precision(), Precision::F64);
    net.set_state(fast, "v", &Param::Array(vec![-0.07, -0.065, 0.1]))
        .unwrap();
    let v = net.state(fast, "v").unwrap();
    assert_eq!(v, vec![-0.07f32 as f64, -0.065f32 as f64, 0.1f32 as f64]);
    net.set_state(fast, "v", &Param::Scalar(-0.07)).unwrap();
    net.run(2).unwrap();
    // two delta jumps of 1 mV and some exponential current, in single precision
    let v = net.state(fast, "v").unwrap();
    assert!(v.iter().all(|&x| x > -0.0681 && x < -0.0679), "{v:?}");
    assert!(net.state(fast, "ge").unwrap().iter().all(|&x| x > 0.0));
    // back to f64: the state converts, and runs on
    net.set_precision(Precision::F64);
    net.run(1).unwrap();
    assert_eq!(net.population(fast).unwrap().precision(), Precision::F64);
}
