"""``build(spec)``: a ``ModelSpec`` onto the engine, or one ``BuildError`` listing every problem.

What each component and parameter means, its unit, default and range: the component library
(``library/``), as ``simcore/_components.py`` reads it. A component pinned to a version
(``Component("lif", version="1.0.0")``) is resolved in the ``catalog`` given to ``build``; a
withdrawn or unknown one is refused with its path.
Numbers are converted to SI with the units of ``simcore.spec``; values drawn per element
(``uniform``, ``normal``) and every engine seed (connectivity, Poisson trains) come from
``spec.simulation.seed`` and the item's path, so one seed gives one network, and adding an
item leaves the draws of the others unchanged.

Mapping rules a spec cannot show by its types:

* each projection delivers into a receptor of its target; projections onto one population with
  the same synapse component and parameters share one (their inputs add, as Brian2's
  ``ge += w`` from several ``Synapses``). A receptor's state is a variable of the target named
  after the projection (``ee``; ``ee_h`` for an alpha kernel's rise);
* ``allow_self`` only matters when a projection's source and target are the same population;
* ``poisson`` and ``spike_times`` stimuli drive their target neurons one to one through a
  ``delta`` receptor: ``weight`` is the voltage jump of each input spike;
* delays round to whole steps; drawn delays below 0 become 0;
* populations of one neuron model with equal fixed parameters and the same receptors (made in
  the same order) run as one engine population, and the projections between them that share
  a receptor, one weight and one delay (not plastic) as one engine projection (see
  ``Layout``): a step then updates them in one pass and finds each spike's synapses in one
  place, as Brian2's subgroups of one ``NeuronGroup`` do. The results are the same.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from simcore import _native
from simcore._components import (
    COMPONENTS,
    DEFAULT_CATALOG,
    Catalog,
    ComponentInfo,
    Kind,
    Parameter,
    UnknownComponent,
)
from simcore._network import Block, Layout, Simulation
from simcore.spec import (
    UNITS,
    Component,
    Connector,
    ModelSpec,
    Monitor,
    Population,
    Projection,
    SpecError,
    Stimulus,
    Value,
    check,
)

T = TypeVar("T")
Number = float | npt.NDArray[np.float64]
U32_MAX = 2**32 - 1
CURRENT_GENERATORS = ("constant_current", "step_current")
"""Generators that inject a current; the others send spikes through a ``delta`` receptor."""


class BuildError(ValueError):
    """A spec that cannot be built; ``errors`` says what and where, one ``SpecError`` each."""

    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = errors
        lines = "\n".join(f"  {error.path}: {error.message}" for error in errors)
        super().__init__(f"the spec cannot be built ({len(errors)} problems):\n{lines}")


def build(
    spec: ModelSpec, *, threads: int | None = None, catalog: Catalog | None = None
) -> Simulation:
    """The network ``spec`` describes, built in the engine and ready to ``run``.

    ``threads``: how many threads the engine uses (None: one per core, but no more than its
    largest population has blocks of ``BLOCK`` neurons to update in parallel: a thread more
    would only wait at every step, on a core the server and other runs need); the results do
    not depend on it. ``catalog``: the component versions that may be used (None: this
    repository's library). Raises ``BuildError`` with every problem found."""
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    errors = check(spec)
    if spec.kind != "snn":
        errors.append(SpecError("kind", "simcore simulates spiking networks (kind 'snn')"))
    if errors:
        raise BuildError(errors)
    return _Builder(spec, threads, catalog or DEFAULT_CATALOG).build()


class _Problem(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


@dataclass
class _Receptor:
    index: int
    name: str
    kind: str


def _receptor_key(info: ComponentInfo, values: dict[str, Number]) -> tuple[object, ...]:
    """Equal synapses onto one population share a receptor: this says which are equal."""
    return (info.name, *sorted(values.items()))


@dataclass
class _Population:
    id: str
    index: int
    size: int
    model: str
    parameters: dict[str, Number]
    variables: dict[str, str]
    """Spec variable -> engine state name."""
    units: dict[str, tuple[str, float]] = field(default_factory=dict)
    """Spec variable -> (unit asked for, divisor to SI engine value)."""
    receptors: dict[tuple[object, ...], _Receptor] = field(default_factory=dict)
    """Of the engine population (shared with the populations that run in it)."""
    offset: int = 0
    """Its first neuron in the engine population."""
    engine_size: int = 0

    @property
    def whole(self) -> bool:
        """Whether it is the whole of its engine population."""
        return self.engine_size == self.size

    @property
    def engine_range(self) -> tuple[int, int]:
        """Its neurons ``[start, stop)`` in the engine population."""
        return (self.offset, self.offset + self.size)

    def engine_neurons(
        self, neurons: npt.NDArray[np.uint32] | None
    ) -> npt.NDArray[np.uint32] | None:
        """The engine's indices of ``neurons`` (None: all of them; kept None when whole)."""
        if self.whole:
            return neurons
        if neurons is None:
            return np.arange(self.offset, self.offset + self.size, dtype=np.uint32)
        return neurons + np.uint32(self.offset)


@dataclass
class _Wire:
    """A projection's synapses, ready to connect alone or sharing an engine projection."""

    projection: Projection
    source: _Population
    target: _Population
    receptor: _Receptor
    synapses: _native.Connectivity
    n_synapses: int
    weights: float | npt.NDArray[np.float64]
    delays: int | npt.NDArray[np.uint32]
    weight_unit: tuple[str, float]

    def sharing_key(self) -> tuple[object, ...] | None:
        """Projections with equal keys may share an engine projection (None: this one may not)."""
        if self.projection.plasticity is not None or not (
            isinstance(self.weights, float) and isinstance(self.delays, int)
        ):
            return None
        return (
            self.source.index,
            self.target.index,
            self.receptor.index,
            self.weights,
            self.delays,
        )

    def block(self, shared: bool) -> Block:
        return Block(
            pre=self.source.engine_range,
            post=self.target.engine_range,
            n_synapses=self.n_synapses,
            weight=self.weights if shared and isinstance(self.weights, float) else None,
        )


class _Builder:
    def __init__(self, spec: ModelSpec, threads: int | None, catalog: Catalog) -> None:
        self.spec = spec
        self.catalog = catalog
        self.threads = threads
        self.errors: list[SpecError] = []
        self.entropy = spec.simulation.seed % 2**64
        self.layout = Layout()
        self.populations: dict[str, _Population] = {}
        self.placement: dict[str, tuple[str, int, int]] = {}
        """Population id -> (the first population in its engine population, which names it;
        its offset in it; the engine population's size)."""
        self.engine_populations: dict[str, tuple[int, dict[tuple[object, ...], _Receptor]]] = {}
        """By the first population in each: its index and receptors."""
        self.wires: list[_Wire] = []
        self.dt = 0.0
        self.net: _native.Network | None = None

    # ---------------------------------------------------------------- driver

    def build(self) -> Simulation:
        dt = self.guard("simulation/dt", self.time_step)
        if dt is None:
            raise BuildError(self.errors)
        self.dt = dt
        self.place_populations()
        if self.threads is None:
            # one per core, but no more than the largest population has blocks to update in
            # parallel: a thread more would only wait at every step
            largest = max((size for *_, size in self.placement.values()), default=1)
            self.threads = max(1, min(os.cpu_count() or 1, -(-largest // _native.BLOCK)))
        self.net = _native.Network(dt, self.threads, self.spec.simulation.precision)
        for population in self.spec.populations:
            self.guard(f"populations/{population.id}/neuron", self.population, population)
        for projection in self.spec.projections:
            self.guard(f"projections/{projection.id}", self.projection, projection)
        for wires in self.sharing():
            self.guard(f"projections/{wires[0].projection.id}", self.connect, wires)
        for stimulus in self.spec.stimuli:
            self.guard(f"stimuli/{stimulus.id}", self.stimulus, stimulus)
        for population in self.spec.populations:
            if population.id in self.populations:
                self.guard(f"populations/{population.id}/initial", self.initial, population)
        for monitor in self.spec.monitors:
            self.guard(f"monitors/{monitor.id}", self.monitor, monitor)
        if not self.errors:
            self.guard("simulation", self.net.prepare)
        if self.errors:
            raise BuildError(self.errors)
        return Simulation(self.net, self.spec, self.layout)

    def guard(self, path: str, step: Callable[..., T], *args: object) -> T | None:
        """Runs one step of the build; a problem is recorded (at its own path, or at ``path``
        for the engine's errors) and the build goes on with the next item."""
        try:
            return step(*args)
        except _Problem as problem:
            self.errors.append(SpecError(problem.path, problem.message))
        except _native.SimulationError as error:
            self.errors.append(SpecError(path, str(error)))
        return None

    @property
    def engine(self) -> _native.Network:
        assert self.net is not None
        return self.net

    # ---------------------------------------------------------------- values

    def rng(self, path: str) -> np.random.Generator:
        return np.random.default_rng(
            np.random.SeedSequence([self.entropy, zlib.crc32(path.encode())])
        )

    def seed(self, path: str) -> int:
        """An engine seed for the item at ``path``."""
        sequence = np.random.SeedSequence([self.entropy, zlib.crc32(path.encode()), 1])
        return int(sequence.generate_state(1, np.uint64)[0])

    def si(
        self, value: Value, unit: str, path: str, *, n: int | None = None, scalar: bool = False
    ) -> Number:
        """``value`` in SI units: a float, or an array (``n`` elements when given; drawn
        per element from ``uniform`` / ``normal``). ``unit`` names the dimension asked for."""
        dimension, _ = UNITS[unit]
        known = UNITS.get(value.unit)
        if known is None:
            raise _Problem(path, f"unknown unit {value.unit!r}")
        if known[0] != dimension:
            raise _Problem(
                path, f"{value.unit} is a {known[0]}, but a {dimension} is needed (e.g. {unit})"
            )
        factor = known[1]
        if isinstance(value.value, int | float):
            return float(value.value) * factor
        if isinstance(value.value, tuple):
            if scalar:
                raise _Problem(path, "needs one value, not a list")
            array = np.asarray(value.value, dtype=np.float64) * factor
            if n is not None and array.size != n:
                raise _Problem(path, f"{array.size} values for {n} elements")
            return array
        if scalar or n is None:
            raise _Problem(path, "needs a fixed value, not a distribution")
        rng = self.rng(path)
        if value.uniform is not None:
            low, high = value.uniform
            if high < low:
                raise _Problem(path, f"uniform needs low <= high, got ({low}, {high})")
            return rng.uniform(low, high, n) * factor
        assert value.normal is not None
        mean, sd = value.normal
        if sd < 0:
            raise _Problem(path, f"normal needs a standard deviation >= 0, got {sd}")
        return rng.normal(mean, sd, n) * factor

    def steps(self, value: Value, path: str) -> int:
        """A fixed time >= 0 as whole steps (rounded to the nearest)."""
        seconds = self.si(value, "ms", path, scalar=True)
        assert isinstance(seconds, float)
        if seconds < 0:
            raise _Problem(path, f"must be >= 0, got {value.value} {value.unit}")
        return math.floor(seconds / self.dt + 0.5)

    def time_step(self) -> float:
        dt = self.si(self.spec.simulation.dt, "ms", "simulation/dt", scalar=True)
        assert isinstance(dt, float)
        if not dt > 0:
            raise _Problem("simulation/dt", "the time step must be > 0")
        return dt

    # ---------------------------------------------------------------- components

    def component(self, component: Component, kind: Kind, path: str) -> ComponentInfo:
        try:
            return self.catalog.resolve(component.name, component.version, kind)
        except UnknownComponent as error:
            pinned = component.version is not None and not str(error).startswith("unknown")
            raise _Problem(f"{path}/{'version' if pinned else 'name'}", str(error)) from None

    def check_names(self, component: Component, info: ComponentInfo, path: str) -> None:
        for name in component.parameters:
            if name not in info.parameters:
                known = ", ".join(info.parameters) or "no parameters"
                raise _Problem(
                    f"{path}/parameters/{name}",
                    f"{info.name} has no parameter {name!r} (it has: {known})",
                )

    def parameters(
        self,
        component: Component,
        info: ComponentInfo,
        path: str,
        *,
        n: int | None = None,
        units: dict[str, tuple[str, float]] | None = None,
    ) -> dict[str, Number]:
        """Every parameter of ``component`` by its spec name, in SI (defaults filled in): one
        value each, or one per element when ``n`` is given. ``units``: the unit and divisor
        to use for some parameters (the ``weight`` rows take the projection's)."""
        self.check_names(component, info, path)
        values: dict[str, Number] = {}
        for name, parameter in info.parameters.items():
            unit, divisor = (units or {}).get(name, (parameter.unit, 1.0))
            given = component.parameters.get(name)
            where = f"{path}/parameters/{name}"
            if given is not None:
                value = self.si(given, unit, where, n=n, scalar=n is None)
                self.check_range(parameter, value, where)
            elif parameter.default is not None:
                value = parameter.default * UNITS[unit][1]
            elif parameter.optional:
                continue
            else:
                raise _Problem(where, f"{info.name} needs {name} ({parameter.meaning}, in {unit})")
            values[name] = value / divisor
        return values

    @staticmethod
    def check_range(parameter: Parameter, value: Number, path: str) -> None:
        """Refuses a value outside the library's range for ``parameter`` (bounds in its unit;
        a ``weight`` parameter's scale depends on the projection, so only its sign is
        checked)."""
        factor = UNITS[parameter.unit][1] if parameter.unit in UNITS else None
        low, high = parameter.low, parameter.high
        if factor is None:  # only a bound of 0 means the same in every weight unit
            low = low if low == 0 else None
            high = high if high == 0 else None
        values = np.atleast_1d(value) / (factor or 1.0)
        smallest, largest = float(values.min()), float(values.max())
        # a relative margin: a bound given in another unit must not fail on rounding
        below = low is not None and smallest < low - 1e-12 * abs(low)
        above = high is not None and largest > high + 1e-12 * abs(high)
        if below or above:
            shown = smallest if below else largest
            bounds = (
                f"[{'-inf' if parameter.low is None else f'{parameter.low:g}'}, "
                f"{'inf' if parameter.high is None else f'{parameter.high:g}'}]"
            )
            raise _Problem(
                path,
                f"{parameter.name} = {shown:g} {parameter.unit} is outside the allowed range "
                f"{bounds} {parameter.unit}",
            )

    @staticmethod
    def engine_parameters(info: ComponentInfo, values: dict[str, Number]) -> dict[str, Number]:
        return {
            info.parameters[name].engine: np.ascontiguousarray(value)
            if isinstance(value, np.ndarray)
            else value
            for name, value in values.items()
        }

    # ---------------------------------------------------------------- populations

    def place_populations(self) -> None:
        """Which populations run as one engine population, and where (see the module's doc)."""
        groups: dict[object, list[Population]] = {}
        for population in self.spec.populations:
            key = self.fusion_key(population)
            groups.setdefault(population.id if key is None else key, []).append(population)
        for members in groups.values():
            total = sum(member.size for member in members)
            offset = 0
            for member in members:
                self.placement[member.id] = (members[0].id, offset, total)
                offset += member.size

    def fusion_key(self, population: Population) -> tuple[object, ...] | None:
        """What populations running as one must share: the neuron model, fixed parameter values
        and the receptors, in the order the build makes them. None: it runs alone (values per
        neuron, or a problem the build reports)."""
        neuron = population.neuron
        if any(not isinstance(value.value, int | float) for value in neuron.parameters.values()):
            return None
        path = f"populations/{population.id}/neuron"
        receptors = []
        try:
            info = self.component(neuron, "neuron", path)
            values = self.parameters(neuron, info, path)
            for projection in self.spec.projections:
                if projection.target == population.id:
                    where = f"projections/{projection.id}/synapse"
                    synapse = self.component(projection.synapse, "synapse", where)
                    synapse_values = self.parameters(projection.synapse, synapse, where)
                    receptors.append(_receptor_key(synapse, synapse_values))
            for stimulus in self.spec.stimuli:
                if stimulus.target == population.id:
                    where = f"stimuli/{stimulus.id}/generator"
                    generator = self.component(stimulus.generator, "generator", where)
                    if generator.name not in CURRENT_GENERATORS:
                        receptors.append(_receptor_key(COMPONENTS["delta"], {}))
        except _Problem:
            return None
        return (info.name, tuple(sorted(values.items())), tuple(dict.fromkeys(receptors)))

    def population(self, population: Population) -> None:
        path = f"populations/{population.id}/neuron"
        info = self.component(population.neuron, "neuron", path)
        values = self.parameters(population.neuron, info, path, n=population.size)
        first, offset, total = self.placement[population.id]
        engine = self.engine_populations.get(first)
        if engine is None:
            parameters = self.engine_parameters(info, values)
            index = self.engine.add_population(first, info.name, total, parameters)
            engine = self.engine_populations[first] = (index, {})
        index, receptors = engine
        variables = {name: state.engine for name, state in info.states.items()}
        units = {name: (state.unit, 1.0) for name, state in info.states.items()}
        self.populations[population.id] = _Population(
            population.id,
            index,
            population.size,
            info.name,
            values,
            variables,
            units,
            receptors,
            offset,
            total,
        )
        self.layout.populations[population.id] = index
        self.layout.sizes[population.id] = population.size
        self.layout.offsets[population.id] = offset
        self.layout.variables[population.id] = variables

    def initial(self, population: Population) -> None:
        target = self.populations[population.id]
        for variable, value in population.initial.items():
            path = f"populations/{population.id}/initial/{variable}"
            if variable not in target.variables:
                known = ", ".join(target.variables)
                raise _Problem(path, f"{target.model} has no variable {variable!r} ({known})")
            unit, divisor = target.units[variable]
            if unit == "current":
                unit, divisor = self.current_unit(target, value, path)
            values = self.si(value, unit, path, n=target.size)
            if isinstance(values, np.ndarray):
                values = np.ascontiguousarray(values / divisor)
            else:
                values = values / divisor
            name = target.variables[variable]
            try:
                if not target.whole:  # the other populations in the engine's keep theirs
                    whole = self.engine.state(target.index, name)
                    whole[target.offset : target.offset + target.size] = values
                    values = whole
                self.engine.set_state(target.index, name, values)
            except _native.SimulationError as error:
                raise _Problem(path, str(error)) from None

    # ---------------------------------------------------------------- projections

    def current_unit(self, target: _Population, value: Value, path: str) -> tuple[str, float]:
        """Unit and divisor of a current synapse's weights (or state): amperes, or volts
        divided by the target's ``r_m`` (Brian2's CUBA writes ``ge`` in volts)."""
        known = UNITS.get(value.unit)
        if known is None or known[0] != "voltage":
            return "nA", 1.0
        r_m = target.parameters.get("r_m")
        if r_m is None:
            raise _Problem(
                path,
                f"volts need a target with a membrane resistance r_m (lif, leaky_integrator), "
                f"and {target.id} is {target.model}: give amperes",
            )
        if not isinstance(r_m, float):
            raise _Problem(path, f"volts need one r_m for all of {target.id}: give amperes")
        return "mV", r_m

    def weight_unit(
        self, synapse: str, target: _Population, value: Value, path: str
    ) -> tuple[str, float]:
        if synapse == "delta":
            return "mV", 1.0
        if synapse.endswith("_conductance"):
            return "nS", 1.0
        return self.current_unit(target, value, path)

    def receptor(
        self, target: _Population, info: ComponentInfo, values: dict[str, Number], owner: str
    ) -> _Receptor:
        """The receptor of ``target`` for this synapse: shared by equal synapses."""
        key = _receptor_key(info, values)
        receptor = target.receptors.get(key)
        if receptor is None:
            tau, e_rev = values.get("tau"), values.get("e_rev")
            index = self.engine.add_receptor(
                target.index,
                owner,
                info.name,
                None if tau is None else float(tau),
                None if e_rev is None else float(e_rev),
            )
            receptor = _Receptor(index, owner, info.name)
            target.receptors[key] = receptor
        return receptor

    def expose(self, target: _Population, receptor: _Receptor, variable: str, unit: str) -> None:
        """Makes the receptor's state a variable of ``target`` called ``variable``."""
        if receptor.kind == "delta" or variable in target.variables:
            return
        target.variables[variable] = receptor.name
        target.units[variable] = (unit, 1.0)
        if receptor.kind.startswith("alpha"):
            target.variables[f"{variable}_h"] = f"{receptor.name}_h"
            target.units[f"{variable}_h"] = (unit, 1.0)

    def projection(self, projection: Projection) -> None:
        path = f"projections/{projection.id}"
        source = self.populations.get(projection.source)
        target = self.populations.get(projection.target)
        if source is None or target is None:
            return  # reported with the population
        synapse = self.component(projection.synapse, "synapse", f"{path}/synapse")
        values = self.parameters(projection.synapse, synapse, f"{path}/synapse")
        unit, divisor = self.weight_unit(synapse.name, target, projection.weight, f"{path}/weight")
        try:
            receptor = self.receptor(target, synapse, values, path)
        except _native.SimulationError as error:
            raise _Problem(f"{path}/synapse", str(error)) from None
        state_unit = "nS" if synapse.name.endswith("_conductance") else "current"
        self.expose(target, receptor, projection.id, state_unit)
        connectivity = self.connectivity(
            projection.connector,
            source.size,
            target.size,
            projection.source == projection.target,
            f"{path}/connector",
        )
        n = connectivity.n_synapses
        weights = self.si(projection.weight, unit, f"{path}/weight", n=n)
        weights = (
            np.ascontiguousarray(weights / divisor)
            if isinstance(weights, np.ndarray)
            else weights / divisor
        )
        delays = self.delays(projection.delay, f"{path}/delay", n)
        self.wires.append(
            _Wire(
                projection,
                source,
                target,
                receptor,
                connectivity,
                n,
                weights,
                delays,
                (unit, divisor),
            )
        )

    def sharing(self) -> list[list[_Wire]]:
        """The projections in the order given, grouped by the engine projection they go in:
        equal ``sharing_key``s, and no two between the same populations (they would overlap)."""
        groups: list[list[_Wire]] = []
        open_groups: dict[tuple[object, ...], list[_Wire]] = {}
        for wire in self.wires:
            key = wire.sharing_key()
            group = None if key is None else open_groups.get(key)
            if group is None or any(
                other.source is wire.source and other.target is wire.target for other in group
            ):
                group = []
                groups.append(group)
                if key is not None:
                    open_groups[key] = group
            group.append(wire)
        return groups

    def connect(self, wires: list[_Wire]) -> None:
        """Connects one engine projection: ``wires`` placed where their populations run."""
        first = wires[0]
        source, target = first.source, first.target
        placed = len(wires) > 1 or not (source.whole and target.whole)
        path = f"projections/{first.projection.id}"
        try:
            synapses = first.synapses
            if placed:
                blocks = [(w.synapses, w.source.offset, w.target.offset) for w in wires]
                synapses = _native.Connectivity.stack(
                    source.engine_size, target.engine_size, blocks
                )
            index = self.engine.connect(
                source.index,
                target.index,
                first.receptor.index,
                synapses,
                first.weights,
                first.delays,
            )
        except _native.SimulationError as error:
            raise _Problem(path, str(error)) from None
        for wire in wires:
            self.layout.projections[wire.projection.id] = index
            if placed:
                self.layout.blocks[wire.projection.id] = wire.block(shared=len(wires) > 1)
        if first.projection.plasticity is not None:
            self.plasticity(first.projection, index, first.weight_unit)

    def connectivity(
        self, connector: Connector, n_pre: int, n_post: int, same: bool, path: str
    ) -> _native.Connectivity:
        try:
            if connector.rule == "explicit":
                pairs = np.asarray(connector.pairs, dtype=np.int64).reshape(-1, 2)
                return _native.Connectivity.from_lists(
                    n_pre,
                    n_post,
                    np.ascontiguousarray(pairs[:, 0], dtype=np.uint32),
                    np.ascontiguousarray(pairs[:, 1], dtype=np.uint32),
                )
            return _native.Connectivity.generate(
                connector.rule,
                n_pre,
                n_post,
                p=connector.probability,
                k=connector.count,
                allow_self=connector.allow_self or not same,
                seed=self.seed(path),
            )
        except _native.SimulationError as error:
            raise _Problem(path, str(error)) from None

    def delays(self, value: Value, path: str, n: int) -> int | npt.NDArray[np.uint32]:
        seconds = self.si(value, "ms", path, n=n)
        if isinstance(seconds, float):
            if seconds < 0:
                raise _Problem(path, "delays must be >= 0")
            steps = math.floor(seconds / self.dt + 0.5)
            if steps > U32_MAX:
                raise _Problem(path, f"{value.value} {value.unit} is too many steps")
            return steps
        if value.value is not None and np.any(seconds < 0):
            raise _Problem(path, "delays must be >= 0")
        each = np.floor(np.maximum(seconds, 0.0) / self.dt + 0.5)
        if np.any(each > U32_MAX):
            raise _Problem(path, "a delay is too many steps")
        return np.ascontiguousarray(each, dtype=np.uint32)

    def plasticity(self, projection: Projection, index: int, weight: tuple[str, float]) -> None:
        assert projection.plasticity is not None
        path = f"projections/{projection.id}/plasticity"
        info = self.component(projection.plasticity, "plasticity", path)
        self.check_names(projection.plasticity, info, path)
        flags = {}
        for flag in ("multiplicative", "nearest"):
            given = projection.plasticity.parameters.get(flag)
            where = f"{path}/parameters/{flag}"
            flags[flag] = 0.0 if given is None else self.si(given, "1", where, scalar=True)
            if flags[flag] not in (0.0, 1.0):
                raise _Problem(where, "must be 0 or 1")
        # soft bounds: the amplitudes are fractions of the distance to a bound
        amplitude = ("1", 1.0) if flags["multiplicative"] else weight
        units = {"a_plus": amplitude, "a_minus": amplitude, "w_min": weight, "w_max": weight}
        values = self.parameters(projection.plasticity, info, path, units=units)
        try:
            self.engine.enable_stdp(
                index,
                float(values["tau_pre"]),
                float(values["tau_post"]),
                float(values["a_plus"]),
                float(values["a_minus"]),
                float(values["w_min"]),
                float(values["w_max"]),
                multiplicative=bool(flags["multiplicative"]),
                nearest=bool(flags["nearest"]),
            )
        except _native.SimulationError as error:
            raise _Problem(path, str(error)) from None

    # ---------------------------------------------------------------- stimuli

    def stimulus(self, stimulus: Stimulus) -> None:
        path = f"stimuli/{stimulus.id}"
        target = self.populations.get(stimulus.target)
        if target is None:
            return
        info = self.component(stimulus.generator, "generator", f"{path}/generator")
        neurons = (
            None if stimulus.neurons is None else np.asarray(stimulus.neurons, dtype=np.uint32)
        )
        n = target.size if neurons is None else int(neurons.size)
        generator = stimulus.generator
        if info.name in CURRENT_GENERATORS:
            if stimulus.weight is not None:
                raise _Problem(f"{path}/weight", "a current stimulus takes no weight")
            self.current(stimulus, info, target, neurons)
            return
        if stimulus.weight is None:
            raise _Problem(
                f"{path}/weight",
                f"a {info.name} stimulus needs a weight: the voltage jump of each input spike",
            )
        weight = self.si(stimulus.weight, "mV", f"{path}/weight", n=n)
        if info.name == "poisson":
            values = self.parameters(generator, info, f"{path}/generator", n=n)
            rate = values["rate"]
            rate = np.ascontiguousarray(rate) if isinstance(rate, np.ndarray) else rate
            try:
                source = self.engine.add_poisson(n, rate, self.seed(path))
            except _native.SimulationError as error:
                raise _Problem(f"{path}/generator/parameters/rate", str(error)) from None
            self.layout.poisson[stimulus.id] = (source, n)
        else:
            source = self.spike_times(generator, info, n, f"{path}/generator")
        receptor = self.receptor(target, COMPONENTS["delta"], {}, path)
        targets = target.engine_neurons(neurons)
        if targets is None:
            connectivity = _native.Connectivity.generate("one_to_one", n, n, allow_self=True)
        else:
            outputs = np.arange(n, dtype=np.uint32)
            connectivity = _native.Connectivity.from_lists(n, target.engine_size, outputs, targets)
        if isinstance(weight, np.ndarray):
            weight = np.ascontiguousarray(weight)
        try:
            self.engine.connect(
                source, target.index, receptor.index, connectivity, weight, 0, from_generator=True
            )
        except _native.SimulationError as error:
            raise _Problem(path, str(error)) from None

    def spike_times(self, generator: Component, info: ComponentInfo, n: int, path: str) -> int:
        given = generator.parameters
        if "times" not in given:
            raise _Problem(f"{path}/parameters/times", "spike_times needs times")
        self.check_names(generator, info, path)
        times = np.atleast_1d(self.si(given["times"], "ms", f"{path}/parameters/times"))
        if np.any(times < 0):
            raise _Problem(f"{path}/parameters/times", "times must be >= 0")
        steps = np.floor(times / self.dt + 0.5).astype(np.uint64)
        if "indices" in given:
            indices = np.atleast_1d(self.si(given["indices"], "1", f"{path}/parameters/indices"))
            where = f"{path}/parameters/indices"
            if indices.size != steps.size:
                raise _Problem(where, f"{indices.size} indices for {steps.size} times")
            if np.any(indices != np.round(indices)) or np.any(indices < 0) or np.any(indices >= n):
                raise _Problem(where, f"indices must be whole numbers in 0..{n - 1}")
            outputs = indices.astype(np.uint32)
        else:  # every output at every time
            outputs = np.tile(np.arange(n, dtype=np.uint32), steps.size)
            steps = np.repeat(steps, n)
        try:
            return self.engine.add_spike_times(
                n, np.ascontiguousarray(outputs), np.ascontiguousarray(steps)
            )
        except _native.SimulationError as error:
            raise _Problem(path, str(error)) from None

    def current(
        self,
        stimulus: Stimulus,
        info: ComponentInfo,
        target: _Population,
        neurons: npt.NDArray[np.uint32] | None,
    ) -> None:
        path = f"stimuli/{stimulus.id}/generator"
        given = stimulus.generator.parameters
        if info.name == "constant_current":
            amps = np.atleast_1d(self.parameters(stimulus.generator, info, path)["amplitude"])
            steps = np.zeros(1, dtype=np.uint64)
        else:
            self.check_names(stimulus.generator, info, path)
            for name in ("times", "amplitudes"):
                if name not in given:
                    raise _Problem(f"{path}/parameters/{name}", f"step_current needs {name}")
            times = np.atleast_1d(self.si(given["times"], "ms", f"{path}/parameters/times"))
            amps = np.atleast_1d(
                self.si(given["amplitudes"], "nA", f"{path}/parameters/amplitudes")
            )
            if times.size != amps.size:
                raise _Problem(
                    f"{path}/parameters/amplitudes",
                    f"{amps.size} amplitudes for {times.size} times",
                )
            if np.any(times < 0):
                raise _Problem(f"{path}/parameters/times", "times must be >= 0")
            steps = np.floor(times / self.dt + 0.5).astype(np.uint64)
        try:
            index = self.engine.add_current(
                target.index,
                np.ascontiguousarray(steps),
                np.ascontiguousarray(amps, dtype=np.float64),
                target.engine_neurons(neurons),
            )
        except _native.SimulationError as error:
            raise _Problem(path, str(error)) from None
        self.layout.currents[stimulus.id] = index

    # ---------------------------------------------------------------- monitors

    def monitor(self, monitor: Monitor) -> None:
        path = f"monitors/{monitor.id}"
        target = self.populations.get(monitor.target)
        if target is None:
            return
        neurons = None if monitor.neurons is None else np.asarray(monitor.neurons, dtype=np.uint32)
        every = 1
        if monitor.interval is not None:
            every = self.steps(monitor.interval, f"{path}/interval")
            if every < 1:
                raise _Problem(f"{path}/interval", f"must be at least one step ({self.dt} s)")
        if monitor.record == "spikes":
            index = self.engine.add_spike_monitor(target.index, target.engine_neurons(neurons))
            self.layout.spike_monitors[index] = (monitor.id, target.offset)
        elif monitor.record == "rate":
            if neurons is not None:
                raise _Problem(f"{path}/neurons", "a rate monitor counts the whole population")
            index = self.engine.add_rate_monitor(
                target.index,
                every,
                neurons=None if target.whole else target.engine_range,
            )
            self.layout.rate_monitors[index] = monitor.id
        else:
            if not monitor.variables:
                known = ", ".join(target.variables)
                raise _Problem(f"{path}/variables", f"name the variables to record ({known})")
            if neurons is None:
                neurons = np.arange(target.size, dtype=np.uint32)
            for position, variable in enumerate(monitor.variables):
                if variable not in target.variables:
                    raise _Problem(
                        f"{path}/variables/{position}",
                        f"{target.id} has no variable {variable!r} "
                        f"(it has: {', '.join(target.variables)})",
                    )
            engine_neurons = target.engine_neurons(neurons)
            assert engine_neurons is not None
            for variable in monitor.variables:
                index = self.engine.add_state_monitor(
                    target.index, target.variables[variable], engine_neurons, every
                )
                self.layout.state_monitors[index] = (monitor.id, variable)
            self.layout.state_neurons[monitor.id] = neurons
