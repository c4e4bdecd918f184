"""Where runs execute: one interface, two implementations.

``LocalExecutor`` (the default) runs each run in its own worker process on this machine, at
most ``SPIKEX_RUN_WORKERS`` at once; ``RayExecutor`` (``SPIKEX_EXECUTOR=ray://host:port``)
hands each run to a Ray cluster as a task whose resource request (a GPU for a ``cuda`` run,
the chosen node) places it. Either way the worker (``worker.py``) and the server talk only
through Valkey and storage; the executor only starts workers, and says when one ended
without finishing its run (``on_exit``), so the run is marked failed at once rather than when
its heartbeat runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Protocol
from uuid import UUID

import msgspec
import psutil
import structlog

from server.config import ENVIRONMENT, Settings
from server.connections import StartupError
from server.domain.runs.schemas import ComputeTarget
from server.embedded import _die_with_parent

log = structlog.get_logger(__name__)

OnExit = Callable[[UUID, str], Awaitable[None]]
"""Called with a run and why its worker ended, when a worker ended (the run may be done)."""

_STDERR_TAIL = 2000
"""Characters of a dead worker's error output kept for its run's error."""


class Placement(msgspec.Struct, frozen=True):
    device: str
    target: str | None


class UnknownTarget(ValueError):
    """A device or compute target the executor does not have."""


class Executor(Protocol):
    async def start(self) -> None: ...

    async def targets(self) -> list[ComputeTarget]: ...

    async def submit(self, run_id: UUID, placement: Placement) -> None:
        """Start the run's worker now or when there is room (it waits, queued)."""
        ...

    async def close(self) -> None:
        """Stop the workers this server started (their runs fail: interrupted)."""
        ...


def open_executor(settings: Settings, on_exit: OnExit) -> Executor:
    if settings.executor.startswith("ray://"):
        return RayExecutor(settings, on_exit)
    return LocalExecutor(settings, on_exit)


def check_placement(targets: list[ComputeTarget], placement: Placement) -> None:
    """Raise ``UnknownTarget`` unless some target (the chosen one) has the device."""
    if placement.target is not None:
        chosen = [target for target in targets if target.id == placement.target]
        if not chosen:
            known = ", ".join(target.id for target in targets)
            raise UnknownTarget(f"no compute target {placement.target!r} (there are: {known})")
        targets = chosen
    if not any(placement.device in target.devices for target in targets):
        where = f"on {placement.target}" if placement.target else "anywhere"
        have = sorted({device for target in targets for device in target.devices})
        raise UnknownTarget(
            f"there is no device {placement.device!r} {where} (there are: {', '.join(have)})"
        )


def worker_environment(settings: Settings) -> dict[str, str]:
    """What a worker needs to reach the services this server uses."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if key in ENVIRONMENT or key.startswith("AWS_")
    }
    environ.update(
        {
            "DATABASE_URL": settings.database_url or "",
            "VALKEY_URL": settings.valkey_url or "",
            "OBJECT_STORE_URL": settings.effective_object_store_url,
            "SPIKEX_DATA_DIR": str(settings.data_dir),
        }
    )
    return environ


def _gpus() -> int:
    """NVIDIA GPUs on this machine (without loading torch into the server)."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return 0
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in listed.stdout.splitlines())


class LocalExecutor:
    """A pool of worker processes on this machine."""

    def __init__(self, settings: Settings, on_exit: OnExit):
        self.settings = settings
        self.on_exit = on_exit
        self._slots = asyncio.Semaphore(settings.run_workers)
        self._runs: set[asyncio.Task[None]] = set()
        self._processes: dict[UUID, asyncio.subprocess.Process] = {}
        self._gpus = 0

    async def start(self) -> None:
        self._gpus = await asyncio.to_thread(_gpus)

    async def targets(self) -> list[ComputeTarget]:
        devices = ["cpu"]
        if self._gpus:
            devices += ["cuda", *(f"cuda:{index}" for index in range(self._gpus))]
        return [
            ComputeTarget(
                id="local",
                executor="local",
                node=socket.gethostname(),
                devices=devices,
                resources={
                    "CPU": float(os.cpu_count() or 1),
                    "GPU": float(self._gpus),
                    "memory": float(psutil.virtual_memory().total),
                    "workers": float(self.settings.run_workers),
                },
            )
        ]

    async def submit(self, run_id: UUID, placement: Placement) -> None:
        task = asyncio.create_task(self._run(run_id, placement))
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)

    async def _run(self, run_id: UUID, placement: Placement) -> None:
        async with self._slots:
            environ = {**os.environ, **worker_environment(self.settings)}
            try:
                process = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "server.domain.runs.worker",
                    str(run_id),
                    env=environ,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    # A worker dies with the server: its runs are marked failed, not orphaned.
                    preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                )
            except OSError as error:
                await self.on_exit(run_id, f"the worker could not start: {error}")
                return
            self._processes[run_id] = process
            log.info("worker started", run=str(run_id), pid=process.pid)
            try:
                assert process.stderr is not None
                errors = b""
                while chunk := await process.stderr.read(65536):
                    errors = (errors + chunk)[-_STDERR_TAIL:]
                code = await process.wait()
            finally:
                del self._processes[run_id]
            log.info("worker ended", run=str(run_id), pid=process.pid, code=code)
            await self.on_exit(run_id, _exit_reason(code, errors))

    async def close(self) -> None:
        for process in list(self._processes.values()):
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        if self._runs:
            _, running = await asyncio.wait(self._runs, timeout=self.settings.connect_timeout_s)
            for process in list(self._processes.values()):
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)


