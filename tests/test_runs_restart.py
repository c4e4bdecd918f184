"""Dispatching is claimed in PostgreSQL: a queued run outlives the server that queued it, and
servers sharing the database (each on its own Valkey) dispatch each run exactly once."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from server.connections import Connections
from server.db.tables import Run
from server.domain.runs.schemas import RunOptions
from server.embedded import EmbeddedValkey
from tests.runs import run_of, small_model, start_run, wait_state
from tests.servers import ServerProcess

FAST_LEASE = {"SPIKEX_RUN_LEASE_S": "3", "SPIKEX_RUN_SWEEP_S": "0.3"}
"""A short lease, so a dead server's runs are taken over within seconds."""


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    """The servers a test starts (appended), stopped at its end."""
    started: list[ServerProcess] = []
    try:
        yield started
    finally:
        for process in started:
            process.stop(signal.SIGKILL)


def _start(servers: list[ServerProcess], data_dir: Path, environ: dict[str, str]) -> ServerProcess:
    process = ServerProcess(data_dir, environ)
    servers.append(process)
    return process.start()


def _dispatches(output: str, run_id: str) -> int:
    """How often a server's log says it handed ``run_id`` to its executor."""
    return sum(f"run={run_id}" in line for line in output.splitlines() if "run dispatched" in line)


def test_a_run_queued_on_a_killed_server_runs_on_the_next_one(
    tmp_path: Path, services_environment: dict[str, str], servers: list[ServerProcess]
) -> None:
    environ = {**services_environment, **FAST_LEASE, "SPIKEX_RUN_WORKERS": "1"}
    first_server = _start(servers, tmp_path / "first", environ)
    model_id = small_model(first_server)
    # The one worker is busy, so the second run is claimed and waits, never started.
    busy = start_run(first_server, model_id, pace=0.02)
    wait_state(first_server, busy["id"], ("running",))
    waiting = start_run(first_server, model_id)
    assert run_of(first_server, waiting["id"])["state"] == "queued"
    first_server.stop(signal.SIGKILL)

    second_server = _start(servers, tmp_path / "second", environ)
    done = wait_state(second_server, waiting["id"], ("completed", "failed"), timeout_s=120)
    assert done["state"] == "completed", done
    assert done["step"] == 2000
    # The run that had started ended with its server's worker: failed, not run again.
    lost = wait_state(second_server, busy["id"], ("completed", "failed"), timeout_s=60)
    assert lost["state"] == "failed", lost
    assert _dispatches(second_server.output(), busy["id"]) == 0


async def test_servers_sharing_the_database_dispatch_each_queued_run_once(
    tmp_path: Path,
    services_environment: dict[str, str],
    own_valkey: EmbeddedValkey,
    servers: list[ServerProcess],
    server: ServerProcess,
    connections: Connections,
) -> None:
    one = _start(servers, tmp_path / "one", {**services_environment, **FAST_LEASE})
    other = _start(
        servers,
        tmp_path / "other",
        {**services_environment, **FAST_LEASE, "VALKEY_URL": own_valkey.url},
    )
    model_id = small_model(one)
    spec = one.get(f"/api/models/{model_id}/spec")
    assert spec.status_code == 200, spec.text
    options = RunOptions(device="cpu", target=None, frame_every_s=0.01, pace=None)
    # Queued runs nobody holds (as a server that died leaves them), all visible at once to
    # every server's sweep.
    queued = [uuid.uuid4() for _ in range(4)]
    async with Run._meta.db.transaction():
        await Run.insert(
            *(
                Run(
                    id=run_id,
                    model=uuid.UUID(model_id),
                    kind="simulate",
                    state="queued",
                    spec=spec.text,
                    options=msgspec.json.encode(options).decode(),
                )
                for run_id in queued
            )
        )
    for run_id in queued:
        done = wait_state(one, str(run_id), ("completed", "failed"), timeout_s=120)
        assert done["state"] == "completed", done
    outputs = [process.output() for process in (one, other, server)]
    for run_id in queued:
        dispatched = sum(_dispatches(output, str(run_id)) for output in outputs)
        assert dispatched == 1, (run_id, dispatched)
        logs = [line["message"] for line in one.get(f"/api/runs/{run_id}/logs").json()]
        assert sum(message.startswith("started on") for message in logs) == 1, logs
