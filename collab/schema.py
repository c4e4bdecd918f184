"""The model document: its layout, in one place, and the two ways across to ``ModelSpec``.

A document path is a ``ModelSpec`` path (``projections/ee/weight``), so an error from
``to_spec`` (or from ``simcore.spec.check``) points at the node that caused it. Root types:

    meta         Map    name, kind ("snn" | "ann"), description
    simulation   Map    dt, duration (values), seed, precision
    populations  Map    id -> Map: size, neuron, initial, position, order
    projections  Map    id -> Map: source, target, synapse, connector, weight, delay,
                        plasticity, order
    stimuli      Map    id -> Map: target, generator, neurons, weight, order
    monitors     Map    id -> Map: target, record, variables, neurons, interval, order
    layers       Array  one Map per layer, in order: id, kind, parameters (path: layers/<id>)
    training     Map    the training configuration; an empty map means none
    notes        Text   free text, written together
    comments     Array  one Map per comment: id, author, text, path, created_at, resolved

Records inside an item (a component, its ``parameters``, a value ``{unit, value | uniform |
normal}``, a connector) are nested Maps, so two people editing two parameters never overwrite
each other. Lists of numbers (per-neuron values, positions, explicit pairs) are plain JSON
lists, replaced as a whole: they are set, not typed in one element at a time.

Maps have no order, but the order of populations (and the rest) matters to a run (neuron
numbering, random draws), so each item carries ``order``: a number, ties broken by id.

Yjs has one number type: a whole number in a layer's parameters (where the spec allows both
``int`` and ``float``) reads back as an ``int``. Whole numbers beyond 2**53 cannot be held
exactly by a document (nor by JavaScript).
"""

from __future__ import annotations

import functools
import json
import math
import re
from typing import Any, Literal

import msgspec
import msgspec.inspect as mi
from pycrdt import Array, Doc, Map, Text

from simcore.spec import (
    Id,
    Layer,
    ModelSpec,
    Monitor,
    Population,
    Projection,
    Simulation,
    SpecError,
    Stimulus,
    Training,
    check,
)

ROOTS: dict[str, type[Map] | type[Array] | type[Text]] = {
    "meta": Map,
    "simulation": Map,
    "populations": Map,
    "projections": Map,
    "stimuli": Map,
    "monitors": Map,
    "layers": Array,
    "training": Map,
    "notes": Text,
    "comments": Array,
}

# The sections kept as id -> item maps, with the spec type of an item.
SECTIONS: dict[str, type[msgspec.Struct]] = {
    "populations": Population,
    "projections": Projection,
    "stimuli": Stimulus,
    "monitors": Monitor,
}

ORDER = "order"


