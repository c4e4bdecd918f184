"""A TCP relay on loopback that a test can cut and restore, or hold and release: what a network
failure between one client and a real service looks like (or a service too busy to answer),
while every other client keeps its connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from valkey import asyncio as valkey_asyncio


class Relay:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    async def open(self) -> None:
        """Listen (again, on the same port once it has one) and relay each connection."""
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Drop every relayed connection and refuse new ones until ``open`` again."""
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    def hold(self) -> None:
        """Keep the connections open but pass no byte either way until ``release``."""
        self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        target_reader, target_writer = await asyncio.open_connection(*self.target)
        pipes = [
            asyncio.create_task(_copy(reader, target_writer, self._flowing)),
            asyncio.create_task(_copy(target_reader, writer, self._flowing)),
        ]
        self._pipes.update(pipes)
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
                self._pipes.discard(pipe)
            for end in (writer, target_writer):
                end.close()


async def _copy(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, flowing: asyncio.Event
) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            await flowing.wait()
            writer.write(data)
            await writer.drain()


@contextlib.asynccontextmanager
async def relay_to(host: str, port: int) -> AsyncIterator[Relay]:
    relay = Relay(host, port)
    await relay.open()
    try:
        yield relay
    finally:
        await relay.cut()


@contextlib.asynccontextmanager
async def valkey_through_relay(
    valkey: valkey_asyncio.Valkey,
) -> AsyncIterator[tuple[Relay, valkey_asyncio.Valkey]]:
    """A client of ``valkey``'s server of its own, whose connections go through a relay the
    test can cut or hold."""
    kwargs = valkey.connection_pool.connection_kwargs
    async with relay_to(kwargs["host"], kwargs["port"]) as relay:
        client = valkey_asyncio.Valkey(host="127.0.0.1", port=relay.port, socket_timeout=2)
        try:
            yield relay, client
        finally:
            await client.aclose()
