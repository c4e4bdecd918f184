"""200 viewers of one run over real sockets, 10 of which never read: the others keep getting
frames, in order, up to the last one. (That the reader of the run's stream never waits on a
viewer is asserted in ``test_frames_fanout``; the wall-time figure is ``bench/frames.py``'s.)"""

from __future__ import annotations

import asyncio
import socket

from server.connections import Connections
from tests.frame_streams import Watcher, eventually, new_model, publish, spike_frame, stored_run
from tests.servers import ServerProcess

VIEWERS = 200
STUCK = 10
FRAMES = 40


def stuck_viewer(server: ServerProcess, run: str) -> socket.socket:
    """Opens the websocket (a raw upgrade request) and never reads a byte of it."""
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(
        (
            f"GET /ws/runs/{run}/frames HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: c3Bpa2V4LXRlc3Qta2V5IQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    return sock


async def test_200_viewers_10_never_reading_the_others_get_every_frame_in_order(
    server: ServerProcess, connections: Connections
) -> None:
    run = await stored_run(new_model(server))
    stuck = [stuck_viewer(server, run) for _ in range(STUCK)]
    # 1 MB frames while only they watch: their sockets and the server's buffers fill up, so
    # the server's writers to them are stuck from here on.
    for index in range(4):
        await publish(connections.valkey, run, spike_frame(run, index, pad=250_000))
    await asyncio.sleep(1.0)
    # A small one: the latest frame, which every viewer joining now gets first.
    await publish(connections.valkey, run, spike_frame(run, 4))
    readers = await asyncio.gather(*(Watcher.open(server, run) for _ in range(VIEWERS - STUCK)))
    await asyncio.gather(*(r.until_notice("hello", timeout_s=60) for r in readers))
    try:

        async def produce() -> None:
            # Each frame once every reader has the one before: so a reader that misses one
            # was held up by the stuck viewers, not outpaced by a producer on a busy machine.
            for index in range(5, FRAMES):
                await publish(connections.valkey, run, spike_frame(run, index))
                assert await eventually(
                    lambda i=index: all(
                        r.frames and r.frames[-1].header.index >= i for r in readers
                    ),
                    timeout_s=30,
                ), f"not every reader got frame {index}"

        async def watch(reader: Watcher) -> None:
            await reader.until_frame(lambda f: f.header.index == FRAMES - 1, timeout_s=120)

        await asyncio.gather(produce(), *(watch(r) for r in readers))
        for reader in readers:
            got = [f.header.index for f in reader.frames]
            assert got[got.index(5) :] == list(range(5, FRAMES)), got
    finally:
        for sock in stuck:
            sock.close()
        await asyncio.gather(*(r.close() for r in readers), return_exceptions=True)
