"""Document fan-out: SPIKE-X's ``/ws/docs`` against the reference y-websocket server, side by
side, at N = 10, 100 and 500 clients in one room.

N clients join one room at the same moment through real sockets, on each server; once all are
synced, one of them writes M small edits (after ``--warmup`` edits that are not counted), and
each of the others records when it sees each one. The two rooms are edited in turn, in one
run: an edit to ours, and once all its readers have it and ``--interval-ms`` of idle time has
passed, one to the reference, and so on; so the servers see the same load, and this machine's
slow spells fall on both rather than on whichever was being measured at the time. Reported:
deliveries missing after a grace period, and the p50/p99 delay from the writer's send to a
reader's receipt, for SPIKE-X (every update committed to the log in PostgreSQL before it is
broadcast) and for the reference (npm ``y-websocket@1``, ``bin/server.js``, which keeps
documents in memory only), with their ratio. Both are driven by
the same clients: a minimal Yjs sync client over asyncio (pycrdt for the document), so the
client side costs both servers alike.

Then two figures of SPIKE-X alone, on a restarted server (no room loaded):
- rooms of 1 MiB documents per GiB: the server's RSS growth while K such rooms are loaded,
  extrapolated to 1 GiB;
- cold load of a 200-layer model document: from opening the socket to the client being
  synced, for a room not loaded yet (median of several models).

Our server is ``spikex run`` with its embedded services (PostgreSQL, Valkey, the local object
store) in a temporary data folder; y-websocket@1 is installed with npm, once, into
``$SPIKEX_CACHE_DIR/y-websocket-1``. Needs Linux (RSS is read from /proc).

    just bench collab                          # N = 10, 100, 500
    just bench collab --clients 10,100 --edits 50

The last line printed is one JSON object: {"bench": "collab_fanout", ...}.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

from peer_env import cache_dir
from pycrdt import Array, Doc, Map, MapEvent, Text
from websockets.speedups import apply_mask

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collab import protocol  # noqa: E402
from collab.schema import roots  # noqa: E402
from server.embedded import free_port  # noqa: E402
from tests.servers import ServerProcess  # noqa: E402

REFERENCE = "y-websocket@1"
NPM_INSTALL = ["npm", "install", "--omit=optional", "--no-audit", "--no-fund", "--prefer-offline"]
T = TypeVar("T")
READERS_WAIT_S = 2.0
"""How long the paired run waits for every reader of an edit before the next edit (a later
delivery still counts until the grace period at the end)."""
GIB = 1024**3
MIB = 1024**2


def reference_server_script() -> Path:
    """y-websocket@1's ``bin/server.js``, installed on first use (without its optional
    LevelDB persistence, which the server only uses when asked to)."""
    folder = cache_dir() / "y-websocket-1"
    script = folder / "node_modules" / "y-websocket" / "bin" / "server.js"
    if not script.exists():
        print(f"installing {REFERENCE} into {folder} (once)", file=sys.stderr, flush=True)
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [*NPM_INSTALL, "--prefix", str(folder), REFERENCE, "yjs@13", "ws@6"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return script


@contextlib.contextmanager
def reference_server() -> Iterator[int]:
    port = free_port()
    environ = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port)}
    process = subprocess.Popen(
        ["node", str(reference_server_script())],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()  # "running at '127.0.0.1' on port ..."
        if "running" not in line:
            raise RuntimeError(f"{REFERENCE} did not start: {line}{process.stdout.read()}")
        yield port
    finally:
        process.terminate()
        process.wait()


# ---------------------------------------------------------------------------------------------
# A minimal Yjs sync client over asyncio: enough of RFC 6455 for one binary conversation.


class YClient(asyncio.Protocol):
    """One document kept in sync over the y-websocket protocol; ``seen`` holds when each key
    of the ``bench`` map first arrived (monotonic seconds)."""

    def __init__(self) -> None:
        self.doc = Doc()
        self.bench = self.doc.get("bench", type=Map)
        self.synced = asyncio.Event()
        self.closed = asyncio.Event()
        self.seen: dict[str, float] = {}
        self.noticed: Callable[[str], None] | None = None
        """Called with each key the first time it arrives."""
        self._arrived = 0.0
        self._buffer = bytearray()
        self._handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._transport: asyncio.Transport | None = None
        self.bench.observe(self._on_bench)

    @classmethod
    async def connect(cls, port: int, path: str) -> YClient:
        loop = asyncio.get_running_loop()
        transport, client = await loop.create_connection(cls, "127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        await client._handshake
        client.send(protocol.sync_step1(client.doc.get_state()))
        return client

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()
        if not self._handshake.done():
            self._handshake.set_exception(ConnectionError("closed during the handshake"))

    def data_received(self, data: bytes) -> None:
        self._arrived = time.monotonic()
        self._buffer += data
        if not self._handshake.done():
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self._buffer[: self._buffer.find(b"\r\n")])
            del self._buffer[: end + 4]
            if b" 101 " not in status:
                self._handshake.set_exception(ConnectionError(status.decode()))
                return
            self._handshake.set_result(None)
        self._frames()

    def _frames(self) -> None:
        buffer = self._buffer
        while len(buffer) >= 2:
            opcode, length, at = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if length >= 126:
                size = 2 if length == 126 else 8
                if len(buffer) < 2 + size:
                    return
                length, at = int.from_bytes(buffer[2 : 2 + size]), 2 + size
            if len(buffer) < at + length:
                return
            payload = bytes(buffer[at : at + length])
            del buffer[: at + length]
            if opcode == 0x2:
                self._message(payload)
            elif opcode == 0x9:
                self._write(0xA, payload)  # pong
            elif opcode == 0x8:
                assert self._transport is not None
                self._transport.close()

    def _message(self, frame: bytes) -> None:
        message = protocol.parse(frame)
        if isinstance(message, protocol.SyncStep1):
            self.send(protocol.sync_step2(self.doc.get_update(message.state)))
        elif isinstance(message, protocol.SyncStep2 | protocol.SyncUpdate):
            self.doc.apply_update(message.update)
            if isinstance(message, protocol.SyncStep2):
                self.synced.set()

    def _on_bench(self, event: MapEvent) -> None:
        for key in event.keys:
            if key not in self.seen:
                self.seen[key] = self._arrived
                if self.noticed is not None:
                    self.noticed(key)

    def send(self, message: bytes) -> None:
        self._write(0x2, message)

    def _write(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            head = bytes([0x80 | opcode, 0x80 | length])
        elif length < 1 << 16:
            head = bytes([0x80 | opcode, 0x80 | 126]) + length.to_bytes(2)
        else:
            head = bytes([0x80 | opcode, 0x80 | 127]) + length.to_bytes(8)
        assert self._transport is not None
        self._transport.write(head + mask + apply_mask(payload, mask))

    def close(self) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


async def synced_clients(port: int, path: str, count: int, timeout_s: float) -> list[YClient]:
    """``count`` clients connected at the same moment, each synced."""
    async with asyncio.timeout(timeout_s):
        clients = await asyncio.gather(*(YClient.connect(port, path) for _ in range(count)))
        await asyncio.gather(*(client.synced.wait() for client in clients))
    return clients


class FanOutRoom:
    """One server's room in a paired run: its writer, its readers, and when each edit was sent.
    ``edit`` returns once every reader has seen the edit (or ``wait_s`` has passed)."""

    def __init__(self, clients: list[YClient]):
        self.writer, self.readers = clients[0], clients[1:]
        self.sent: dict[str, float] = {}
        self._seen_by: dict[str, int] = {}
        self._awaited = ""
        self._all_seen = asyncio.Event()
        for reader in self.readers:
            reader.noticed = self._noticed

    def _noticed(self, key: str) -> None:
        self._seen_by[key] = self._seen_by.get(key, 0) + 1
        if key == self._awaited and self._seen_by[key] == len(self.readers):
            self._all_seen.set()

    async def edit(self, key: str, wait_s: float) -> None:
        writer = self.writer
        before = writer.doc.get_state()
        writer.bench[key] = 0
        update = writer.doc.get_update(before)
        self._awaited = key
        self._all_seen.clear()
        self.sent[key] = time.monotonic()
        writer.send(protocol.sync_update(update))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._all_seen.wait(), wait_s)

    def figures(self, counted: int) -> dict[str, float]:
        """Missing deliveries and delay percentiles (ms) of the last ``counted`` edits."""
        keys = list(self.sent)[-counted:]
        delays = sorted(
            (reader.seen[key] - self.sent[key]) * 1000
            for reader in self.readers
            for key in keys
            if key in reader.seen
        )
        return {
            "missing": len(self.readers) * counted - len(delays),
            "p50_ms": _percentile(delays, 50),
            "p99_ms": _percentile(delays, 99),
        }

    def close(self) -> None:
        for client in (self.writer, *self.readers):
            client.close()


async def fan_out(
    targets: list[tuple[int, str]],
    clients: int,
    edits: int,
    interval_s: float,
    grace_s: float,
    warmup: int,
) -> list[dict[str, float]]:
    """One room per target (port, path), each with one writer and ``clients - 1`` readers,
    edited in turn: an edit to the first room, and once its readers have all seen it and
    ``interval_s`` has passed, one to the next, and so on. So each edit reaches an idle server
    and readers that have finished the previous one, and a slow spell of this machine falls on
    the servers' edits alike rather than on whichever server it happened to be measuring.
    The first ``warmup`` edits of each room are not counted (they set up what later ones
    reuse: prepared statements, pooled connections, compiled code)."""
    rooms = [
        FanOutRoom(await synced_clients(port, path, clients, timeout_s=60 + clients / 5))
        for port, path in targets
    ]
    try:
        for index in range(warmup + edits):
            for room in rooms:
                await room.edit(str(index), wait_s=READERS_WAIT_S)
                await asyncio.sleep(interval_s)
        for room in rooms:
            await until_seen(room.readers, warmup + edits, grace_s)
        return [room.figures(edits) for room in rooms]
    finally:
        for room in rooms:
            room.close()


async def until_seen(readers: list[YClient], count: int, timeout_s: float) -> None:
    """Until every reader has seen ``count`` keys, or ``timeout_s`` has passed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(len(reader.seen) >= count for reader in readers):
            return
        await asyncio.sleep(0.02)


