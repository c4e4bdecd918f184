"""Documents under load and faults: a reconnect storm after a server restart, and a log of
100,000 updates kept small by compaction (real PostgreSQL, Valkey and object storage)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import Iterator

import pytest
import websockets
from pycrdt import (
    Decoder,
    Doc,
    Map,
    Text,
    TransactionEvent,
    create_sync_message,
    create_update_message,
    handle_sync_message,
)

from collab import protocol
from collab.registry import Rooms
from collab.schema import roots
from collab.store import DocumentStore
from server.connections import Connections
from server.db.tables import DocumentUpdate
from server.domain.documents import service
from server.domain.documents.rooms import model_of, open_rooms, room_of
from server.domain.documents.store import PostgresUpdateLog
from server.domain.models.schemas import ModelCreate
from server.domain.models.service import create_model
from server.objects import ObjectStore
from tests.doc_clients import eventually, piped_editor, socket_url
from tests.servers import ServerProcess

# ---------------------------------------------------------------------------------------------
# Reconnect storm

STORM_CLIENTS = 200
OFFLINE_EDITORS = 20
"""How many of them also edit while the server is down (merged when they are back)."""
IN_SYNC_WITHIN_S = 10.0
RECONNECT_JITTER_S = (0.05, 1.0)


class Reconnecting:
    """A pycrdt document kept in sync over a socket that, like y-websocket's provider, comes
    back after every drop, after a random pause; what it edits while offline is sent in the
    sync of its next connection."""

    def __init__(self, url: str, rng: random.Random):
        self.url = url
        self.rng = rng
        self.doc = Doc()
        self.sessions = 0
        """How many connections synced so far."""
        self._outbox: asyncio.Queue[bytes] | None = None
        self._applying = False
        self.doc.observe(self._on_change)

    def notes(self) -> Text:
        text = roots(self.doc)["notes"]
        assert isinstance(text, Text)
        return text

    def _on_change(self, event: TransactionEvent) -> None:
        # What the server sent is not sent back; what is made offline goes in the next sync.
        if not self._applying and self._outbox is not None:
            self._outbox.put_nowait(create_update_message(event.update))

    async def run(self) -> None:
        while True:
            with contextlib.suppress(OSError, websockets.WebSocketException, TimeoutError):
                async with websockets.connect(self.url, max_size=None, open_timeout=5) as socket:
                    await self._session(socket)
            await asyncio.sleep(self.rng.uniform(*RECONNECT_JITTER_S))

    async def _session(self, socket: websockets.ClientConnection) -> None:
        self._outbox = outbox = asyncio.Queue()
        sending = asyncio.create_task(self._send(socket, outbox))
        try:
            await socket.send(create_sync_message(self.doc))
            async for message in socket:
                assert isinstance(message, bytes)
                if message[0] != protocol.MessageType.SYNC:
                    continue
                self._applying = True
                try:
                    reply = handle_sync_message(message[1:], self.doc)
                finally:
                    self._applying = False
                if message[1] == protocol.SyncStep.STEP2:
                    self.sessions += 1
                if reply is not None:
                    await socket.send(reply)
        finally:
            self._outbox = None
            sending.cancel()

    @staticmethod
    async def _send(socket: websockets.ClientConnection, outbox: asyncio.Queue[bytes]) -> None:
        while True:
            await socket.send(await outbox.get())


@pytest.fixture(scope="module")
def storm_server(
    tmp_path_factory: pytest.TempPathFactory, services_environment: dict[str, str]
) -> Iterator[ServerProcess]:
    """A server of this module's own, to restart."""
    process = ServerProcess(tmp_path_factory.mktemp("storm") / "data", services_environment)
    process.start()
    try:
        yield process
    finally:
        process.stop()


async def test_after_a_restart_200_clients_reconnect_with_jitter_and_are_all_in_sync(
    storm_server: ServerProcess,
) -> None:
    response = storm_server.post("/api/models", json={"name": "storm", "template": "cuba"})
    assert response.status_code == 201, response.text
    url = socket_url(storm_server.url, response.json()["id"])
    rng = random.Random(7)
    clients = [Reconnecting(url, rng) for _ in range(STORM_CLIENTS)]
    running = [asyncio.create_task(client.run()) for client in clients]
    try:
        await eventually(lambda: all(client.sessions for client in clients), timeout_s=60)
        clients[0].notes().insert(0, "before the restart;")
        await eventually(
            lambda: all(str(client.notes()) == "before the restart;" for client in clients)
        )

        await asyncio.to_thread(storm_server.stop)
        editors = clients[:: STORM_CLIENTS // OFFLINE_EDITORS]
        for index, client in enumerate(editors):
            client.notes().insert(0, f"offline {index};")
            roots(client.doc)["meta"][f"offline {index}"] = True
        await asyncio.to_thread(storm_server.start)

        expected = {f"offline {index}" for index in range(len(editors))} | {"before the restart"}

        def all_in_sync() -> bool:
            first = str(clients[0].notes())
            return set(first.rstrip(";").split(";")) == expected and all(
                str(client.notes()) == first and client.sessions >= 2 for client in clients
            )

        try:
            await eventually(all_in_sync, timeout_s=IN_SYNC_WITHIN_S)
        except AssertionError:
            behind = sum(str(client.notes()) != str(clients[0].notes()) for client in clients)
            pytest.fail(
                f"{behind} of {STORM_CLIENTS} clients not in sync {IN_SYNC_WITHIN_S} s after "
                "the restart"
            )
        meta = roots(clients[-1].doc)["meta"]
        assert isinstance(meta, Map)
        assert all(meta.get(f"offline {index}") for index in range(len(editors)))
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)


