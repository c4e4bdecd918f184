"""A real ``spikex run`` process for tests, reached over a real socket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from server.config import ENVIRONMENT
from server.embedded import free_port

START_TIMEOUT_S = 90.0


def clean_environment(**extra: str) -> dict[str, str]:
    """The test runner's environment without any SPIKE-X or S3 setting, plus ``extra``."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in ENVIRONMENT and not key.startswith("AWS_")
    }
    environ.update(extra)
    return environ


def spikex_command(*arguments: str) -> list[str]:
    """The installed ``spikex`` command, from the environment running the tests."""
    return [str(Path(sys.executable).parent / "spikex"), *arguments]


class ServerProcess:
    """``spikex run`` (or ``command``) with the given environment, its output kept in
    ``log_path``."""

    def __init__(
        self, data_dir: Path, environ: Mapping[str, str], command: list[str] | None = None
    ):
        self.command = command or spikex_command("run")
        self.port = free_port()
        self.data_dir = data_dir
        self.log_path = data_dir.parent / f"{data_dir.name}-server-{self.port}.log"
        self.environ = clean_environment(
            SPIKEX_DATA_DIR=str(data_dir),
            SPIKEX_PORT=str(self.port),
            SPIKEX_SERVICE_CHECK_INTERVAL_S="0.5",
            **environ,
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = START_TIMEOUT_S) -> ServerProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                env=self.environ,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"spikex run exited with {self.process.returncode}:\n{self.output()}"
                )
            try:
                if httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"spikex run was not healthy within {timeout_s} s:\n{self.output()}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, stop_signal: signal.Signals = signal.SIGTERM, timeout_s: float = 30) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(stop_signal)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=10, **kwargs)  # type: ignore[arg-type]

    def post(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", timeout=10, **kwargs)  # type: ignore[arg-type]


def wait_for(predicate, timeout_s: float, interval_s: float = 0.2):  # type: ignore[no-untyped-def]
    """Poll ``predicate`` until it returns a truthy value (returned) or time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval_s)
