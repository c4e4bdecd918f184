"""The engine's side of the library's checks (``library.checks``): each protocol's test input
run through ``simcore.build`` (Rust components) or ``simcore.train`` / Torch (the rest).

``run(definition, params, inputs)`` returns the arrays the component's reference returns for
the same input, so the library can compare them. Parameters come in SI; the spec is written in
SI units too (``s``, ``V``, ``A``, ``S``), so nothing is rounded on the way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from library.checks import INTEGRATOR_R_OHM, INTEGRATOR_TAU_S, Inputs, Params
from library.schema import Definition
from simcore.spec import (
    UNITS,
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

# SI unit of each dimension, to write a spec without rounding.
_SI = {
    "time": "s",
    "voltage": "V",
    "current": "A",
    "conductance": "S",
    "capacitance": "F",
    "resistance": "Ohm",
    "frequency": "Hz",
    "voltage_rate": "V/s",
    "inverse_voltage_time": "1/(V*s)",
    "dimensionless": "1",
}
KICK_V = 0.1
"""A delta input that makes a LIF neuron spike in the step it arrives."""


def run(definition: Definition, params: Params, inputs: Inputs) -> dict[str, Any]:
    protocol = definition.check.protocol
    if protocol == "step_current":
        return _step_current(definition, params, inputs)
    if protocol == "synapse_kernel":
        return _synapse_kernel(definition, params, inputs)
    if protocol == "stdp_pairs":
        return _stdp_pairs(definition, params, inputs)
    if protocol == "connector":
        return _connector(definition, params, inputs)
    if protocol == "spike_generator":
        return _spike_generator(definition, params, inputs)
    if protocol == "current_generator":
        return _current_generator(definition, params, inputs)
    if protocol == "surrogate":
        return _surrogate(definition, params, inputs)
    if protocol == "ann_unit":
        return _ann_unit(definition, params, inputs)
    return _layer(definition, params, inputs)


def _value(value: float | list[float] | tuple[float, ...], unit: str) -> Value:
    si_unit = _SI[UNITS[unit][0]] if unit in UNITS else unit
    number = tuple(value) if isinstance(value, list | tuple) else float(value)
    return Value(unit=si_unit, value=number)


def _component(definition: Definition, params: Params, weight_unit: str = "1") -> Component:
    """``definition`` with ``params`` (SI); ``weight`` parameters in ``weight_unit``."""
    units = {
        parameter.name: weight_unit if parameter.unit == "weight" else parameter.unit
        for parameter in definition.parameters
    }
    return Component(
        definition.name,
        parameters={name: _value(value, units[name]) for name, value in params.items()},
    )


def _spec(inputs: Inputs, **sections: Any) -> ModelSpec:
    dt, steps = inputs["dt"], inputs["steps"]
    simulation = Simulation(dt=Value("s", dt), duration=Value("s", dt * steps))
    return ModelSpec(name="check", kind="snn", simulation=simulation, **sections)


def _trace(spec: ModelSpec, monitor: str, variable: str, steps: int) -> np.ndarray:
    import simcore

    sim = simcore.build(spec, threads=1)
    values = [frame.states[monitor].values[variable] for frame in sim.run()]
    return np.concatenate(values)[:steps]


def _raster(spec: ModelSpec, monitor: str, steps: int, n: int) -> np.ndarray:
    import simcore

    sim = simcore.build(spec, threads=1)
    raster = np.zeros((steps, n), dtype=bool)
    for frame in sim.run():
        spikes = frame.spikes[monitor]
        raster[spikes.steps.astype(np.int64), spikes.neurons.astype(np.int64)] = True
    return raster


def _step_current(definition: Definition, params: Params, inputs: Inputs) -> dict[str, Any]:
    current = np.asarray(inputs["current"])
    changes = np.flatnonzero(np.diff(np.concatenate([[0.0], current])))
    times = tuple(float(k * inputs["dt"]) for k in changes)
    amps = tuple(float(current[k]) for k in changes)
    spec = _spec(
        inputs,
        populations=(Population(id="n", size=1, neuron=_component(definition, params)),),
        stimuli=(
            Stimulus(
                id="step",
                target="n",
                generator=Component(
                    "step_current",
                    parameters={"times": Value("s", times), "amplitudes": Value("A", amps)},
                ),
            ),
        ),
        monitors=(Monitor(id="m", target="n", record="state", variables=("v",)),),
    )
    return {"v": _trace(spec, "m", "v", inputs["steps"])[:, 0]}


def _spike_at_start() -> Stimulus:
    """A spike of the source population in step 0."""
    return Stimulus(
        id="kick",
        target="pre",
        generator=Component("spike_times", parameters={"times": Value("s", (0.0,))}),
        weight=Value("V", KICK_V),
    )


def _synapse_kernel(definition: Definition, params: Params, inputs: Inputs) -> dict[str, Any]:
    name = definition.name
    if name == "delta":
        target = Component(
            "leaky_integrator",
            parameters={"tau_m": Value("s", 1e9), "r_m": Value("Ohm", 1.0)},
        )
        variable = "v"
    else:
        target = Component("lif_cond" if name.endswith("_conductance") else "lif")
        variable = "p"
    weight_unit = _SI[UNITS[inputs["weight_unit"]][0]]
    steps = inputs["steps"]
    spec = _spec(
        {**inputs, "steps": steps + 2},
        populations=(
            Population(id="pre", size=1, neuron=Component("lif")),
            Population(id="post", size=1, neuron=target),
        ),
        projections=(
            Projection(
                id="p",
                source="pre",
                target="post",
                synapse=_component(definition, params),
                connector=Connector(rule="one_to_one"),
                weight=Value(weight_unit, inputs["weight"]),
                delay=Value("s", 0.0),
            ),
        ),
        stimuli=(_spike_at_start(),),
        monitors=(Monitor(id="m", target="post", record="state", variables=(variable,)),),
    )
    # The spike of step 0 arrives in step 1; x[k] is sampled at the start of step 2 + k.
    return {"x": _trace(spec, "m", variable, steps + 2)[2:, 0]}


def _stdp_pairs(definition: Definition, params: Params, inputs: Inputs) -> dict[str, Any]:
    """Pair k: pre neuron k fires at pre, post neuron k at post (kicked by a spike input in
    the step before, as a spike is emitted the step after its input arrives)."""
    dt = inputs["dt"]
    pairs = inputs["pairs"]
    n = len(pairs)
    pre_times = tuple(pre - dt for pre, _ in pairs)
    post_times = tuple(post - dt for _, post in pairs)
    weight_unit = _SI[UNITS[inputs["weight_unit"]][0]]
    plasticity = _component(definition, params, inputs["weight_unit"])
    steps = math.floor(max(max(pre, post) for pre, post in pairs) / dt + 0.5) + 10
    inputs = {**inputs, "steps": steps}
    spec = _spec(
        inputs,
        populations=(
            Population(id="pre", size=n, neuron=Component("lif")),
            Population(id="post", size=n, neuron=Component("lif")),
        ),
        projections=(
            Projection(
                id="p",
                source="pre",
                target="post",
                synapse=Component("delta"),
                connector=Connector(rule="one_to_one"),
                weight=Value(weight_unit, inputs["weight"]),
                delay=Value("s", 0.0),
                plasticity=plasticity,
            ),
        ),
        stimuli=tuple(
            Stimulus(
                id=f"{side}_kick",
                target=side,
                generator=Component(
                    "spike_times",
                    parameters={
                        "times": Value("s", times),
                        "indices": Value("1", tuple(float(k) for k in range(n))),
                    },
                ),
                weight=Value("V", KICK_V),
            )
            for side, times in (("pre", pre_times), ("post", post_times))
        ),
    )
    import simcore

    sim = simcore.build(spec, threads=1)
    for _ in sim.run():
        pass
    pre, _post, _delay, weights = sim.synapses("p")
    order = np.argsort(pre)
    return {"w": weights[order]}


def _connector(definition: Definition, params: Params, inputs: Inputs) -> dict[str, Any]:
    from simcore import _native

    n_pre, n_post = inputs["n_pre"], inputs["n_post"]
    if definition.name == "explicit":
        pairs = np.asarray(params["pairs"], dtype=np.int64).reshape(-1, 2)
        connectivity = _native.Connectivity.from_lists(
            n_pre,
            n_post,
            np.ascontiguousarray(pairs[:, 0], dtype=np.uint32),
            np.ascontiguousarray(pairs[:, 1], dtype=np.uint32),
        )
    else:
        count = params.get("count")
        connectivity = _native.Connectivity.generate(
            definition.name,
            n_pre,
            n_post,
            p=params.get("probability"),
            k=None if count is None else int(count),
            allow_self=bool(params.get("allow_self", True)),
            seed=7,
        )
    pre, post = connectivity.to_lists()
    return {"pre": pre, "post": post}


def _spike_generator(definition: Definition, params: Params, inputs: Inputs) -> dict[str, Any]:
    """The generator drives as many LIF neurons (no refractory period) one to one with a
    kick each: a neuron fires in the step after each input spike."""
    n, steps = inputs["n"], inputs["steps"]
    generator = _component(definition, params)
    spec = _spec(
        {**inputs, "steps": steps + 1},
        populations=(
            Population(
                id="n",
                size=n,
                neuron=Component("lif", parameters={"refractory": Value("s", 0.0)}),
            ),
        ),
        stimuli=(Stimulus(id="g", target="n", generator=generator, weight=Value("V", KICK_V)),),
        monitors=(Monitor(id="m", target="n", record="spikes"),),
    )
    return {"spikes": _raster(spec, "m", steps + 1, n)[1:]}


def _current_generator(definition: Definition, params: Params, inputs: Inputs) -> dict[str, Any]:
    integrator = Component(
        "leaky_integrator",
        parameters={
            "tau_m": Value("s", INTEGRATOR_TAU_S),
            "r_m": Value("Ohm", INTEGRATOR_R_OHM),
            "v_rest": Value("V", 0.0),
        },
    )
    spec = _spec(
        inputs,
        populations=(Population(id="n", size=1, neuron=integrator),),
        stimuli=(Stimulus(id="g", target="n", generator=_component(definition, params)),),
        monitors=(Monitor(id="m", target="n", record="state", variables=("v",)),),
    )
    return {"v": _trace(spec, "m", "v", inputs["steps"])[:, 0]}


def _surrogate(definition: Definition, params: Params, inputs: Inputs) -> dict[str, Any]:
    import torch

    from simcore.train.surrogate import spike_fn

    x = torch.tensor(inputs["x"], dtype=torch.float64, requires_grad=True)
    spike_fn(x, definition.name, params["alpha"]).sum().backward()
    assert x.grad is not None
    return {"y": x.grad.numpy()}


def _ann_unit(definition: Definition, params: Params, inputs: Inputs) -> dict[str, Any]:
    import torch

    x = torch.tensor(inputs["x"], dtype=torch.float64)
    functions: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
        "perceptron": lambda t: torch.heaviside(
            t - params["threshold"], torch.zeros((), dtype=t.dtype)
        ),
        "relu": torch.nn.ReLU(),
        "sigmoid": torch.nn.Sigmoid(),
        "tanh": torch.nn.Tanh(),
    }
    return {"y": functions[definition.name](x).numpy()}


def _layer(definition: Definition, params: Params, inputs: Inputs) -> dict[str, Any]:
    import torch
    from torch import nn

    name = definition.name
    if name == "linear":
        module: nn.Module = nn.Linear(int(params["in_features"]), int(params["out_features"]))
    elif name == "conv2d":
        module = nn.Conv2d(
            int(params["in_channels"]),
            int(params["out_channels"]),
            int(params["kernel_size"]),
            stride=int(params["stride"]),
            padding=int(params["padding"]),
        )
    elif name in ("maxpool2d", "avgpool2d"):
        pool = nn.MaxPool2d if name == "maxpool2d" else nn.AvgPool2d
        kernel = int(params["kernel_size"])
        module = pool(kernel, stride=int(params.get("stride", kernel)))
    elif name == "batchnorm":
        module = nn.BatchNorm2d(
            int(params["num_features"]), eps=params["eps"], momentum=params["momentum"]
        )
    else:
        module = nn.Dropout(params["p"])
    module = module.double().eval()
    weights = {key: torch.tensor(value) for key, value in inputs["weights"].items()}
    module.load_state_dict(weights, strict=False)
    with torch.no_grad():
        return {"y": module(torch.tensor(inputs["x"], dtype=torch.float64)).numpy()}
