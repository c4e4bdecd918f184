"""What a ``component.toml`` holds: msgspec structs, one definition each.

Numbers in a component file are in the unit written next to them (``unit = "ms"``); the
engine and the reference implementations work in SI floats (``Parameter.si_default``).
The unit ``weight`` means "the unit of the projection's weight" (volts, amperes or siemens,
depending on the synapse); ``1`` means dimensionless.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Name = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Version = Annotated[str, msgspec.Meta(pattern=r"^\d+\.\d+\.\d+$")]
Doi = Annotated[str, msgspec.Meta(pattern=r"^10\.\d{4,9}/\S+$")]
Text = Annotated[str, msgspec.Meta(min_length=1)]

Kind = Literal["neuron", "synapse", "plasticity", "connector", "generator", "surrogate", "layer"]

# Folder under library/ -> the kind its components have.
FOLDERS: dict[str, Kind] = {
    "neurons": "neuron",
    "synapses": "synapse",
    "plasticity": "plasticity",
    "connectors": "connector",
    "inputs": "generator",
    "surrogates": "surrogate",
    "layers": "layer",
}

Engine = Literal["rust", "torch", "triton", "none"]
"""Where the engine implements a component; ``none``: reference-only (not simulated)."""

Protocol = Literal[
    "step_current",
    "synapse_kernel",
    "stdp_pairs",
    "connector",
    "spike_generator",
    "current_generator",
    "surrogate",
    "ann_unit",
    "layer",
]
"""How the reference (and the engine) are exercised; ``library.checks`` runs each."""

Number = float | int


class Parameter(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    name: Name
    unit: Text
    description: Text
    default: Number | list[Number] | None = None
    """In ``unit``; absent: required (or optional, see ``optional``)."""
    optional: bool = False
    """Absent and optional: the component works without it (no default)."""
    min: Number | None = None
    """Smallest allowed value (inclusive), in ``unit``."""
    max: Number | None = None
    """Largest allowed value (inclusive), in ``unit``."""
    engine: Name | None = None
    """The engine's name for it, when it differs (``v_rest`` is the engine's ``e_l``)."""


class StateVariable(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    name: Name
    unit: Text
    description: Text
    engine: Name | None = None


class Reference(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    citation: Text
    """Authors (year) Title. Journal volume:pages."""
    doi: Doi


class Implementation(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    engine: Engine
    reference: Text = "reference.py"
    """The readable Python implementation, next to component.toml."""
    path: str | None = None
    """Where the engine's implementation lives (a file of the repository)."""
    symbol: str | None = None
    """The Torch/Triton object that implements it (``torch.nn.ReLU``), when there is one."""


class Check(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """The short test input the reference (and the engine, where it implements the
    component) are run on; times in ms, currents in nA, weights in ``weight_unit``."""

    protocol: Protocol
    dt: Annotated[float, msgspec.Meta(gt=0)] = 0.1
    duration: Annotated[float, msgspec.Meta(gt=0)] = 100.0
    amplitude: float = 0.0
    onset: float = 10.0
    offset: float = 90.0
    weight: float = 0.0
    weight_unit: str = "nA"
    parameters: dict[str, Number | list[Number] | bool] = {}
    """Values used for the check instead of the defaults (shapes of a layer, say)."""
    shape: list[int] = []
    """Input shape (ANN units and layers)."""
    tolerance: Annotated[float, msgspec.Meta(ge=0)] = 1e-9
    """Largest allowed difference, SI units of what is compared."""


class Definition(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """A ``component.toml``."""

    name: Name
    kind: Kind
    version: Version
    title: Text
    summary: Text
    implementation: Implementation
    check: Check
    references: list[Reference]
    tags: list[Name] = []
    parameters: list[Parameter] = []
    states: list[StateVariable] = []

    @property
    def reference_only(self) -> bool:
        return self.implementation.engine == "none"


def version_key(version: str) -> tuple[int, ...]:
    """Sort key of a ``major.minor.patch`` version."""
    return tuple(int(part) for part in version.split("."))
