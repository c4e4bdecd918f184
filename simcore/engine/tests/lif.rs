//! Current-based LIF against its closed-form solution.

use simcore::{Lif, LifParams, Network, Neuron, Param, PopulationId, Precision, Source};

const TAU: f64 = 10e-3;
const EL: f64 = -70e-3;
const VR: f64 = -65e-3;
const VT: f64 = -50e-3;
const R: f64 = 100e6;
const TREF: f64 = 2e-3;
const DT: f64 = 1e-4;

fn params() -> LifParams {
    LifParams {
        tau_m: TAU.into(),
        e_l: EL.into(),
        v_reset: VR.into(),
        v_threshold: VT.into(),
        r_m: R.into(),
        t_ref: TREF.into(),
    }
}

fn single(n: usize, amps: &[f64]) -> (Network, PopulationId) {
    let mut net = Network::new(DT).unwrap();
    let pop = net
        .add_population("lif", Neuron::Lif(Lif::new(n, &params()).unwrap()))
        .unwrap();
    for (j, &a) in amps.iter().enumerate() {
        net.add_current(pop, Some(vec![j as u32]), vec![(0, a)])
            .unwrap();
    }
    (net, pop)
}

/// Time for `v` to go from `from` to threshold under a constant drive (closed form).
fn time_to_threshold(amps: f64, from: f64) -> f64 {
    let v_inf = EL + R * amps;
    TAU * ((v_inf - from) / (v_inf - VT)).ln()
}

#[test]
fn spike_times_match_the_analytical_solution_within_one_step() {
    let amps = 0.35e-9; // v_inf = -35 mV
    let (mut net, pop) = single(1, &[amps]);
    let mon = net
        .add_spike_monitor(Source::Population(pop), None)
        .unwrap();
    let out = net.run(5_000).unwrap();
    let steps = &out.spikes[0].steps;
    assert_eq!(out.spikes[0].monitor, mon);
    assert!(steps.len() > 20, "{} spikes", steps.len());

    let first = time_to_threshold(amps, EL);
    let period = TREF + time_to_threshold(amps, VR);
    for (k, &s) in steps.iter().enumerate() {
        let t = s as f64 * DT;
        // The discrete trajectory restarts at every reset; the analytical spike of this
        // neuron is at the previous recorded spike + the period.
        let analytic = if k == 0 {
            first
        } else {
            steps[k - 1] as f64 * DT + period
        };
        let error = analytic - t;
        assert!(
            (0.0..DT).contains(&error) || error.abs() < 1e-12,
            "spike {k}: at {t} s, analytic {analytic} s"
        );
    }
    // Exact step numbers: floor(T/dt) for the first spike, R_steps + floor(T/dt) for each ISI.
    let ref_steps = simcore::timestep(TREF, DT);
    assert_eq!(steps[0], (first / DT).floor() as u64);
    let isi = ref_steps + (time_to_threshold(amps, VR) / DT).floor() as u64;
    for w in steps.windows(2) {
        assert_eq!(w[1] - w[0], isi);
    }
    // and the membrane between spikes is the exact exponential relaxation
    let (mut net, pop) = single(1, &[amps]);
    let sm = net.add_state_monitor(pop, "v", &[0], 1).unwrap();
    let out = net.run(50).unwrap();
    assert_eq!(out.states[0].monitor, sm);
    for (n, &v) in out.states[0].values.iter().enumerate() {
        let expected = EL + R * amps + (EL - (EL + R * amps)) * (-(n as f64) * DT / TAU).exp();
        assert!((v - expected).abs() < 1e-14, "step {n}: {v} vs {expected}");
    }
}

#[test]
fn f_i_curve_matches_the_closed_form() {
    // one neuron per current, 1 s
    let currents: Vec<f64> = (0..30).map(|k| 0.1e-9 + k as f64 * 0.03e-9).collect();
    let (mut net, pop) = single(currents.len(), &currents);
    net.add_spike_monitor(Source::Population(pop), None)
        .unwrap();
    let out = net.run(10_000).unwrap();
    let mut counts = vec![0u64; currents.len()];
    for &j in &out.spikes[0].neurons {
        counts[j as usize] += 1;
    }
    let duration = 1.0;
    for (j, &amps) in currents.iter().enumerate() {
        let rate = counts[j] as f64 / duration;
        if EL + R * amps <= VT {
            assert_eq!(counts[j], 0, "below rheobase at {amps} A");
            continue;
        }
        let period = TREF + time_to_threshold(amps, VR);
        let f = 1.0 / period;
        // Each discrete ISI lies in (period - dt, period], so the rate lies between
        // 1/period and 1/(period - dt), up to one spike of counting at the ends.
        let lo = duration / period - 1.0;
        let hi = duration / (period - DT) + 1.0;
        assert!(
            (lo..=hi).contains(&rate),
            "I = {amps:e} A: rate {rate} Hz, closed form {f} Hz (allowed {lo}..{hi})"
        );
    }
}

