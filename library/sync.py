"""What a sync of the repository's library has to do, decided without touching any store.

A component version is identified by ``(kind, name, version)`` and its content by the hash of
its files. Given what the store holds and what the folder holds, ``plan`` says which versions
to write, which are unchanged (not rewritten), which changed without a new version number
(rewritten, with a warning: bump the version), which come back after a withdrawal, and which
components left the folder (withdrawn, never deleted: models may pin them). Older versions of
a component still in the folder stay available; contributions are never withdrawn by a sync.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from library.loader import LoadedComponent

Key = tuple[str, str, str]
"""(kind, name, version)."""


@dataclass(frozen=True)
class Stored:
    """What the store holds for one component version."""

    kind: str
    name: str
    version: str
    content_hash: str
    withdrawn: bool
    source: str
    """``repository`` or ``contribution``."""

    @property
    def key(self) -> Key:
        return (self.kind, self.name, self.version)


@dataclass
class SyncPlan:
    create: list[LoadedComponent] = field(default_factory=list)
    changed: list[LoadedComponent] = field(default_factory=list)
    """Same version, other content: rewritten (the version should have been bumped)."""
    restore: list[LoadedComponent] = field(default_factory=list)
    """Withdrawn versions that are back in the folder."""
    unchanged: list[LoadedComponent] = field(default_factory=list)
    withdraw: list[Stored] = field(default_factory=list)
    conflicts: list[LoadedComponent] = field(default_factory=list)
    """Versions that a contribution already holds: left alone (a new version is needed)."""

    @property
    def writes(self) -> list[LoadedComponent]:
        return [*self.create, *self.changed, *self.restore]


def key(component: LoadedComponent) -> Key:
    return (component.kind, component.name, component.version)


def plan(local: Iterable[LoadedComponent], stored: Iterable[Stored]) -> SyncPlan:
    result = SyncPlan()
    held = {row.key: row for row in stored}
    present = set()
    for component in local:
        present.add((component.kind, component.name))
        row = held.get(key(component))
        if row is None:
            result.create.append(component)
        elif row.source != "repository":
            result.conflicts.append(component)
        elif row.withdrawn:
            result.restore.append(component)
        elif row.content_hash != component.content_hash:
            result.changed.append(component)
        else:
            result.unchanged.append(component)
    result.withdraw = [
        row
        for row in held.values()
        if row.source == "repository" and not row.withdrawn and (row.kind, row.name) not in present
    ]
    return result