def _percentile(values: list[float], percent: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, round(percent / 100 * (len(values) - 1)))]


# ---------------------------------------------------------------------------------------------
# SPIKE-X alone: memory per loaded room, cold load of a large model.


def new_model(server: ServerProcess, name: str, template: str | None = None) -> str:
    body = {"name": name} | ({"template": template} if template else {})
    response = server.post("/api/models", json=body)
    response.raise_for_status()
    return response.json()["id"]


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def megabyte_document(size: int = MIB) -> Callable[[Doc], None]:
    """An edit filling a document's notes with ``size`` bytes of text typed in 1 kB pieces at
    random places (so the document holds many items, as typed text does)."""
    rng = random.Random(1)
    pieces = [bytes(rng.choices(range(97, 123), k=1024)).decode() for _ in range(size // 1024)]

    def fill(doc: Doc) -> None:
        notes = roots(doc)["notes"]
        assert isinstance(notes, Text)
        with doc.transaction():
            for piece in pieces:
                notes.insert(rng.randrange(len(notes) + 1), piece)

    return fill


def grow_layers(total: int) -> Callable[[Doc], None]:
    """An edit appending layers (linear, relu, ...) until the model has ``total``."""

    def grow(doc: Doc) -> None:
        layers = roots(doc)["layers"]
        assert isinstance(layers, Array)
        with doc.transaction():
            for index in range(len(layers), total):
                if index % 2:
                    layers.append(Map({"id": f"act{index}", "kind": "relu"}))
                else:
                    parameters = Map({"in_features": 64, "out_features": 64, "bias": True})
                    layers.append(
                        Map({"id": f"fc{index}", "kind": "linear", "parameters": parameters})
                    )

    return grow


async def write_through_socket(port: int, model: str, change: Callable[[Doc], None]) -> None:
    """Join the model's room, make ``change``, and leave once the room has acknowledged it."""
    client = await YClient.connect(port, f"/ws/docs/{model}")
    await asyncio.wait_for(client.synced.wait(), 60)
    before = client.doc.get_state()
    change(client.doc)
    client.send(protocol.sync_update(client.doc.get_update(before)))
    # The room reads a connection's messages in order, so its answer to a second sync step 1
    # comes once the change is stored.
    client.synced.clear()
    client.send(protocol.sync_step1(b"\x00"))
    await asyncio.wait_for(client.synced.wait(), 60)
    client.close()


async def cold_load_ms(port: int, model: str) -> float:
    started = time.perf_counter()
    client = await YClient.connect(port, f"/ws/docs/{model}")
    await asyncio.wait_for(client.synced.wait(), 60)
    elapsed = (time.perf_counter() - started) * 1000
    client.close()
    return elapsed


async def load_rooms(port: int, models: list[str]) -> None:
    for model in models:
        client = await YClient.connect(port, f"/ws/docs/{model}")
        await asyncio.wait_for(client.synced.wait(), 60)
        client.close()
        await client.closed.wait()


def server_figures(server: ServerProcess, rooms: int, cold_models: int) -> dict[str, float]:
    big = [new_model(server, f"1 MiB {index}") for index in range(rooms + 1)]
    layered = [new_model(server, f"200 layers {index}", "mlp") for index in range(cold_models)]
    fill, grow = megabyte_document(), grow_layers(200)

    async def write() -> None:
        for model in big:
            await write_through_socket(server.port, model, fill)
        for model in layered:
            await write_through_socket(server.port, model, grow)

    run(write())
    server.stop()  # unloads every room (compacting it); the restart holds none
    server.start()

    async def measure() -> tuple[list[float], int, int]:
        cold = [await cold_load_ms(server.port, model) for model in layered]
        await load_rooms(server.port, big[:1])  # the code paths warm, not counted
        await asyncio.sleep(0.5)
        before = rss_bytes(server.process.pid)  # type: ignore[union-attr]
        await load_rooms(server.port, big[1:])
        await asyncio.sleep(0.5)
        return cold, before, rss_bytes(server.process.pid)  # type: ignore[union-attr]

    cold, before, after = run(measure())
    per_room = max(after - before, 1) / rooms
    print(
        f"memory: {rooms} rooms of 1 MiB documents loaded: RSS {before / MIB:.0f} -> "
        f"{after / MIB:.0f} MiB, {per_room / MIB:.2f} MiB per room",
        flush=True,
    )
    print(
        f"cold load of a 200-layer model (socket open to synced, room not loaded), "
        f"{len(cold)} models: median {statistics.median(cold):.1f} ms, "
        f"max {max(cold):.1f} ms",
        flush=True,
    )
    return {
        "rooms_of_1mib_per_gib": round(GIB / per_room),
        "cold_load_200_layers_ms": round(statistics.median(cold), 2),
    }


# ---------------------------------------------------------------------------------------------


def run(work: Coroutine[Any, Any, T]) -> T:
    """``work`` on a fresh event loop (uvloop's where installed), for SPIKE-X and the reference
    alike."""
    try:
        import uvloop
    except ImportError:
        factory = None
    else:
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(work)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--clients", default="10,100,500", help="comma-separated N")
    # 500: a p99 over fewer edits is decided by the one or two that a scheduling stall of
    # this machine happens to hit, for either server.
    parser.add_argument("--edits", type=int, default=500, help="edits written (M)")
    parser.add_argument(
        "--interval-ms", type=float, default=20.0, help="idle time before each edit"
    )
    parser.add_argument("--grace-s", type=float, default=20.0, help="wait for late deliveries")
    parser.add_argument("--warmup", type=int, default=10, help="edits written first, not counted")
    parser.add_argument(
        "--commit-flush",
        action="store_true",
        help="our server waits for PostgreSQL's WAL flush of each edit (SPIKEX_DOC_COMMIT_FLUSH)",
    )
    parser.add_argument("--rooms", type=int, default=48, help="1 MiB rooms loaded (memory)")
    parser.add_argument("--cold-models", type=int, default=9, help="200-layer models loaded")
    arguments = parser.parse_args()
    sizes = [int(size) for size in arguments.clients.split(",") if size.strip()]
    if shutil.which("node") is None:
        raise SystemExit("the reference server needs Node.js (node) on the PATH")

    data = Path(tempfile.mkdtemp(prefix="spikex-bench-collab-"))
    server = ServerProcess(
        data / "data",
        {
            "SPIKEX_DOC_UNLOAD_IDLE_S": "3600",
            "SPIKEX_LOG_LEVEL": "warning",
            "SPIKEX_DOC_COMMIT_FLUSH": str(arguments.commit_flush).lower(),
        },
    )
    print(
        f"fan-out: one writer, N - 1 readers in one room per server, {arguments.edits} edits "
        f"each, to the two servers in turn, {arguments.interval_ms:g} ms of idle time before "
        "each; SPIKE-X persists each before broadcasting, "
        f"{REFERENCE} keeps them in memory; ratio: SPIKE-X p99 / reference p99",
        flush=True,
    )
    print(
        f"{'N':>5} {'missing':>8} {'p50 ms':>8} {'p99 ms':>8} {'ref missing':>11} "
        f"{'ref p50':>8} {'ref p99':>8} {'p99 ratio':>9}",
        flush=True,
    )
    results = []
    try:
        server.start()
        with reference_server() as reference_port:
            for clients in sizes:
                model = new_model(server, f"fan-out {clients}")
                pacing = (
                    arguments.edits,
                    arguments.interval_ms / 1000,
                    arguments.grace_s,
                    arguments.warmup,
                )
                targets = [
                    (server.port, f"/ws/docs/{model}"),
                    (reference_port, f"/fanout-{clients}"),
                ]
                ours, peer = run(fan_out(targets, clients, *pacing))
                ratio = ours["p99_ms"] / peer["p99_ms"]
                print(
                    f"{clients:>5} {ours['missing']:>8} {ours['p50_ms']:>8.2f} "
                    f"{ours['p99_ms']:>8.2f} {peer['missing']:>11} {peer['p50_ms']:>8.2f} "
                    f"{peer['p99_ms']:>8.2f} {ratio:>9.2f}",
                    flush=True,
                )
                results.append(
                    {
                        "clients": clients,
                        "edits": arguments.edits,
                        "missing": ours["missing"],
                        "p50_ms": round(ours["p50_ms"], 3),
                        "p99_ms": round(ours["p99_ms"], 3),
                        "ref_missing": peer["missing"],
                        "ref_p50_ms": round(peer["p50_ms"], 3),
                        "ref_p99_ms": round(peer["p99_ms"], 3),
                        "p99_ratio": round(ratio, 3),
                    }
                )
        figures = server_figures(server, arguments.rooms, arguments.cold_models)
    finally:
        if server.process is not None:
            server.stop()
        shutil.rmtree(data, ignore_errors=True)
    print(json.dumps({"bench": "collab_fanout", "results": results, **figures}))


if __name__ == "__main__":
    main()
