"""``spikex run`` with nothing configured: what ``just run`` does on a new machine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import httpx

from server.embedded import free_port
from tests.servers import ServerProcess, clean_environment, spikex_command, wait_for

RECOVERY_WITHIN_S = 30.0


def services_state(data_dir: Path) -> dict[str, dict[str, object]]:
    return json.loads((data_dir / "services.json").read_text())["services"]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def healthy(server: ServerProcess) -> bool:
    try:
        return server.get("/api/health").status_code == 200
    except httpx.TransportError:
        return False


def test_embedded_services_serve_stop_cleanly_and_keep_their_data(data_dir: Path) -> None:
    first = ServerProcess(data_dir, {}).start()
    try:
        report = first.get("/api/health").json()
        assert report["status"] == "ok"
        assert {s["name"]: s["embedded"] for s in report["services"]} == {
            "postgres": True,
            "valkey": True,
            "objects": True,
        }
        model = first.post("/api/models", json={"name": "kept across restarts"}).json()
        children = [int(service["pid"]) for service in services_state(data_dir).values()]
        assert len(children) == 2

        second = subprocess.run(
            spikex_command("run"),
            env=clean_environment(SPIKEX_DATA_DIR=str(data_dir), SPIKEX_PORT=str(free_port())),
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert second.returncode != 0
        assert "is in use by another SPIKE-X" in second.stderr.strip().splitlines()[-1]
        assert healthy(first), "the refused second start must not disturb the first"
    finally:
        code = first.stop(signal.SIGINT)
    assert code == 0, first.output()
    assert not any(pid_alive(pid) for pid in children), "Ctrl-C stops what it started"
    assert "Traceback" not in first.output()

    again = ServerProcess(data_dir, {}).start()
    try:
        assert again.get(f"/api/models/{model['id']}").json() == model
    finally:
        assert again.stop() == 0


def test_a_dead_embedded_service_is_restarted_without_restarting_the_server(data_dir: Path) -> None:
    server = ServerProcess(data_dir, {}).start()
    try:
        for name in ("valkey", "postgres"):
            pid = int(services_state(data_dir)[name]["pid"])  # type: ignore[arg-type]
            os.kill(pid, signal.SIGKILL)
            assert wait_for(lambda pid=pid: not pid_alive(pid), 10)
            assert wait_for(lambda: healthy(server), RECOVERY_WITHIN_S), server.output()
        created = server.post("/api/models", json={"name": "after the outage"})
        assert created.status_code == 201
    finally:
        server.stop()
