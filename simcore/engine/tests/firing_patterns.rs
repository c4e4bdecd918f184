//! AdEx and Izhikevich firing patterns with published parameter sets, checked on spike counts
//! and inter-spike intervals: against the pattern's defining features, and against reference
//! spike trains computed by Brian2 2.9 (numpy target, `method='euler'`, dt = 0.01 ms, 500 ms,
//! constant current from t = 0, v starting at E_L (AdEx) or c with u = b c (Izhikevich)).
//!
//! AdEx parameter sets: Naud, Marcille, Clopath & Gerstner (2008), Biol. Cybern. 99:335, Table 1
//! (spike detection at 0 mV). Izhikevich: Izhikevich (2003), IEEE TNN 14:1569, Fig. 2, I = 10.

use simcore::{AdEx, AdExParams, Izhikevich, IzhikevichParams, Network, Neuron, Source};

const DT: f64 = 1e-5;
const STEPS: u64 = 50_000;

const ADEX_TONIC: &[u64] = &[
    1426, 2324, 3238, 4164, 5100, 6043, 6992, 7945, 8901, 9859, 10818, 11778, 12739, 13701, 14663,
    15626, 16589, 17552, 18515, 19478, 20441, 21404, 22367, 23330, 24293, 25256, 26219, 27182,
    28145, 29108, 30071, 31034, 31997, 32960, 33923, 34886, 35849, 36812, 37775, 38738, 39701,
    40664, 41627, 42590, 43553, 44516, 45479, 46442, 47405, 48368, 49331,
];
const ADEX_ADAPTING: &[u64] = &[
    1494, 2625, 4067, 6033, 8980, 13757, 20529, 28010, 35591, 43183,
];
const ADEX_INITIAL_BURST: &[u64] = &[
    550, 897, 1634, 7113, 13528, 19926, 26324, 32722, 39120, 45518,
];
const ADEX_REGULAR_BURSTING: &[u64] = &[1620, 1917, 2435, 15613, 16154, 29475, 30016, 43335, 43876];
const ADEX_DELAYED_ACCELERATING: &[u64] = &[
    3361, 5425, 7337, 9134, 10840, 12473, 14045, 15565, 17040, 18476, 19877, 21248, 22592, 23911,
    25208, 26484, 27742, 28983, 30208, 31419, 32616, 33801, 34974, 36136, 37288, 38430, 39563,
    40688, 41805, 42914, 44016, 45112, 46201, 47284, 48361, 49433,
];
const ADEX_TRANSIENT: &[u64] = &[824, 1008, 1337, 9980, 18255, 26534, 34813, 43092];
const IZH_RS: &[u64] = &[
    314, 2629, 7115, 11599, 16083, 20567, 25051, 29535, 34019, 38503, 42987, 47471,
];
const IZH_IB: &[u64] = &[
    197, 478, 3795, 6919, 10044, 13169, 16294, 19419, 22544, 25669, 28794, 31919, 35044, 38169,
    41294, 44419, 47544,
];
const IZH_CH: &[u64] = &[
    145, 305, 485, 693, 949, 1343, 6114, 6298, 6512, 6781, 7262, 12059, 12243, 12457, 12726, 13207,
    18004, 18188, 18402, 18671, 19152, 23949, 24133, 24347, 24616, 25097, 29894, 30078, 30292,
    30561, 31042, 35839, 36023, 36237, 36506, 36987, 41784, 41968, 42182, 42451, 42932, 47729,
    47913, 48127, 48396, 48877,
];
const IZH_FS: &[u64] = &[
    317, 750, 1342, 2048, 2783, 3521, 4258, 4995, 5732, 6469, 7206, 7944, 8682, 9420, 10158, 10895,
    11633, 12372, 13110, 13847, 14584, 15321, 16059, 16798, 17537, 18276, 19014, 19752, 20491,
    21229, 21966, 22703, 23441, 24179, 24917, 25655, 26392, 27129, 27867, 28606, 29344, 30082,
    30821, 31559, 32296, 33033, 33770, 34508, 35246, 35983, 36720, 37457, 38195, 38933, 39670,
    40407, 41144, 41882, 42620, 43358, 44096, 44834, 45573, 46311, 47048, 47785, 48523, 49261,
    49998,
];
const IZH_LTS: &[u64] = &[
    248, 537, 886, 1332, 1960, 2942, 4244, 5584, 6924, 8264, 9604, 10944, 12284, 13624, 14963,
    16302, 17641, 18980, 20319, 21658, 22997, 24337, 25677, 27016, 28356, 29696, 31035, 32374,
    33713, 35052, 36391, 37731, 39072, 40412, 41751, 43091, 44431, 45771, 47111, 48450, 49789,
];

