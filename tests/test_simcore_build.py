"""``simcore.build``: a ModelSpec onto the engine. Closed-form checks of what it builds, and
errors that name the spec path of the offending item."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest

import simcore
from simcore import BuildError
from simcore.spec import (
    Component,
    Connector,
    ModelSpec,
    Monitor,
    Population,
    Projection,
    Simulation,
    Stimulus,
    Value,
)
from tests.simcore_models import cuba, ms, mv

DT = 1e-4
TAU, EL, VR, VT, R, TREF = 10e-3, -70e-3, -65e-3, -50e-3, 100e6, 2e-3


def na(value: float | tuple[float, ...]) -> Value:
    return Value(unit="nA", value=value)


def lif_spec(amps: tuple[float, ...], *, record_v: bool = False, duration: float = 500.0):
    """One LIF neuron per amplitude (nA), each driven by its own constant current."""
    neuron = Component(
        "lif",
        parameters={
            "tau_m": ms(10.0),
            "v_rest": mv(-70.0),
            "v_reset": mv(-65.0),
            "v_threshold": mv(-50.0),
            "r_m": Value(unit="MOhm", value=100.0),
            "refractory": ms(2.0),
        },
    )
    monitors = [Monitor("spikes", "lif", "spikes")]
    if record_v:
        monitors.append(Monitor("v", "lif", "state", variables=("v",), neurons=(0,)))
    return ModelSpec(
        name="LIF under constant current",
        kind="snn",
        simulation=Simulation(dt=ms(0.1), duration=ms(duration)),
        populations=(Population("lif", len(amps), neuron),),
        stimuli=tuple(
            Stimulus(
                f"I{j}", "lif", Component("constant_current", parameters={"amplitude": na(a)}), (j,)
            )
            for j, a in enumerate(amps)
        ),
        monitors=tuple(monitors),
    )


def time_to_threshold(amps: float, start: float) -> float:
    v_inf = EL + R * amps
    return TAU * math.log((v_inf - start) / (v_inf - VT))


def spikes_of(spec: ModelSpec, monitor: str = "spikes") -> tuple[np.ndarray, np.ndarray]:
    frames = list(simcore.build(spec, threads=1).run())
    neurons = np.concatenate([f.spikes[monitor].neurons for f in frames])
    steps = np.concatenate([f.spikes[monitor].steps for f in frames])
    return neurons, steps


def test_lif_spike_times_match_the_analytical_solution_within_one_step() -> None:
    amps = 0.35e-9  # v_inf = -35 mV
    _, steps = spikes_of(lif_spec((0.35,), record_v=True))
    assert steps.size > 10
    times = steps * DT
    first, period = time_to_threshold(amps, EL), TREF + time_to_threshold(amps, VR)
    # each spike is where the closed form puts it, counted from the previous recorded spike
    analytic = np.concatenate([[first], times[:-1] + period])
    assert np.all((analytic - times >= -1e-12) & (analytic - times < DT)), analytic - times


def test_lif_membrane_is_the_exact_exponential_relaxation() -> None:
    simulation = simcore.build(lif_spec((0.1,), record_v=True, duration=20.0), threads=1)
    frame = next(simulation.run(frame_every=0.02))
    v = frame.states["v"].values["v"][:, 0]
    t = frame.states["v"].steps * DT
    v_inf = EL + R * 0.1e-9
    np.testing.assert_allclose(v, v_inf + (EL - v_inf) * np.exp(-t / TAU), rtol=0, atol=1e-12)


def test_lif_f_i_curve_matches_the_closed_form() -> None:
    amps = (0.16, 0.2, 0.3, 0.5, 1.0, 2.0)  # rheobase: 0.2 nA
    neurons, steps = spikes_of(lif_spec(amps, duration=1000.0))
    for j, a in enumerate(amps):
        train = steps[neurons == j] * DT
        if a * 1e-9 * R <= VT - EL:  # at or below rheobase: silent
            assert train.size == 0, (a, train.size)
            continue
        rate = 1.0 / (TREF + time_to_threshold(a * 1e-9, VR))
        isi = np.diff(train)
        # every interval is the closed form rounded to whole steps
        assert np.all(np.abs(isi - 1.0 / rate) < DT + 1e-12), (a, isi[:3], 1.0 / rate)
        assert 1.0 / isi.mean() == pytest.approx(rate, rel=0.02 + rate * DT)


def test_values_are_drawn_per_element_from_the_seed() -> None:
    def initial_v(seed: int) -> np.ndarray:
        simulation = simcore.build(cuba(400, seed=seed), threads=1)
        return simulation.state("exc", "v")

    a, b, c = initial_v(3), initial_v(3), initial_v(4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= -60e-3 and a.max() < -50e-3 and a.std() > 2e-3


def test_weights_in_volts_are_divided_by_r_m_and_receptors_are_named_after_projections() -> None:
    simulation = simcore.build(cuba(400, seed=1), threads=1)
    pre, post, delay, weight = simulation.synapses("ee")
    assert pre.size == post.size == weight.size > 0
    assert np.all(delay == 0)
    np.testing.assert_allclose(weight, 1.62e-3 / 100e6)
    assert simulation.state("exc", "ee").shape == (320,)
    assert simulation.state("exc", "ie").shape == (320,)


def test_fixed_indegree_and_per_synapse_values() -> None:
    spec = cuba(500, indegree=20, seed=2)
    ee = msgspec.structs.replace(
        spec.projections[0],
        weight=Value(unit="mV", normal=(1.0, 0.1)),
        delay=Value(unit="ms", uniform=(1.0, 2.0)),
    )
    spec = msgspec.structs.replace(spec, projections=(ee, *spec.projections[1:]))
    simulation = simcore.build(spec, threads=1)
    _, post, delay, weight = simulation.synapses("ee")
    assert np.all(np.bincount(post, minlength=400) == 16)
    assert delay.min() >= 10 and delay.max() <= 20
    assert weight.std() > 0


def test_stimuli_drive_their_targets() -> None:
    neuron = Component("lif", parameters={"refractory": ms(0.0)})
    spec = ModelSpec(
        name="inputs",
        kind="snn",
        simulation=Simulation(duration=ms(100.0)),
        populations=(Population("p", 4, neuron),),
        stimuli=(
            Stimulus(
                "kick",
                "p",
                Component(
                    "spike_times", parameters={"times": Value(unit="ms", value=(10.0, 20.0))}
                ),
                neurons=(0,),
                weight=mv(25.0),
            ),
            Stimulus(
                "noise",
                "p",
                Component("poisson", parameters={"rate": Value(unit="Hz", value=0.0)}),
                (1,),
                weight=mv(25.0),
            ),
            Stimulus(
                "steps",
                "p",
                Component(
                    "step_current",
                    parameters={"times": ms((0.0, 50.0)), "amplitudes": na((0.0, 0.5))},
                ),
                neurons=(2,),
            ),
        ),
        monitors=(Monitor("spikes", "p", "spikes"),),
    )
    neurons, steps = spikes_of(spec)
    # a 25 mV jump from rest (-70 mV) crosses -50 mV: an input emitted at step 100 lands after
    # that step's threshold (Brian2's order), so neuron 0 spikes in the next step
    assert steps[neurons == 0].tolist() == [101, 201]
    assert np.sum(neurons == 1) == 0  # 0 Hz
    assert np.all(steps[neurons == 2] >= 500) and np.sum(neurons == 2) > 0
    assert np.sum(neurons == 3) == 0


def error_paths(spec: ModelSpec) -> dict[str, str]:
    with pytest.raises(BuildError) as raised:
        simcore.build(spec)
    assert isinstance(raised.value, ValueError)
    return {error.path: error.message for error in raised.value.errors}


def test_errors_point_at_spec_paths() -> None:
    spec = cuba(100)
    exc, inh = spec.populations
    ee, _, _, ii = spec.projections
    broken = msgspec.structs.replace(
        spec,
        populations=(
            msgspec.structs.replace(exc, neuron=Component("hodgkin_huxley")),
            msgspec.structs.replace(
                inh,
                neuron=Component(
                    "lif",
                    parameters={"tau_m": mv(20.0), "tau_x": ms(1.0)},
                ),
            ),
        ),
        projections=(
            ee,
            msgspec.structs.replace(ii, synapse=Component("exp_conductance")),
            msgspec.structs.replace(ii, id="ii2", weight=Value(unit="nS", value=1.0)),
        ),
    )
    errors = error_paths(broken)
    assert "unknown neuron 'hodgkin_huxley'" in errors["populations/exc/neuron/name"]
    assert "lif" in errors["populations/exc/neuron/name"]
    assert "tau_x" in errors["populations/inh/neuron/parameters/tau_x"]
    # the first problem of an item is reported; fixing it shows the next
    fixed = msgspec.structs.replace(
        broken.populations[1], neuron=Component("lif", parameters={"tau_m": mv(20.0)})
    )
    errors = error_paths(msgspec.structs.replace(broken, populations=(exc, fixed)))
    assert (
        "mV is a voltage, but a time is needed" in errors["populations/inh/neuron/parameters/tau_m"]
    )
    # with a valid inh population, its projections are checked too
    errors = error_paths(msgspec.structs.replace(broken, populations=(exc, inh)))
    assert "use lif_cond" in errors["projections/ii/synapse"]
    assert "nS is a conductance" in errors["projections/ii2/weight"]
    assert set(errors) == {
        "projections/ii/synapse",
        "projections/ii2/weight",
    }


def test_spec_check_errors_and_unsupported_combinations() -> None:
    spec = cuba(100)
    errors = error_paths(
        msgspec.structs.replace(
            spec,
            monitors=(
                Monitor("m", "nowhere", "spikes"),
                Monitor("s", "exc", "state", variables=("v", "w")),
                Monitor("r", "exc", "rate", neurons=(1,)),
            ),
        )
    )
    assert "no population called 'nowhere'" in errors["monitors/m/target"]
    errors = error_paths(
        msgspec.structs.replace(
            spec,
            monitors=(
                Monitor("s", "exc", "state", variables=("v", "w")),
                Monitor("r", "exc", "rate", neurons=(1,)),
            ),
            stimuli=(
                Stimulus("p", "exc", Component("poisson")),
                Stimulus(
                    "c", "exc", Component("constant_current", parameters={"amplitude": ms(1.0)})
                ),
                Stimulus("x", "exc", Component("lif")),
            ),
        )
    )
    assert "has no variable 'w'" in errors["monitors/s/variables/1"]
    assert "whole population" in errors["monitors/r/neurons"]
    assert "needs a weight" in errors["stimuli/p/weight"]
    assert "a current is needed" in errors["stimuli/c/generator/parameters/amplitude"]
    assert "'lif' is a neuron" in errors["stimuli/x/generator/name"]
    ann = msgspec.structs.replace(spec, kind="ann")
    assert "spiking" in error_paths(ann)["kind"]


def test_voltage_weights_need_a_resistance() -> None:
    spec = cuba(100)
    adex = [msgspec.structs.replace(p, neuron=Component("adex")) for p in spec.populations]
    errors = error_paths(msgspec.structs.replace(spec, populations=tuple(adex)))
    assert "give amperes" in errors["projections/ee/weight"]
    amps = [
        msgspec.structs.replace(p, weight=Value(unit="pA", value=50.0)) for p in spec.projections
    ]
    simcore.build(msgspec.structs.replace(spec, populations=tuple(adex), projections=tuple(amps)))


def test_other_models_and_plasticity_build_and_run() -> None:
    spec = ModelSpec(
        name="zoo",
        kind="snn",
        simulation=Simulation(duration=ms(50.0)),
        populations=(
            Population(
                "adex", 10, Component("adex", parameters={"b": Value(unit="pA", value=60.0)})
            ),
            Population("izh", 10, Component("izhikevich")),
            Population("cond", 10, Component("lif_cond")),
            Population("readout", 2, Component("leaky_integrator")),
        ),
        projections=(
            Projection(
                "plastic",
                "izh",
                "cond",
                Component("alpha_conductance", parameters={"tau": ms(2.0)}),
                Connector("all_to_all"),
                weight=Value(unit="nS", value=2.0),
                delay=ms(1.5),
                plasticity=Component(
                    "stdp",
                    parameters={
                        "a_plus": Value(unit="nS", value=0.1),
                        "a_minus": Value(unit="nS", value=0.12),
                        "w_max": Value(unit="nS", value=5.0),
                    },
                ),
            ),
            Projection(
                "read",
                "cond",
                "readout",
                Component("alpha_current"),
                Connector("fixed_outdegree", count=1),
                weight=na(1.0),
                delay=ms(0.0),
            ),
        ),
        stimuli=(
            Stimulus(
                "drive_adex",
                "adex",
                Component("constant_current", parameters={"amplitude": na(0.5)}),
            ),
            Stimulus(
                "drive_izh",
                "izh",
                Component(
                    "constant_current", parameters={"amplitude": Value(unit="pA", value=10.0)}
                ),
            ),
        ),
        monitors=(
            Monitor("izh", "izh", "spikes"),
            Monitor("adex", "adex", "state", variables=("v", "w"), neurons=(0,)),
            Monitor("readout", "readout", "state", variables=("v", "read", "read_h")),
        ),
    )
    simulation = simcore.build(spec, threads=1)
    frames = list(simulation.run(frame_every=0.025))
    assert sum(len(f.spikes["izh"]) for f in frames) > 10
    w = np.concatenate([f.states["adex"].values["w"][:, 0] for f in frames])
    assert w.max() > 0  # adaptation grows with each spike (b = 60 pA)
    assert frames[0].states["readout"].values["read_h"].shape == (250, 2)
