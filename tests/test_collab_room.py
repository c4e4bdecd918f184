"""Rooms and their store, in this process, on the real PostgreSQL and object storage (local
files and S3): the store's contract, joins, slow peers, limits, failures, compaction."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path

import msgspec
import pytest
from pycrdt import Doc, Provider, Text

from collab.protocol import Close
from collab.registry import Rooms
from collab.room import Limits
from collab.schema import roots, to_spec
from collab.store import Blobs, DocumentStore
from server.connections import Connections
from server.db.tables import DocumentSnapshot, DocumentUpdate, Model
from server.domain.documents.rooms import model_of, room_of
from server.domain.documents.store import PostgresUpdateLog
from server.domain.models.schemas import ModelCreate
from server.domain.models.service import create_model
from server.objects import ObjectStore
from simcore.spec import ModelSpec
from tests.doc_clients import TIMEOUT_S, Pipe, eventually, piped_editor

LIMITS = Limits(
    max_message_bytes=64 * 1024,
    max_document_bytes=256 * 1024,
    send_queue_bytes=16 * 1024,
    compact_log_bytes=1024 * 1024,
    compact_log_updates=1000,
    compact_idle_s=60.0,
    unload_idle_s=60.0,
    close_timeout_s=0.5,
    retry_s=0.2,
    awareness_timeout_s=30.0,
)


@pytest.fixture(params=["local", "s3"])
def blobs(request: pytest.FixtureRequest, connections: Connections, tmp_path: Path) -> Blobs:
    if request.param == "local":
        return ObjectStore((tmp_path / "objects").as_uri(), timeout_s=5.0)
    return connections.objects


@contextlib.asynccontextmanager
async def closing(store: DocumentStore) -> AsyncIterator[DocumentStore]:
    """``store``, whose update log gives its connections back to the pool at the end."""
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def store(connections: Connections) -> AsyncIterator[DocumentStore]:
    async with closing(DocumentStore(PostgresUpdateLog(model_of), connections.objects)) as opened:
        yield opened


@contextlib.asynccontextmanager
async def open_rooms(store: DocumentStore, **limits: float) -> AsyncIterator[Rooms]:
    rooms = Rooms(store, msgspec.structs.replace(LIMITS, **limits))
    try:
        yield rooms
    finally:
        await rooms.close()


def joining(rooms: Rooms, room: str) -> Callable[[Pipe], Awaitable[None]]:
    return lambda pipe: rooms.serve(room, pipe.room_end)


async def new_model() -> str:
    name = f"room {uuid.uuid4().hex[:6]}"
    return room_of((await create_model(ModelCreate(name=name, template="cuba"))).id)


def loaded(state: bytes) -> Doc:
    doc = Doc()
    doc.apply_update(state)
    return doc


def notes(doc: Doc) -> str:
    return str(roots(doc)["notes"])


def edit(doc: Doc, text: str) -> bytes:
    """Append ``text`` to the notes of ``doc``; the update that made."""
    before = doc.get_state()
    written = roots(doc)["notes"]
    assert isinstance(written, Text)
    written += text
    return doc.get_update(before)


async def rows(room: str) -> int:
    return await DocumentUpdate.count().where(DocumentUpdate.model == model_of(room))


async def transactions(room: str) -> int:
    """How many transactions wrote the log entries of ``room`` (rows one wrote share xmin)."""
    [row] = await DocumentUpdate.raw(
        "SELECT count(DISTINCT xmin::text) AS n FROM document_updates WHERE model = {}",
        model_of(room),
    )
    return row["n"]


async def test_the_store_keeps_a_snapshot_and_the_log_after_it(blobs: Blobs) -> None:
    room = await new_model()
    async with closing(DocumentStore(PostgresUpdateLog(model_of), blobs)) as store:
        await check_snapshot_and_log(room, store, blobs)


async def check_snapshot_and_log(room: str, store: DocumentStore, blobs: Blobs) -> None:
    first = await store.load(room)
    assert first.snapshot is None and len(first.entries) == 1  # the template's update
    doc = loaded(first.state)
    ids = await store.append(room, [edit(doc, word) for word in ("a", "b")])
    again = await store.load(room)
    assert [entry for entry, _ in again.entries] == [first.entries[0][0], *ids]
    assert notes(loaded(again.state)) == "ab"

    key = await store.compact(room, doc.get_update(), [entry for entry, _ in again.entries], None)
    assert key is not None
    after = await store.load(room)
    assert (after.snapshot, after.entries) == (key, [])
    assert notes(loaded(after.state)) == "ab"
    assert isinstance(to_spec(loaded(after.state)), ModelSpec)

    # A holder that loaded before that compaction (another process, say) compacts too: the
    # snapshot it replaces is folded into its own, nothing is lost, the old object goes.
    stale = loaded(first.state)
    [late] = await store.append(room, [edit(stale, "c")])
    newer = await store.compact(room, stale.get_update(), [late], None)
    assert newer not in (None, key)
    with pytest.raises(KeyError):
        await blobs.get(key)
    final = await store.load(room)
    assert final.entries == []
    assert sorted(notes(loaded(final.state))) == ["a", "b", "c"]


async def test_appends_that_skip_the_flush_wait_are_committed_and_change_no_session(
    connections: Connections,
) -> None:
    room = await new_model()
    store = DocumentStore(PostgresUpdateLog(model_of, wait_for_flush=False), connections.objects)
    async with closing(store):
        doc = loaded((await store.load(room)).state)
        await store.append(room, [edit(doc, "a")])
        await store.append(room, [edit(doc, "b")])
        assert await rows(room) == 3  # seen from other connections: committed
        assert notes(loaded((await store.load(room)).state)) == "ab"
    # The setting was the appends' transactions' own: every pooled connection is as it was.
    pool = DocumentUpdate._meta.db.pool
    held = [await pool.acquire() for _ in range(pool.get_size())]
    try:
        settings = [await c.fetchval("SHOW synchronous_commit") for c in held]
    finally:
        for connection in held:
            await pool.release(connection)
    assert settings and set(settings) == {"on"}


async def test_a_fold_against_a_snapshot_that_moved_changes_nothing(store: DocumentStore) -> None:
    room = await new_model()
    [entry] = await store.updates.entries(room)
    assert not await store.updates.fold(room, "elsewhere", [entry.id], "not-the-current-one")
    assert await store.updates.snapshot(room) is None
    assert await rows(room) == 1


async def test_many_peers_joining_a_new_room_at_once_all_get_every_update(
    store: DocumentStore,
) -> None:
    room, peers = await new_model(), 40
    everyone_saw_everything = asyncio.Barrier(peers)

    async def peer(rooms: Rooms) -> None:
        async with piped_editor(joining(rooms, room)) as (doc, _):
            roots(doc)["meta"][f"peer{doc.client_id}"] = True
            meta = roots(doc)["meta"]
            await eventually(lambda: sum(key.startswith("peer") for key in meta) == peers)
            await everyone_saw_everything.wait()  # stay until the last one has all

    async with open_rooms(store) as rooms:  # nothing loaded: all of them load it at once
        await asyncio.gather(*(peer(rooms) for _ in range(peers)))


async def test_concurrent_updates_are_all_stored_in_fewer_appends_than_updates(
    store: DocumentStore,
) -> None:
    room, peers, edits = await new_model(), 20, 2
    before = await transactions(room)

    async def peer(rooms: Rooms, ready: asyncio.Barrier, done: asyncio.Barrier) -> None:
        async with piped_editor(joining(rooms, room)) as (doc, _):
            await ready.wait()
            meta = roots(doc)["meta"]
            for index in range(edits):  # each its own update, all sent at once
                meta[f"peer{doc.client_id}-{index}"] = index
            await eventually(lambda: sum(key.startswith("peer") for key in meta) == peers * edits)
            await done.wait()

    async with open_rooms(store) as rooms:
        ready, done = asyncio.Barrier(peers), asyncio.Barrier(peers)
        await asyncio.gather(*(peer(rooms, ready, done) for _ in range(peers)))
        # Before the room is unloaded (which compacts the log). Updates that came while an
        # append was in flight were committed together.
        assert 0 < await transactions(room) - before < peers * edits
    fresh = loaded((await store.load(room)).state)
    assert sum(key.startswith("peer") for key in roots(fresh)["meta"]) == peers * edits


async def test_a_peer_that_stops_reading_is_dropped_and_the_others_keep_up(
    store: DocumentStore,
) -> None:
    room = await new_model()
    async with open_rooms(store) as rooms:
        stalled = Pipe(stalled=True)
        stuck = asyncio.create_task(rooms.serve(room, stalled.room_end))
        async with (
            piped_editor(joining(rooms, room)) as (writer, _),
            piped_editor(joining(rooms, room)) as (reader, _),
        ):
            for index in range(20):  # 40 kB: more than the 16 kB a peer may have waiting
                edit(writer, "x" * 2000)
                await eventually(lambda i=index: len(notes(reader)) == (i + 1) * 2000)
            await asyncio.wait_for(stuck, 5)
        assert stalled.closed is not None and stalled.closed[0] == Close.TOO_SLOW


class HeldLog(PostgresUpdateLog):
    """The update log, with each append held until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__(model_of)
        self.appending = asyncio.Event()
        self.release = asyncio.Event()

    async def append(self, room: str, updates: Sequence[bytes]) -> list[int]:
        self.appending.set()
        await self.release.wait()
        return await super().append(room, updates)


