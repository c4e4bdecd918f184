"""Run frames to viewers: a CUBA-4000 simulation producing 60 frames per second of wall time,
streamed through ``/ws/runs/{run_id}/frames`` of a real server to V viewers over real sockets,
at V = 0 (the peer run: no viewers), 1, 50 and 200, and 200 of which 10 never read.

The producer runs here as a run's worker does: it simulates each frame's 1/60 s of biological
time (paced to real time, so 60 frames per second), encodes it (``simcore.frames``) and XADDs
it to the run's Valkey stream. The viewers run in a child process (asyncio ``websockets``
clients; the 10 stuck ones are raw sockets that send the upgrade and never read). Reported per
V: frames delivered per reading viewer, p50/p99 latency from ``produced_at`` (stamped by the
producer) to receipt, bytes per frame, and the slowdown: the producer's busy time per frame
(simulate + encode + publish, the pacing sleep excluded) over the same with no viewers, minus 1.

The server is ``spikex run`` on embedded PostgreSQL and Valkey in a temporary folder. Viewers,
server and producer share this machine's cores, so on a small or busy machine the figures are
noisy and pessimistic; compare them only within one run.

    just bench frames
    just bench frames --viewers 1,50 --seconds 3

The last line printed is one JSON object: {"bench": "frames", "results": [...]}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FPS = 60


# ---------------------------------------------------------------- viewers (child process)


def _stuck_viewer(port: int, path: str) -> socket.socket:
    """A viewer that opens the websocket and never reads a byte of it."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: c3Bpa2V4LWJlbmNoLWtleQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    return sock


async def _viewers(port: int, run: str, readers: int, stuck: int, frames: int) -> dict[str, Any]:
    from websockets.asyncio.client import connect

    from simcore.frames import read_header

    path = f"/ws/runs/{run}/frames"
    url = f"ws://127.0.0.1:{port}{path}"
    held = [_stuck_viewer(port, path) for _ in range(stuck)]
    latencies: list[float] = []
    delivered: list[int] = []
    sizes: list[int] = []
    ready = asyncio.Event()
    joined = 0

    async def viewer() -> None:
        nonlocal joined
        count = 0
        async with connect(url, max_size=None) as ws:
            await ws.recv()  # hello
            joined += 1
            if joined == readers:
                ready.set()
            try:
                while True:
                    message = await asyncio.wait_for(ws.recv(), 10)
                    if isinstance(message, str):
                        continue
                    now = time.time()
                    header = read_header(message)[0]
                    latencies.append((now - header.produced_at) * 1000)
                    sizes.append(len(message))
                    count += 1
                    if header.index == frames - 1:
                        break
            except TimeoutError:
                pass
        delivered.append(count)

    tasks = [asyncio.create_task(viewer()) for _ in range(readers)]
    await asyncio.wait_for(ready.wait(), 60)
    print("ready", flush=True)
    await asyncio.gather(*tasks)
    for sock in held:
        sock.close()
    return {"delivered": delivered, "latencies": latencies, "sizes": sizes}


def viewers_main(port: int, run: str, readers: int, stuck: int, frames: int) -> None:
    result = asyncio.run(_viewers(port, run, readers, stuck, frames))
    print(json.dumps(result), flush=True)


# ---------------------------------------------------------------- producer (this process)


def produce(valkey_url: str, run: str, seconds: float) -> list[float]:
    """Simulates CUBA-4000 at 60 frames per wall second; the busy seconds of each frame."""
    import valkey

    import simcore
    from server.domain.runs import keys
    from simcore import frames
    from simcore.spec import Value
    from tests.simcore_models import cuba

    spec = cuba(4000)
    simulation = simcore.build(spec)
    sizes = frames.monitor_sizes(spec)
    client = valkey.Valkey.from_url(valkey_url)
    busy: list[float] = []
    period = 1.0 / FPS
    run_for = Value(unit="s", value=seconds)
    started = time.perf_counter()
    chunks = simulation.run(run_for, frame_every=Value(unit="s", value=period))
    while True:
        begun = time.perf_counter()
        frame = next(chunks, None)
        if frame is None:
            break
        data = frames.from_simulation(run, frame, sizes=sizes)
        client.xadd(keys.frames_key(run), {keys.FRAME_FIELD: data}, maxlen=1000, approximate=True)
        busy.append(time.perf_counter() - begun)
        ahead = started + (frame.index + 1) * period - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
    client.close()
    return busy


