"""``ModelSpec``: the one contract between collaboration and computation.

The collaborative document is free-form and concurrent; ``collab.schema.to_spec`` turns its
state into this immutable, validated description, and the engine (simcore's Rust core, the
Torch path) only ever sees a ``ModelSpec``. A run stores the spec it ran with.

Numbers carry their unit (``Value``), so a spec reads as a paper does (``20 ms``, ``-50 mV``);
``to_si`` converts them for the engine, which works in SI floats. Importable without the
native module or torch.

Paths in ``SpecError`` mirror the document's layout (``projections/ee/weight``), so an error
can be shown next to the node that caused it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Annotated, Literal

import msgspec

# Unit symbol -> (dimension, factor to SI). The library declares each parameter's unit;
# a spec may use any unit of the same dimension.
UNITS: dict[str, tuple[str, float]] = {
    "s": ("time", 1.0),
    "ms": ("time", 1e-3),
    "us": ("time", 1e-6),
    "V": ("voltage", 1.0),
    "mV": ("voltage", 1e-3),
    "A": ("current", 1.0),
    "nA": ("current", 1e-9),
    "pA": ("current", 1e-12),
    "S": ("conductance", 1.0),
    "uS": ("conductance", 1e-6),
    "nS": ("conductance", 1e-9),
    "F": ("capacitance", 1.0),
    "nF": ("capacitance", 1e-9),
    "pF": ("capacitance", 1e-12),
    "Ohm": ("resistance", 1.0),
    "MOhm": ("resistance", 1e6),
    "GOhm": ("resistance", 1e9),
    "Hz": ("frequency", 1.0),
    "kHz": ("frequency", 1e3),
    "1/s": ("frequency", 1.0),
    "1/ms": ("frequency", 1e3),
    "V/s": ("voltage_rate", 1.0),
    "mV/ms": ("voltage_rate", 1.0),
    "1/(V*s)": ("inverse_voltage_time", 1.0),
    "1/(mV*ms)": ("inverse_voltage_time", 1e6),
    "1": ("dimensionless", 1.0),
}

Id = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")]
Count = Annotated[int, msgspec.Meta(ge=1)]
Probability = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]


class SpecError(msgspec.Struct, frozen=True):
    """What is wrong, in words a student understands, and where (a document path)."""

    path: str
    message: str


class Value(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """A number with its unit: one constant, one per element, or drawn per element.

    Exactly one of ``value``, ``uniform`` and ``normal`` is given.
    """

    unit: str
    value: float | tuple[float, ...] | None = None
    uniform: tuple[float, float] | None = None
    """Drawn per element from [low, high)."""
    normal: tuple[float, float] | None = None
    """Drawn per element: (mean, standard deviation)."""


class Component(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """A library component (``lif``, ``exp_current``, ``stdp``, ``poisson``...) and the
    parameters that differ from its defaults. ``version`` None: the newest approved one."""

    name: str
    version: str | None = None
    parameters: dict[str, Value] = {}


class Population(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    id: Id
    size: Count
    neuron: Component
    initial: dict[str, Value] = {}
    """Initial state per variable (``v``: uniform in [-60, -50] mV, say)."""
    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Where the population sits in the 3D view (arbitrary units)."""


ConnectorRule = Literal[
    "all_to_all",
    "one_to_one",
    "fixed_probability",
    "fixed_indegree",
    "fixed_outdegree",
    "explicit",
]