async def test_a_change_whose_connection_ends_while_it_is_stored_is_still_stored_and_sent(
    connections: Connections,
) -> None:
    room, log = await new_model(), HeldLog()
    async with (
        closing(DocumentStore(log, connections.objects)) as store,
        open_rooms(store) as rooms,
        piped_editor(joining(rooms, room)) as (reader, _),
    ):
        pipe, writer = Pipe(), Doc()
        serving = asyncio.create_task(rooms.serve(room, pipe.room_end))
        async with Provider(writer, pipe.peer_end) as provider:
            await asyncio.wait_for(provider.synced.wait(), TIMEOUT_S)
            edit(writer, "kept")
            await eventually(log.appending.is_set)
        # Its connection's handler ends (the server lets it go) before the change is stored.
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        log.release.set()
        await eventually(lambda: notes(reader) == "kept")
        assert await rows(room) == 1 + 1


async def test_a_message_or_document_over_its_limit_is_refused_before_it_is_applied(
    store: DocumentStore,
) -> None:
    room = await new_model()
    async with open_rooms(store) as rooms:
        async with piped_editor(joining(rooms, room)) as (doc, pipe):
            edit(doc, "y" * (LIMITS.max_message_bytes + 1))
            await eventually(lambda: pipe.closed)
        assert pipe.closed[0] == Close.TOO_BIG and "over the limit of 65536" in pipe.closed[1]
        assert notes(loaded(await (await rooms.get(room)).state())) == ""

        async with piped_editor(joining(rooms, room)) as (doc, pipe):
            for _ in range(5):  # 5 x 60 kB: the fifth grows the document over 256 kB
                edit(doc, "z" * 60_000)
            await eventually(lambda: pipe.closed)
        assert pipe.closed == (
            Close.TOO_BIG,
            "the document would grow over its limit of 262144 bytes",
        )
        assert len(notes(loaded(await (await rooms.get(room)).state()))) == 4 * 60_000
        assert await rows(room) == 1 + 4


