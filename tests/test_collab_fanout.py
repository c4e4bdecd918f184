"""Rooms of one document held by two server processes at once: updates and awareness cross
between them through Valkey, clients on either converge, and a holder that missed messages
(lost publish, broken subscription) catches up from the log."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any

import msgspec
import pytest
import valkey.asyncio as valkey_asyncio
import websockets
from pycrdt import Decoder, Doc, Text, write_var_uint

from collab import protocol
from collab.fanout import decode as relayed_message
from collab.registry import Rooms
from collab.schema import roots
from collab.store import DocumentStore
from server.connections import Connections
from server.domain.documents.fanout import CHANNEL_PREFIX, ValkeyFanout
from server.domain.documents.rooms import model_of
from server.domain.documents.store import PostgresUpdateLog
from tests.doc_clients import (
    Pipe,
    awareness_states,
    editor,
    eventually,
    piped_editor,
    socket_url,
)
from tests.relay import valkey_through_relay
from tests.servers import ServerProcess
from tests.test_collab_room import LIMITS, edit, joining, loaded, new_model, notes
from tests.test_documents_ws import _awareness, _awareness_entry

CLIENTS, ROUNDS = 20, 5
CONVERGE_S = 30.0


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory, services_environment: dict[str, str]
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two ``spikex run`` processes on the same PostgreSQL, Valkey and object store."""
    environ = {**services_environment, "SPIKEX_SECRET_KEY": "shared by both processes"}
    started: list[ServerProcess] = []
    try:
        for name in ("left", "right"):
            process = ServerProcess(tmp_path_factory.mktemp(name) / "data", environ)
            started.append(process.start())
        yield started[0], started[1]
    finally:
        for process in started:
            process.stop()


def state_vector(doc: Doc) -> bytes:
    """The state vector with its entries in client order: Yrs writes them in hash-map order,
    which depends on the order updates arrived in, not on what the document holds."""
    decoder = Decoder(doc.get_state())
    entries = sorted(
        (decoder.read_var_uint(), decoder.read_var_uint()) for _ in range(decoder.read_var_uint())
    )
    return write_var_uint(len(entries)) + b"".join(
        write_var_uint(client) + write_var_uint(clock) for client, clock in entries
    )


def content(doc: Doc) -> dict[str, object]:
    return {
        name: str(root) if isinstance(root, Text) else root.to_py()
        for name, root in roots(doc).items()
    }


def converged(docs: list[Doc]) -> bool:
    first = docs[0]
    return all(
        state_vector(doc) == state_vector(first) and content(doc) == content(first)
        for doc in docs[1:]
    )


async def test_twenty_clients_on_two_processes_editing_the_same_keys_converge(
    servers: tuple[ServerProcess, ServerProcess],
) -> None:
    response = servers[0].post("/api/models", json={"name": "fan-out", "template": "cuba"})
    model = response.json()["id"]
    ready = asyncio.Barrier(CLIENTS + 1)
    done = asyncio.Barrier(CLIENTS + 1)
    docs: list[Doc] = []

    async def client(index: int) -> None:
        server = servers[index % 2]
        async with editor(server.url, model) as doc:
            docs.append(doc)
            await ready.wait()
            text = roots(doc)["notes"]
            assert isinstance(text, Text)
            for round_ in range(ROUNDS):
                # The same keys from everyone, at the same moment.
                roots(doc)["meta"]["description"] = f"client {index} round {round_}"
                roots(doc)["populations"]["exc"]["size"] = 100 * index + round_ + 1
                text.insert(0, f"<{index}.{round_}>")
                await asyncio.sleep(random.uniform(0, 0.02))
            await done.wait()  # stay connected until everyone has converged

    clients = [asyncio.create_task(client(index)) for index in range(CLIENTS)]
    await ready.wait()
    await eventually(lambda: len(docs) == CLIENTS and converged(docs), CONVERGE_S)
    final = content(docs[0])
    marks = [f"<{index}.{round_}>" for index in range(CLIENTS) for round_ in range(ROUNDS)]
    assert sorted(str(final["notes"]).replace("><", ">\n<").split("\n")) == sorted(marks)
    await done.wait()
    await asyncio.gather(*clients)

    # Each process's own copy (and the stored one) is the same document.
    for server in servers:
        async with editor(server.url, model) as fresh:
            assert content(fresh) == final
            assert state_vector(fresh) == state_vector(docs[0])


