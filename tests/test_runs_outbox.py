"""A worker's writes to Valkey (``server.domain.runs.outbox``): the run hands them over without
waiting for Valkey to answer, they arrive in order, and only a full outbox makes it wait."""

from __future__ import annotations

import asyncio
import uuid

from server.connections import Connections
from server.domain.runs.outbox import Outbox
from tests.relay import valkey_through_relay

LIMIT = 4
FIELD = b"f"


async def test_writes_are_handed_over_without_a_round_trip_and_arrive_in_order(
    connections: Connections,
) -> None:
    key = f"test-outbox-{uuid.uuid4()}"
    async with valkey_through_relay(connections.valkey) as (relay, client):
        outbox = Outbox(client, LIMIT)
        await outbox.send(key, FIELD, b"0", 100)
        await outbox.drain()  # the connection is open: what follows waits on Valkey alone
        relay.hold()  # Valkey answers nothing now
        sent = 1
        # The first goes out (and hangs); LIMIT more wait in the outbox: none of these waits.
        for _ in range(1 + LIMIT):
            await asyncio.wait_for(outbox.send(key, FIELD, str(sent).encode(), 100), 5)
            sent += 1
        blocked = asyncio.create_task(outbox.send(key, FIELD, str(sent).encode(), 100))
        await asyncio.sleep(0.3)
        assert not blocked.done(), "a full outbox lets the run go on (memory is unbounded)"
        relay.release()
        await asyncio.wait_for(blocked, 5)
        sent += 1
        await asyncio.wait_for(outbox.close(), 5)
    stored = await connections.valkey.xrange(key)
    assert [fields[FIELD] for _, fields in stored] == [str(i).encode() for i in range(sent)]
    await connections.valkey.delete(key)


async def test_writes_while_valkey_is_gone_are_dropped_and_the_run_goes_on(
    connections: Connections,
) -> None:
    key = f"test-outbox-{uuid.uuid4()}"
    async with valkey_through_relay(connections.valkey) as (relay, client):
        outbox = Outbox(client, LIMIT)
        await relay.cut()
        for index in range(3 * LIMIT):
            await asyncio.wait_for(outbox.send(key, FIELD, str(index).encode(), 100), 30)
        await asyncio.wait_for(outbox.drain(), 30)
        await relay.open()
        await outbox.send(key, FIELD, b"back", 100)
        await asyncio.wait_for(outbox.close(), 10)
    stored = await connections.valkey.xrange(key)
    assert [fields[FIELD] for _, fields in stored] == [b"back"]
    await connections.valkey.delete(key)
