# The native module simcore._native (simcore/bindings), checked against the build with
# mypy.stubtest by tests/test_simcore_native.py.
from typing import TypeAlias, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "BLOCK",
    "ENGINE_VERSION",
    "Chunk",
    "Connectivity",
    "IndexOutOfRangeError",
    "InvalidParameterError",
    "LengthMismatchError",
    "Network",
    "SimulationError",
    "UnknownIdError",
    "UnknownVariableError",
    "UnsupportedError",
]

ENGINE_VERSION: str
BLOCK: int
"""Neurons a population updates as one unit of parallel work."""

_Floats: TypeAlias = float | npt.NDArray[np.float64]

class SimulationError(ValueError): ...
class InvalidParameterError(SimulationError): ...
class LengthMismatchError(SimulationError): ...
class IndexOutOfRangeError(SimulationError): ...
class UnknownIdError(SimulationError): ...
class UnknownVariableError(SimulationError): ...
class UnsupportedError(SimulationError): ...

@final
class Connectivity:
    @staticmethod
    def generate(
        rule: str,
        n_pre: int,
        n_post: int,
        *,
        p: float | None = None,
        k: int | None = None,
        allow_self: bool = False,
        allow_multapses: bool = False,
        seed: int = 0,
    ) -> Connectivity: ...
    @staticmethod
    def from_lists(
        n_pre: int, n_post: int, pre: npt.NDArray[np.uint32], post: npt.NDArray[np.uint32]
    ) -> Connectivity: ...
    @staticmethod
    def stack(
        n_pre: int, n_post: int, blocks: list[tuple[Connectivity, int, int]]
    ) -> Connectivity: ...
    @property
    def n_pre(self) -> int: ...
    @property
    def n_post(self) -> int: ...
    @property
    def n_synapses(self) -> int: ...
    def to_lists(self) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]: ...

@final
class Chunk:
    @property
    def start_step(self) -> int: ...
    @property
    def end_step(self) -> int: ...
    @property
    def synaptic_events(self) -> int: ...
    @property
    def spikes(
        self,
    ) -> tuple[tuple[int, npt.NDArray[np.uint32], npt.NDArray[np.uint64]], ...]: ...
    @property
    def states(
        self,
    ) -> tuple[tuple[int, npt.NDArray[np.uint64], npt.NDArray[np.float64]], ...]: ...
    @property
    def rates(
        self,
    ) -> tuple[tuple[int, npt.NDArray[np.uint64], npt.NDArray[np.float64]], ...]: ...

@final
class Network:
    def __new__(
        cls, dt: float, threads: int | None = None, precision: str = "float64"
    ) -> Network: ...
    @property
    def dt(self) -> float: ...
    @property
    def step(self) -> int: ...
    @property
    def synaptic_events(self) -> int: ...
    @property
    def threads(self) -> int: ...
    @property
    def precision(self) -> str: ...
    def population_precision(self, population: int) -> str: ...
    def add_population(
        self, name: str, model: str, n: int, params: dict[str, _Floats] | None = None
    ) -> int: ...
    def add_receptor(
        self,
        population: int,
        name: str,
        kind: str,
        tau: float | None = None,
        e_rev: float | None = None,
    ) -> int: ...
    def state_names(self, population: int) -> list[str]: ...
    def population_size(self, population: int) -> int: ...
    def add_poisson(self, n: int, rates: _Floats, seed: int) -> int: ...
    def add_spike_times(
        self, n: int, neurons: npt.NDArray[np.uint32], steps: npt.NDArray[np.uint64]
    ) -> int: ...
    def add_current(
        self,
        population: int,
        steps: npt.NDArray[np.uint64],
        amps: npt.NDArray[np.float64],
        neurons: npt.NDArray[np.uint32] | None = None,
    ) -> int: ...
    def connect(
        self,
        source: int,
        target: int,
        receptor: int,
        connectivity: Connectivity,
        weights: _Floats,
        delays: int | npt.NDArray[np.uint32],
        *,
        from_generator: bool = False,
    ) -> int: ...
    def n_synapses(self, projection: int) -> int: ...
    def projection_bytes(self, projection: int) -> int: ...
    def synapses(
        self, projection: int
    ) -> tuple[
        npt.NDArray[np.uint32],
        npt.NDArray[np.uint32],
        npt.NDArray[np.uint32],
        npt.NDArray[np.float64],
    ]: ...
    def enable_stdp(
        self,
        projection: int,
        tau_pre: float,
        tau_post: float,
        a_plus: float,
        a_minus: float,
        w_min: float,
        w_max: float,
        *,
        multiplicative: bool = False,
        nearest: bool = False,
    ) -> None: ...
    def add_spike_monitor(
        self,
        source: int,
        neurons: npt.NDArray[np.uint32] | None = None,
        *,
        from_generator: bool = False,
    ) -> int: ...
    def add_state_monitor(
        self, population: int, variable: str, neurons: npt.NDArray[np.uint32], every: int
    ) -> int: ...
    def add_rate_monitor(
        self,
        source: int,
        bin: int,
        *,
        neurons: tuple[int, int] | None = None,
        from_generator: bool = False,
    ) -> int: ...
    def state(self, population: int, name: str) -> npt.NDArray[np.float64]: ...
    def set_state(self, population: int, name: str, values: _Floats) -> None: ...
    def set_poisson_rates(self, generator: int, rates: _Floats) -> None: ...
    def set_weight_scale(self, projection: int, scale: float) -> None: ...
    def set_block_weight(
        self, projection: int, pre: tuple[int, int], post: tuple[int, int], weight: float
    ) -> None: ...
    def set_current_amplitude(self, current: int, amps: float) -> None: ...
    def prepare(self) -> None: ...
    def run(self, steps: int) -> Chunk: ...
