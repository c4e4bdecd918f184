"""CUBA (Vogels & Abbott 2005, Brian2's examples/CUBA.py) through ``simcore.build``, against
the Brian2 run stored in ``tests/data/brian2_cuba.npz`` (made by
``bench/peers/brian2_cuba.py --save``): the statistics of our own network, and the exact
spike trains when simcore is given Brian2's connectivity and initial state."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pytest

import simcore
from simcore.spec import Component, Connector, ModelSpec, Monitor, Population, Projection, Value
from tests.simcore_models import CUBA_NEURON, CUBA_TAU, CUBA_WEIGHT, cuba, ms, mv, rate_and_cv

REFERENCE = Path(__file__).parent / "data" / "brian2_cuba.npz"


@pytest.fixture(scope="module")
def brian2() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as data:
        return {key: data[key] for key in data.files}


def run_spikes(spec: ModelSpec, monitors: dict[str, int], *, threads: int = 1):
    """All spikes of a run: (neuron ids offset per monitor, steps)."""
    simulation = simcore.build(spec, threads=threads)
    neurons, steps = [], []
    for frame in simulation.run(frame_every=0.25):
        for monitor, offset in monitors.items():
            spikes = frame.spikes[monitor]
            neurons.append(spikes.neurons.astype(np.int64) + offset)
            steps.append(spikes.steps.astype(np.int64))
    return np.concatenate(neurons), np.concatenate(steps)


@pytest.mark.parametrize("precision", ["float64", "float32"])
def test_rate_and_cv_within_ten_percent_of_brian2(
    brian2: dict[str, np.ndarray], precision: Literal["float64", "float32"]
) -> None:
    """Brian2 computes in float64; simcore's float32 state must keep the same statistics."""
    n, duration = int(brian2["n"]), float(brian2["duration"])
    reference = rate_and_cv(n, duration, brian2["spike_i"], brian2["spike_step"])
    assert reference[0] == pytest.approx(5.615, abs=1e-3)
    spec = cuba(n, seed=1, precision=precision)
    simulation = simcore.build(spec)
    assert simulation.precision == precision
    assert {simulation.population_precision(p.id) for p in spec.populations} == {precision}
    neurons, steps = run_spikes(spec, {"exc_spikes": 0, "inh_spikes": 3200})
    rate, cv = rate_and_cv(n, duration, neurons, steps)
    print(
        f"simcore ({precision}) rate {rate:.3f} Hz, CV {cv:.3f}; "
        f"Brian2 {reference[0]:.3f} Hz, {reference[1]:.3f}"
    )
    assert rate == pytest.approx(reference[0], rel=0.10)
    assert cv == pytest.approx(reference[1], rel=0.10)


def brian2_spec(brian2: dict[str, np.ndarray]) -> ModelSpec:
    """CUBA as Brian2 built it: one population, its two synapse lists, its initial v."""
    n = int(brian2["n"])

    def projection(kind: str) -> Projection:
        pairs = tuple(zip(brian2[f"{kind}_i"].tolist(), brian2[f"{kind}_j"].tolist(), strict=True))
        return Projection(
            kind,
            "P",
            "P",
            Component("exp_current", parameters={"tau": ms(CUBA_TAU[kind])}),
            Connector("explicit", pairs=pairs),
            weight=mv(CUBA_WEIGHT[kind]),
            delay=ms(0.0),
        )

    v0 = Value(unit="V", value=tuple(brian2["v0"].tolist()))
    return ModelSpec(
        name="CUBA (Brian2's network)",
        kind="snn",
        populations=(Population("P", n, CUBA_NEURON, initial={"v": v0}),),
        projections=(projection("exc"), projection("inh")),
        monitors=(Monitor("spikes", "P", "spikes"),),
    )


def test_brian2s_own_network_gives_brian2s_spikes(brian2: dict[str, np.ndarray]) -> None:
    neurons, steps = run_spikes(brian2_spec(brian2), {"spikes": 0})
    ours = np.stack([steps, neurons])[:, np.lexsort((neurons, steps))]
    theirs_i, theirs_s = brian2["spike_i"].astype(np.int64), brian2["spike_step"].astype(np.int64)
    theirs = np.stack([theirs_s, theirs_i])[:, np.lexsort((theirs_i, theirs_s))]
    common = min(ours.shape[1], theirs.shape[1])
    differ = np.flatnonzero((ours[:, :common] != theirs[:, :common]).any(axis=0))
    if differ.size or ours.shape != theirs.shape:
        first = int(differ[0]) if differ.size else common
        step = int(min(ours[0, first : first + 1].tolist() + theirs[0, first : first + 1].tolist()))
        pytest.fail(
            f"the spike trains diverge at spike {first} (step {step}, t = {step * 0.1} ms): "
            f"{ours.shape[1]} spikes here, {theirs.shape[1]} in Brian2"
        )
    assert ours.shape[1] == 22_461