# ---------------------------------------------------------------------------------------------
# Compaction

UPDATES = 100_000
TYPED_EVERY = 100
"""One update in this many types a character: the content stays small, the history does not."""


class Typist:
    """Small updates, as people make them: mostly one parameter changed again and again (a
    slider dragged), now and then a character typed into the notes."""

    def __init__(self, state: bytes):
        self.doc = Doc()
        self.doc.apply_update(state)
        self.notes = roots(self.doc)["notes"]
        self.meta = roots(self.doc)["meta"]
        self.edits = 0
        self._made: list[bytes] = []
        self.doc.observe(lambda event: self._made.append(event.update))

    def update(self) -> bytes:
        if self.edits % TYPED_EVERY == 0:
            assert isinstance(self.notes, Text)
            self.notes.insert(len(self.notes), "abcdefgh "[self.edits % 9])
        else:
            self.meta["description"] = f"revision {self.edits}"
        self.edits += 1
        return self._made.pop()


async def stored_bytes(room: str, objects: ObjectStore) -> tuple[int, int]:
    """The document's stored size (its snapshot plus the log after it) and its log rows."""
    model = model_of(room)
    rows = await DocumentUpdate.select(DocumentUpdate.data).where(DocumentUpdate.model == model)
    key = await PostgresUpdateLog(model_of).snapshot(room)
    snapshot = len(await objects.get(key)) if key else 0
    return snapshot + sum(len(row["data"]) for row in rows), len(rows)


async def test_after_100000_small_updates_the_stored_size_and_the_cold_load_stay_bounded(
    connections: Connections,
) -> None:
    """The bound: once its room has compacted, a document is stored as one snapshot (at most
    twice its encoded state) plus a log shorter than ``doc_compact_updates`` entries of at
    most the largest update; a cold load reads exactly that, so its work follows the
    content, not the history. A named version made before the compaction is untouched.

    The history is written into the real log table in bulk, each row one update exactly as
    a room appends it (a room commits each update on its own, one disk flush each: 100,000
    of them would take minutes here); the room then loads it and compacts it."""
    settings = connections.settings
    model = (await create_model(ModelCreate(name="compaction", template="cuba"))).id
    room = room_of(model)
    [(_, first)] = await _log_of(connections, model)
    typist = Typist(first)
    history = [typist.update() for _ in range(UPDATES)]
    await connections.pool.copy_records_to_table(
        "document_updates",
        records=[(model, update) for update in history],
        columns=["model", "data"],
    )
    assert len(await _log_of(connections, model)) == 1 + UPDATES

    rooms: Rooms = open_rooms(settings, connections)
    try:
        version = await service.create_version(rooms, connections.objects, model, "before")
        before = typist.doc.get_update()
        async with piped_editor(lambda pipe: rooms.serve(room, pipe.room_end)) as (doc, _):
            assert _has(doc, typist.doc)  # the room loaded all of the history
            notes = roots(doc)["notes"]
            assert isinstance(notes, Text)
            notes += "!"  # a change: the room now sees how long its log is, and compacts
            await eventually(lambda: _rows_below(room, 2), timeout_s=60)
            state = doc.get_update()
    finally:
        await rooms.close()

    largest = max(map(len, history))
    stored, rows = await stored_bytes(room, connections.objects)
    assert rows < settings.doc_compact_updates
    assert stored <= 2 * len(state) + settings.doc_compact_updates * largest, (stored, len(state))
    assert stored < sum(map(len, history)) / 10  # the history itself is folded away

    # A cold load (a new store, as another process has) reads that, and has all of it.
    cold = await DocumentStore(PostgresUpdateLog(model_of), connections.objects).load(room)
    assert len(cold.entries) == rows
    fresh = Doc()
    fresh.apply_update(cold.state)
    assert _has(fresh, typist.doc)
    assert str(roots(fresh)["notes"]) == str(roots(typist.doc)["notes"]) + "!"
    assert roots(fresh)["meta"]["description"] == roots(typist.doc)["meta"]["description"]

    # The version made before the compaction still reads as the document was then.
    spec = await service.version_spec(connections.objects, model, version.id)
    assert not isinstance(spec, list)
    then = Doc()
    then.apply_update(before)
    assert spec.description == roots(then)["meta"]["description"] == f"revision {UPDATES - 1}"


async def _log_of(connections: Connections, model: uuid.UUID) -> list[tuple[int, bytes]]:
    rows = await connections.pool.fetch(
        "SELECT id, data FROM document_updates WHERE model = $1 ORDER BY id", model
    )
    return [(row["id"], row["data"]) for row in rows]


def _has(doc: Doc, other: Doc) -> bool:
    """Whether ``doc`` holds every change ``other`` holds (by their state vectors)."""
    mine = _clocks(doc)
    return all(mine.get(client, 0) >= clock for client, clock in _clocks(other).items())


def _clocks(doc: Doc) -> dict[int, int]:
    decoder = Decoder(doc.get_state())
    return {
        decoder.read_var_uint(): decoder.read_var_uint() for _ in range(decoder.read_var_uint())
    }


async def _rows_below(room: str, count: int) -> bool:
    return await DocumentUpdate.count().where(DocumentUpdate.model == model_of(room)) < count
