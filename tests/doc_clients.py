"""Document clients for tests: pycrdt's own ``Provider`` over a real websocket (or over an
in-memory pipe to a room), and helpers to wait for convergence and read close codes."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import websockets
from pycrdt import Decoder, Doc, Provider

from collab.channel import ChannelClosed

TIMEOUT_S = 10.0


def socket_url(server_url: str, model_id: str) -> str:
    return f"{server_url.replace('http://', 'ws://')}/ws/docs/{model_id}"


class SocketChannel:
    """A ``websockets`` client connection as a pycrdt ``Channel``."""

    def __init__(self, socket: websockets.ClientConnection, path: str):
        self.socket = socket
        self._path = path

    @property
    def path(self) -> str:
        return self._path

    def __aiter__(self) -> SocketChannel:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.recv()
        except websockets.ConnectionClosed:
            raise StopAsyncIteration from None

    async def send(self, message: bytes) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            await self.socket.send(message)

    async def recv(self) -> bytes:
        message = await self.socket.recv()
        assert isinstance(message, bytes)
        return message


@contextlib.asynccontextmanager
async def editor(server_url: str, model_id: str, doc: Doc | None = None) -> AsyncIterator[Doc]:
    """A document kept in sync with the model's by pycrdt's ``Provider``, once synced."""
    url = socket_url(server_url, model_id)
    doc = doc if doc is not None else Doc()
    async with (
        websockets.connect(url, max_size=None) as socket,
        Provider(doc, SocketChannel(socket, url)) as provider,
    ):
        await asyncio.wait_for(provider.synced.wait(), TIMEOUT_S)
        yield doc


async def closed_with(socket: websockets.ClientConnection) -> tuple[int, str]:
    """Read until the server closes ``socket``; its close code and reason."""
    try:
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                await socket.recv()
    except websockets.ConnectionClosed as closed:
        assert closed.rcvd is not None, "the server closed without a close frame"
        return closed.rcvd.code, closed.rcvd.reason
    raise AssertionError("unreachable")


async def eventually(check: Callable[[], Any], timeout_s: float = TIMEOUT_S) -> Any:
    """Wait until ``check()`` (awaited if it is a coroutine) is truthy, and return it; fail
    after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


async def log_rows(database_url: str, model_id: str) -> int:
    """How many update-log rows the model's document has."""
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval(
            "SELECT count(*) FROM document_updates WHERE model = $1", model_id
        )
    finally:
        await connection.close()


class Pipe:
    """An in-memory connection to a room: ``room_end`` is the room's ``collab`` channel,
    ``peer_end`` a pycrdt channel for a ``Provider``. A stalled pipe never delivers what
    the room sends, like a peer that stopped reading."""

    def __init__(self, stalled: bool = False):
        self.to_room: asyncio.Queue[bytes | str | None] = asyncio.Queue()
        self.to_peer: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.stalled = stalled
        self.closed: tuple[int, str] | None = None
        self.room_end = _RoomEnd(self)
        self.peer_end = _PeerEnd(self)

    def hang_up(self) -> None:
        self.to_room.put_nowait(None)


class _RoomEnd:
    def __init__(self, pipe: Pipe):
        self.pipe = pipe

    async def send(self, message: bytes) -> None:
        if self.pipe.closed:
            raise ChannelClosed
        if self.pipe.stalled:
            await asyncio.Event().wait()
        self.pipe.to_peer.put_nowait(message)

    def try_send(self, message: bytes) -> bool:
        return False  # always through ``send``, where a stalled pipe stalls

    async def recv(self) -> bytes | str:
        message = await self.pipe.to_room.get()
        if message is None:
            raise ChannelClosed
        return message

    async def close(self, code: int, reason: str) -> None:
        self.pipe.closed = (code, reason)
        self.pipe.to_peer.put_nowait(None)


class _PeerEnd:
    def __init__(self, pipe: Pipe):
        self.pipe = pipe

    @property
    def path(self) -> str:
        return "pipe"

    def __aiter__(self) -> _PeerEnd:
        return self

    async def __anext__(self) -> bytes:
        message = await self.pipe.to_peer.get()
        if message is None:
            raise StopAsyncIteration
        return message

    async def send(self, message: bytes) -> None:
        self.pipe.to_room.put_nowait(message)

    async def recv(self) -> bytes:
        return await self.__anext__()


@contextlib.asynccontextmanager
async def piped_editor(serve: Callable[[Pipe], Awaitable[None]]) -> AsyncIterator[tuple[Doc, Pipe]]:
    """A ``Provider``-synced document joined to a room through a ``Pipe``."""
    pipe = Pipe()
    serving = asyncio.create_task(serve(pipe))
    doc = Doc()
    try:
        async with Provider(doc, pipe.peer_end) as provider:
            await asyncio.wait_for(provider.synced.wait(), TIMEOUT_S)
            yield doc, pipe
    finally:
        pipe.hang_up()
        await serving


def awareness_states(update: bytes) -> dict[int, object]:
    """An awareness update's entries, as client id -> state (None: the client left)."""
    decoder = Decoder(update)
    states = {}
    for _ in range(decoder.read_var_uint()):
        client, _clock = decoder.read_var_uint(), decoder.read_var_uint()
        states[client] = json.loads(decoder.read_var_string())
    return states