class _Meta(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What ``meta`` holds: the spec's top-level fields that are not sections."""

    name: str
    kind: Literal["snn", "ann"]
    description: str = ""


def roots(doc: Doc) -> dict[str, Map | Array | Text]:
    """Every root type of ``doc`` (a client creates the same ones by name)."""
    return {name: doc.get(name, type=kind) for name, kind in ROOTS.items()}


def from_spec(spec: ModelSpec) -> Doc:
    """A new document holding ``spec``; ``to_spec`` of it gives ``spec`` back."""
    doc = Doc()
    root = roots(doc)
    with doc.transaction():
        meta = _Meta(spec.name, spec.kind, spec.description)
        _fill(root["meta"], msgspec.to_builtins(meta))
        _fill(root["simulation"], msgspec.to_builtins(spec.simulation))
        for section in SECTIONS:
            for order, item in enumerate(getattr(spec, section)):
                fields = msgspec.to_builtins(item)
                del fields["id"]  # the key is the id
                root[section][item.id] = _map({**fields, ORDER: order})
        for layer in spec.layers:
            root["layers"].append(_map(msgspec.to_builtins(layer)))
        if spec.training is not None:
            # Every field, defaults too: an empty training map means "no training".
            fields = msgspec.structs.asdict(spec.training)
            _fill(
                root["training"], {key: value for key, value in fields.items() if value is not None}
            )
    return doc


def _map(fields: dict[str, Any]) -> Map:
    return Map(
        {key: _map(value) if isinstance(value, dict) else value for key, value in fields.items()}
    )


def _fill(target: Map, fields: dict[str, Any]) -> None:
    for key, value in fields.items():
        target[key] = _map(value) if isinstance(value, dict) else value


def to_spec(doc: Doc) -> ModelSpec | list[SpecError]:
    """The document as a validated ``ModelSpec``, or everything wrong with it."""
    # Each root as JSON, made by Yjs in one pass: much quicker than walking it from Python.
    data = {
        name: str(root) if isinstance(root, Text) else json.loads(str(root))
        for name, root in roots(doc).items()
    }
    reader = _Reader()
    meta = reader.read(data["meta"], _Meta, "meta")
    simulation = reader.read(data["simulation"], Simulation, "simulation")
    sections = {
        section: tuple(reader.items(data[section], kind, section))
        for section, kind in SECTIONS.items()
    }
    layers = tuple(reader.layers(data["layers"]))
    training = reader.read(data["training"], Training, "training") if data["training"] else None
    if reader.errors:
        return reader.errors
    assert isinstance(meta, _Meta) and isinstance(simulation, Simulation)
    spec = ModelSpec(
        name=meta.name,
        kind=meta.kind,
        description=meta.description,
        simulation=simulation,
        layers=layers,
        training=training,
        **sections,
    )
    return check(spec) or spec


_INVALID = object()
"""What a node that failed to read becomes; its error has been recorded."""

_ID_PATTERN = mi.type_info(Id).pattern

# Describing a type is slow next to reading a node; the spec's types are few.
_type_info = functools.cache(mi.type_info)


class _Reader:
    """Reads plain document data into spec structs, collecting every error on the way."""

    def __init__(self) -> None:
        self.errors: list[SpecError] = []

    def fail(self, path: str, message: str) -> object:
        self.errors.append(SpecError(path, message))
        return _INVALID

    def read(self, raw: object, kind: type[msgspec.Struct], path: str) -> object:
        return self._node(raw, _type_info(kind), path)

    def items(self, raw: dict[str, Any], kind: type[msgspec.Struct], section: str) -> list[Any]:
        """The items of an id -> item section, in their order."""
        ranked: list[tuple[float, str, object]] = []
        for key, item in raw.items():
            path = f"{section}/{key}"
            if not isinstance(item, dict):
                self.fail(path, f"should be a map of settings, not {_what(item)}")
                continue
            fields = dict(item)
            order = fields.pop(ORDER, math.inf)
            if isinstance(order, bool) or not isinstance(order, int | float):
                self.fail(f"{path}/{ORDER}", f"should be a number, not {_what(order)}")
                continue
            ranked.append((order, key, self.read({**fields, "id": key}, kind, path)))
        ranked.sort(key=lambda entry: entry[:2])
        return [value for _, _, value in ranked if value is not _INVALID]

    def layers(self, raw: list[Any]) -> list[Any]:
        layers = []
        for index, layer in enumerate(raw):
            if not isinstance(layer, dict):
                self.fail(f"layers/{index}", f"should be a map of settings, not {_what(layer)}")
                continue
            name = layer.get("id")
            path = f"layers/{name}" if isinstance(name, str) and name else f"layers/{index}"
            layers.append(self.read(layer, Layer, path))
        return [layer for layer in layers if layer is not _INVALID]

    def _node(self, raw: object, info: mi.Type, path: str) -> object:
        if isinstance(info, mi.StructType):
            return self._struct(raw, info, path)
        if isinstance(info, mi.DictType):
            if not isinstance(raw, dict):
                return self.fail(path, f"should be a map, not {_what(raw)}")
            entries = {
                key: self._node(raw[key], info.value_type, f"{path}/{key}") for key in sorted(raw)
            }
            return _INVALID if _INVALID in entries.values() else entries
        if isinstance(info, mi.TupleType | mi.VarTupleType):
            return self._sequence(raw, info, path)
        if isinstance(info, mi.UnionType):
            return self._union(raw, info, path)
        return self._leaf(raw, info, path)

    def _struct(self, raw: object, info: mi.StructType, path: str) -> object:
        noun = _noun(info.cls)
        if not isinstance(raw, dict):
            return self.fail(path, f"should be a map of settings ({noun}), not {_what(raw)}")
        fields = {field.encode_name: field for field in info.fields}
        values: dict[str, object] = {}
        failed = False
        for key in raw:
            if key not in fields:
                known = ", ".join(name for name in fields if name != "id")
                failed = True
                self.fail(f"{path}/{key}", f"a {noun} has no setting {key!r} (it has: {known})")
        for name, field in fields.items():
            if name not in raw:
                if field.required:
                    failed = True
                    self.fail(f"{path}/{name}", f"a {noun} needs a {name.replace('_', ' ')}")
                continue
            # The id is the item's key: an error about it belongs to the item itself.
            value = self._node(raw[name], field.type, path if name == "id" else f"{path}/{name}")
            failed = failed or value is _INVALID
            values[field.name] = value
        return _INVALID if failed else info.cls(**values)

    def _sequence(self, raw: object, info: mi.TupleType | mi.VarTupleType, path: str) -> object:
        if isinstance(info, mi.TupleType):
            kinds = list(info.item_types)
            wanted = f"a list of {len(kinds)} {_plural(kinds[0])}"
            if not isinstance(raw, list) or len(raw) != len(kinds):
                return self.fail(path, f"should be {wanted}, not {_what(raw)}")
        else:
            if not isinstance(raw, list):
                return self.fail(
                    path, f"should be a list of {_plural(info.item_type)}, not {_what(raw)}"
                )
            kinds = [info.item_type] * len(raw)
        items = [
            self._node(item, kind, f"{path}/{index}")
            for index, (item, kind) in enumerate(zip(raw, kinds, strict=True))
        ]
        return _INVALID if _INVALID in items else tuple(items)

    def _union(self, raw: object, info: mi.UnionType, path: str) -> object:
        if raw is None and any(isinstance(kind, mi.NoneType) for kind in info.types):
            return None
        kinds = [kind for kind in info.types if not isinstance(kind, mi.NoneType)]
        if len(kinds) == 1:
            return self._node(raw, kinds[0], path)
        # Prefer the member that fits the value as it is: a whole number stays an int where
        # the spec allows one.
        fitting = [kind for kind in kinds if _fits(raw, kind)]
        for kind in fitting + [kind for kind in kinds if kind not in fitting]:
            probe = _Reader()
            value = probe._node(raw, kind, path)
            if value is not _INVALID:
                return value
        wanted = " or ".join(_singular(kind) for kind in kinds)
        return self.fail(path, f"should be {wanted}, not {_what(raw)}")

    def _leaf(self, raw: object, info: mi.Type, path: str) -> object:
        if isinstance(info, mi.IntType):
            if isinstance(raw, float) and raw.is_integer() and abs(raw) <= 2**53:
                raw = int(raw)  # documents hold every number as a float
            if isinstance(raw, bool) or not isinstance(raw, int):
                return self.fail(path, f"should be a whole number, not {_what(raw)}")
            return self._bounded(raw, info, path)
        if isinstance(info, mi.FloatType):
            if isinstance(raw, bool) or not isinstance(raw, int | float):
                return self.fail(path, f"should be a number, not {_what(raw)}")
            return self._bounded(float(raw), info, path)
        if isinstance(info, mi.StrType):
            if not isinstance(raw, str):
                return self.fail(path, f"should be text, not {_what(raw)}")
            if info.pattern and not re.search(info.pattern, raw):
                if info.pattern == _ID_PATTERN:
                    return self.fail(
                        path,
                        f"{raw!r} is not a usable id: start with a letter or _, then use "
                        "letters, digits, _ or - (64 characters at most)",
                    )
                return self.fail(path, f"{raw!r} does not have the expected form {info.pattern}")
            return raw
        if isinstance(info, mi.BoolType):
            if not isinstance(raw, bool):
                return self.fail(path, f"should be true or false, not {_what(raw)}")
            return raw
        if isinstance(info, mi.LiteralType):
            if raw not in info.values or isinstance(raw, bool):
                choices = ", ".join(str(value) for value in info.values)
                return self.fail(path, f"should be one of {choices}; not {_what(raw)}")
            return raw
        raise TypeError(f"{path}: the schema has no reader for {info}")  # a spec change

    def _bounded(self, number: float, info: mi.IntType | mi.FloatType, path: str) -> object:
        if info.ge is not None and info.le is not None and not info.ge <= number <= info.le:
            return self.fail(path, f"should be between {info.ge} and {info.le}, not {number}")
        if info.ge is not None and number < info.ge:
            return self.fail(path, f"should be at least {info.ge}, not {number}")
        if info.gt is not None and number <= info.gt:
            return self.fail(path, f"should be more than {info.gt}, not {number}")
        if info.le is not None and number > info.le:
            return self.fail(path, f"should be at most {info.le}, not {number}")
        return number


def _fits(raw: object, kind: mi.Type) -> bool:
    if isinstance(raw, bool):
        return isinstance(kind, mi.BoolType)
    if isinstance(raw, int | float):
        whole = isinstance(raw, int) or (raw.is_integer() and abs(raw) <= 2**53)
        return isinstance(kind, mi.IntType) if whole else isinstance(kind, mi.FloatType)
    if isinstance(raw, str):
        return isinstance(kind, mi.StrType)
    return isinstance(raw, list) and isinstance(kind, mi.TupleType | mi.VarTupleType)


def _singular(kind: mi.Type) -> str:
    names = {
        mi.IntType: "a whole number",
        mi.FloatType: "a number",
        mi.StrType: "text",
        mi.BoolType: "true or false",
    }
    for cls, name in names.items():
        if isinstance(kind, cls):
            return name
    if isinstance(kind, mi.VarTupleType):
        return f"a list of {_plural(kind.item_type)}"
    return "a list" if isinstance(kind, mi.TupleType) else "a map of settings"


def _plural(kind: mi.Type) -> str:
    if isinstance(kind, mi.IntType):
        return "whole numbers"
    if isinstance(kind, mi.FloatType):
        return "numbers"
    if isinstance(kind, mi.StrType):
        return "texts"
    return "lists" if isinstance(kind, mi.TupleType | mi.VarTupleType) else "values"


def _noun(cls: type) -> str:
    return {"_Meta": "model", "Training": "training configuration"}.get(
        cls.__name__, cls.__name__.lower()
    )


def _what(raw: object) -> str:
    """A value described for the message that refuses it."""
    if raw is None:
        return "nothing"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return repr(raw)
    if isinstance(raw, str):
        return f"the text {raw[:40]!r}"
    if isinstance(raw, list):
        return f"a list of {len(raw)}"
    return "a map"
