"""A trained SNN carried over to the engine: ``engine_spec(model, spec, inputs)`` is a
``ModelSpec`` that ``simcore.build`` runs, with the trained weights as explicit synapses.

The Torch neurons are the engine's, step for step (``functional.py``): ``cuba_lif`` is the
engine's ``lif`` with an ``exp_current`` receptor, ``lif`` one with a ``delta`` receptor, ``li``
a ``leaky_integrator``, all with ``r_m = 1 Ohm`` and no refractory period, so that a weight in
volts is the jump the Torch layer's input makes. The layers between two neuron layers
(linear, conv2d, avgpool2d, flatten, dropout, batchnorm in evaluation mode) form one affine
map, which becomes one projection (its matrix, read off by probing the layers with unit
inputs in float64); an offset (a bias) becomes the weights of one more input channel that
spikes at every step.

The engine's library bounds potentials to [-150, 100] mV, so the Torch model's voltage unit
maps onto ``2**-k`` V, the largest power of two that fits: every potential and weight is
scaled by it, which is exact in floating point and leaves every spike where it was.

Two engine facts shape the input side. A stimulus reaches its target through a ``delta``
receptor, so the input spikes drive a relay population whose neuron ``j`` fires one step after
its stimulus spike: the whole network runs one step later than in Torch (Torch step ``t`` is
engine step ``t + 1``; run ``T + 1`` steps). And an input landing in the step a relay neuron
fires would be wiped by its reset, so each input channel has two relay neurons, one for the
spikes of even steps and one for odd ones.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import Tensor, nn

from simcore.spec import (
    Component,
    Connector,
    Layer,
    ModelSpec,
    Monitor,
    Population,
    Projection,
    Simulation,
    SpecError,
    Stimulus,
    Value,
)
from simcore.train.layers import LIF
from simcore.train.models import ModelError, SpecModel, time_step

RELAY = "input"
LOWEST_V, HIGHEST_V = -0.150, 0.100
"""The library's bounds on a potential (V)."""


def _volt_scale(groups: list[tuple[list[nn.Module], Layer, LIF]]) -> float:
    """The largest ``2**-k`` (k >= 0) that puts every potential within the library's bounds."""
    values = [1.0]  # the relay's jump
    for _, _, module in groups:
        p = module.params
        values += [p.v_leak] + ([p.v_th, p.v_reset] if module.synapse != "integrator" else [])
    scale = 1.0
    while max(values) * scale > HIGHEST_V or min(values) * scale < LOWEST_V:
        scale /= 2
    return scale


def _neuron(layer: Layer, module: LIF, volt: float) -> Component:
    p = layer.parameters
    common = {
        "tau_m": Value(unit="ms", value=float(p.get("tau_mem", 10.0))),
        "v_rest": Value(unit="V", value=module.params.v_leak * volt),
        "r_m": Value(unit="Ohm", value=1.0),
    }
    if module.synapse == "integrator":
        return Component("leaky_integrator", parameters=common)
    return Component(
        "lif",
        parameters={
            **common,
            "v_threshold": Value(unit="V", value=module.params.v_th * volt),
            "v_reset": Value(unit="V", value=module.params.v_reset * volt),
            "refractory": Value(unit="ms", value=0.0),
        },
    )


def _synapse(layer: Layer, module: LIF) -> Component:
    if module.synapse == "delta":
        return Component("delta")
    tau = float(layer.parameters.get("tau_syn", 5.0))
    return Component("exp_current", parameters={"tau": Value(unit="ms", value=tau)})


@torch.no_grad()
def _affine(
    stack: list[nn.Module], shape: tuple[int, ...]
) -> tuple[Tensor, Tensor, tuple[int, ...]]:
    """Matrix ``[out, in]``, offset ``[out]`` and output shape of layers that are affine at
    inference (outputs and inputs flattened in Torch's order)."""
    layers = nn.Sequential(*copy.deepcopy(stack)).double().eval()
    n_in = int(np.prod(shape))
    at_zero = layers(torch.zeros(1, *shape, dtype=torch.float64))
    offset = at_zero.reshape(-1)
    for module in layers.modules():
        if getattr(module, "bias", None) is not None:
            module.bias.zero_()
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.running_mean.zero_()  # the offset is in ``offset`` already
    basis = torch.eye(n_in, dtype=torch.float64).reshape(n_in, *shape)
    matrix = layers(basis).reshape(n_in, -1).T.contiguous()
    return matrix, offset, tuple(at_zero.shape[1:])


def _groups(model: SpecModel, spec: ModelSpec) -> list[tuple[list[nn.Module], Layer, LIF]]:
    """Each neuron layer with the stateless layers before it."""
    by_id = {layer.id: layer for layer in spec.layers}
    groups, stack = [], []
    for name, module in model.layers.items():
        if isinstance(module, LIF):
            groups.append((stack, by_id[name], module))
            stack = []
        elif isinstance(module, nn.MaxPool2d):
            raise ModelError(
                [SpecError(f"layers/{name}", "max pooling is not affine: use avgpool2d")]
            )
        else:
            stack.append(module)
    return groups