#[test]
fn refractory_period_follows_brian2s_rule() {
    // A huge current makes the neuron fire as soon as it is allowed to: every R steps.
    let (mut net, pop) = single(1, &[100e-9]);
    net.add_spike_monitor(Source::Population(pop), None)
        .unwrap();
    let out = net.run(1_000).unwrap();
    let steps = &out.spikes[0].steps;
    assert_eq!(steps[0], 0);
    for w in steps.windows(2) {
        assert_eq!(w[1] - w[0], 20, "2 ms at 0.1 ms is 20 steps");
    }
}

#[test]
fn refractory_periods_of_each_neuron_and_precision_follow_brian2s_rule() {
    // Per-neuron periods up to a byte of steps (255) and beyond it (300), in f64 and f32:
    // a huge current makes each neuron fire every R steps.
    for periods in [[20u32, 255], [20, 300]] {
        for precision in [Precision::F64, Precision::F32] {
            let p = LifParams {
                t_ref: Param::Array(periods.iter().map(|&r| r as f64 * DT).collect()),
                ..params()
            };
            let mut net = Network::new(DT).unwrap();
            let pop = net
                .add_population("lif", Neuron::Lif(Lif::new(2, &p).unwrap()))
                .unwrap();
            net.add_current(pop, None, vec![(0, 100e-9)]).unwrap();
            net.add_spike_monitor(Source::Population(pop), None)
                .unwrap();
            net.set_precision(precision);
            let out = net.run(2_000).unwrap();
            for (j, &r) in periods.iter().enumerate() {
                let steps: Vec<u64> = (out.spikes[0].neurons.iter())
                    .zip(&out.spikes[0].steps)
                    .filter(|(&n, _)| n == j as u32)
                    .map(|(_, &s)| s)
                    .collect();
                assert_eq!(
                    steps.len(),
                    2_000usize.div_ceil(r as usize),
                    "{periods:?} {j}"
                );
                assert!(steps
                    .iter()
                    .enumerate()
                    .all(|(k, &s)| s == k as u64 * r as u64));
            }
        }
    }
}

#[test]
fn per_neuron_parameters() {
    let mut p = params();
    p.v_threshold = Param::Array(vec![-50e-3, -45e-3]);
    let mut net = Network::new(DT).unwrap();
    let pop = net
        .add_population("lif", Neuron::Lif(Lif::new(2, &p).unwrap()))
        .unwrap();
    net.add_current(pop, None, vec![(0, 0.35e-9)]).unwrap();
    net.add_spike_monitor(Source::Population(pop), None)
        .unwrap();
    let out = net.run(5_000).unwrap();
    let count = |j: u32| out.spikes[0].neurons.iter().filter(|&&x| x == j).count();
    assert!(
        count(0) > count(1) && count(1) > 0,
        "{} vs {}",
        count(0),
        count(1)
    );
    assert!(Lif::new(
        2,
        &LifParams {
            tau_m: Param::Array(vec![1.0]),
            ..params()
        }
    )
    .is_err());
    assert!(Lif::new(
        1,
        &LifParams {
            tau_m: (-1.0).into(),
            ..params()
        }
    )
    .is_err());
}

#[test]
fn step_current_switches_at_its_step() {
    let (mut net, pop) = single(1, &[]);
    net.add_current(pop, None, vec![(100, 0.5e-9), (300, 0.0)])
        .unwrap();
    net.add_spike_monitor(Source::Population(pop), None)
        .unwrap();
    let out = net.run(2_000).unwrap();
    let steps = &out.spikes[0].steps;
    assert!(!steps.is_empty());
    assert!(steps.iter().all(|&s| (100..300).contains(&s)), "{steps:?}");
    // a change between chunks applies from the next chunk
    let cur = net.add_current(pop, None, vec![(0, 0.0)]).unwrap();
    net.set_current_amplitude(cur, 0.5e-9).unwrap();
    let out = net.run(1_000).unwrap();
    assert!(out.spikes[0].steps.iter().all(|&s| s >= 2_000));
    assert!(!out.spikes[0].steps.is_empty());
}
