"""``Simulation``: a built network, run in chunks that stream ``Frame``s.

The Python side of the engine's ``Network`` (``simcore/engine/src/network.rs``, wrapped by
``simcore/bindings/src/network.rs``). ``Simulation.run`` is a generator: each ``next()`` runs
one chunk inside Rust with the GIL released and yields what the monitors recorded, as numpy
arrays that own the engine's buffers (no copy). Between chunks the run honours ``pause()``,
``resume()`` and ``stop()`` (thread-safe: call them from another thread than the one consuming
the frames) and applies the parameter changes queued with ``set_rate``, ``set_weight_scale``
and ``set_current``; each frame lists the changes applied from its first step.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from simcore import _native
from simcore.spec import UNITS, ModelSpec, Value

DEFAULT_FRAME_S = 0.1
"""Biological time per frame when ``frame_every`` is not given."""


@dataclass(frozen=True, slots=True, eq=False)
class Spikes:
    """Spikes of one monitor during a frame: neuron ``neurons[k]`` at step ``steps[k]``."""

    neurons: npt.NDArray[np.uint32]
    steps: npt.NDArray[np.uint64]
    start_step: int
    """The frame's first step (``offsets`` are counted from it)."""

    @property
    def offsets(self) -> npt.NDArray[np.uint32]:
        """Steps since the frame's first step (compact, for the wire)."""
        return (self.steps - np.uint64(self.start_step)).astype(np.uint32)

    def __len__(self) -> int:
        return int(self.neurons.size)


@dataclass(frozen=True, slots=True, eq=False)
class States:
    """State samples of one monitor: ``values[variable][sample, neuron]`` (SI units) taken at
    the start of ``steps[sample]``, for the monitored ``neurons``."""

    steps: npt.NDArray[np.uint64]
    neurons: npt.NDArray[np.uint32]
    values: dict[str, npt.NDArray[np.float64]]


@dataclass(frozen=True, slots=True, eq=False)
class Rates:
    """Population rate of one monitor: ``hz[k]`` over the bin starting at ``steps[k]``."""

    steps: npt.NDArray[np.uint64]
    hz: npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Change:
    """A parameter change, in effect from ``step`` on."""

    kind: Literal["rate", "weight_scale", "current"]
    target: str
    """The stimulus or projection id."""
    value: float | tuple[float, ...]
    """Hz, a factor, or amperes."""
    step: int


@dataclass(frozen=True, slots=True, eq=False)
class Frame:
    """What one chunk of a run recorded, steps ``[start_step, end_step)``."""

    index: int
    """Frames of this run so far (0 for the first)."""
    start_step: int
    end_step: int
    dt: float
    spikes: dict[str, Spikes]
    states: dict[str, States]
    rates: dict[str, Rates]
    changes: tuple[Change, ...]
    """Changes applied from ``start_step`` on."""
    synaptic_events: int
    wall_s: float
    """Seconds the engine took for the chunk."""

    @property
    def t_start(self) -> float:
        return self.start_step * self.dt

    @property
    def t_end(self) -> float:
        return self.end_step * self.dt


@dataclass(frozen=True, slots=True)
class Block:
    """Where a projection's synapses lie in an engine projection that places them at an offset
    (its populations run inside larger ones) or holds others' too (``shared``)."""

    pre: tuple[int, int]
    """The engine neurons ``[start, stop)`` of its source."""
    post: tuple[int, int]
    """The engine neurons ``[start, stop)`` of its target."""
    n_synapses: int
    weight: float | None
    """Its one weight (SI) where it shares its engine projection with others (those have no
    per-synapse weights); None where it has it alone."""

    @property
    def shared(self) -> bool:
        return self.weight is not None

    def holds(
        self, pre: npt.NDArray[np.uint32], post: npt.NDArray[np.uint32]
    ) -> npt.NDArray[np.bool_]:
        """Which of the engine synapses ``pre -> post`` are this projection's."""
        return (
            (pre >= self.pre[0])
            & (pre < self.pre[1])
            & (post >= self.post[0])
            & (post < self.post[1])
        )


