"""The frames socket's fast path: a frame is one websocket message, built once and written as it
is to every viewer's connection; the server SPIKE-X runs under offers that path, a viewer that
asks for permessage-deflate (as browsers do) gets frames as sent, and notices stay readable."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest
import uvicorn
import websockets
from litestar.types import Receive, Scope, Send
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from server.cli import uvicorn_config
from server.config import load_settings
from server.connections import Connections
from server.domain.runs import messages
from server.websocket_direct import binary_message, capture, direct_of
from tests.frame_streams import (
    COMPRESSED,
    RawViewer,
    new_model,
    open_raw,
    publish,
    publish_event,
    spike_frame,
    stored_run,
)
from tests.servers import ServerProcess


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 300_000])
def test_a_binary_message_parses_as_one_unfragmented_websocket_message(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    reader = StreamReader()
    reader.feed_data(binary_message(payload))
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    with pytest.raises(StopIteration) as done:
        next(parser)
    frame: Frame = done.value.value
    assert (frame.opcode, frame.fin, frame.rsv1) == (Opcode.BINARY, True, False)
    assert frame.data == payload
    assert reader.at_eof()


async def _messages(viewer: RawViewer, count: int, timeout_s: float) -> list[tuple[int, bytes]]:
    """The next ``count`` messages (read in a thread: the socket is a blocking one)."""

    def read() -> list[tuple[int, bytes]]:
        got: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + timeout_s
        viewer.sock.settimeout(timeout_s)
        got.extend(viewer.messages())
        while len(got) < count and time.monotonic() < deadline:
            chunk = viewer.sock.recv(1 << 16)
            if not chunk:
                break
            viewer.buffer += chunk
            got.extend(viewer.messages())
        return got

    return await asyncio.to_thread(read)


async def test_the_server_as_configured_gives_the_frames_socket_its_fast_path() -> None:
    """Under ``spikex run``'s own uvicorn configuration, ``capture`` finds the connection
    to write to (a uvicorn upgrade that changes what it relies on fails here)."""
    found: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        direct = direct_of(scope)
        found.append(direct is not None)
        await send({"type": "websocket.accept"})
        if direct is not None:
            direct.write(binary_message(b"written directly"))
        await receive()

    # Listening before uvicorn starts: the client's connection waits in the backlog.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    settings = load_settings({"SPIKEX_DATA_DIR": "unused"})
    served = uvicorn.Server(uvicorn_config(capture(app), settings, lifespan="off"))
    serving = asyncio.create_task(served.serve(sockets=[listener]))
    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}/") as client:
            assert await asyncio.wait_for(client.recv(), 10) == b"written directly"
        assert found == [True]
    finally:
        served.should_exit = True
        await asyncio.wait_for(serving, 20)
        listener.close()


async def test_frames_reach_a_viewer_that_asked_for_deflate_as_sent_and_notices_still_read(
    server: ServerProcess, connections: Connections
) -> None:
    run = await stored_run(new_model(server))
    viewer = RawViewer(open_raw(server.port, run, deflate=True))
    await asyncio.to_thread(viewer.handshake)
    try:
        sent = [spike_frame(run, index) for index in range(3)]
        for data in sent:
            await publish(connections.valkey, run, data)
            got = await _messages(viewer, 1, timeout_s=20)
            assert got, "no frame within 20 s"
            first, payload = got[0]
            assert first == 0x82 and not first & COMPRESSED  # FIN, binary, as sent
            assert payload == data
        await publish_event(connections.valkey, run, messages.StateChanged("running"))
        got = await _messages(viewer, 1, timeout_s=20)
        assert got, "no notice within 20 s"
        first, payload = got[0]
        assert first & 0x0F == 0x1
        notice = json.loads(payload)
        assert (notice["type"], notice["state"]) == ("state", "running")
    finally:
        viewer.sock.close()