def _projection(
    pid: str, source: str, target: str, synapse: Component, matrix: npt.NDArray[np.float64]
) -> Projection | None:
    """Explicit synapses for every nonzero entry ``matrix[post, pre]``, sorted by source."""
    post, pre = np.nonzero(matrix)
    order = np.lexsort((post, pre))
    pre, post = pre[order], post[order]
    if pre.size == 0:
        return None
    return Projection(
        pid,
        source,
        target,
        synapse,
        Connector("explicit", pairs=tuple(zip(pre.tolist(), post.tolist(), strict=True))),
        weight=Value(unit="V", value=tuple(matrix[post, pre].tolist())),
        delay=Value(unit="ms", value=0.0),
    )


def engine_spec(model: SpecModel, spec: ModelSpec, inputs: Tensor) -> ModelSpec:
    """The engine's version of the trained ``model`` driven by one sample's input spikes
    ``inputs[T, ...]`` (0/1), with a spike monitor per spiking layer (``<id>_spikes``)."""
    if model.kind != "snn":
        raise ValueError("only an SNN runs in the engine")
    dt = time_step(spec)
    steps = inputs.shape[0]
    groups = _groups(model, spec)
    volt = _volt_scale(groups)
    maps, shape = [], model.input_shape
    for stack, _, _ in groups:
        matrix, offset, shape = _affine(stack, shape)
        maps.append((matrix.numpy() * volt, offset.numpy() * volt))
    flat = inputs.reshape(steps, -1).detach().cpu().numpy()
    has_bias = any(np.any(offset) for _, offset in maps)
    if has_bias:  # the bias channel: one more input, spiking at every step
        flat = np.concatenate([flat, np.ones((steps, 1))], axis=1)
    channels = flat.shape[1]
    when, channel = np.nonzero(flat)
    relay = channel + channels * (when % 2)  # even steps and odd steps, see the module notes
    populations = [Population(RELAY, 2 * channels, _relay(dt, volt))]
    stimuli = []
    if when.size:
        times = Value(unit="s", value=tuple(float(t * dt) for t in when))
        indices = Value(unit="1", value=tuple(float(i) for i in relay))
        stimuli.append(
            Stimulus(
                "spikes",
                RELAY,
                Component("spike_times", parameters={"times": times, "indices": indices}),
                weight=Value(unit="V", value=volt),
            )
        )
    projections: list[Projection | None] = []
    monitors: list[Monitor] = []
    source = RELAY
    for (_, layer, module), (matrix, offset) in zip(groups, maps, strict=True):
        populations.append(Population(layer.id, matrix.shape[0], _neuron(layer, module, volt)))
        synapse = _synapse(layer, module)
        from_relay = np.zeros((matrix.shape[0], channels))
        if source == RELAY:
            from_relay[:, : matrix.shape[1]] = matrix
        else:
            projections.append(
                _projection(f"{source}_{layer.id}", source, layer.id, synapse, matrix)
            )
        if has_bias:
            from_relay[:, -1] = offset
        projections.append(
            _projection(f"{RELAY}_{layer.id}", RELAY, layer.id, synapse, np.tile(from_relay, 2))
        )
        if module.synapse != "integrator":
            monitors.append(Monitor(f"{layer.id}_spikes", layer.id, "spikes"))
        source = layer.id
    return ModelSpec(
        name=f"{spec.name} (engine)",
        kind="snn",
        description="A trained SNN carried over from the Torch path.",
        simulation=Simulation(
            dt=spec.simulation.dt,
            duration=Value(unit="s", value=(steps + 1) * dt),
            seed=spec.simulation.seed,
        ),
        populations=tuple(populations),
        projections=tuple(p for p in projections if p is not None),
        stimuli=tuple(stimuli),
        monitors=tuple(monitors),
    )


def _relay(dt: float, volt: float) -> Component:
    """A neuron that fires one step after its input jump (of ``volt``) and then rests: a
    membrane a thousand steps slow, threshold at half the jump."""
    return Component(
        "lif",
        parameters={
            "tau_m": Value(unit="s", value=1000 * dt),
            "v_rest": Value(unit="V", value=0.0),
            "v_reset": Value(unit="V", value=0.0),
            "v_threshold": Value(unit="V", value=0.5 * volt),
            "r_m": Value(unit="Ohm", value=1.0),
            "refractory": Value(unit="ms", value=0.0),
        },
    )


def run_in_engine(model: SpecModel, spec: ModelSpec, inputs: Tensor) -> dict[str, Any]:
    """Runs :func:`engine_spec` in the engine; the spike count of each neuron of every
    spiking layer, by layer id (``int64`` arrays)."""
    import simcore

    network = engine_spec(model, spec, inputs)
    sizes = {population.id: population.size for population in network.populations}
    counts = {m.target: np.zeros(sizes[m.target], dtype=np.int64) for m in network.monitors}
    simulation = simcore.build(network)
    for frame in simulation.run():
        for monitor, spikes in frame.spikes.items():
            target = monitor.removesuffix("_spikes")
            np.add.at(counts[target], spikes.neurons.astype(np.int64), 1)
    return counts