# ---------------------------------------------------------------- orchestration


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def new_run(database_url: str, model_id: str) -> str:
    from piccolo.engine.postgres import PostgresEngine

    from server.db.tables import Run

    engine = PostgresEngine(config={"dsn": database_url})
    Run._meta.db = engine
    run_id = uuid.uuid4()
    await Run.insert(
        Run(
            id=run_id,
            model=uuid.UUID(model_id),
            kind="simulate",
            state="queued",
            spec={},
            options={"device": "cpu", "target": None, "frame_every_s": 0.016, "pace": None},
        )
    )
    return str(run_id)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", default="1,50,200", help="comma-separated V")
    parser.add_argument("--stuck", type=int, default=10, help="non-reading viewers at max V")
    parser.add_argument("--seconds", type=float, default=5.0, help="wall seconds per V")
    args = parser.parse_args()
    counts = [int(v) for v in args.viewers.split(",")]

    from server.embedded import EmbeddedPostgres, EmbeddedValkey
    from tests.servers import ServerProcess

    frames = round(args.seconds * FPS)
    with tempfile.TemporaryDirectory(prefix="spikex-bench-frames-") as tmp:
        root = Path(tmp)
        postgres, valkey_server = EmbeddedPostgres(root / "pg"), EmbeddedValkey(root / "valkey")
        postgres.start()
        valkey_server.start()
        server = ServerProcess(
            root / "data", {"DATABASE_URL": postgres.url, "VALKEY_URL": valkey_server.url}
        )
        try:
            server.start()
            model = server.post("/api/models", json={"name": "bench frames"}).json()["id"]
            print(f"server on port {server.port}; {frames} frames per V", file=sys.stderr)
            baseline = produce(
                valkey_server.url, asyncio.run(new_run(postgres.url, model)), args.seconds
            )
            base = statistics.mean(baseline)
            print(f"V=0: busy {base * 1000:.2f} ms per frame", file=sys.stderr)
            plan = [(v, 0) for v in counts]
            if args.stuck:
                plan.append((max(counts), args.stuck))
            results = []
            for viewers, stuck in plan:
                run = asyncio.run(new_run(postgres.url, model))
                child = subprocess.Popen(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        json.dumps([server.port, run, viewers - stuck, stuck, frames]),
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                assert child.stdout is not None
                assert child.stdout.readline().strip() == "ready"
                busy = produce(valkey_server.url, run, args.seconds)
                out, _ = child.communicate(timeout=120)
                got = json.loads(out.strip().splitlines()[-1])
                row: dict[str, Any] = {
                    "viewers": viewers,
                    "delivered_per_viewer": round(statistics.mean(got["delivered"]), 1),
                    "p50_ms": round(percentile(got["latencies"], 0.5), 2),
                    "p99_ms": round(percentile(got["latencies"], 0.99), 2),
                    "bytes_per_frame": round(statistics.mean(got["sizes"])) if got["sizes"] else 0,
                    "slowdown": round(statistics.mean(busy) / base - 1, 4),
                }
                if stuck:
                    row["stuck"] = stuck
                row["frames"] = len(busy)
                print(json.dumps(row), file=sys.stderr)
                results.append(row)
        finally:
            server.stop()
            valkey_server.stop()
            postgres.stop()
    print(json.dumps({"bench": "frames", "results": results}))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        viewers_main(*json.loads(sys.argv[2]))
    else:
        main()