fn run(neuron: Neuron, amps: f64) -> Vec<u64> {
    let mut net = Network::new(DT).unwrap();
    let pop = net.add_population("cell", neuron).unwrap();
    net.add_current(pop, None, vec![(0, amps)]).unwrap();
    net.add_spike_monitor(Source::Population(pop), None)
        .unwrap();
    net.run(STEPS).unwrap().spikes.remove(0).steps
}

/// (C pF, gL nS, EL mV, VT mV, DT mV, a nS, tauw ms, b pA, Vr mV, I pA)
fn adex(set: [f64; 10]) -> Vec<u64> {
    let [c, gl, el, vt, dtt, a, tauw, b, vr, i] = set;
    let p = AdExParams {
        c_m: (c * 1e-12).into(),
        g_l: (gl * 1e-9).into(),
        e_l: (el * 1e-3).into(),
        v_t: (vt * 1e-3).into(),
        delta_t: (dtt * 1e-3).into(),
        a: (a * 1e-9).into(),
        tau_w: (tauw * 1e-3).into(),
        b: (b * 1e-12).into(),
        v_reset: (vr * 1e-3).into(),
        v_peak: 0.0.into(),
        t_ref: 0.0.into(),
    };
    run(Neuron::AdEx(AdEx::new(1, &p).unwrap()), i * 1e-12)
}

fn izhikevich(a: f64, b: f64, c: f64, d: f64) -> Vec<u64> {
    let p = IzhikevichParams::from_paper(a, b, c, d);
    // I = 10 (mV/ms) is 10 pA through the default 1 pF.
    run(Neuron::Izhikevich(Izhikevich::new(1, &p).unwrap()), 10e-12)
}

fn isis_ms(steps: &[u64]) -> Vec<f64> {
    steps
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64 * DT * 1e3)
        .collect()
}

/// Same count (+-1) and each of the first spikes within 0.1 ms of Brian2's.
fn matches_reference(name: &str, got: &[u64], reference: &[u64]) {
    assert!(
        (got.len() as i64 - reference.len() as i64).abs() <= 1,
        "{name}: {} spikes, Brian2 {}",
        got.len(),
        reference.len()
    );
    for (k, (&g, &r)) in got.iter().zip(reference).take(10).enumerate() {
        assert!(
            (g as i64 - r as i64).abs() <= 10,
            "{name}: spike {k} at step {g}, Brian2 {r}"
        );
    }
}

#[test]
fn adex_tonic_spiking() {
    let s = adex([200.0, 10.0, -70.0, -50.0, 2.0, 2.0, 30.0, 0.0, -58.0, 500.0]);
    matches_reference("tonic", &s, ADEX_TONIC);
    let isi = isis_ms(&s);
    // regular: the late ISIs are constant, and close to the early ones (little adaptation)
    let late = &isi[isi.len() - 10..];
    let spread = late.iter().cloned().fold(f64::MIN, f64::max)
        - late.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread < 0.05, "late ISIs vary by {spread} ms");
    assert!(isi[0] / late[0] > 0.85, "{isi:?}");
}

#[test]
fn adex_adaptation() {
    let s = adex([
        200.0, 12.0, -70.0, -50.0, 2.0, 2.0, 300.0, 60.0, -58.0, 500.0,
    ]);
    matches_reference("adapting", &s, ADEX_ADAPTING);
    let isi = isis_ms(&s);
    assert!(
        isi.windows(2).all(|w| w[1] >= w[0] * 0.99),
        "ISIs must lengthen: {isi:?}"
    );
    assert!(
        isi[isi.len() - 1] > 5.0 * isi[0],
        "strong adaptation: {isi:?}"
    );
}