@dataclass(slots=True)
class Layout:
    """How the spec's ids map onto the engine's integer ids (made by ``simcore.build``).

    Populations of one model with equal parameters run as one engine population, one after
    another, so a step updates and delivers to them in one pass; projections between them
    that share a receptor, a weight and a delay then share one engine projection."""

    populations: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    offsets: dict[str, int] = field(default_factory=dict)
    """Per population: its first neuron in the engine population."""
    variables: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per population: variable name in the spec -> the engine's state name."""
    projections: dict[str, int] = field(default_factory=dict)
    blocks: dict[str, Block] = field(default_factory=dict)
    """Projections that are not the whole of their engine projection."""
    poisson: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Stimulus id -> (generator id, number of outputs)."""
    currents: dict[str, int] = field(default_factory=dict)
    spike_monitors: dict[int, tuple[str, int]] = field(default_factory=dict)
    """Engine monitor -> (spec monitor id, the offset of its population)."""
    state_monitors: dict[int, tuple[str, str]] = field(default_factory=dict)
    """Engine monitor -> (spec monitor id, variable)."""
    state_neurons: dict[str, npt.NDArray[np.uint32]] = field(default_factory=dict)
    rate_monitors: dict[int, str] = field(default_factory=dict)


def seconds(value: float | Value, what: str) -> float:
    """A time in seconds, from a float (seconds) or a ``Value`` of a time unit."""
    if isinstance(value, Value):
        known = UNITS.get(value.unit)
        if known is None or known[0] != "time" or not isinstance(value.value, int | float):
            raise ValueError(f"{what}: needs one time, e.g. Value(unit='ms', value=100)")
        value = value.value * known[1]
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what}: needs a finite time >= 0 s, got {value}")
    return value


class Simulation:
    """A network built from a ``ModelSpec`` (``simcore.build``), ready to run."""

    def __init__(self, network: _native.Network, spec: ModelSpec, layout: Layout) -> None:
        self._net = network
        self.spec = spec
        self._layout = layout
        self._lock = threading.Lock()
        """Held while the engine is busy (one chunk), so other threads wait, not collide."""
        self._control = threading.Condition()
        self._paused_by: int | None = None
        self._stop = False
        self._running = False
        self._pending: list[tuple[Change, tuple[int, Any]]] = []

    # ---------------------------------------------------------------- facts

    @property
    def dt(self) -> float:
        """Time step (s)."""
        return self._net.dt

    @property
    def step(self) -> int:
        """Steps run so far."""
        return self._net.step

    @property
    def time(self) -> float:
        """Biological time reached (s)."""
        return self._net.step * self._net.dt

    @property
    def threads(self) -> int:
        return self._net.threads

    @property
    def precision(self) -> str:
        """The precision the spec asked for (``"float64"`` or ``"float32"``)."""
        return self._net.precision

    def population_precision(self, population: str) -> str:
        """The precision population ``population`` (spec id) runs in: float32 only where it was
        asked for and its model has a float32 kernel."""
        index = self._layout.populations.get(population)
        if index is None:
            raise KeyError(f"no population {population!r}")
        return self._net.population_precision(index)

    @property
    def synaptic_events(self) -> int:
        """Synaptic events delivered since the start."""
        return self._net.synaptic_events

    @property
    def paused(self) -> bool:
        return self._paused_by is not None

    def state(self, population: str, variable: str) -> npt.NDArray[np.float64]:
        """The current values of a state variable, one per neuron (SI units)."""
        index, name = self._variable(population, variable)
        with self._lock:
            values = self._net.state(index, name)
        start = self._layout.offsets[population]
        return values[start : start + self._layout.sizes[population]]

    def synapses(
        self, projection: str
    ) -> tuple[
        npt.NDArray[np.uint32],
        npt.NDArray[np.uint32],
        npt.NDArray[np.uint32],
        npt.NDArray[np.float64],
    ]:
        """A projection's synapses: (pre, post, delay in steps, weight in SI units, without
        the weight scale)."""
        index = self._projection(projection)
        with self._lock:
            pre, post, delay, weight = self._net.synapses(index)
        block = self._layout.blocks.get(projection)
        if block is None:
            return pre, post, delay, weight
        if block.shared:
            mine = block.holds(pre, post)
            pre, post, delay = pre[mine], post[mine], delay[mine]
            weight = np.full(pre.size, block.weight)
        return pre - np.uint32(block.pre[0]), post - np.uint32(block.post[0]), delay, weight

    def n_synapses(self, projection: str) -> int:
        """How many synapses a projection has."""
        index = self._projection(projection)
        block = self._layout.blocks.get(projection)
        if block is not None:
            return block.n_synapses
        with self._lock:
            return self._net.n_synapses(index)

    # ---------------------------------------------------------------- running

    def run(
        self, duration: float | Value | None = None, *, frame_every: float | Value | None = None
    ) -> Iterator[Frame]:
        """Runs ``duration`` (seconds or a ``Value``; default: the spec's) more, yielding a
        ``Frame`` every ``frame_every`` (default 100 ms) of biological time.

        The arguments are checked now; the run advances as the frames are consumed."""
        if duration is None:
            duration = self.spec.simulation.duration
        dt = self._net.dt
        total = round(seconds(duration, "duration") / dt)
        every = DEFAULT_FRAME_S if frame_every is None else seconds(frame_every, "frame_every")
        per_frame = max(1, round(every / dt))
        if self._running:
            raise RuntimeError("this simulation is already running; stop() it first")
        return self._frames(total, per_frame)

    def _frames(self, total: int, per_frame: int) -> Iterator[Frame]:
        self._running = True
        with self._control:
            self._stop = False
        try:
            done, index = 0, 0
            while done < total and self._wait_if_paused():
                steps = min(per_frame, total - done)
                with self._lock:
                    changes = self._apply_pending()
                    started = time.perf_counter()
                    chunk = self._net.run(steps)
                    wall = time.perf_counter() - started
                done += steps
                yield self._frame(index, chunk, changes, wall)
                index += 1
        finally:
            self._running = False

    def pause(self) -> None:
        """Holds the run before its next chunk until ``resume()`` or ``stop()``."""
        with self._control:
            self._paused_by = threading.get_ident()

    def resume(self) -> None:
        with self._control:
            self._paused_by = None
            self._control.notify_all()

    def stop(self) -> None:
        """Ends the current run after the chunk in progress (a later ``run`` goes on)."""
        with self._control:
            self._stop = True
            self._paused_by = None
            self._control.notify_all()

    def _wait_if_paused(self) -> bool:
        """False when the run is to stop."""
        with self._control:
            while self._paused_by is not None and not self._stop:
                if self._paused_by == threading.get_ident():
                    raise RuntimeError(
                        "this thread paused the run and would wait for itself: call resume() "
                        "first (pause, resume and stop are meant for other threads)"
                    )
                self._control.wait(0.25)
            return not self._stop

    # ---------------------------------------------------------------- changes

    def set_rate(self, stimulus: str, hz: float | npt.ArrayLike) -> None:
        """New rate(s) of a Poisson stimulus (Hz), from the next chunk on."""
        generator, n = self._layout.poisson.get(stimulus, (None, 0))
        if generator is None:
            raise KeyError(f"no poisson stimulus {stimulus!r} (there are: {self._ids('poisson')})")
        rates = np.asarray(hz, dtype=np.float64)
        if rates.ndim > 1 or (rates.ndim == 1 and rates.size != n):
            raise ValueError(f"{stimulus}: give one rate or {n} rates, got shape {rates.shape}")
        if not np.all(np.isfinite(rates)) or np.any(rates < 0):
            raise ValueError(f"{stimulus}: rates must be finite and >= 0 Hz")
        if np.any(rates * self._net.dt > 1.0):
            raise ValueError(f"{stimulus}: a rate above {1 / self._net.dt:g} Hz (1/dt)")
        value: float | tuple[float, ...] = (
            float(rates) if rates.ndim == 0 else tuple(rates.tolist())
        )
        payload = float(rates) if rates.ndim == 0 else np.ascontiguousarray(rates)
        self._queue(Change("rate", stimulus, value, 0), (generator, payload))

    def set_weight_scale(self, projection: str, scale: float) -> None:
        """Multiplies a projection's weights by ``scale`` (from 1), from the next chunk on."""
        index = self._projection(projection)
        scale = float(scale)
        if not math.isfinite(scale):
            raise ValueError(f"{projection}: the weight scale must be finite")
        self._queue(Change("weight_scale", projection, scale, 0), (index, scale))

    def set_current(self, stimulus: str, amps: float) -> None:
        """A new constant amplitude (A) of a current stimulus, from the next chunk on
        (replacing what is left of a step current's schedule)."""
        current = self._layout.currents.get(stimulus)
        if current is None:
            raise KeyError(f"no current stimulus {stimulus!r} (there are: {self._ids('current')})")
        amps = float(amps)
        if not math.isfinite(amps):
            raise ValueError(f"{stimulus}: the amplitude must be finite")
        self._queue(Change("current", stimulus, amps, 0), (current, amps))

    def _queue(self, change: Change, payload: tuple[int, Any]) -> None:
        with self._control:
            self._pending.append((change, payload))

    def _apply_pending(self) -> tuple[Change, ...]:
        """Applies the queued changes (the engine lock is held); they act from this step."""
        with self._control:
            pending, self._pending = self._pending, []
        step = self._net.step
        applied = []
        for change, payload in pending:
            index, value = payload
            if change.kind == "rate":
                self._net.set_poisson_rates(index, value)
            elif change.kind == "weight_scale":
                self._scale_weights(change.target, index, value)
            else:
                self._net.set_current_amplitude(index, value)
            applied.append(Change(change.kind, change.target, change.value, step))
        return tuple(applied)

    def _scale_weights(self, projection: str, index: int, scale: float) -> None:
        block = self._layout.blocks.get(projection)
        if block is None or not block.shared:
            self._net.set_weight_scale(index, scale)
        else:  # the engine's scale would scale every projection sharing the table
            assert block.weight is not None
            self._net.set_block_weight(index, block.pre, block.post, block.weight * scale)

    # ---------------------------------------------------------------- helpers

    def _frame(
        self, index: int, chunk: _native.Chunk, changes: tuple[Change, ...], wall: float
    ) -> Frame:
        layout = self._layout
        spikes = {}
        for monitor, neurons, steps in chunk.spikes:
            spec_id, offset = layout.spike_monitors[monitor]
            if offset:
                neurons -= np.uint32(offset)
            spikes[spec_id] = Spikes(neurons, steps, chunk.start_step)
        states: dict[str, States] = {}
        for monitor, steps, values in chunk.states:
            spec_id, variable = layout.state_monitors[monitor]
            if spec_id not in states:
                states[spec_id] = States(steps, layout.state_neurons[spec_id], {})
            states[spec_id].values[variable] = values
        rates = {
            layout.rate_monitors[monitor]: Rates(steps, hz) for monitor, steps, hz in chunk.rates
        }
        return Frame(
            index=index,
            start_step=chunk.start_step,
            end_step=chunk.end_step,
            dt=self._net.dt,
            spikes=spikes,
            states=states,
            rates=rates,
            changes=changes,
            synaptic_events=chunk.synaptic_events,
            wall_s=wall,
        )

    def _variable(self, population: str, variable: str) -> tuple[int, str]:
        index = self._layout.populations.get(population)
        if index is None:
            raise KeyError(
                f"no population {population!r} (there are: {', '.join(self._layout.populations)})"
            )
        names = self._layout.variables[population]
        if variable not in names:
            raise KeyError(
                f"{population} has no variable {variable!r} (it has: {', '.join(names)})"
            )
        return index, names[variable]

    def _projection(self, projection: str) -> int:
        index = self._layout.projections.get(projection)
        if index is None:
            known = ", ".join(self._layout.projections)
            raise KeyError(f"no projection {projection!r} (there are: {known})")
        return index

    def _ids(self, kind: Literal["poisson", "current"]) -> str:
        ids = self._layout.poisson if kind == "poisson" else self._layout.currents
        return ", ".join(ids) or "none"
