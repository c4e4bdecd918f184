"""The components ``simcore.build`` knows, their parameters, units, defaults and ranges, as the
component library (``library/<kind>/<name>/component.toml``) defines them: written once.

A spec names a component (``Component("lif", parameters={...})``) and gives only the
parameters that differ from the defaults, in any unit of the declared unit's dimension
(``spec.UNITS``); ``build`` converts them to the engine's SI floats and refuses values outside
a parameter's allowed range. The engine simulates the library's components whose
implementation is ``rust``; the others (Torch layers, reference-only models) are not built
here. ``describe()`` renders the table as Markdown.

The unit ``weight`` means "the unit of the projection's weight": volts for ``delta``, amperes
(or volts, see below) for current synapses, siemens for conductance synapses. Weights of a
current synapse may be given in volts, as Brian2's CUBA example does (``ge`` in volts): on a
``lif`` or ``leaky_integrator`` target they are divided by its (uniform) ``r_m``, so that a
weight of 1.62 mV moves ``v`` by 1.62 mV-equivalents of synaptic current; give ``r_m = 1 Ohm``
to reproduce Brian2's voltage-valued variables bit for bit.

A spec may pin a component's version (``Component("lif", version="1.0.0")``); a ``Catalog``
says which versions exist and which were withdrawn. Without one, ``build`` uses the versions
in this repository's library.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, cast

from library.loader import load_library
from library.schema import Definition, version_key

Kind = Literal["neuron", "synapse", "plasticity", "generator"]
KINDS: tuple[Kind, ...] = ("neuron", "synapse", "plasticity", "generator")


@dataclass(frozen=True, slots=True)
class Parameter:
    """One parameter (or state variable) of a component."""

    name: str
    engine: str
    unit: str
    default: float | None
    """In ``unit``; None: required, or optional when ``optional``."""
    optional: bool
    meaning: str
    low: float | None = None
    """Smallest allowed value, in ``unit`` (inclusive)."""
    high: float | None = None
    """Largest allowed value, in ``unit`` (inclusive)."""


@dataclass(frozen=True, slots=True)
class ComponentInfo:
    name: str
    kind: Kind
    parameters: dict[str, Parameter]
    states: dict[str, Parameter]
    """Neurons: the state variables (``v``, ``w``, ``u``)."""
    version: str = "0.0.0"


class UnknownComponent(LookupError):
    """A name or version the catalog cannot give; the message says what there is."""


def info(definition: Definition) -> ComponentInfo:
    """The engine's view of a library component."""
    parameters = {
        parameter.name: Parameter(
            parameter.name,
            parameter.engine or parameter.name,
            parameter.unit,
            None if isinstance(parameter.default, list) else _float(parameter.default),
            parameter.optional,
            parameter.description,
            _float(parameter.min),
            _float(parameter.max),
        )
        for parameter in definition.parameters
    }
    states = {
        state.name: Parameter(
            state.name, state.engine or state.name, state.unit, None, True, state.description
        )
        for state in definition.states
    }
    kind = cast(Kind, definition.kind)
    return ComponentInfo(definition.name, kind, parameters, states, definition.version)


def _float(value: float | None) -> float | None:
    return None if value is None else float(value)


class Catalog:
    """The component versions a build may use, by name and version; withdrawn ones are kept
    (so a model that uses one gets a clear refusal) but never resolved."""

    def __init__(
        self, definitions: Iterable[Definition], withdrawn: Iterable[tuple[str, str]] = ()
    ) -> None:
        self.versions: dict[str, dict[str, ComponentInfo]] = {}
        self.reference_only: dict[str, str] = {}
        for definition in definitions:
            if definition.implementation.engine != "rust":
                if definition.reference_only:
                    self.reference_only[definition.name] = definition.kind
                continue
            self.versions.setdefault(definition.name, {})[definition.version] = info(definition)
        self.withdrawn = set(withdrawn)

    def names(self, kind: Kind) -> list[str]:
        """The components of one kind that have a usable version, by name."""
        return sorted(
            name
            for name, versions in self.versions.items()
            if any(
                item.kind == kind and (name, version) not in self.withdrawn
                for version, item in versions.items()
            )
        )

    def resolve(self, name: str, version: str | None, kind: Kind) -> ComponentInfo:
        """``name`` at ``version`` (None: the newest that is not withdrawn), or
        ``UnknownComponent`` saying why not."""
        versions = self.versions.get(name, {})
        kinds = {item.kind for item in versions.values()}
        if not versions or kind not in kinds:
            known = ", ".join(self.names(kind))
            if versions:
                also = f" ({name!r} is a {kinds.pop()})"
            elif self.reference_only.get(name) == kind:
                also = " (the library has it as reference-only: the engine does not simulate it)"
            else:
                also = ""
            raise UnknownComponent(f"unknown {kind} {name!r}{also}; known: {known}")
        usable = [v for v in versions if (name, v) not in self.withdrawn]
        if version is None:
            if not usable:
                raise UnknownComponent(f"{name} was withdrawn from the library")
            return versions[max(usable, key=version_key)]
        if (name, version) in self.withdrawn:
            newer = f"; use {max(usable, key=version_key)}" if usable else ""
            raise UnknownComponent(f"{name} {version} was withdrawn from the library{newer}")
        if version not in versions:
            raise UnknownComponent(
                f"{name} has no version {version} (available: "
                f"{', '.join(sorted(usable, key=version_key)) or 'none'})"
            )
        return versions[version]


LIBRARY = [component.definition for component in load_library()]
DEFAULT_CATALOG = Catalog(LIBRARY)
"""This repository's library: one version of each component."""

COMPONENTS: dict[str, ComponentInfo] = {
    name: DEFAULT_CATALOG.resolve(name, None, kind)
    for kind in KINDS
    for name in DEFAULT_CATALOG.names(kind)
}
"""Every component ``build`` knows, by name (the repository's versions)."""


def names(kind: Kind) -> list[str]:
    """The components of one kind."""
    return DEFAULT_CATALOG.names(kind)


def describe() -> str:
    """The engine's components as Markdown (for documentation)."""
    lines = [
        "| kind | component | parameter | unit | default | range | meaning |",
        "|---|---|---|---|---|---|---|",
    ]
    for item in COMPONENTS.values():
        if not item.parameters and not item.states:
            lines.append(f"| {item.kind} | {item.name} | - | - | - | - | no parameters |")
        for parameter in item.parameters.values():
            default = (
                ""
                if parameter.optional and parameter.default is None
                else "required"
                if parameter.default is None
                else f"{parameter.default:g}"
            )
            low = "" if parameter.low is None else f"{parameter.low:g}"
            high = "" if parameter.high is None else f"{parameter.high:g}"
            bounds = f"[{low}, {high}]" if low or high else ""
            lines.append(
                f"| {item.kind} | {item.name} | {parameter.name} | {parameter.unit} | "
                f"{default} | {bounds} | {parameter.meaning} |"
            )
        for state in item.states.values():
            lines.append(
                f"| state | {item.name} | {state.name} | {state.unit} |  |  | {state.meaning} |"
            )
    return "\n".join(lines)