async def test_awareness_set_on_one_process_is_seen_on_the_other(
    servers: tuple[ServerProcess, ServerProcess],
) -> None:
    left, right = servers
    model = left.post("/api/models", json={"name": "aware", "template": "cuba"}).json()["id"]
    async with websockets.connect(socket_url(right.url, model)) as watcher:
        async with editor(right.url, model):
            pass  # the right process holds the room before anyone joins on the left
        async with websockets.connect(socket_url(left.url, model)) as ada:
            state = {"user": {"name": "Ada"}, "cursor": "populations/exc"}
            await ada.send(protocol.awareness(_awareness_entry(11, 1, json.dumps(state))))
            assert await _awareness(watcher) == {11: state}
        assert await _awareness(watcher) == {11: None}  # gone with its connection


async def test_a_change_made_through_one_process_reaches_editors_on_the_other(
    servers: tuple[ServerProcess, ServerProcess],
) -> None:
    left, right = servers
    model = left.post("/api/models", json={"name": "rest", "template": "cuba"}).json()["id"]
    async with editor(right.url, model) as doc:
        change = [{"op": "set", "path": "populations/inh/size", "value": 123}]
        assert left.post(f"/api/models/{model}/changes", json=change).status_code == 200
        await eventually(lambda: roots(doc)["populations"]["inh"]["size"] == 123)


class LossyFanout(ValkeyFanout):
    """The Valkey fan-out, losing the messages it is told to (as a failed publish does)."""

    lose = False

    def publish(self, room: str, message: bytes) -> None:
        if not self.lose:
            super().publish(room, message)


