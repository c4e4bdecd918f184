"""The update log of model documents and the pointer to each one's snapshot, in PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from collab.schema import from_spec
from collab.store import LogEntry
from server.db.tables import DocumentSnapshot, DocumentUpdate
from simcore.spec import ModelSpec


async def create_document(model_id: UUID, spec: ModelSpec) -> None:
    """Store the first state of a new model's document, ``spec``, as one Yjs update: the
    only moment a document is made from anything but Yjs updates (in the same transaction
    as the model's row)."""
    await DocumentUpdate.insert(DocumentUpdate(model=model_id, data=from_spec(spec).get_update()))


_APPEND = (
    f"INSERT INTO {DocumentUpdate._meta.tablename} ({DocumentUpdate.model._meta.name}, "
    f"{DocumentUpdate.data._meta.name}) SELECT $1, unnest($2::bytea[]) RETURNING id"
)
_APPEND_NO_FLUSH_WAIT = _APPEND.replace(
    " RETURNING",
    " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS this_commit RETURNING",
)
"""The same, committed without waiting for the WAL to reach the disk (for this statement's
transaction alone)."""


_KEPT_CONNECTIONS = 2
"""Connections the update log keeps between appends: a room has one append in flight at a
time, so two serve one busy room and the next of another without a trip through the pool;
any more are taken from the pool and given back, leaving it the rest."""


class PostgresUpdateLog:
    """``collab.store.UpdateLog`` on the ``document_updates`` and ``document_snapshots``
    tables; ``model_of`` names the model a room belongs to. ``wait_for_flush``: whether an
    append returns only once PostgreSQL has flushed it to disk (``SPIKEX_DOC_COMMIT_FLUSH``);
    either way it returns once the updates are committed to the log."""

    def __init__(self, model_of: Callable[[str], UUID], wait_for_flush: bool = True):
        self.model_of = model_of
        self._append = _APPEND if wait_for_flush else _APPEND_NO_FLUSH_WAIT
        self._idle: list[asyncpg.Connection] = []
        """Pooled connections the log keeps between appends."""
        self._releasing: set[asyncio.Task[None]] = set()

    async def append(self, room: str, updates: Sequence[bytes]) -> list[int]:
        model = self.model_of(room)
        # One statement, so one commit (one WAL flush) for the whole batch. Ids come from a
        # sequence in the order of the rows, so sorted they are the updates' ids in order.
        # Plain SQL rather than the query builder: this is on the path of every edit to every
        # client, and asyncpg keeps the statement prepared per connection. The connection is
        # one the log keeps out of the pool between appends: asyncpg's acquire and release
        # are chains of coroutines and a task, measured at a few tenths of a millisecond of
        # every edit (the release's share was still spent on a core the broadcast needed).
        pool = DocumentUpdate._meta.db.pool
        connection = self._idle.pop() if self._idle else await pool.acquire()
        try:
            rows = await connection.fetch(self._append, model, list(updates))
        except BaseException:
            self._give_back(pool, connection)  # the pool replaces a broken one
            raise
        if len(self._idle) < _KEPT_CONNECTIONS:
            self._idle.append(connection)
        else:
            self._give_back(pool, connection)
        return sorted(row["id"] for row in rows)

    def _give_back(self, pool: asyncpg.Pool, connection: asyncpg.Connection) -> None:
        # In the background: the caller sends the edit on first.
        release = asyncio.create_task(pool.release(connection))
        self._releasing.add(release)
        release.add_done_callback(self._releasing.discard)

    async def close(self) -> None:
        """Give the kept connections back to the pool (before it closes)."""
        pool = DocumentUpdate._meta.db.pool
        idle, self._idle = self._idle, []
        for connection in idle:
            await pool.release(connection)
        if self._releasing:
            await asyncio.gather(*self._releasing, return_exceptions=True)

    async def entries(self, room: str) -> list[LogEntry]:
        rows = (
            await DocumentUpdate.select(DocumentUpdate.id, DocumentUpdate.data)
            .where(DocumentUpdate.model == self.model_of(room))
            .order_by(DocumentUpdate.id)
        )
        return [LogEntry(row["id"], row["data"]) for row in rows]

    async def snapshot(self, room: str) -> str | None:
        row = (
            await DocumentSnapshot.select(DocumentSnapshot.object_key)
            .where(DocumentSnapshot.model == self.model_of(room))
            .first()
        )
        return row["object_key"] if row else None

    async def fold(self, room: str, key: str, covered: Sequence[int], expected: str | None) -> bool:
        model = self.model_of(room)
        try:
            async with DocumentSnapshot._meta.db.transaction():
                row = (
                    await DocumentSnapshot.select(DocumentSnapshot.object_key)
                    .where(DocumentSnapshot.model == model)
                    .lock_rows()
                    .first()
                )
                if (row["object_key"] if row else None) != expected:
                    return False
                if row:
                    await DocumentSnapshot.update(
                        {
                            DocumentSnapshot.object_key: key,
                            DocumentSnapshot.created_at: datetime.now(UTC),
                        }
                    ).where(DocumentSnapshot.model == model)
                else:
                    await DocumentSnapshot.insert(DocumentSnapshot(model=model, object_key=key))
                if covered:
                    # One array parameter, not one per id (``IN``): a long log has more ids
                    # than a query may have parameters (32,767).
                    await DocumentUpdate.raw(
                        "DELETE FROM document_updates WHERE model = {} AND id = ANY({})",
                        model,
                        list(covered),
                    )
        except asyncpg.UniqueViolationError:
            return False  # another process made the first snapshot at the same moment
        return True
