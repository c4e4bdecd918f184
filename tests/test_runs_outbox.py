"""A worker's writes to Valkey (``server.domain.runs.outbox``): the run hands them over without
waiting for Valkey to answer, they arrive in order, and only a full outbox makes it wait."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from server.connections import Connections
from server.domain.runs.outbox import Outbox
from tests.relay import Relay, valkey_through_relay

LIMIT = 4
FIELD = b"f"


class Stream:
    """A stream of its own, written through an ``Outbox`` whose Valkey link a relay carries."""

    def __init__(self, connections: Connections, relay: Relay, outbox: Outbox):
        self.key = f"test-outbox-{uuid.uuid4()}"
        self.valkey = connections.valkey
        self.relay = relay
        self.outbox = outbox

    async def send(self, data: bytes) -> None:
        await self.outbox.send(self.key, FIELD, data, 100)

    async def stored(self) -> list[bytes]:
        return [fields[FIELD] for _, fields in await self.valkey.xrange(self.key)]


@pytest.fixture
async def stream(connections: Connections) -> AsyncIterator[Stream]:
    async with valkey_through_relay(connections.valkey) as (relay, client):
        stream = Stream(connections, relay, Outbox(client, LIMIT))
        try:
            yield stream
        finally:
            await connections.valkey.delete(stream.key)


async def test_writes_are_handed_over_without_a_round_trip_and_arrive_in_order(
    stream: Stream,
) -> None:
    await stream.send(b"0")
    await stream.outbox.drain()  # the connection is open: what follows waits on Valkey alone
    stream.relay.hold()  # Valkey answers nothing now
    sent = 1
    # The first goes out (and hangs); LIMIT more wait in the outbox: none of these waits.
    for _ in range(1 + LIMIT):
        await asyncio.wait_for(stream.send(str(sent).encode()), 5)
        sent += 1
    blocked = asyncio.create_task(stream.send(str(sent).encode()))
    await asyncio.sleep(0.3)
    assert not blocked.done(), "a full outbox lets the run go on (memory is unbounded)"
    stream.relay.release()
    await asyncio.wait_for(blocked, 5)
    sent += 1
    await asyncio.wait_for(stream.outbox.close(), 5)
    assert await stream.stored() == [str(i).encode() for i in range(sent)]


async def test_writes_while_valkey_is_gone_are_dropped_and_the_run_goes_on(
    stream: Stream,
) -> None:
    await stream.relay.cut()
    for index in range(3 * LIMIT):
        await asyncio.wait_for(stream.send(str(index).encode()), 30)
    await asyncio.wait_for(stream.outbox.drain(), 30)
    await stream.relay.open()
    await stream.send(b"back")
    await asyncio.wait_for(stream.outbox.close(), 10)
    assert await stream.stored() == [b"back"]
