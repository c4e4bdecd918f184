"""simcore: the SPIKE-X engine (Rust core via ``simcore._native``, Torch path beside it).

``build(spec)`` turns a ``ModelSpec`` (``simcore.spec``) into a ``Simulation``, whose ``run``
yields ``Frame``s chunk by chunk. The components, parameters, units and ranges ``build`` knows
come from the component library (``library/``), read by ``simcore._components``
(``describe()`` renders them; a ``Catalog`` holds the versions a build may use).

The names below load on first use, so ``import simcore.spec`` (the contract) needs neither
the native module nor numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simcore._build import BuildError, build
    from simcore._components import COMPONENTS, Catalog, describe
    from simcore._native import (
        ENGINE_VERSION,
        IndexOutOfRangeError,
        InvalidParameterError,
        LengthMismatchError,
        SimulationError,
        UnknownIdError,
        UnknownVariableError,
        UnsupportedError,
    )
    from simcore._network import Change, Frame, Rates, Simulation, Spikes, States

_WHERE = {
    "BuildError": "simcore._build",
    "build": "simcore._build",
    "COMPONENTS": "simcore._components",
    "Catalog": "simcore._components",
    "describe": "simcore._components",
    "ENGINE_VERSION": "simcore._native",
    "IndexOutOfRangeError": "simcore._native",
    "InvalidParameterError": "simcore._native",
    "LengthMismatchError": "simcore._native",
    "SimulationError": "simcore._native",
    "UnknownIdError": "simcore._native",
    "UnknownVariableError": "simcore._native",
    "UnsupportedError": "simcore._native",
    "Change": "simcore._network",
    "Frame": "simcore._network",
    "Rates": "simcore._network",
    "Simulation": "simcore._network",
    "Spikes": "simcore._network",
    "States": "simcore._network",
}

__all__ = [
    "COMPONENTS",
    "ENGINE_VERSION",
    "BuildError",
    "Catalog",
    "Change",
    "Frame",
    "IndexOutOfRangeError",
    "InvalidParameterError",
    "LengthMismatchError",
    "Rates",
    "Simulation",
    "SimulationError",
    "Spikes",
    "States",
    "UnknownIdError",
    "UnknownVariableError",
    "UnsupportedError",
    "build",
    "describe",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'simcore' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
