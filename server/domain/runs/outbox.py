"""A worker's writes to its run's Valkey streams (frames, events), made in order by one task.

The run hands each write over and goes on computing: it never waits for Valkey's round trip,
which on a busy machine (a server fanning frames out to hundreds of viewers) grows several
times over. It waits only while ``limit`` writes are already waiting, so memory stays bounded
when Valkey is slower than the run. Writes that fail (Valkey away) are dropped: live viewers
miss them, the recording in storage does not, and the run goes on.
"""

from __future__ import annotations

import asyncio
import contextlib

from valkey.asyncio import Valkey
from valkey.exceptions import ValkeyError

_Write = tuple[str, bytes, bytes, int]


class Outbox:
    def __init__(self, valkey: Valkey, limit: int):
        self._valkey = valkey
        self._queue: asyncio.Queue[_Write] = asyncio.Queue(limit)
        self._writer: asyncio.Task[None] | None = None

    async def send(self, key: str, field: bytes, data: bytes, maxlen: int) -> None:
        """XADD ``{field: data}`` to stream ``key`` (capped near ``maxlen``), after every
        write sent before it; returns once it is queued."""
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())
        await self._queue.put((key, field, data, maxlen))

    async def drain(self) -> None:
        """Until every write sent so far is made (or dropped)."""
        await self._queue.join()

    async def close(self) -> None:
        await self.drain()
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    async def _write(self) -> None:
        while True:
            writes = [await self._queue.get()]
            while not self._queue.empty():
                writes.append(self._queue.get_nowait())
            try:
                # What queued up while the last write was on its way goes in one round trip.
                with contextlib.suppress(ValkeyError, OSError):
                    async with self._valkey.pipeline(transaction=False) as pipe:
                        for key, field, data, maxlen in writes:
                            pipe.xadd(key, {field: data}, maxlen=maxlen, approximate=True)
                        await pipe.execute()
            finally:
                for _ in writes:
                    self._queue.task_done()