class WatchedFanout(ValkeyFanout):
    """The Valkey fan-out, keeping the kind of what it publishes and its answers to whether
    it is alone; while ``quiet``, what it publishes is held back (until ``speak``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kinds: list[str] = []
        self.answers: list[bool] = []
        self.quiet = False
        self._held: list[tuple[str, bytes]] = []

    def publish(self, room: str, message: bytes) -> None:
        self.kinds.append(relayed_message(message).kind)
        if self.quiet:
            self._held.append((room, message))
        else:
            super().publish(room, message)

    def speak(self) -> None:
        self.quiet = False
        for room, message in self._held:
            super().publish(room, message)
        self._held.clear()

    async def alone(self, room: str) -> bool:
        answer = await super().alone(room)
        self.answers.append(answer)
        return answer


@contextlib.asynccontextmanager
async def holder(
    connections: Connections,
    fanout_class: type[ValkeyFanout] = ValkeyFanout,
    valkey: valkey_asyncio.Valkey | None = None,
    queue_bytes: int = 1024 * 1024,
    **limits: float,
) -> AsyncIterator[Rooms]:
    """One more holder of rooms, as another process would be, on the real services (its
    fan-out on ``valkey`` when given: a client of its own)."""
    fanout = fanout_class(
        valkey or connections.valkey,
        retry_s=0.2,
        queue_bytes=queue_bytes,
        subscribe_timeout_s=5.0,
    )
    store = DocumentStore(PostgresUpdateLog(model_of), connections.objects)
    rooms = Rooms(store, msgspec.structs.replace(LIMITS, retry_s=0.2, **limits), fanout)
    try:
        yield rooms
    finally:
        await rooms.close()


async def test_a_holder_that_missed_a_message_catches_up_from_the_log(
    connections: Connections,
) -> None:
    room = await new_model()
    async with (
        holder(connections, LossyFanout) as left,
        holder(connections) as right,
        piped_editor(joining(left, room)) as (writer, _),
        piped_editor(joining(right, room)) as (reader, _),
    ):
        lossy = left.fanout
        assert isinstance(lossy, LossyFanout)
        lossy.lose = True
        edit(writer, "lost ")  # stored, but never published
        held = await left.get(room)
        await eventually(lambda: notes(held.doc) == "lost ")
        lossy.lose = False
        edit(writer, "found")  # its number shows the gap
        await eventually(lambda: notes(reader) == "lost found")


async def test_a_holder_alone_publishes_no_change_and_one_that_comes_later_has_them_all(
    connections: Connections,
) -> None:
    room = await new_model()
    async with (
        holder(connections, WatchedFanout) as left,
        piped_editor(joining(left, room)) as (writer, _),
        piped_editor(joining(left, room)) as (witness, _),
    ):
        watched = left.fanout
        assert isinstance(watched, WatchedFanout)
        await eventually(lambda: watched.answers == [True])
        edit(writer, "alone ")
        # The room sends a change on to its peers and to the fan-out in one go, once it is in
        # the log: so what reached the witness was also published, or not.
        await eventually(lambda: notes(witness) == "alone ")
        assert "update" not in watched.kinds  # no Valkey round trip per change
        async with (
            holder(connections) as right,
            piped_editor(joining(right, room)) as (reader, _),
        ):
            await eventually(lambda: notes(reader) == "alone ")
            edit(writer, "together")
            await eventually(lambda: notes(reader) == "alone together")
            edit(writer, " again")
            await eventually(lambda: notes(reader) == "alone together again")
            assert "update" in watched.kinds


async def test_a_holder_that_loaded_before_the_others_heard_of_it_catches_up(
    connections: Connections,
) -> None:
    """The newcomer subscribed and loaded, but its hello has not reached the holder that
    thinks itself alone: what that one stores meanwhile is not published, and reaches the
    newcomer once its hello is answered."""
    room = await new_model()
    async with (
        holder(connections, WatchedFanout) as left,
        holder(connections, WatchedFanout) as right,
        piped_editor(joining(left, room)) as (writer, _),
    ):
        alone, newcomer = left.fanout, right.fanout
        assert isinstance(alone, WatchedFanout) and isinstance(newcomer, WatchedFanout)
        await eventually(lambda: alone.answers == [True])
        newcomer.quiet = True
        async with piped_editor(joining(right, room)) as (reader, _):
            edit(writer, "unheard")
            held = await left.get(room)
            await eventually(lambda: notes(held.doc) == "unheard")
            await asyncio.sleep(0.5)
            assert notes(reader) == ""
            assert "update" not in alone.kinds
            newcomer.speak()
            await eventually(lambda: notes(reader) == "unheard")


async def test_closing_the_fan_out_while_it_publishes_ends(connections: Connections) -> None:
    """A room says goodbye as it closes, just before the fan-out is closed: a cancellation
    that lands in the Valkey call then in flight may be swallowed by the client, and the
    close must end all the same."""
    for attempt in range(30):
        closing = ValkeyFanout(
            connections.valkey, retry_s=0.2, queue_bytes=1024, subscribe_timeout_s=5.0
        )
        await closing.subscribe("closing", lambda message: None)
        closing.publish("closing", b"goodbye")
        await asyncio.sleep(attempt * 0.0002)  # cancelled at each stage of the publish
        await asyncio.wait_for(closing.close(), 5)


async def test_a_holder_whose_subscription_broke_catches_up_from_the_log(
    connections: Connections,
) -> None:
    room = await new_model()
    async with (
        holder(connections) as left,
        holder(connections) as right,
        piped_editor(joining(left, room)) as (writer, _),
        piped_editor(joining(right, room)) as (reader, _),
    ):
        edit(writer, "before ")
        await eventually(lambda: notes(reader) == "before ")
        fanout = right.fanout
        assert isinstance(fanout, ValkeyFanout)
        host, port = fanout._pubsub.connection._writer.get_extra_info("sockname")[:2]
        await connections.valkey.execute_command("CLIENT", "KILL", "ADDR", f"{host}:{port}")
        # Sent while the right holder has no subscription: the only message, so no later
        # one shows a gap; what tells it is the subscription coming back.
        edit(writer, "during")
        await eventually(lambda: notes(reader) == "before during")


@pytest.mark.parametrize("queue_bytes", [1024 * 1024, 1], ids=["kept", "overflowed"])
async def test_the_last_change_before_a_publish_failure_still_reaches_the_other_holder(
    connections: Connections, queue_bytes: int
) -> None:
    """The writer's holder cannot publish for a while (its link to Valkey is cut; the
    reader's stays up): what it could not publish, retried or (when its outbox overflowed)
    marked lost, reaches the reader once the link is back, with no later change to show
    the gap."""
    room = await new_model()
    async with (
        valkey_through_relay(connections.valkey) as (relay, client),
        holder(connections, valkey=client, queue_bytes=queue_bytes) as left,
        holder(connections) as right,
        piped_editor(joining(left, room)) as (writer, _),
        piped_editor(joining(right, room)) as (reader, _),
    ):
        edit(writer, "before ")
        await eventually(lambda: notes(reader) == "before ")
        await relay.cut()
        for word in ("while ", "cut"):
            edit(writer, word)  # stored; its publish fails
        held = await left.get(room)
        await eventually(lambda: notes(held.doc) == "before while cut")
        await asyncio.sleep(0.5)  # a few failed tries
        assert notes(reader) == "before "
        await relay.open()
        await eventually(lambda: notes(reader) == "before while cut")


async def test_an_idle_room_is_unloaded_and_unsubscribed(connections: Connections) -> None:
    room = await new_model()

    async def subscribers() -> int:
        [(_, count)] = await connections.valkey.pubsub_numsub(CHANNEL_PREFIX + room)
        return count

    async with holder(connections, unload_idle_s=0.3) as rooms:
        async with piped_editor(joining(rooms, room)) as (doc, _):
            edit(doc, "then quiet")
            assert await subscribers() == 1
            held = await rooms.get(room)
        await eventually(lambda: held.closed)
        await eventually(lambda: _none(subscribers()))
        async with piped_editor(joining(rooms, room)) as (again, _):  # loads and subscribes
            assert notes(again) == "then quiet"
            assert await subscribers() == 1


async def _none(count: Awaitable[int]) -> bool:
    return await count == 0


async def test_two_holders_compacting_the_same_room_lose_nothing(connections: Connections) -> None:
    room = await new_model()
    store = DocumentStore(PostgresUpdateLog(model_of), connections.objects)
    async with (
        holder(connections, compact_log_updates=3) as left,
        holder(connections, compact_log_updates=3) as right,
        piped_editor(joining(left, room)) as (ada, _),
        piped_editor(joining(right, room)) as (bob, _),
    ):
        for index in range(30):
            edit(ada, f"a{index % 10}")
            edit(bob, f"b{index % 10}")
            await asyncio.sleep(0.005)  # both compact while the other appends and compacts
        await eventually(lambda: len(notes(ada)) == len(notes(bob)) == 120)
        assert notes(ada) == notes(bob)
    stored = await store.load(room)  # both unloaded: each folded its log at the end
    assert notes(loaded(stored.state)) == notes(ada)
    assert stored.entries == []
    # One snapshot object: every replaced or losing one was removed.
    assert await connections.objects.list(f"documents/{room}/") == [stored.snapshot]


async def test_awareness_relayed_by_a_process_that_died_is_dropped(
    connections: Connections,
) -> None:
    room = await new_model()
    async with holder(connections, awareness_timeout_s=0.5) as right:
        watcher = Pipe()
        watching = asyncio.create_task(right.serve(room, watcher.room_end))
        async with holder(connections) as left:
            ada = Pipe()
            serving = asyncio.create_task(left.serve(room, ada.room_end))
            state = {"user": {"name": "Ada"}}
            ada.to_room.put_nowait(protocol.awareness(_awareness_entry(21, 1, json.dumps(state))))
            assert await awareness_from(watcher) == {21: state}
            await left.fanout.close()  # its process dies: nothing more leaves it
            ada.hang_up()
            await serving
        assert await awareness_from(watcher) == {21: None}  # not renewed: dropped
        watcher.hang_up()
        await watching


async def awareness_from(pipe: Pipe) -> dict[int, object]:
    """The next awareness update the room sends down ``pipe``, as client id -> state."""
    while True:
        frame = await asyncio.wait_for(pipe.to_peer.get(), 10)
        assert frame is not None, "the room closed the connection"
        message = protocol.parse(frame)
        if isinstance(message, protocol.AwarenessUpdate):
            return awareness_states(message.update)
