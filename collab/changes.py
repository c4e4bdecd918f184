"""Changes to a model document made by the server: a script's list of operations, and a
restore to a named version. Both edit a document in place, inside the caller's transaction;
a room makes them on a copy, so one that fails half-way changes nothing.

A path is a document path (``populations/exc/size``, ``layers/hidden1/parameters``): a root,
then map keys; in a list, an index or the ``id`` of one of its maps (as ``layers/<id>``).
"""

from __future__ import annotations

import difflib
from typing import Any

import msgspec
from pycrdt import Array, Doc, Map, Text

from collab.schema import ROOTS, roots

Shared = Map | Array | Text

_APPEND = "-"
"""The index that inserts at the end of a list (as in JSON Patch)."""


class Set(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="set", tag_field="op"):
    """Put ``value`` at ``path`` (a map key, or an existing list item); a JSON object becomes
    a map whose keys can be edited one at a time, any other value is kept whole."""

    path: str
    value: Any


class Delete(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="delete", tag_field="op"):
    """Remove the map key or list item at ``path``."""

    path: str


class Insert(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="insert", tag_field="op"):
    """Insert ``value`` into a list before the index ``path`` ends with (``-``: at the end),
    or text into ``notes`` at a character index."""

    path: str
    value: Any


Change = Set | Delete | Insert


class ChangeError(ValueError):
    """A change that cannot be made: the message says which one, and why."""


def apply_changes(doc: Doc, changes: list[Change]) -> None:
    """Make ``changes`` to ``doc`` in order; raises ``ChangeError`` at the first that fails."""
    for index, change in enumerate(changes):
        try:
            _apply(doc, change)
        except ChangeError as error:
            op = type(change).__name__.lower()
            raise ChangeError(f"change {index} ({op} {change.path}): {error}") from None


def restore(doc: Doc, version: Doc) -> None:
    """Make the content of ``doc`` equal to ``version``'s, changing only what differs (so
    what others edit meanwhile elsewhere in the document is kept)."""
    mine, theirs = roots(doc), roots(version)
    for name in ROOTS:
        _match(mine[name], theirs[name])


def _apply(doc: Doc, change: Change) -> None:
    parent, key, where = _locate(doc, change.path)
    if key is None:  # a root itself
        if not isinstance(change, Set):
            raise ChangeError("a root of the document can only be set, as a whole")
        _set_root(parent, change.value)
    elif isinstance(change, Insert):
        _insert(parent, key, change.value, where)
    elif isinstance(parent, Map):
        if isinstance(change, Set):
            parent[key] = _shared(change.value)
        elif key in parent:
            del parent[key]
        else:
            raise ChangeError(f"{where} has no {key!r} to delete")
    elif isinstance(parent, Array):
        index = _item(parent, key, where)
        del parent[index]
        if isinstance(change, Set):
            parent.insert(index, _shared(change.value))
    else:
        raise ChangeError(f"{where} is text: set it whole, or insert at a character index")


def _locate(doc: Doc, path: str) -> tuple[Shared, str | None, str]:
    """The node that holds ``path``'s last step, that step, and the path to the node."""
    steps = path.strip("/").split("/")
    if steps[0] not in ROOTS:
        known = ", ".join(ROOTS)
        raise ChangeError(f"{steps[0]!r} is not a part of a model document (they are: {known})")
    node: Shared = roots(doc)[steps[0]]
    where = steps[0]
    for step in steps[1:-1]:
        if isinstance(node, Map):
            if step not in node:
                raise ChangeError(f"there is no {where}/{step}")
            child = node[step]
        elif isinstance(node, Array):
            child = node[_item(node, step, where)]
        else:
            raise ChangeError(f"{where} is text, it has no {step!r}")
        if not isinstance(child, Shared):
            raise ChangeError(f"{where}/{step} is a single value ({_kind(child)}): set it whole")
        node, where = child, f"{where}/{step}"
    return node, steps[-1] if len(steps) > 1 else None, where


