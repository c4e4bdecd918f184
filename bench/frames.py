"""Run frames to viewers: a CUBA-4000 simulation producing 60 frames per second of wall time,
streamed through ``/ws/runs/{run_id}/frames`` of a real server to V viewers over real sockets,
at V = 0 (the peer run: no viewers), 1, 50 and 200, and 200 of which 10 never read.

The producer runs here as a run's worker does: it simulates each frame's 1/60 s of biological
time (paced to real time, so 60 frames per second), encodes it (``simcore.frames``) and hands
it to the worker's ``Outbox``, which XADDs it to the run's Valkey stream. The viewers run in
a child process: plain sockets under one epoll loop with a minimal websocket reader
(``tests.frame_streams.RawViewer``) that offer permessage-deflate as browsers do; the 10 stuck
ones send the upgrade and never read. Reported
per V: frames delivered per reading viewer, p50/p99 latency from ``produced_at`` (stamped by
the producer) to receipt, bytes per frame, and the slowdown: the producer's busy time per frame
(simulate + encode + hand over, the pacing sleep excluded) over the same in a run with no viewers
just before, minus 1. Also: the same slowdown on the producer's CPU time (its own work, without
the waits for a core), the CPU the server spent per frame (and with no viewers, and per message
delivered), the CPU the viewers spent per frame, and the load average.

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
import os
import selectors
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
#
# The viewers stand in for browsers on other machines, so they must cost this machine as little
# as they can: one process, one epoll loop over plain sockets and a minimal websocket reader
# (server frames are unmasked; the ones that come compressed are inflated, as a browser would).
# An asyncio websocket client per viewer costs more CPU than the server sending to it, which
# on a small machine would be measured as the server's and the run's slowness.


def _viewers(port: int, run: str, readers: int, stuck: int, frames: int) -> dict[str, Any]:
    from simcore.frames import read_header
    from tests.frame_streams import RawViewer, open_raw

    held = [open_raw(port, run, deflate=False, rcvbuf=4096) for _ in range(stuck)]
    viewers = [RawViewer(open_raw(port, run)) for _ in range(readers)]
    latencies: list[float] = []
    sizes: list[int] = []
    selector = selectors.DefaultSelector()
    for viewer in viewers:
        viewer.handshake()
        viewer.sock.setblocking(False)
        selector.register(viewer.sock, selectors.EVENT_READ, viewer)
    print("ready", flush=True)
    cpu = time.process_time()
    open_ = readers
    idle_until = time.monotonic() + 60
    while open_ and time.monotonic() < idle_until:
        for key, _ in selector.select(timeout=1.0):
            viewer = key.data
            try:
                chunk = viewer.sock.recv(1 << 20)
            except BlockingIOError:
                continue
            now = time.time()
            if not chunk:
                viewer.done = True
            viewer.buffer += chunk
            for first, payload in viewer.messages():
                opcode = first & 0x0F
                if opcode == 0x2:
                    header = read_header(payload)[0]
                    latencies.append((now - header.produced_at) * 1000)
                    sizes.append(len(payload))
                    viewer.count += 1
                    if header.index == frames - 1:
                        viewer.done = True
                elif opcode == 0x9:
                    viewer.pong(payload)
                elif opcode == 0x8:
                    viewer.done = True
            if viewer.done:
                selector.unregister(viewer.sock)
                viewer.sock.close()
                open_ -= 1
            idle_until = time.monotonic() + 10
    for sock in held:
        sock.close()
    return {
        "delivered": [v.count for v in viewers],
        "latencies": latencies,
        "sizes": sizes,
        "cpu_s": time.process_time() - cpu,
    }


def viewers_main(port: int, run: str, readers: int, stuck: int, frames: int) -> None:
    result = _viewers(port, run, readers, stuck, frames)
    print(json.dumps(result), flush=True)


# ---------------------------------------------------------------- producer (this process)


def produce(
    valkey_url: str, run: str, seconds: float, threads: int | None = None
) -> tuple[list[float], float]:
    """Simulates CUBA-4000 at 60 frames per wall second: the busy (wall) seconds of each frame,
    and the CPU seconds of all of them."""
    return asyncio.run(_produce(valkey_url, run, seconds, threads))


async def _produce(
    valkey_url: str, run: str, seconds: float, threads: int | None
) -> tuple[list[float], float]:
    from valkey.asyncio import Valkey

    import simcore
    from server.config import load_settings
    from server.domain.runs import keys
    from server.domain.runs.outbox import Outbox
    from simcore import frames
    from simcore.spec import Value
    from tests.simcore_models import cuba

    spec = cuba(4000)
    simulation = simcore.build(spec, threads=threads)
    sizes = frames.monitor_sizes(spec)
    client = Valkey.from_url(valkey_url)
    outbox = Outbox(client, load_settings().run_outbox_limit)
    busy: list[float] = []
    period = 1.0 / FPS
    run_for = Value(unit="s", value=seconds)
    cpu = 0.0
    started = time.perf_counter()
    chunks = simulation.run(run_for, frame_every=Value(unit="s", value=period))
    while True:
        begun, begun_cpu = time.perf_counter(), time.process_time()
        frame = await asyncio.to_thread(next, chunks, None)
        if frame is None:
            break
        data = frames.from_simulation(run, frame, sizes=sizes)
        await outbox.send(keys.frames_key(run), keys.FRAME_FIELD, data, 1000)
        busy.append(time.perf_counter() - begun)
        cpu += time.process_time() - begun_cpu
        ahead = started + (frame.index + 1) * period - time.perf_counter()
        if ahead > 0:
            await asyncio.sleep(ahead)
    await outbox.close()
    await client.aclose()
    return busy, cpu


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


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) that process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", default="1,50,200", help="comma-separated V")
    parser.add_argument("--stuck", type=int, default=10, help="non-reading viewers at max V")
    parser.add_argument("--seconds", type=float, default=5.0, help="wall seconds per V")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="engine threads of the producer (default: simcore.build's choice, as in a run)",
    )
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
            plan = [(v, 0) for v in counts]
            if args.stuck:
                plan.append((max(counts), args.stuck))
            results = []
            for viewers, stuck in plan:
                # The peer run (no viewers) right before, so both see the machine alike.
                idle_cpu = _cpu_s(server.process.pid)
                base, base_cpu = produce(
                    valkey_server.url,
                    asyncio.run(new_run(postgres.url, model)),
                    args.seconds,
                    args.threads,
                )
                idle_cpu = _cpu_s(server.process.pid) - idle_cpu
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
                server_cpu = _cpu_s(server.process.pid)
                busy, busy_cpu = produce(valkey_server.url, run, args.seconds, args.threads)
                server_cpu = _cpu_s(server.process.pid) - server_cpu
                out, _ = child.communicate(timeout=120)
                got = json.loads(out.strip().splitlines()[-1])
                row: dict[str, Any] = {
                    "viewers": viewers,
                    "delivered_per_viewer": round(statistics.mean(got["delivered"]), 1),
                    "p50_ms": round(percentile(got["latencies"], 0.5), 2),
                    "p99_ms": round(percentile(got["latencies"], 0.99), 2),
                    "bytes_per_frame": round(statistics.mean(got["sizes"])) if got["sizes"] else 0,
                    "slowdown": round(statistics.mean(busy) / statistics.mean(base) - 1, 4),
                    # The same on the producer's CPU time: its own work, without the waits for
                    # a core that the wall time counts on a machine with too few of them.
                    "slowdown_cpu": round(busy_cpu / base_cpu - 1, 4),
                    "server_cpu_ms_per_frame": round(server_cpu * 1000 / len(busy), 3),
                    "server_cpu_ms_per_frame_v0": round(idle_cpu * 1000 / len(base), 3),
                    "server_cpu_us_per_message": round(
                        server_cpu * 1e6 / max(1, sum(got["delivered"])), 1
                    ),
                    "viewers_cpu_ms_per_frame": round(got["cpu_s"] * 1000 / len(busy), 3),
                }
                if stuck:
                    row["stuck"] = stuck
                row["frames"] = len(busy)
                row["load"] = round(os.getloadavg()[0], 2)
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
