"""Where documents live: a log of updates (PostgreSQL) after a snapshot (object storage).

The stored truth is always Yjs binary: a snapshot is the encoded state of the document, a log
entry is one update exactly as Yjs made it. Loading merges the snapshot with the entries after
it; compaction writes a new snapshot and drops the entries it covers, in one step, so at every
moment snapshot + log is the whole document.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import NamedTuple, Protocol

from pycrdt import Doc, merge_updates

log = logging.getLogger(__name__)

# A snapshot can be replaced (and its object deleted) between reading its key and reading
# the object; reading again then finds the new one.
_LOAD_TRIES = 3


class LogEntry(NamedTuple):
    id: int
    update: bytes


class UpdateLog(Protocol):
    """Each room's updates in order of arrival, and which snapshot they follow."""

    async def append(self, room: str, updates: Sequence[bytes]) -> list[int]:
        """Store ``updates`` durably, in one transaction (committed when this returns), one
        entry each, in order; their entry ids, in the same order."""
        ...

    async def entries(self, room: str) -> list[LogEntry]:
        """Every entry not yet folded into the room's snapshot, oldest first."""
        ...

    async def snapshot(self, room: str) -> str | None:
        """The object key of the room's snapshot; None before the first compaction."""
        ...

    async def fold(self, room: str, key: str, covered: Sequence[int], expected: str | None) -> bool:
        """In one transaction: make ``key`` the room's snapshot and drop the ``covered``
        entries, if the snapshot is still ``expected``. False (nothing changed) otherwise."""
        ...

    async def close(self) -> None:
        """Give back what it holds of the database's connections."""
        ...


class Blobs(Protocol):
    """Whole objects by key (``server.objects.ObjectStore`` is one)."""

    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes:
        """The object's bytes; raises ``KeyError`` when there is none."""
        ...

    async def delete(self, key: str) -> None: ...


class Stored(NamedTuple):
    """A document as loaded: its state, and what storage holds it as."""

    state: bytes
    """Snapshot and log merged into one update (empty for a document never written)."""
    snapshot: str | None
    entries: list[tuple[int, int]]
    """Id and size of each log entry after the snapshot."""


class DocumentStore:
    """Documents as snapshot + log, for rooms; one instance serves every room."""

    def __init__(self, updates: UpdateLog, blobs: Blobs, prefix: str = "documents"):
        self.updates = updates
        self.blobs = blobs
        self.prefix = prefix

    async def load(self, room: str) -> Stored:
        for _ in range(_LOAD_TRIES - 1):
            try:
                return await self._load(room)
            except KeyError:
                log.info("snapshot of %s replaced while loading it; reading again", room)
        return await self._load(room)

    async def _load(self, room: str) -> Stored:
        # Entries first, then the snapshot key: a compaction in between then gives a snapshot
        # that already holds some of the entries (harmless: applying an update twice is a
        # no-op), never a snapshot that lacks entries dropped after they were read.
        entries = await self.updates.entries(room)
        key = await self.updates.snapshot(room)
        parts = [await self.blobs.get(key)] if key else []
        parts += [entry.update for entry in entries]
        return Stored(_merged(parts), key, [(entry.id, len(entry.update)) for entry in entries])

    async def append(self, room: str, updates: Sequence[bytes]) -> list[int]:
        return await self.updates.append(room, updates)

    async def close(self) -> None:
        await self.updates.close()

    async def compact(
        self, room: str, state: bytes, covered: Sequence[int], base: str | None
    ) -> str | None:
        """Make ``state`` (which holds the ``covered`` entries and the snapshot ``base``) the
        room's snapshot; its key, or None when another process compacted meanwhile."""
        current = await self.updates.snapshot(room)
        if current != base and current is not None:
            # Another holder of the room compacted since ours loaded: keep what it folded.
            try:
                state = merge_updates(await self.blobs.get(current), state)
            except KeyError:
                return None  # and it is replacing that one right now
        key = f"{self.prefix}/{room}/{uuid.uuid4().hex}.ystate"
        await self.blobs.put(key, state)
        if not await self.updates.fold(room, key, covered, current):
            await self.blobs.delete(key)
            return None
        if current is not None:
            await self.blobs.delete(current)
        return key


def _merged(parts: list[bytes]) -> bytes:
    """``parts`` (updates, in order) as one update. Applied to a document in one transaction
    rather than by ``merge_updates``, which takes superlinear time in the number of parts and
    keeps every overwritten value (a long log took seconds to load; this takes milliseconds,
    and what it returns is garbage-collected)."""
    if len(parts) < 2:
        return b"".join(parts)
    doc = Doc()
    with doc.transaction():
        for part in parts:
            doc.apply_update(part)
    return doc.get_update()