def _item(items: Array, step: str, where: str) -> int:
    """The index of the item ``step`` names in ``items``: its index, or its ``id``."""
    if step.isdigit():
        if int(step) < len(items):
            return int(step)
        raise ChangeError(f"{where} has {len(items)} items, so no item {step}")
    for index, item in enumerate(items):
        if isinstance(item, Map) and item.get("id") == step:
            return index
    raise ChangeError(f"{where} has no item with id {step!r}")


def _insert(parent: Shared, key: str, value: Any, where: str) -> None:
    if isinstance(parent, Text):
        if not isinstance(value, str):
            raise ChangeError(f"only text can be inserted into {where}, not {_kind(value)}")
        if not key.isdigit() or int(key) > len(parent):
            raise ChangeError(f"{where} has {len(parent)} characters: insert at 0 to that")
        parent.insert(int(key), value)
    elif isinstance(parent, Array):
        if key == _APPEND:
            parent.append(_shared(value))
        elif key.isdigit() and int(key) <= len(parent):
            parent.insert(int(key), _shared(value))
        else:
            raise ChangeError(f"{where} has {len(parent)} items: insert at 0 to that, or at -")
    else:
        raise ChangeError(f"{where} is a map: insert is for lists and text, use set")


def _set_root(root: Shared, value: Any) -> None:
    if isinstance(root, Map) and isinstance(value, dict):
        root.clear()
        for key, item in value.items():
            root[key] = _shared(item)
    elif isinstance(root, Array) and isinstance(value, list):
        root.clear()
        root.extend([_shared(item) for item in value])
    elif isinstance(root, Text) and isinstance(value, str):
        _match_text(root, value)
    else:
        wanted = {Map: "an object", Array: "a list", Text: "text"}[type(root)]
        raise ChangeError(f"should be set to {wanted}, not {_kind(value)}")


def _shared(value: Any) -> Any:
    """A JSON value as the document holds it: objects as maps, the rest whole."""
    if isinstance(value, dict):
        return Map({key: _shared(item) for key, item in value.items()})
    return value


def _match(target: Shared, source: Shared) -> None:
    if isinstance(target, Text):
        _match_text(target, str(source))
    elif isinstance(target, Map):
        assert isinstance(source, Map)
        for key in [key for key in target if key not in source]:
            del target[key]
        for key, value in source.items():
            if key not in target or not _matched(target, key, value):
                target[key] = _copy(value)
    else:
        assert isinstance(target, Array) and isinstance(source, Array)
        wanted = list(source)
        for index, value in enumerate(wanted[: len(target)]):
            if not _matched(target, index, value):
                del target[index]
                target.insert(index, _copy(value))
        if len(target) > len(wanted):
            del target[len(wanted) :]
        target.extend([_copy(value) for value in wanted[len(target) :]])


def _matched(target: Map | Array, key: Any, value: Any) -> bool:
    """Whether ``target[key]`` now matches ``value`` (made to, where both are shared)."""
    current = target[key]
    if isinstance(value, Shared):
        if type(current) is not type(value):
            return False
        _match(current, value)
        return True
    if isinstance(current, Shared):
        return False
    return msgspec.json.encode(current) == msgspec.json.encode(value)


def _match_text(text: Text, wanted: str) -> None:
    current = str(text)
    if current == wanted:
        return
    edits = difflib.SequenceMatcher(None, current, wanted, autojunk=False).get_opcodes()
    for tag, start, end, wanted_start, wanted_end in reversed(edits):
        if tag in ("replace", "delete"):
            del text[start:end]
        if tag in ("replace", "insert"):
            text.insert(start, wanted[wanted_start:wanted_end])


def _copy(value: Any) -> Any:
    """A value of one document, made anew for another."""
    if isinstance(value, Map):
        return Map({key: _copy(item) for key, item in value.items()})
    if isinstance(value, Array):
        return Array([_copy(item) for item in value])
    if isinstance(value, Text):
        return Text(str(value))
    return value


def _kind(value: object) -> str:
    if isinstance(value, dict | Map):
        return "an object"
    if isinstance(value, list | Array):
        return "a list"
    if isinstance(value, str | Text):
        return "text"
    return "nothing" if value is None else f"the value {value!r}"
