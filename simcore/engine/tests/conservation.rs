//! Conservation: every emitted spike reaches exactly its targets, exactly after its delay.
//!
//! Targets are perfect integrators (`tau = inf`) of delta synapses whose weights are distinct
//! integers, so `v` of each target at the start of every step must equal, exactly, the sum of
//! the weights of the spikes due before that step.

use simcore::rng::Rng;
use simcore::{
    ConnectOptions, Delays, LeakyIntegrator, LeakyIntegratorParams, Lif, LifParams, Network,
    Neuron, Param, Rule, Source, SynapseKind,
};

fn integrators(net: &mut Network, n: usize) -> (simcore::PopulationId, simcore::ReceptorId) {
    let p = LeakyIntegratorParams {
        tau_m: f64::INFINITY.into(),
        e_l: 0.0.into(),
        r_m: 1.0.into(),
    };
    let pop = net
        .add_population(
            "sink",
            Neuron::LeakyIntegrator(LeakyIntegrator::new(n, &p).unwrap()),
        )
        .unwrap();
    let rec = net.add_receptor(pop, "delta", SynapseKind::Delta).unwrap();
    (pop, rec)
}

/// Checks the sampled `v` against the spikes, synapses, delays and weights.
fn check(
    n_post: usize,
    steps: u64,
    spikes: (&[u32], &[u64]),
    synapses: (&[u32], &[u32], &[u32]),
    weights: &[f64],
    samples: &[f64],
) -> u64 {
    let mut expected = vec![vec![0.0f64; n_post]; steps as usize + 1];
    let mut by_source: Vec<Vec<usize>> = Vec::new();
    for (s, &i) in synapses.0.iter().enumerate() {
        if by_source.len() <= i as usize {
            by_source.resize(i as usize + 1, Vec::new());
        }
        by_source[i as usize].push(s);
    }
    let mut delivered = 0;
    for (&i, &t) in spikes.0.iter().zip(spikes.1) {
        for &s in by_source.get(i as usize).map(Vec::as_slice).unwrap_or(&[]) {
            let due = t + synapses.2[s] as u64; // delivered during step `due`
            if due < steps {
                expected[due as usize + 1][synapses.1[s] as usize] += weights[s];
                delivered += 1;
            }
        }
    }
    for t in 1..steps as usize {
        let (before, now) = expected.split_at_mut(t);
        for (x, &prev) in now[0].iter_mut().zip(&before[t - 1]) {
            *x += prev;
        }
    }
    for t in 0..steps as usize {
        for j in 0..n_post {
            let got = samples[t * n_post + j];
            assert_eq!(got, expected[t][j], "target {j} at step {t}");
        }
    }
    delivered
}

#[test]
fn generator_spikes_arrive_at_exactly_their_targets_after_exactly_their_delay() {
    let (n_pre, n_post, steps) = (60usize, 40usize, 300u64);
    let mut net = Network::new(1e-4).unwrap();
    let mut rng = Rng::new(4);
    let (mut ids, mut times) = (Vec::new(), Vec::new());
    for t in 0..250u64 {
        for i in 0..n_pre as u32 {
            if rng.uniform() < 0.03 {
                ids.push(i);
                times.push(t);
            }
        }
    }
    let gen = net.add_spike_times(n_pre, &ids, &times).unwrap();
    let (pop, rec) = integrators(&mut net, n_post);
    let conn = simcore::Connectivity::generate(
        &Rule::FixedProbability { p: 0.2 },
        n_pre,
        n_post,
        ConnectOptions {
            allow_self: true,
            seed: 8,
            ..Default::default()
        },
    )
    .unwrap();
    let n_syn = conn.n_synapses();
    let weights: Vec<f64> = (0..n_syn).map(|s| (s + 1) as f64).collect();
    let delays: Vec<u32> = (0..n_syn).map(|_| rng.below(20) as u32).collect();
    let proj = net
        .connect_with(
            Source::Generator(gen),
            rec,
            conn,
            &Param::Array(weights),
            &Delays::PerSynapse(delays),
        )
        .unwrap();
    let all: Vec<u32> = (0..n_post as u32).collect();
    net.add_state_monitor(pop, "v", &all, 1).unwrap();
    // in several chunks: the ring buffer carries spikes across chunk boundaries
    let mut samples = Vec::new();
    let mut events = 0;
    for chunk in [37, 100, 1, 162] {
        let out = net.run(chunk).unwrap();
        samples.extend_from_slice(&out.states[0].values);
        events += out.synaptic_events;
    }
    let projection = net.projection(proj).unwrap();
    let (pre, post, delay) = projection.synapses();
    let delivered = check(
        n_post,
        steps,
        (&ids, &times),
        (&pre, &post, &delay),
        &projection.weights(),
        &samples,
    );
    assert_eq!(events, delivered, "event count");
    assert!(delivered > 1000);
}

#[test]
fn neuron_spikes_arrive_with_uniform_delay_and_weight_scale() {
    let (n_pre, n_post, steps, delay) = (500usize, 30usize, 400u64, 7u32);
    let mut net = Network::new(1e-4).unwrap();
    let src = net
        .add_population(
            "src",
            Neuron::Lif(
                Lif::new(
                    n_pre,
                    &LifParams {
                        t_ref: 0.0.into(),
                        ..LifParams::default()
                    },
                )
                .unwrap(),
            ),
        )
        .unwrap();
    let drive = net
        .add_receptor(src, "drive", SynapseKind::ExpCurrent { tau: 2e-3 })
        .unwrap();
    let noise = net.add_poisson(n_pre, &Param::Scalar(2000.0), 3).unwrap();
    net.connect(
        Source::Generator(noise),
        drive,
        &Rule::OneToOne,
        ConnectOptions::default(),
        &Param::Scalar(2e-9),
        &Delays::Uniform(0),
    )
    .unwrap();
    let (pop, rec) = integrators(&mut net, n_post);
    let proj = net
        .connect(
            Source::Population(src),
            rec,
            &Rule::FixedInDegree { k: 25 },
            ConnectOptions {
                seed: 2,
                ..Default::default()
            },
            &Param::Scalar(1.0),
            &Delays::Uniform(delay),
        )
        .unwrap();
    net.set_weight_scale(proj, 3.0).unwrap();
    net.add_spike_monitor(Source::Population(src), None)
        .unwrap();
    let all: Vec<u32> = (0..n_post as u32).collect();
    net.add_state_monitor(pop, "v", &all, 1).unwrap();
    let out = net.run(steps).unwrap();
    let sp = &out.spikes[0];
    assert!(sp.neurons.len() > 200, "{} source spikes", sp.neurons.len());
    let projection = net.projection(proj).unwrap();
    let (pre, post, d) = projection.synapses();
    let scaled: Vec<f64> = projection.weights().iter().map(|w| w * 3.0).collect();
    let delivered = check(
        n_post,
        steps,
        (&sp.neurons, &sp.steps),
        (&pre, &post, &d),
        &scaled,
        &out.states[0].values,
    );
    // everything the source emitted was delivered into the first projection too
    assert!(delivered > 0);
    assert!(d.iter().all(|&x| x == delay));
}
