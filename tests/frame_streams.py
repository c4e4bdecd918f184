"""Helpers of the frames tests and ``bench/frames.py``: frames made like a worker makes them,
put on a run's Valkey stream, and viewers that connect to ``/ws/runs/{run_id}/frames``."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np
import valkey.asyncio as valkey_asyncio
from websockets.asyncio.client import ClientConnection, connect

from server.db.tables import Run
from server.domain.runs import keys, messages
from simcore import frames
from tests.runs import held_by_test
from tests.servers import ServerProcess

MAXLEN = 1000


def spike_frame(
    run: str,
    index: int,
    *,
    size: int = 4000,
    steps: int = 160,
    rate_hz: float = 10.0,
    dt: float = 1e-4,
    pad: int = 0,
    seed: int = 0,
) -> bytes:
    """A frame of ``size`` neurons firing at about ``rate_hz`` (monitor ``spikes``); ``pad``
    float32 values of a state monitor make it larger."""
    rng = np.random.default_rng(seed * 100_003 + index)
    count = rng.poisson(size * rate_hz * steps * dt)
    arrays: dict[str, np.ndarray] = {
        "spikes/spikes/neurons": rng.integers(0, size, count).astype(np.uint32),
        "spikes/spikes/offsets": np.sort(rng.integers(0, steps, count)).astype(np.uint32),
    }
    if pad:
        arrays["states/pad/neurons"] = np.arange(pad, dtype=np.uint32)
        arrays["states/pad/offsets"] = np.zeros(1, dtype=np.uint32)
        arrays["states/pad/v"] = np.zeros((1, pad), dtype=np.float32)
    header = frames.Header(
        run=run,
        index=index,
        kinds=("spikes", "states") if pad else ("spikes",),
        start=index * steps,
        end=(index + 1) * steps,
        dt=dt,
        sizes={"spikes": size, "pad": max(pad, 1)},
        produced_at=time.time(),
    )
    return frames.encode(header, arrays)


async def publish(valkey: valkey_asyncio.Valkey, run_id: str, data: bytes) -> None:
    await valkey.xadd(
        keys.frames_key(run_id), {keys.FRAME_FIELD: data}, maxlen=MAXLEN, approximate=True
    )


async def publish_event(
    valkey: valkey_asyncio.Valkey, run_id: str, event: messages.RunEvent
) -> None:
    await valkey.xadd(keys.events_key(run_id), {keys.EVENT_FIELD: messages.encode(event)})


def new_model(server: ServerProcess) -> str:
    response = server.post("/api/models", json={"name": f"frames {uuid.uuid4().hex[:6]}"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def stored_run(model_id: str, state: str = "queued") -> str:
    """A run row that no worker runs (``queued`` ones are not watched for heartbeats): its
    frames come from the test."""
    run_id = uuid.uuid4()
    await Run.insert(
        Run(
            id=run_id,
            model=uuid.UUID(model_id),
            kind="simulate",
            state=state,
            spec={},
            options={"device": "cpu", "target": None, "frame_every_s": 0.016, "pace": None},
            **held_by_test(),
        )
    )
    return str(run_id)


def ws_url(server: ServerProcess, run_id: str, token: str | None = None) -> str:
    query = f"?token={token}" if token else ""
    return f"ws://127.0.0.1:{server.port}/ws/runs/{run_id}/frames{query}"


@dataclass
class Watcher:
    """A viewer that keeps what it receives: frames (decoded) and JSON notices."""

    socket: ClientConnection
    frames: list[frames.Decoded] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    async def open(
        cls, server: ServerProcess, run_id: str, token: str | None = None, **kwargs: Any
    ) -> Watcher:
        return cls(await connect(ws_url(server, run_id, token), max_size=None, **kwargs))

    async def take(self, timeout_s: float = 10.0) -> frames.Decoded | dict[str, Any]:
        message = await asyncio.wait_for(self.socket.recv(), timeout_s)
        if isinstance(message, str):
            notice = json.loads(message)
            self.notices.append(notice)
            return notice
        self.received_at.append(time.time())
        self.sizes.append(len(message))
        decoded = frames.decode(message)
        self.frames.append(decoded)
        return decoded

    async def until_frame(self, predicate: Any, timeout_s: float = 20.0) -> frames.Decoded:
        """Reads until a frame satisfies ``predicate`` (bounded by ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no such frame within {timeout_s} s (got {len(self.frames)})"
            message = await self.take(left)
            if isinstance(message, frames.Decoded) and predicate(message):
                return message

    async def until_notice(self, kind: str, timeout_s: float = 20.0) -> dict[str, Any]:
        """The first notice of ``kind`` received (reading on until one comes)."""
        for notice in self.notices:
            if notice.get("type") == kind:
                return notice
        return await self.until_notice_where(lambda n: n.get("type") == kind, timeout_s)

    async def until_notice_where(self, predicate: Any, timeout_s: float = 20.0) -> dict[str, Any]:
        """Reads until a notice satisfies ``predicate``."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no such notice within {timeout_s} s: {self.notices}"
            message = await self.take(left)
            if isinstance(message, dict) and predicate(message):
                return message

    async def send(self, control: dict[str, Any]) -> None:
        await self.socket.send(msgspec.json.encode(control).decode())

    async def close(self) -> None:
        await self.socket.close()


async def eventually(predicate: Any, timeout_s: float, interval_s: float = 0.05) -> bool:
    """Polls ``predicate`` until it is true or ``timeout_s`` passed; its last value."""
    deadline = time.monotonic() + timeout_s
    for _ in range(int(timeout_s / interval_s) + 1):
        if predicate() or time.monotonic() > deadline:
            break
        await asyncio.sleep(interval_s)
    return bool(predicate())


_UPGRADE = (
    "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: c3Bpa2V4LWZyYW1lLWtleQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n{extensions}\r\n"
)
_DEFLATE = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
COMPRESSED = 0x40
"""RSV1 in a message's first byte: its payload is compressed (permessage-deflate)."""


def open_raw(
    port: int, run_id: str, *, deflate: bool = True, rcvbuf: int | None = None
) -> socket.socket:
    """A plain socket that asked to upgrade to the run's frames socket (offering
    permessage-deflate, as browsers do, when ``deflate``); nothing of the answer read yet."""
    sock = socket.create_connection(("127.0.0.1", port))
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    path = f"/ws/runs/{run_id}/frames"
    request = _UPGRADE.format(path=path, port=port, extensions=_DEFLATE if deflate else "")
    sock.sendall(request.encode())
    return sock


class RawViewer:
    """A viewer on a plain socket with a minimal websocket reader: messages as they come on
    the wire (first byte and payload, inflated if compressed). Cheap enough to run hundreds
    in one process without them costing more than the server that sends to them."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = bytearray()
        self.inflate: Any = None
        self.count = 0
        self.done = False

    def handshake(self, timeout_s: float = 30.0) -> None:
        """Reads the upgrade's answer and the hello notice (blocking, bounded by
        ``timeout_s``); what follows them stays in the buffer."""
        self.sock.settimeout(timeout_s)
        while b"\r\n\r\n" not in self.buffer:
            self.fill()
        head, _, rest = bytes(self.buffer).partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.decode(errors="replace"))
        if b"permessage-deflate" in head.lower():
            self.inflate = zlib.decompressobj(wbits=-15)
        self.buffer = bytearray(rest)
        first = self.messages()
        while not first:
            self.fill()
            first = self.messages()
        if first[0][0] & 0x0F != 0x1:
            raise ConnectionError(f"expected the hello notice, got {first[0]!r}")
        self.sock.settimeout(None)

    def fill(self) -> None:
        """Reads what the socket has into the buffer (blocking)."""
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def messages(self) -> list[tuple[int, bytes]]:
        """The complete messages in the buffer, taken out of it: (first byte, payload)."""
        out = []
        buffer = self.buffer
        while len(buffer) >= 2:
            first, size = buffer[0], buffer[1] & 0x7F
            start = 2
            if size == 126:
                if len(buffer) < 4:
                    break
                size, start = int.from_bytes(buffer[2:4], "big"), 4
            elif size == 127:
                if len(buffer) < 10:
                    break
                size, start = int.from_bytes(buffer[2:10], "big"), 10
            if len(buffer) < start + size:
                break
            payload = bytes(buffer[start : start + size])
            del buffer[: start + size]
            if first & COMPRESSED:
                payload = self.inflate.decompress(payload + b"\x00\x00\xff\xff")
            out.append((first, payload))
        return out

    def pong(self, payload: bytes) -> None:
        # Client frames are masked; a zero mask leaves the payload as it is.
        self.sock.sendall(bytes((0x8A, 0x80 | len(payload))) + b"\0\0\0\0" + payload)