async def test_a_change_that_cannot_be_stored_ends_the_room_and_is_not_sent(
    store: DocumentStore,
) -> None:
    room = await new_model()
    async with open_rooms(store) as rooms:
        async with (
            piped_editor(joining(rooms, room)) as (writer, writer_pipe),
            piped_editor(joining(rooms, room)) as (reader, reader_pipe),
        ):
            # The model disappears under the room: the log refuses the next change.
            await Model.delete().where(Model.id == model_of(room))
            edit(writer, "lost")
            await eventually(lambda: writer_pipe.closed and reader_pipe.closed)
            assert notes(reader) == ""
        assert writer_pipe.closed[0] == reader_pipe.closed[0] == Close.TRY_AGAIN
        assert "could not save" in writer_pipe.closed[1]


async def test_a_document_that_cannot_be_loaded_is_refused_with_try_again(
    store: DocumentStore,
) -> None:
    room = await new_model()
    # Its snapshot row points at an object that is not there (lost, or a broken restore).
    await DocumentSnapshot.insert(DocumentSnapshot(model=model_of(room), object_key="missing"))
    async with open_rooms(store) as rooms:
        pipe = Pipe()
        await rooms.serve(room, pipe.room_end)
        assert pipe.closed == (Close.TRY_AGAIN, "the document could not be loaded; try again")
        await DocumentSnapshot.delete().where(DocumentSnapshot.model == model_of(room))
        async with piped_editor(joining(rooms, room)) as (doc, _):  # loads once it can
            assert roots(doc)["meta"]["name"].startswith("room")


async def test_the_log_is_compacted_by_count_and_a_fresh_load_has_it_all(
    store: DocumentStore,
) -> None:
    room = await new_model()
    async with (
        open_rooms(store, compact_log_updates=5) as rooms,
        piped_editor(joining(rooms, room)) as (doc, _),
    ):
        for index in range(12):
            edit(doc, str(index % 10))
        await eventually(lambda: notes(doc) == "012345678901")
        await eventually(lambda: _compacted_below(room, 5))
    async with open_rooms(store) as fresh:
        assert notes(loaded(await (await fresh.get(room)).state())) == "012345678901"


async def _compacted_below(room: str, count: int) -> bool:
    return await rows(room) < count and await PostgresUpdateLog(model_of).snapshot(room) is not None


async def test_an_idle_room_is_compacted_then_unloaded(store: DocumentStore) -> None:
    room = await new_model()
    async with open_rooms(store, compact_idle_s=0.2, unload_idle_s=0.5) as rooms:
        first = await rooms.get(room)
        async with piped_editor(joining(rooms, room)) as (doc, _):
            edit(doc, "quiet")
            await eventually(lambda: _compacted_below(room, 1))  # while the peer is there
        await eventually(lambda: first.closed)
        second = await rooms.get(room)
        assert second is not first
        assert notes(second.doc) == "quiet"
