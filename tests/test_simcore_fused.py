"""Populations of one model with equal parameters run as one engine population, and the
projections between them share engine projections (``simcore.build``): the same network, the
same results, and every spec id still reads and steers its own part."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

import simcore
from simcore import Frame, _build
from simcore.spec import Component, ModelSpec, Monitor, Stimulus, Value
from tests.simcore_models import cuba, poisson

FIRST, SECOND = 2, 5
"""Frames run before the first weight change, and before the second."""


def model() -> ModelSpec:
    """CUBA at 4,000 neurons, watched and driven through parts of both populations."""
    monitors = (
        Monitor("exc_spikes", "exc", "spikes"),
        Monitor("inh_some", "inh", "spikes", neurons=(0, 3, 799, 17)),
        Monitor("inh_run", "inh", "spikes", neurons=(10, 11, 12, 13)),
        Monitor("inh_rate", "inh", "rate"),
        Monitor("exc_rate", "exc", "rate"),
        Monitor("inh_v", "inh", "state", variables=("v", "ei", "ii"), neurons=(5, 0, 799)),
    )
    stimuli = (
        poisson("kick", "inh", 50.0, 5.0, neurons=(1, 2, 400)),
        poisson("tap", "exc", 20.0, 1.0),
        Stimulus(
            "push",
            "exc",
            Component("constant_current", parameters={"amplitude": Value(unit="nA", value=0.3)}),
            neurons=(7, 3000),
        ),
    )
    return cuba(4000, indegree=80, seed=4, monitors=monitors, stimuli=stimuli)


def run(simulation: simcore.Simulation) -> list[Frame]:
    """0.2 s in frames of 20 ms; the excitatory weights onto I are halved after FIRST frames
    and the inhibitory ones onto E doubled after SECOND."""
    frames = []
    for index, frame in enumerate(simulation.run(0.2, frame_every=0.02)):
        frames.append(frame)
        if index == FIRST - 1:
            simulation.set_weight_scale("ei", 0.5)
        if index == SECOND - 1:
            simulation.set_weight_scale("ie", 2.0)
    return frames


@pytest.fixture
def apart(monkeypatch: pytest.MonkeyPatch) -> simcore.Simulation:
    """The model built with every population alone, as it was before populations ran as one."""
    with monkeypatch.context() as patch:
        patch.setattr(_build._Builder, "fusion_key", lambda self, population: None)
        return simcore.build(model(), threads=2)


def test_populations_run_as_one_with_the_results_they_have_apart(
    apart: simcore.Simulation,
) -> None:
    together = simcore.build(model(), threads=2)
    layout, alone = together._layout, apart._layout
    assert layout.populations["exc"] == layout.populations["inh"]
    assert layout.offsets == {"exc": 0, "inh": 3200}
    assert layout.projections["ee"] == layout.projections["ei"]
    assert layout.projections["ie"] == layout.projections["ii"] != layout.projections["ee"]
    assert alone.populations["exc"] != alone.populations["inh"]

    ours, theirs = run(together), run(apart)
    assert sum(len(f.spikes["exc_spikes"]) for f in ours) > 1000
    for mine, other in zip(ours, theirs, strict=True):
        assert mine.synaptic_events == other.synaptic_events
        assert mine.changes == other.changes
        assert mine.spikes.keys() == other.spikes.keys()
        for name, spikes in mine.spikes.items():
            np.testing.assert_array_equal(spikes.neurons, other.spikes[name].neurons)
            np.testing.assert_array_equal(spikes.steps, other.spikes[name].steps)
        for name, rates in mine.rates.items():
            np.testing.assert_array_equal(rates.hz, other.rates[name].hz)
        states, others = mine.states["inh_v"], other.states["inh_v"]
        np.testing.assert_array_equal(states.neurons, [5, 0, 799])
        for variable, values in states.values.items():
            np.testing.assert_array_equal(values, others.values[variable])
    # the changes took: the inhibitory population fires differently once its drive is halved
    inh = [f.rates["inh_rate"].hz.sum() for f in ours]
    assert sum(inh[FIRST:]) / (len(inh) - FIRST) < sum(inh[:FIRST]) / FIRST
    assert {n for f in ours for n in f.spikes["inh_run"].neurons} <= {10, 11, 12, 13}
    assert {n for f in ours for n in f.spikes["inh_some"].neurons} <= {0, 3, 17, 799}

    for population, variable in [("inh", "v"), ("exc", "ie"), ("exc", "v")]:
        mine, other = together.state(population, variable), apart.state(population, variable)
        assert mine.size == (800 if population == "inh" else 3200)
        np.testing.assert_array_equal(mine, other)
    for projection in ("ee", "ei", "ie", "ii"):
        assert together.n_synapses(projection) == apart.n_synapses(projection)
        for mine, other in zip(
            together.synapses(projection), apart.synapses(projection), strict=True
        ):
            np.testing.assert_array_equal(mine, other)


def test_populations_that_differ_run_apart() -> None:
    spec = cuba(1000, indegree=20)
    exc, inh = spec.populations
    parameters = inh.neuron.parameters | {"refractory": Value(unit="ms", value=2.0)}
    inh = msgspec.structs.replace(inh, neuron=Component("lif", parameters=parameters))
    layout = simcore.build(msgspec.structs.replace(spec, populations=(exc, inh)))._layout
    assert layout.populations["exc"] != layout.populations["inh"]
    assert layout.offsets == {"exc": 0, "inh": 0}


def test_a_population_named_like_a_group_is_still_its_own() -> None:
    spec = cuba(1000, indegree=20)
    exc, inh = spec.populations
    parameters = inh.neuron.parameters | {"refractory": Value(unit="ms", value=2.0)}
    named = msgspec.structs.replace(
        inh, id="exc+inh", neuron=Component("lif", parameters=parameters)
    )
    spec = msgspec.structs.replace(spec, populations=(exc, inh, named))
    simulation = simcore.build(spec)
    layout = simulation._layout
    assert layout.populations["exc"] == layout.populations["inh"] != layout.populations["exc+inh"]
    assert simulation.state("exc+inh", "v").size == named.size
