"""Model specs the simcore tests share (and ``bench/cuba.py`` builds on)."""

from __future__ import annotations

from typing import Literal

import numpy as np

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


def ms(value: float) -> Value:
    return Value(unit="ms", value=value)


def mv(value: float) -> Value:
    return Value(unit="mV", value=value)


def poisson(
    stimulus: str, target: str, hz: float, jump_mv: float, neurons: tuple[int, ...] | None = None
) -> Stimulus:
    """Poisson input at ``hz`` into ``target`` (all neurons or ``neurons``), each input spike a
    jump of ``jump_mv``."""
    return Stimulus(
        stimulus,
        target,
        Component("poisson", parameters={"rate": Value(unit="Hz", value=hz)}),
        neurons=neurons,
        weight=mv(jump_mv),
    )


# Brian2's examples/CUBA.py, with its numbers computed as Brian2 computes them.
CUBA_NEURON = Component(
    "lif",
    parameters={
        "tau_m": ms(20.0),
        "v_threshold": mv(-50.0),
        "v_reset": mv(-60.0),
        "v_rest": mv(-49.0),
        "refractory": ms(5.0),
    },
)
CUBA_TAU = {"exc": 5.0, "inh": 10.0}
CUBA_WEIGHT = {"exc": 60 * 0.27 / 10, "inh": -20 * 4.5 / 10}  # mV


def cuba(
    n: int = 4000,
    *,
    probability: float | None = 0.02,
    indegree: int | None = None,
    seed: int = 0,
    monitors: tuple[Monitor, ...] | None = None,
    stimuli: tuple[Stimulus, ...] = (),
    precision: Literal["float64", "float32"] = "float64",
) -> ModelSpec:
    """CUBA as two populations (80 % exc, 20 % inh) and four projections; ``indegree``
    (inputs per neuron from E and I together) replaces ``probability`` when given."""
    n_exc = n * 4 // 5
    sizes = {"exc": n_exc, "inh": n - n_exc}
    start = {"v": Value(unit="mV", uniform=(-60.0, -50.0))}

    def connector(pre: str, post: str) -> Connector:
        if indegree is not None:
            count = indegree * 4 // 5 if pre == "exc" else indegree // 5
            return Connector("fixed_indegree", count=count, allow_self=True)
        return Connector("fixed_probability", probability=probability, allow_self=True)

    return ModelSpec(
        name="CUBA",
        kind="snn",
        simulation=Simulation(dt=ms(0.1), duration=ms(1000.0), seed=seed, precision=precision),
        populations=tuple(
            Population(name, size, CUBA_NEURON, initial=start) for name, size in sizes.items()
        ),
        projections=tuple(
            Projection(
                f"{pre[0]}{post[0]}",
                pre,
                post,
                Component("exp_current", parameters={"tau": ms(CUBA_TAU[pre])}),
                connector(pre, post),
                weight=mv(CUBA_WEIGHT[pre]),
                delay=ms(0.0),
            )
            for pre in sizes
            for post in sizes
        ),
        stimuli=stimuli,
        monitors=monitors
        if monitors is not None
        else (Monitor("exc_spikes", "exc", "spikes"), Monitor("inh_spikes", "inh", "spikes")),
    )


def rate_and_cv(
    n: int, duration: float, neurons: np.ndarray, steps: np.ndarray
) -> tuple[float, float]:
    """Mean rate (Hz) and the mean CV of inter-spike intervals over neurons with >= 3 spikes
    (as ``bench/peers/brian2_cuba.py`` computes it)."""
    rate = neurons.size / n / duration
    order = np.lexsort((steps, neurons))
    neurons, steps = neurons[order], steps[order].astype(np.float64)
    cvs = []
    bounds = np.flatnonzero(np.diff(neurons)) + 1
    for train in np.split(steps, bounds):
        if train.size >= 3:
            isi = np.diff(train)
            if isi.mean() > 0:
                cvs.append(isi.std() / isi.mean())
    return rate, float(np.mean(cvs)) if cvs else float("nan")
