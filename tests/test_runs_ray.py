"""The Ray executor, against a local Ray instance this module starts (and stops)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.embedded import free_port
from tests.runs import small_model, start_run, wait_state
from tests.servers import ServerProcess, spikex_command

pytestmark = [pytest.mark.ray, pytest.mark.slow]

RAY_START_TIMEOUT_S = 120.0
RAY_START_ATTEMPTS = 2
RAY_STOP_TIMEOUT_S = 5.0
"""Ray drains for up to 30 s on SIGTERM; nothing of this test's needs draining."""


@pytest.fixture(scope="module")
def ray_head() -> Iterator[str]:
    """``ray start --head`` on a free loopback port, in its own process group and temp dir;
    yields its GCS address. Ray gives its raylet a fixed 30 s to register, which a busy
    machine can miss: one more try then."""
    for attempt in range(RAY_START_ATTEMPTS):
        with _ray_head() as (address, started):
            if started or attempt == RAY_START_ATTEMPTS - 1:
                assert started, address  # the log, when it did not start
                yield address
                return


@contextlib.contextmanager
def _ray_head() -> Iterator[tuple[str, bool]]:
    port = free_port()
    # Short: Ray's socket paths live under it and must fit in 107 characters.
    temp = Path(tempfile.mkdtemp(prefix="sxray"))
    log = temp.with_suffix(".log")
    ray = Path(sys.executable).parent / "ray"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                str(ray),
                "start",
                "--head",
                "--block",
                "--node-ip-address=127.0.0.1",
                f"--port={port}",
                "--num-cpus=1",
                "--include-dashboard=false",
                "--disable-usage-stats",
                f"--temp-dir={temp}",
                f"--object-store-memory={100 * 1024 * 1024}",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + RAY_START_TIMEOUT_S
        while b"Ray runtime started" not in log.read_bytes():
            if process.poll() is not None or time.monotonic() > deadline:
                yield log.read_text(errors="replace"), False
                return
            time.sleep(0.5)
        yield f"127.0.0.1:{port}", True
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(RAY_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        shutil.rmtree(temp, ignore_errors=True)
        log.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def ray_server(
    tmp_path_factory: pytest.TempPathFactory, services_environment: dict[str, str], ray_head: str
) -> Iterator[ServerProcess]:
    """The server started as ``just run`` starts it, under ``uv run`` (whose binary ``just
    test`` has in ``UV``) where uv is at hand: Ray starts a driver's workers differently when
    the driver runs under ``uv run``."""
    uv = os.environ.get("UV") or shutil.which("uv")
    process = ServerProcess(
        tmp_path_factory.mktemp("ray-server") / "data",
        {**services_environment, "SPIKEX_EXECUTOR": f"ray://{ray_head}"},
        command=[uv, "run", "--frozen", "--no-sync", *spikex_command("run")] if uv else None,
    )
    process.start()
    try:
        yield process
    finally:
        process.stop()


def test_compute_targets_are_the_ray_nodes(ray_server: ServerProcess) -> None:
    targets = ray_server.get("/api/compute").json()
    assert targets and all(target["executor"] == "ray" for target in targets)
    assert targets[0]["resources"]["CPU"] == 1
    assert targets[0]["devices"] == ["cpu"]  # no GPU here


def test_a_simulation_runs_on_ray_on_the_chosen_node(ray_server: ServerProcess) -> None:
    node = ray_server.get("/api/compute").json()[0]["id"]
    model_id = small_model(ray_server)
    run = start_run(ray_server, model_id, target=node)
    done = wait_state(ray_server, run["id"], ("completed", "failed"), timeout_s=120)
    assert done["state"] == "completed", done
    assert done["target"] == node and done["step"] == 2000
    refused = ray_server.post(f"/api/models/{model_id}/runs", json={"device": "cuda"})
    assert refused.status_code == 422 and "no device 'cuda'" in refused.json()["detail"]


def test_a_killed_ray_worker_fails_its_run_and_a_new_run_works(ray_server: ServerProcess) -> None:
    model_id = small_model(ray_server)
    run = start_run(ray_server, model_id, pace=0.05)
    running = wait_state(ray_server, run["id"], ("running",), timeout_s=120)
    os.kill(int(running["worker"].rsplit(" pid ", 1)[1]), signal.SIGKILL)
    failed = wait_state(ray_server, run["id"], ("failed", "completed"), timeout_s=30)
    assert failed["state"] == "failed", failed
    assert "Ray worker" in failed["error"] or "no heartbeat" in failed["error"], failed
    again = start_run(ray_server, model_id)
    done = wait_state(ray_server, again["id"], ("completed", "failed"), timeout_s=120)
    assert done["state"] == "completed", done