class Connector(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    rule: ConnectorRule
    probability: Probability | None = None
    """For ``fixed_probability``."""
    count: Count | None = None
    """For ``fixed_indegree`` (inputs per target) and ``fixed_outdegree`` (per source)."""
    allow_self: bool = False
    """Whether a neuron may connect to itself when source and target are the same."""
    pairs: tuple[tuple[int, int], ...] = ()
    """For ``explicit``: (source index, target index) per synapse."""


class Projection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    id: Id
    source: Id
    target: Id
    synapse: Component
    connector: Connector
    weight: Value
    delay: Value
    plasticity: Component | None = None


class Stimulus(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """An input generator (``poisson``, ``spike_times``, ``constant_current``,
    ``step_current``) driving ``target`` (all neurons, or the listed ones)."""

    id: Id
    target: Id
    generator: Component
    neurons: tuple[int, ...] | None = None
    weight: Value | None = None
    """For spike generators: the jump each input spike causes."""


class Monitor(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    id: Id
    target: Id
    record: Literal["spikes", "state", "rate"]
    variables: tuple[str, ...] = ()
    """For ``state``: which state variables."""
    neurons: tuple[int, ...] | None = None
    """A subset of the target's neurons; None: all of them."""
    interval: Value | None = None
    """Sampling interval for ``state`` and bin width for ``rate``; None: every step."""


class Layer(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """One layer of an ANN (or of a trained SNN), in order: ``linear``, ``conv2d``,
    ``maxpool2d``, ``batchnorm``, ``dropout``, ``flatten``, activations, ``lif``..."""

    id: Id
    kind: str
    parameters: dict[str, float | int | bool | str | tuple[int, ...]] = {}


class Training(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    dataset: str | None = None
    loss: str = "cross_entropy"
    optimizer: str = "adam"
    learning_rate: Annotated[float, msgspec.Meta(gt=0)] = 1e-3
    batch_size: Count = 64
    epochs: Count = 10
    time_steps: Count | None = None
    """SNN training: steps each sample is unrolled over."""
    encoding: Literal["rate", "latency"] | None = None
    readout: Literal["rate", "first_spike", "membrane"] | None = None
    surrogate: str | None = None
    gradient_clip: Annotated[float, msgspec.Meta(gt=0)] | None = None
    """Largest global gradient norm; None: no clipping."""


class Simulation(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    dt: Value = Value(unit="ms", value=0.1)
    duration: Value = Value(unit="ms", value=1000.0)
    seed: int = 0
    precision: Literal["float64", "float32"] = "float64"
    """The engine's state type. float64 (what Brian2 and NEST compute in) keeps spike trains
    reproducible against them; float32 runs faster, with the same statistics. Models without
    a float32 kernel (all but current-based LIF) run in float64 either way."""


class ModelSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    name: str
    kind: Literal["snn", "ann"]
    description: str = ""
    simulation: Simulation = Simulation()
    populations: tuple[Population, ...] = ()
    projections: tuple[Projection, ...] = ()
    stimuli: tuple[Stimulus, ...] = ()
    monitors: tuple[Monitor, ...] = ()
    layers: tuple[Layer, ...] = ()
    training: Training | None = None


def to_si(value: Value, dimension: str, path: str = "") -> float | tuple[float, ...]:
    """The constant of ``value`` in SI units; raises ``ValueError`` on a wrong dimension."""
    factor = _factor(value, dimension, path)
    if value.value is None:
        raise ValueError(f"{path}: expected a fixed value, got a distribution")
    if isinstance(value.value, tuple):
        return tuple(element * factor for element in value.value)
    return value.value * factor


def _factor(value: Value, dimension: str, path: str) -> float:
    known = UNITS.get(value.unit)
    if known is None:
        raise ValueError(f"{path}: unknown unit {value.unit!r} (known: {', '.join(UNITS)})")
    if known[0] != dimension:
        raise ValueError(f"{path}: {value.unit} is a {known[0]}, but a {dimension} is needed")
    return known[1]


def check(spec: ModelSpec) -> list[SpecError]:
    """Everything wrong with ``spec`` that its types cannot say; empty when it is sound."""
    return list(_problems(spec))


def _problems(spec: ModelSpec) -> Iterator[SpecError]:
    for section in ("populations", "projections", "stimuli", "monitors", "layers"):
        seen: set[str] = set()
        for item in getattr(spec, section):
            if item.id in seen:
                yield SpecError(f"{section}/{item.id}", f"the id {item.id!r} is used twice")
            seen.add(item.id)
    sizes = {population.id: population.size for population in spec.populations}
    for section in ("projections", "stimuli", "monitors"):
        for item in getattr(spec, section):
            ends = ("source", "target") if section == "projections" else ("target",)
            for end in ends:
                name = getattr(item, end)
                if name not in sizes:
                    yield SpecError(
                        f"{section}/{item.id}/{end}", f"there is no population called {name!r}"
                    )
            if section != "projections" and item.neurons is not None and item.target in sizes:
                yield from _indices(
                    f"{section}/{item.id}/neurons", item.neurons, sizes[item.target]
                )
    for projection in spec.projections:
        yield from _connector(projection, sizes)
    yield from _values(spec)


def _indices(path: str, indices: tuple[int, ...], size: int) -> Iterator[SpecError]:
    outside = [index for index in indices if not 0 <= index < size]
    if outside:
        yield SpecError(path, f"neuron index {outside[0]} is outside 0..{size - 1}")


def _connector(projection: Projection, sizes: dict[str, int]) -> Iterator[SpecError]:
    path = f"projections/{projection.id}/connector"
    connector = projection.connector
    needs = {
        "fixed_probability": "probability",
        "fixed_indegree": "count",
        "fixed_outdegree": "count",
    }.get(connector.rule)
    if needs and getattr(connector, needs) is None:
        yield SpecError(f"{path}/{needs}", f"the {connector.rule} rule needs a {needs}")
    source, target = sizes.get(projection.source), sizes.get(projection.target)
    if source is None or target is None:
        return
    if connector.rule == "one_to_one" and source != target:
        yield SpecError(path, f"one_to_one needs equal sizes, got {source} and {target}")
    if connector.rule == "fixed_indegree" and connector.count and connector.count > source:
        yield SpecError(
            f"{path}/count", f"{connector.count} inputs per neuron, but the source has {source}"
        )
    if connector.rule == "fixed_outdegree" and connector.count and connector.count > target:
        yield SpecError(
            f"{path}/count", f"{connector.count} outputs per neuron, but the target has {target}"
        )
    if connector.rule == "explicit":
        for index, (pre, post) in enumerate(connector.pairs):
            if not (0 <= pre < source and 0 <= post < target):
                yield SpecError(
                    f"{path}/pairs/{index}",
                    f"({pre}, {post}) is outside {source} x {target} neurons",
                )
                break


def _values(spec: ModelSpec) -> Iterator[SpecError]:
    for path, value, length in _all_values(spec):
        given = [
            field for field in ("value", "uniform", "normal") if getattr(value, field) is not None
        ]
        if len(given) != 1:
            yield SpecError(path, "give exactly one of value, uniform or normal")
        if value.unit not in UNITS:
            yield SpecError(path, f"unknown unit {value.unit!r}")
        numbers = _numbers(value)
        if not all(math.isfinite(number) for number in numbers):
            yield SpecError(path, "numbers must be finite")
        if isinstance(value.value, tuple) and length is not None and len(value.value) != length:
            yield SpecError(path, f"{len(value.value)} values for {length} elements")


def _numbers(value: Value) -> list[float]:
    numbers: list[float] = []
    for field in (value.value, value.uniform, value.normal):
        if isinstance(field, tuple):
            numbers.extend(field)
        elif field is not None:
            numbers.append(field)
    return numbers


def _all_values(spec: ModelSpec) -> Iterator[tuple[str, Value, int | None]]:
    """Every ``Value`` with its path and how many elements a per-element array must have."""
    yield "simulation/dt", spec.simulation.dt, None
    yield "simulation/duration", spec.simulation.duration, None
    for population in spec.populations:
        base = f"populations/{population.id}"
        for name, value in population.neuron.parameters.items():
            yield f"{base}/neuron/parameters/{name}", value, population.size
        for name, value in population.initial.items():
            yield f"{base}/initial/{name}", value, population.size
    for projection in spec.projections:
        base = f"projections/{projection.id}"
        for name, value in projection.synapse.parameters.items():
            yield f"{base}/synapse/parameters/{name}", value, None
        yield f"{base}/weight", projection.weight, None
        yield f"{base}/delay", projection.delay, None
        if projection.plasticity:
            for name, value in projection.plasticity.parameters.items():
                yield f"{base}/plasticity/parameters/{name}", value, None
    for stimulus in spec.stimuli:
        for name, value in stimulus.generator.parameters.items():
            yield f"stimuli/{stimulus.id}/generator/parameters/{name}", value, None
        if stimulus.weight:
            yield f"stimuli/{stimulus.id}/weight", stimulus.weight, None
    for monitor in spec.monitors:
        if monitor.interval:
            yield f"monitors/{monitor.id}/interval", monitor.interval, None
