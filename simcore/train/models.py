"""Torch modules built from a ``ModelSpec``'s layers: the ANN path and the spiking path.

Layer kinds and their parameters (``Layer.parameters``; defaults after ``=``):

* ``linear``: ``in_features``, ``out_features``, ``bias = true``
* ``conv2d``: ``in_channels``, ``out_channels``, ``kernel_size``, ``stride = 1``,
  ``padding = 0``, ``bias = true``
* ``maxpool2d``, ``avgpool2d``: ``kernel_size``, ``stride = kernel_size``
* ``batchnorm``: ``num_features`` (optional: checked against the input when given); 1-d or 2-d
  from the shape it meets
* ``dropout``: ``p = 0.5``; ``flatten``
* activations (ANN only): ``relu``, ``tanh``, ``sigmoid``, ``gelu``
* neurons (SNN only), unrolled over ``training.time_steps`` steps of ``simulation.dt``:
  ``lif`` (inputs jump ``v``: the engine's ``delta`` synapse), ``cuba_lif`` (current-based:
  inputs jump a synaptic current, as the engine's ``exp_current``), ``li`` (a non-spiking
  current-based integrator, the membrane read-out). Parameters: ``tau_mem = 10`` (ms),
  ``tau_syn = 5`` (ms; not for ``lif``), ``v_th = 1``, ``v_reset = 0``, ``v_leak = 0`` (the
  model's voltage unit; in the engine, volts), ``detach_reset = false``, ``surrogate`` and
  ``alpha`` (default: ``training.surrogate`` and its slope).

Problems come back together as one :class:`ModelError` whose ``SpecError`` paths point at the
layer (``layers/<id>/parameters/<name>``), as the document shows them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

from simcore.spec import Layer, ModelSpec, SpecError, check, to_si
from simcore.train.functional import LIFParams
from simcore.train.layers import LIF, Synapse
from simcore.train.surrogate import SURROGATES

Shape = tuple[int, ...]
"""One sample's shape: no batch or time dimension."""

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
}
NEURONS: dict[str, Synapse] = {"lif": "delta", "cuba_lif": "current", "li": "integrator"}
"""Neuron layer kind -> the :class:`LIF` module's ``synapse``."""
STATELESS = ("linear", "conv2d", "maxpool2d", "avgpool2d", "batchnorm", "dropout", "flatten")
KINDS = (*STATELESS, *ACTIVATIONS, *NEURONS)

Number = int | float | bool | str | tuple[int, ...]

# name -> (accepted Python types, default; None: required)
_PARAMETERS: dict[str, dict[str, tuple[tuple[type, ...], Any]]] = {
    "linear": {
        "in_features": ((int,), None),
        "out_features": ((int,), None),
        "bias": ((bool,), True),
    },
    "conv2d": {
        "in_channels": ((int,), None),
        "out_channels": ((int,), None),
        "kernel_size": ((int, tuple), None),
        "stride": ((int, tuple), 1),
        "padding": ((int, tuple), 0),
        "bias": ((bool,), True),
    },
    "maxpool2d": {"kernel_size": ((int, tuple), None), "stride": ((int, tuple), "kernel")},
    "avgpool2d": {"kernel_size": ((int, tuple), None), "stride": ((int, tuple), "kernel")},
    "batchnorm": {"num_features": ((int,), "input")},
    "dropout": {"p": ((float, int), 0.5)},
    "flatten": {},
    **{name: {} for name in ACTIVATIONS},
}
_NEURON_PARAMETERS: dict[str, tuple[tuple[type, ...], Any]] = {
    "tau_mem": ((float, int), 10.0),
    "tau_syn": ((float, int), 5.0),
    "v_th": ((float, int), 1.0),
    "v_reset": ((float, int), 0.0),
    "v_leak": ((float, int), 0.0),
    "detach_reset": ((bool,), False),
    "surrogate": ((str,), "training"),
    "alpha": ((float, int), "surrogate"),
}
for _kind in NEURONS:
    _PARAMETERS[_kind] = dict(_NEURON_PARAMETERS)