#[test]
fn adex_initial_burst() {
    let s = adex([
        130.0, 18.0, -58.0, -50.0, 2.0, 4.0, 150.0, 120.0, -50.0, 400.0,
    ]);
    matches_reference("initial burst", &s, ADEX_INITIAL_BURST);
    let isi = isis_ms(&s);
    // a burst of short ISIs, then regular long ones
    assert!(isi[0] < 10.0 && isi[1] < 10.0, "{isi:?}");
    assert!(isi[2..].iter().all(|&x| x > 40.0), "{isi:?}");
}

#[test]
fn adex_regular_bursting() {
    let s = adex([
        200.0, 10.0, -58.0, -50.0, 2.0, 2.0, 120.0, 100.0, -46.0, 210.0,
    ]);
    matches_reference("regular bursting", &s, ADEX_REGULAR_BURSTING);
    let isi = isis_ms(&s);
    // bimodal ISIs: intra-burst < 10 ms, inter-burst > 100 ms, nothing in between, repeating
    assert!(isi.iter().all(|&x| !(10.0..=100.0).contains(&x)), "{isi:?}");
    assert!(isi.iter().filter(|&&x| x > 100.0).count() >= 3, "{isi:?}");
    assert!(isi.iter().filter(|&&x| x < 10.0).count() >= 4, "{isi:?}");
}

#[test]
fn adex_delayed_accelerating_and_transient() {
    let s = adex([
        200.0, 12.0, -70.0, -50.0, 2.0, -10.0, 300.0, 0.0, -58.0, 300.0,
    ]);
    matches_reference("delayed accelerating", &s, ADEX_DELAYED_ACCELERATING);
    let isi = isis_ms(&s);
    assert!(s[0] as f64 * DT > 0.02, "delayed onset");
    assert!(
        isi.windows(2).all(|w| w[1] <= w[0]),
        "ISIs must shorten: {isi:?}"
    );
    let s = adex([
        100.0, 10.0, -65.0, -50.0, 2.0, 10.0, 90.0, 100.0, -47.0, 350.0,
    ]);
    matches_reference("transient", &s, ADEX_TRANSIENT);
}

#[test]
fn izhikevich_regular_spiking() {
    let s = izhikevich(0.02, 0.2, -65.0, 8.0);
    matches_reference("RS", &s, IZH_RS);
    let isi = isis_ms(&s);
    // spike-frequency adaptation to a steady tonic rate, no bursts
    assert!(isi[0] < isi[isi.len() - 1], "{isi:?}");
    assert!(isi.iter().all(|&x| x > 15.0), "{isi:?}");
}

#[test]
fn izhikevich_intrinsically_bursting_and_chattering() {
    let s = izhikevich(0.02, 0.2, -55.0, 4.0);
    matches_reference("IB", &s, IZH_IB);
    let isi = isis_ms(&s);
    assert!(isi[0] < 5.0, "initial burst: {isi:?}");
    assert!(isi[1..].iter().all(|&x| x > 25.0), "then tonic: {isi:?}");

    let s = izhikevich(0.02, 0.2, -50.0, 2.0);
    matches_reference("CH", &s, IZH_CH);
    let isi = isis_ms(&s);
    let long = isi.iter().filter(|&&x| x > 30.0).count();
    let short = isi.iter().filter(|&&x| x < 6.0).count();
    assert!(long >= 6 && short >= 4 * long, "repetitive bursts: {isi:?}");
    assert!(isi.iter().all(|&x| !(6.0..=30.0).contains(&x)), "{isi:?}");
}

#[test]
fn izhikevich_fast_spiking_and_low_threshold() {
    let s = izhikevich(0.1, 0.2, -65.0, 2.0);
    matches_reference("FS", &s, IZH_FS);
    let isi = isis_ms(&s);
    let late = &isi[10..];
    assert!(
        late.iter().all(|&x| (x - late[0]).abs() < 0.1),
        "no adaptation: {late:?}"
    );
    assert!(s.len() > 50, "fast: {} spikes in 0.5 s", s.len());
    let s = izhikevich(0.02, 0.25, -65.0, 2.0);
    matches_reference("LTS", &s, IZH_LTS);
}
