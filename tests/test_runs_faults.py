"""Faults around runs: a worker killed, Valkey restarting under a running run."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import valkey

from server.connections import Connections
from server.domain.runs import keys
from server.domain.runs.worker import report_key
from server.embedded import EmbeddedValkey
from simcore import frames
from tests.runs import run_of, small_model, start_run, stopped_at_the_end, wait_state
from tests.servers import ServerProcess, wait_for


def _worker_pid(run: dict[str, object]) -> int:
    worker = str(run["worker"])  # "<host> pid <n>"
    return int(worker.rsplit(" pid ", 1)[1])


def test_a_killed_worker_fails_its_run_with_a_reason_and_a_new_run_works(
    server: ServerProcess,
) -> None:
    model_id = small_model(server)
    run = start_run(server, model_id, pace=0.05)  # about 4 s of wall time
    with stopped_at_the_end(server, run["id"]):
        running = wait_state(server, run["id"], ("running",))
        os.kill(_worker_pid(running), signal.SIGKILL)
        failed = wait_state(server, run["id"], ("failed", "completed"), timeout_s=15)
    assert failed["state"] == "failed", failed
    assert "SIGKILL" in failed["error"]
    logs = [line["message"] for line in server.get(f"/api/runs/{run['id']}/logs").json()]
    assert failed["error"] in logs
    again = start_run(server, model_id)
    assert wait_state(server, again["id"], ("completed", "failed"))["state"] == "completed"


def test_a_hung_worker_fails_its_run_once_its_heartbeat_runs_out(server: ServerProcess) -> None:
    model_id = small_model(server)
    run = start_run(server, model_id, pace=0.05)
    pid = _worker_pid(wait_state(server, run["id"], ("running",)))
    os.kill(pid, signal.SIGSTOP)  # alive to the executor, silent to everyone
    try:
        failed = wait_state(server, run["id"], ("failed", "completed"), timeout_s=30)
    finally:
        os.kill(pid, signal.SIGKILL)
    assert failed["state"] == "failed", failed
    assert "no heartbeat" in failed["error"]


@pytest.fixture
def server_on_own_valkey(
    tmp_path: Path, services_environment: dict[str, str], own_valkey: EmbeddedValkey
) -> Iterator[ServerProcess]:
    # A worker cannot beat while Valkey is down, nor until its client has reconnected: a
    # longer heartbeat TTL than the default, so that gap never reads as a dead worker.
    environment = {
        **services_environment,
        "VALKEY_URL": own_valkey.url,
        "SPIKEX_RUN_HEARTBEAT_TTL_S": "30",
    }
    process = ServerProcess(tmp_path / "data", environment)
    process.start()
    try:
        yield process
    finally:
        process.stop()


async def test_a_run_goes_on_through_a_valkey_restart_and_loses_nothing_stored(
    server_on_own_valkey: ServerProcess, own_valkey: EmbeddedValkey, connections: Connections
) -> None:
    server = server_on_own_valkey
    model_id = small_model(server)
    run = start_run(server, model_id, pace=0.05, frame_every={"unit": "ms", "value": 20})
    with stopped_at_the_end(server, run["id"]):
        wait_state(server, run["id"], ("running",))
        assert wait_for(lambda: run_of(server, run["id"])["step"] > 0, 20)
        own_valkey.stop()
        await asyncio.sleep(1.0)
        own_valkey.start()
        done = wait_state(server, run["id"], ("completed", "failed"), timeout_s=60)
    assert done["state"] == "completed", done["error"]

    # PostgreSQL has every frame's metrics and the whole log; storage has the report.
    rates = server.get(f"/api/runs/{run['id']}/metrics", params={"name": "rate_hz/spikes"})
    assert [m["step"] for m in rates.json()] == [200 * (i + 1) for i in range(10)]
    logs = [line["message"] for line in server.get(f"/api/runs/{run['id']}/logs").json()]
    assert logs[0].startswith("started on") and logs[-1] == "completed"
    report = msgspec.json.decode(await connections.objects.get(report_key(run["id"])))
    assert report["steps"] == 2000

    # Viewers get frames again once Valkey is back: the last frame is in the stream.
    client = valkey.Valkey.from_url(own_valkey.url)
    try:
        stream = client.xrange(keys.frames_key(run["id"]))
    finally:
        client.close()
    last = frames.decode(stream[-1][1][keys.FRAME_FIELD])
    assert last.header.end == 2000