del _PARAMETERS["lif"]["tau_syn"]
del _PARAMETERS["li"]["v_th"], _PARAMETERS["li"]["v_reset"], _PARAMETERS["li"]["detach_reset"]


class ModelError(ValueError):
    """A spec whose layers cannot be built; ``errors`` lists every problem with its path."""

    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = errors
        lines = "\n".join(f"  {error.path}: {error.message}" for error in errors)
        super().__init__(f"the layers cannot be built ({len(errors)} problems):\n{lines}")


class _Problem(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


class SpecModel(nn.Module):
    """The layers of a spec, in order, keyed by layer id (``layers.<id>.weight`` in the
    state dict).

    ANN: ``forward(x[B, ...]) -> scores[B, classes]``. SNN: ``forward(x[T, B, ...])`` returns
    the last layer's outputs ``[T, B, classes]`` (spikes, or ``v`` for ``li``); layers without
    a time dimension of their own run on the ``T * B`` samples folded into one batch. Pass a
    dict as ``record`` to get every neuron layer's outputs by id.
    """

    def __init__(
        self, kind: str, layers: dict[str, nn.Module], input_shape: Shape, output_shape: Shape
    ) -> None:
        super().__init__()
        self.kind = kind
        self.layers = nn.ModuleDict(layers)
        self.input_shape = input_shape
        self.output_shape = output_shape

    def forward(self, x: Tensor, record: dict[str, Tensor] | None = None) -> Tensor:
        if self.kind == "ann":
            for module in self.layers.values():
                x = module(x)
            return x
        for name, module in self.layers.items():
            if isinstance(module, LIF):
                x, _ = module(x)
                if record is not None:
                    record[name] = x
            else:
                x = module(x.flatten(0, 1)).unflatten(0, x.shape[:2])
        return x

    def neurons(self) -> Iterator[tuple[str, LIF]]:
        """The neuron layers, by id."""
        for name, module in self.layers.items():
            if isinstance(module, LIF):
                yield name, module

    @property
    def backend(self) -> str | None:
        """Which LIF backend ran last (``triton`` when any layer ran the fused kernel)."""
        used = {module.backend for _, module in self.neurons()} - {None}
        return "triton" if "triton" in used else next(iter(used), None)


def time_step(spec: ModelSpec) -> float:
    """``spec.simulation.dt`` in seconds, converted as the engine converts it."""
    dt = to_si(spec.simulation.dt, "time", "simulation/dt")
    if not isinstance(dt, float) or not dt > 0:
        raise ModelError([SpecError("simulation/dt", "the time step must be one value > 0")])
    return dt


def build_model(spec: ModelSpec, input_shape: Shape) -> SpecModel:
    """The Torch module of ``spec.layers`` for samples of ``input_shape`` (e.g. ``(64,)`` or
    ``(1, 28, 28)``); raises :class:`ModelError` with every problem found."""
    errors = [e for e in check(spec) if e.path.startswith(("layers", "simulation"))]
    if not spec.layers:
        errors.append(SpecError("layers", "the model has no layers yet"))
    if errors:
        raise ModelError(errors)
    dt = time_step(spec) if spec.kind == "snn" else 0.0
    training = spec.training
    default_surrogate = (training.surrogate if training else None) or "fast_sigmoid"
    shape: Shape | None = tuple(input_shape)
    modules: dict[str, nn.Module] = {}
    for layer in spec.layers:
        try:
            module, shape = _layer(spec.kind, layer, shape, dt, default_surrogate)
            modules[layer.id] = module
        except _Problem as problem:
            errors.append(SpecError(problem.path, problem.message))
            shape = None  # unknown from here on: later layers are checked on their own
    last = spec.layers[-1]
    if shape is not None and len(shape) != 1:
        errors.append(
            SpecError(
                f"layers/{last.id}",
                f"the last layer must give one score per class, but gives shape {shape}: "
                "end with a flatten and a linear layer",
            )
        )
    if spec.kind == "snn":
        errors.extend(_snn_problems(spec))
    if errors:
        raise ModelError(errors)
    assert shape is not None
    return SpecModel(spec.kind, modules, tuple(input_shape), shape)


def _snn_problems(spec: ModelSpec) -> Iterator[SpecError]:
    last = spec.layers[-1]
    readout = (spec.training.readout if spec.training else None) or "rate"
    if last.kind not in NEURONS:
        yield SpecError(f"layers/{last.id}", "an SNN ends with a neuron layer (lif, cuba_lif, li)")
    elif readout == "membrane" and last.kind != "li":
        yield SpecError(
            "training/readout", "the membrane read-out needs an li (integrator) output layer"
        )
    elif readout != "membrane" and last.kind == "li":
        yield SpecError(
            "training/readout",
            f"an li output layer never spikes: use readout membrane, not {readout}",
        )
    for layer in spec.layers[:-1]:
        if layer.kind == "li":
            yield SpecError(f"layers/{layer.id}", "li never spikes: use it only as the last layer")


def _parameters(layer: Layer) -> dict[str, Any]:
    """The layer's parameters with their defaults, type-checked."""
    known = _PARAMETERS[layer.kind]
    base = f"layers/{layer.id}/parameters"
    for name in layer.parameters:
        if name not in known:
            listed = ", ".join(known) or "no parameters"
            raise _Problem(f"{base}/{name}", f"{layer.kind} has no parameter {name!r} ({listed})")
    values: dict[str, Any] = {}
    for name, (types, default) in known.items():
        value = layer.parameters.get(name)
        if value is None:
            if default is None:
                raise _Problem(f"{base}/{name}", f"{layer.kind} needs {name}")
            values[name] = default
            continue
        if isinstance(value, bool) and bool not in types:
            value = "bool"  # a bool is an int to Python, not to a student
        if not isinstance(value, types):
            wanted = " or ".join("a whole number" if t is int else t.__name__ for t in types)
            raise _Problem(f"{base}/{name}", f"should be {wanted}, not {value!r}")
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and (not math.isfinite(value) or (value <= 0 and name not in _FREE_SIGN)):
            raise _Problem(f"{base}/{name}", f"must be > 0, got {value}")
        values[name] = value
    return values


_FREE_SIGN = ("padding", "p", "v_th", "v_reset", "v_leak")


def _pair(value: int | tuple[int, ...], path: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or any(not isinstance(v, int) or v < 0 for v in pair):
        raise _Problem(path, f"needs one whole number or two, got {value!r}")
    return pair[0], pair[1]


def _layer(
    kind: str, layer: Layer, shape: Shape | None, dt: float, surrogate: str
) -> tuple[nn.Module, Shape | None]:
    path = f"layers/{layer.id}"
    if layer.kind not in KINDS:
        raise _Problem(
            f"{path}/kind", f"unknown layer kind {layer.kind!r}; known: {', '.join(KINDS)}"
        )
    if kind == "ann" and layer.kind in NEURONS:
        raise _Problem(f"{path}/kind", f"{layer.kind} is a spiking layer: make the model an snn")
    if kind == "snn" and layer.kind in ACTIVATIONS:
        raise _Problem(
            f"{path}/kind", f"{layer.kind} is an ANN activation: an SNN uses lif or cuba_lif"
        )
    p = _parameters(layer)
    base = f"{path}/parameters"
    if layer.kind == "linear":
        if shape is not None and (len(shape) != 1 or shape[0] != p["in_features"]):
            hint = " (add a flatten layer before it)" if shape and len(shape) > 1 else ""
            raise _Problem(
                f"{base}/in_features",
                f"is {p['in_features']}, but the input has shape {shape}{hint}",
            )
        module = nn.Linear(p["in_features"], p["out_features"], bias=p["bias"])
        return module, (p["out_features"],)
    if layer.kind == "conv2d":
        kernel = _pair(p["kernel_size"], f"{base}/kernel_size")
        stride = _pair(p["stride"], f"{base}/stride")
        padding = _pair(p["padding"], f"{base}/padding")
        if shape is not None and (len(shape) != 3 or shape[0] != p["in_channels"]):
            raise _Problem(
                f"{base}/in_channels",
                f"is {p['in_channels']}, but the input has shape {shape} (channels, height, width)",
            )
        module = nn.Conv2d(
            p["in_channels"], p["out_channels"], kernel, stride, padding, bias=p["bias"]
        )
        return module, _spatial(shape, p["out_channels"], kernel, stride, padding, path)
    if layer.kind in ("maxpool2d", "avgpool2d"):
        kernel = _pair(p["kernel_size"], f"{base}/kernel_size")
        stride = kernel if p["stride"] == "kernel" else _pair(p["stride"], f"{base}/stride")
        if shape is not None and len(shape) != 3:
            raise _Problem(path, f"pools images (channels, height, width), got shape {shape}")
        cls = nn.MaxPool2d if layer.kind == "maxpool2d" else nn.AvgPool2d
        channels = shape[0] if shape else 0
        return cls(kernel, stride), _spatial(shape, channels, kernel, stride, (0, 0), path)
    if layer.kind == "batchnorm":
        if shape is None:
            raise _Problem(path, "cannot tell the number of features: fix the layers before it")
        given = p["num_features"]
        if given != "input" and given != shape[0]:
            raise _Problem(
                f"{base}/num_features", f"is {given}, but the input has {shape[0]} features"
            )
        if len(shape) not in (1, 3):
            raise _Problem(path, f"normalises (features,) or (channels, h, w), got {shape}")
        return (nn.BatchNorm1d if len(shape) == 1 else nn.BatchNorm2d)(shape[0]), shape
    if layer.kind == "dropout":
        if not 0 <= p["p"] < 1:
            raise _Problem(f"{base}/p", f"must be in [0, 1), got {p['p']}")
        return nn.Dropout(float(p["p"])), shape
    if layer.kind == "flatten":
        return nn.Flatten(), None if shape is None else (math.prod(shape),)
    if layer.kind in ACTIVATIONS:
        return ACTIVATIONS[layer.kind](), shape
    return _neuron(layer, p, dt, surrogate), shape


def _spatial(
    shape: Shape | None,
    channels: int,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    path: str,
) -> Shape | None:
    if shape is None:
        return None
    if min(stride) < 1 or min(kernel) < 1:
        raise _Problem(path, "kernel_size and stride must be at least 1")
    size = tuple((shape[1 + d] + 2 * padding[d] - kernel[d]) // stride[d] + 1 for d in (0, 1))
    if min(size) < 1:
        raise _Problem(path, f"the {kernel} kernel does not fit the {shape[1:]} input")
    return (channels, *size)


def _neuron(layer: Layer, p: dict[str, Any], dt: float, default_surrogate: str) -> LIF:
    base = f"layers/{layer.id}/parameters"
    name = default_surrogate if p["surrogate"] == "training" else p["surrogate"]
    if name not in SURROGATES:
        where = f"{base}/surrogate" if p["surrogate"] != "training" else "training/surrogate"
        raise _Problem(where, f"unknown surrogate {name!r}; known: {', '.join(SURROGATES)}")
    params = LIFParams(
        tau_mem=float(p["tau_mem"]) * 1e-3,
        tau_syn=float(p.get("tau_syn", p["tau_mem"])) * 1e-3,
        v_leak=float(p["v_leak"]),
        v_th=float(p.get("v_th", math.inf)),
        v_reset=float(p.get("v_reset", 0.0)),
        surrogate=name,
        alpha=None if p["alpha"] == "surrogate" else float(p["alpha"]),
        detach_reset=bool(p.get("detach_reset", False)),
    )
    if layer.kind != "li" and params.v_reset >= params.v_th:
        raise _Problem(f"{base}/v_reset", f"must be below v_th ({params.v_th})")
    return LIF(params, dt, synapse=NEURONS[layer.kind])


def dummy_input(model: SpecModel, batch: int = 1, time_steps: int = 1) -> Tensor:
    """Zeros shaped like a batch for ``model`` (``[T, B, ...]`` for an SNN)."""
    lead = (batch,) if model.kind == "ann" else (time_steps, batch)
    return torch.zeros(*lead, *model.input_shape)