def _exit_reason(code: int, errors: bytes) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"the worker process was killed by {signal.Signals(-code).name}"
        return f"the worker process was killed by signal {-code}"
    tail = errors.decode(errors="replace").strip()[-_STDERR_TAIL:]
    return f"the worker process exited with code {code}" + (f": {tail}" if tail else "")


def _ray_worker(run_id: str, environ: dict[str, str]) -> str:
    """A Ray task: run one run in this Ray worker process."""
    os.environ.update(environ)
    from server.config import load_settings
    from server.domain.runs.worker import RunGone, execute

    try:
        return asyncio.run(execute(UUID(run_id), load_settings()))
    except RunGone:
        return "gone"


class RayExecutor:
    """Runs as tasks of a Ray cluster. The server connects as a driver to the cluster's GCS
    address, so it runs on one of the cluster's nodes (``ray start --address=...`` there)."""

    def __init__(self, settings: Settings, on_exit: OnExit):
        self.settings = settings
        self.on_exit = on_exit
        self.address = settings.executor.removeprefix("ray://")
        self._runs: dict[UUID, asyncio.Task[None]] = {}

    async def start(self) -> None:
        # Ray reads this when it is imported. Without it, a server with a `uv run` ancestor
        # (`just run`) has Ray start every worker with `uv run` in a copy of the server's
        # working directory: a new, empty project environment without Ray, so no worker ever
        # registers and every run stays queued. The workers use the node's own environment.
        os.environ["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] = "0"
        import ray

        # ray.init blocks; once, at start-up, before any request.
        try:
            await asyncio.to_thread(
                ray.init,
                address=self.address,
                namespace="spikex",
                log_to_driver=False,
                logging_level=logging.WARNING,
                configure_logging=False,
            )
        except Exception as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise StartupError(
                f"SPIKEX_EXECUTOR ({self.settings.executor}): cannot join the Ray cluster: "
                f"{type(error).__name__}: {first}"
            ) from None

    async def targets(self) -> list[ComputeTarget]:
        import ray

        nodes = await asyncio.to_thread(ray.nodes)
        targets = []
        for node in nodes:
            if not node.get("Alive"):
                continue
            resources = {
                name: float(value)
                for name, value in node.get("Resources", {}).items()
                if not name.startswith("node:")
            }
            gpus = int(resources.get("GPU", 0))
            targets.append(
                ComputeTarget(
                    id=f"ray:{node['NodeID']}",
                    executor="ray",
                    node=node.get("NodeManagerAddress", ""),
                    # Ray picks the GPU and shows the task only that one: "cuda".
                    devices=["cpu", "cuda"] if gpus else ["cpu"],
                    resources=resources,
                )
            )
        return targets

    async def submit(self, run_id: UUID, placement: Placement) -> None:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        options: dict[str, object] = {
            "num_cpus": 1,
            "num_gpus": 1 if placement.device == "cuda" else 0,
            "max_retries": 0,
            "name": f"spikex-run-{run_id}",
        }
        if placement.target is not None:
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(
                placement.target.removeprefix("ray:"), soft=False
            )
        task = ray.remote(_ray_worker).options(**options)
        reference = task.remote(str(run_id), worker_environment(self.settings))
        watching = asyncio.create_task(self._watch(run_id, reference))
        self._runs[run_id] = watching
        watching.add_done_callback(lambda _: self._runs.pop(run_id, None))

    async def _watch(self, run_id: UUID, reference: object) -> None:
        try:
            state = await reference  # type: ignore[misc]
        except asyncio.CancelledError:
            raise
        except Exception as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
            await self.on_exit(run_id, f"the Ray worker failed: {type(error).__name__} {reason}")
            return
        await self.on_exit(run_id, f"the Ray worker ended ({state})")

    async def close(self) -> None:
        import ray

        for watching in list(self._runs.values()):
            watching.cancel()
        await asyncio.to_thread(ray.shutdown)
