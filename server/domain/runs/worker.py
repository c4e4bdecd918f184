"""A run's worker: one process (local pool or Ray) that runs one run to its end.

It talks to the servers only through Valkey (frames, events, commands, heartbeat: the keys in
``keys``) and storage (the run's row, metrics and logs in PostgreSQL; recordings, weights and
the report in object storage). Valkey may go away and come back meanwhile: frames and events
published while it is gone are lost to live viewers, nothing else is, and the run goes on.
PostgreSQL writes are batched once per heartbeat and retried until they succeed.

``python -m server.domain.runs.worker RUN_ID`` (settings from the environment, as the server's).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec
import psutil
import structlog
from valkey.exceptions import ValkeyError

from server.config import Settings, load_settings
from server.connections import Connections
from server.db.tables import Run, RunLog, RunMetric
from server.domain.datasets import service as datasets
from server.domain.frames.recorder import Recorder
from server.domain.runs import keys, messages
from server.domain.runs.messages import (
    Command,
    LogLine,
    Pause,
    Progress,
    Resume,
    StateChanged,
    Steer,
    Stop,
)
from server.domain.runs.outbox import Outbox
from server.domain.runs.schemas import RunOptions
from server.objects import ObjectStore
from simcore.builtin_datasets import BUILTIN_DATASETS
from simcore.spec import ModelSpec, to_si

log = structlog.get_logger(__name__)

_PENDING_LIMIT = 100_000
"""Metric rows and log lines kept while PostgreSQL is unreachable; older ones are dropped."""
_FINISH_ATTEMPTS = 120
"""Heartbeats a finishing worker waits for PostgreSQL to take its last records."""


class _Stopped(Exception):
    """Raised in the training thread to end a stopped training run."""


class RunGone(RuntimeError):
    """The run was stopped or removed before this worker could start it."""


_EVAL_FRACTION = 0.2
"""The share of a dataset held out to evaluate each epoch (the same samples on every run)."""


def worker_name() -> str:
    return f"{socket.gethostname()} pid {os.getpid()}"


def report_key(run_id: UUID) -> str:
    return f"runs/{run_id}/report.json"


def weights_key(run_id: UUID) -> str:
    return f"runs/{run_id}/weights.safetensors"


class Worker:
    def __init__(self, run_id: UUID, settings: Settings, connections: Connections):
        self.run_id = run_id
        self.settings = settings
        self.connections = connections
        self.valkey = connections.valkey
        self.outbox = Outbox(self.valkey, settings.run_outbox_limit)
        self.state: messages.RunState = "running"
        self.error: str | None = None
        self.stopping = False
        self.progress = 0.0
        self.step = 0
        self._metrics: list[RunMetric] = []
        self._logs: list[RunLog] = []
        self._flushing = asyncio.Lock()
        self._process = psutil.Process()
        self._process.cpu_percent()  # the first call only starts the measurement
        self._simulation: Any = None
        self._paused_at: float | None = None
        self._paused_s = 0.0
        self._last_command = "0-0"
        self._early: list[Steer] = []
        self._unpaused = threading.Event()
        """Clear while a training run is paused (its thread waits between batches)."""

    # ---------------------------------------------------------------- the run

    async def run(self) -> str:
        """Run to the end; the final state."""
        row = await Run.select().where(Run.id == self.run_id).first()
        if row is None:
            raise RunGone(f"no run {self.run_id}")
        spec = msgspec.json.decode(_text(row["spec"]), type=ModelSpec)
        options = msgspec.json.decode(_text(row["options"]), type=RunOptions)
        # The heavy imports first, while the run is still queued: they take seconds of CPU,
        # and once the run is seen running this loop must be free to beat.
        await asyncio.to_thread(_preload, row["kind"])
        await self._beat()  # alive before it is seen running, so the watcher never misses it
        # The lease passes from the server that dispatched the run to this worker, which
        # renews it with every heartbeat; PostgreSQL's clock dates it.
        claimed = await Run.raw(
            _START,
            worker_name(),
            worker_name(),
            datetime.now(UTC),
            self.settings.run_lease_s,
            self.run_id,
        )
        if not claimed:
            await self.valkey.delete(keys.heartbeat_key(self.run_id))
            raise RunGone(f"run {self.run_id} is no longer queued")
        await self._publish(StateChanged("running", at=time.time()))
        self.log("info", f"started on {worker_name()} ({row['kind']}, device {options.device})")
        tasks = [asyncio.create_task(self._heartbeat()), asyncio.create_task(self._commands())]
        try:
            if row["kind"] == "simulate":
                await self.simulate(spec, options)
            else:
                await self.train(spec, options)
            self.state = "failed" if self.error else "stopped" if self.stopping else "completed"
        except Exception as error:
            self.state = "failed"
            self.error = f"{type(error).__name__}: {error}"
            self.log("error", "".join(traceback.format_exception(error)).rstrip())
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self.log("info" if self.state != "failed" else "error", f"{self.state}")
        await self._finish()
        return self.state

    async def simulate(self, spec: ModelSpec, options: RunOptions) -> None:
        import simcore
        from simcore import frames as frame_format

        started = time.perf_counter()
        simulation = await asyncio.to_thread(simcore.build, spec)
        self._simulation = simulation
        # What was asked while it was being built.
        for steer in self._early:
            await self.obey(steer)
        if self.state == "paused":
            simulation.pause()
        self.log("info", f"built in {time.perf_counter() - started:.2f} s")
        sizes = frame_format.monitor_sizes(spec)
        monitored = _monitored_sizes(spec)
        frames = simulation.run(frame_every=options.frame_every_s)
        total = max(1, round(simulation_seconds(spec) / simulation.dt))
        wall_start = time.monotonic()
        spikes: dict[str, int] = {}
        # Every frame streamed is also recorded, for replay (``server.domain.frames``).
        recorder = Recorder(
            self.connections.objects,
            self.run_id,
            chunk_bytes=self.settings.frames_record_chunk_bytes,
            flush_s=self.settings.frames_record_flush_s,
        )
        async with recorder:
            async for frame in _in_thread(frames):
                data = frame_format.from_simulation(str(self.run_id), frame, sizes=sizes)
                await self.outbox.send(
                    keys.frames_key(self.run_id),
                    keys.FRAME_FIELD,
                    data,
                    self.settings.run_frames_maxlen,
                )
                await recorder.add(data)
                for change in frame.changes:
                    self.log(
                        "info",
                        f"{change.kind} of {change.target} = {change.value} "
                        f"from step {change.step}",
                    )
                metrics = _frame_metrics(frame, monitored)
                for monitor, recorded in frame.spikes.items():
                    spikes[monitor] = spikes.get(monitor, 0) + len(recorded)
                self.step = frame.end_step
                self.progress = min(1.0, frame.end_step / total)
                self.record(frame.end_step, metrics)
                await self._publish(Progress(self.progress, self.step, metrics))
                if self.stopping:
                    break  # also a stop that came before the first chunk began
                if options.pace:
                    await self._keep_pace(wall_start, frame.t_end, options.pace)
        report = {
            "steps": simulation.step,
            "time_s": simulation.time,
            "wall_s": time.monotonic() - wall_start,
            "synaptic_events": simulation.synaptic_events,
            "spikes": spikes,
        }
        await self._save_weights(spec, simulation)
        await self.connections.objects.put(report_key(self.run_id), msgspec.json.encode(report))

    async def train(self, spec: ModelSpec, options: RunOptions) -> None:
        """``simcore.train`` in a thread; each epoch is a frame of training metrics, paused
        and stopped between batches."""
        from simcore import frames as frame_format
        from simcore.train.export import save_weights
        from simcore.train.trainer import Progress as Trained
        from simcore.train.trainer import train

        assert spec.training is not None and options.dataset is not None
        dataset, evaluation = await load_dataset(options.dataset, self.connections.objects)
        loop = asyncio.get_running_loop()
        epochs = spec.training.epochs
        self._unpaused.set()

        def on_progress(progress: Trained) -> None:  # in the training thread
            if progress.phase == "epoch":
                loop.call_soon_threadsafe(self._epoch_done, progress, epochs, frame_format)
            self._unpaused.wait()
            if self.stopping:
                raise _Stopped

        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="spikex-run-") as checkpoints:
            try:
                result = await asyncio.to_thread(
                    train,
                    spec,
                    dataset,
                    eval_dataset=evaluation,
                    seed=spec.simulation.seed,
                    device=options.device,
                    epochs=epochs,
                    checkpoint_dir=checkpoints,
                    on_progress=on_progress,
                )
            except _Stopped:
                return
            weights = Path(checkpoints) / "weights.safetensors"
            save_weights(result.model, weights, spec)
            await self.connections.objects.put(weights_key(self.run_id), weights.read_bytes())
        report = {
            "epochs": len(result.metrics.history),
            "wall_s": time.monotonic() - started,
            "device": result.metrics.device,
            "backend": result.metrics.backend,
            "history": msgspec.to_builtins(result.metrics.history),
            "confusion": result.metrics.confusion,
        }
        await self.connections.objects.put(report_key(self.run_id), msgspec.json.encode(report))

    def _epoch_done(self, progress: Any, epochs: int, frame_format: Any) -> None:
        metrics = {
            "loss": progress.loss,
            "accuracy": progress.accuracy,
            "samples_per_s": progress.samples_per_s,
            "memory_bytes": float(progress.memory_bytes),
        }
        if progress.eval_loss is not None:
            metrics["eval_loss"] = progress.eval_loss
        if progress.eval_accuracy is not None:
            metrics["eval_accuracy"] = progress.eval_accuracy
        self.step = progress.epoch + 1
        self.progress = self.step / epochs
        self.record(self.step, metrics)
        self.log(
            "info",
            f"epoch {self.step}/{epochs}: loss {progress.loss:.4g}, "
            f"accuracy {progress.accuracy:.4g} ({progress.device})",
        )
        header = frame_format.Header(
            run=str(self.run_id),
            index=progress.epoch,
            start=progress.epoch,
            end=progress.epoch + 1,
            dt=0.0,
            kinds=("metrics",),
            produced_at=time.time(),
        )
        data = frame_format.encode(header, {f"metrics/{k}": [v] for k, v in metrics.items()})
        for work in (
            self.outbox.send(
                keys.frames_key(self.run_id),
                keys.FRAME_FIELD,
                data,
                self.settings.run_frames_maxlen,
            ),
            self._publish(Progress(self.progress, self.step, metrics)),
        ):
            task = asyncio.get_running_loop().create_task(work)
            _background.add(task)
            task.add_done_callback(_background.discard)

    async def _keep_pace(self, wall_start: float, t_end: float, pace: float) -> None:
        ahead = wall_start + self._paused_s + t_end / pace - time.monotonic()
        if ahead > 0:
            await asyncio.sleep(ahead)

    async def _save_weights(self, spec: ModelSpec, simulation: Any) -> None:
        """Weights that learned (plastic projections) as they ended; the rest are the spec's."""
        plastic = [p.id for p in spec.projections if p.plasticity is not None]
        if not plastic:
            return
        from safetensors.numpy import save

        tensors: dict[str, Any] = {}
        for projection in plastic:
            pre, post, delay, weight = simulation.synapses(projection)
            tensors |= {
                f"{projection}.pre": pre,
                f"{projection}.post": post,
                f"{projection}.delay": delay,
                f"{projection}.weight": weight,
            }
        await self.connections.objects.put(weights_key(self.run_id), save(tensors))

    # ---------------------------------------------------------------- commands

    async def _commands(self) -> None:
        """Obey the commands stream, from its start (a command sent while the run was
        starting counts); Valkey going away only delays them."""
        key = keys.commands_key(self.run_id)
        block_ms = max(1, int(self.settings.run_heartbeat_s * 1000))
        while True:
            try:
                batches = await self.valkey.xread({key: self._last_command}, block=block_ms)
            except (ValkeyError, OSError):
                await asyncio.sleep(self.settings.run_heartbeat_s)
                continue
            for _, entries in batches or []:
                for entry, fields in entries:
                    self._last_command = entry
                    try:
                        command = messages.decode_command(fields[keys.COMMAND_FIELD])
                    except (KeyError, msgspec.DecodeError):
                        self.log("warning", "an unreadable command was ignored")
                        continue
                    await self.obey(command)

    async def obey(self, command: Command) -> None:
        simulation = self._simulation
        match command:
            case Pause() if self.state == "running" and not self.stopping:
                self._unpaused.clear()
                if simulation is not None:
                    simulation.pause()
                self._paused_at = time.monotonic()
                await self._set_state("paused")
            case Resume() if self.state == "paused":
                self._unpaused.set()
                if simulation is not None:
                    simulation.resume()
                if self._paused_at is not None:
                    self._paused_s += time.monotonic() - self._paused_at
                    self._paused_at = None
                await self._set_state("running")
            case Stop():
                self.stopping = True
                self._unpaused.set()
                if simulation is not None:
                    simulation.stop()
                self.log("info", "stop requested")
            case Steer(kind, target, value) if simulation is not None:
                setter = {
                    "rate": simulation.set_rate,
                    "weight_scale": simulation.set_weight_scale,
                    "current": simulation.set_current,
                }[kind]
                try:
                    setter(target, value)
                except (KeyError, ValueError) as error:
                    self.log("warning", f"could not set the {kind} of {target}: {error}")
            case Steer():
                self._early.append(command)

    async def _set_state(self, state: messages.RunState) -> None:
        self.state = state
        await _retrying(
            lambda: Run.update({Run.state: state}).where(
                (Run.id == self.run_id) & Run.state.is_in(["running", "paused"])
            )
        )
        await self._publish(StateChanged(state, at=time.time()))
        self.log("info", state)

    # ---------------------------------------------------------------- records

    def log(self, level: messages.LogLevel, message: str) -> None:
        self._keep(self._logs, RunLog(run=self.run_id, level=level, message=message))
        self._publish_soon(LogLine(level, message, time.time()))

    def record(self, step: int, values: dict[str, float]) -> None:
        for name, value in values.items():
            self._keep(self._metrics, RunMetric(run=self.run_id, step=step, name=name, value=value))

    def _keep(self, pending: list[Any], row: Any) -> None:
        pending.append(row)
        if len(pending) > _PENDING_LIMIT:
            del pending[: len(pending) - _PENDING_LIMIT]

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.run_heartbeat_s)
            await self._beat()
            self.record(
                self.step,
                {
                    "cpu_percent": self._process.cpu_percent(),
                    "memory_bytes": float(self._process.memory_info().rss),
                },
            )
            # Shielded: the heartbeat is cancelled when the run ends, and a write cut off
            # halfway would drop the rows it had taken; ``_finish`` waits for it instead.
            await asyncio.shield(self._flush())

    async def _beat(self) -> None:
        ttl_ms = int(self.settings.run_heartbeat_ttl_s * 1000)
        with contextlib.suppress(ValkeyError, OSError):
            await self.valkey.set(keys.heartbeat_key(self.run_id), worker_name(), px=ttl_ms)

    async def _flush(self) -> bool:
        """Write what waits to PostgreSQL; False (kept for the next try) when it cannot."""
        async with self._flushing:
            return await self._write_pending()

    async def _write_pending(self) -> bool:
        metrics, logs = self._metrics, self._logs
        self._metrics, self._logs = [], []
        try:
            async with Run._meta.db.transaction():
                if metrics:
                    await RunMetric.insert(*metrics)
                if logs:
                    await RunLog.insert(*logs)
                await Run.raw(
                    _RENEW, self.progress, self.step, self.settings.run_lease_s, self.run_id
                )
        except Exception:
            log.warning("could not save the run's records; will try again", exc_info=True)
            self._metrics, self._logs = metrics + self._metrics, logs + self._logs
            return False
        return True

    async def _finish(self) -> None:
        """The final state, with everything recorded before it, in PostgreSQL (and every frame
        and event before it in Valkey)."""
        await self.outbox.drain()
        for _ in range(_FINISH_ATTEMPTS):
            if await self._flush():
                break
            await asyncio.sleep(self.settings.run_heartbeat_s)
        await _retrying(
            lambda: Run.update(
                {Run.state: self.state, Run.error: self.error, Run.ended_at: datetime.now(UTC)}
            ).where((Run.id == self.run_id) & Run.state.is_in(list(messages.LIVE_STATES)))
        )
        await self._publish(StateChanged(self.state, self.error, time.time()))
        await self.outbox.close()
        ttl_ms = int(self.settings.run_streams_ttl_s * 1000)
        with contextlib.suppress(ValkeyError, OSError):
            async with self.valkey.pipeline(transaction=False) as pipe:
                for key in (keys.frames_key, keys.events_key, keys.commands_key):
                    pipe.pexpire(key(self.run_id), ttl_ms)
                pipe.delete(keys.heartbeat_key(self.run_id))
                await pipe.execute()

    async def _publish(self, event: messages.RunEvent) -> None:
        await self.outbox.send(
            keys.events_key(self.run_id),
            keys.EVENT_FIELD,
            messages.encode(event),
            self.settings.run_events_maxlen,
        )

    def _publish_soon(self, event: messages.RunEvent) -> None:
        with contextlib.suppress(RuntimeError):  # no loop: nobody is watching yet
            task = asyncio.get_running_loop().create_task(self._publish(event))
            _background.add(task)
            task.add_done_callback(_background.discard)


_background: set[asyncio.Task[None]] = set()

_START = """
UPDATE runs SET state = 'running', worker = {}, claimed_by = {}, started_at = {},
    lease_until = now() + make_interval(secs => {})
WHERE id = {} AND state = 'queued'
RETURNING id
"""

_RENEW = """
UPDATE runs SET progress = {}, step = {}, lease_until = now() + make_interval(secs => {})
WHERE id = {}
"""


async def _retrying(write: Any, interval_s: float = 0.5, attempts: int = 120) -> Any:
    """A PostgreSQL write that must happen, tried until it does (about a minute)."""
    for attempt in range(attempts):
        try:
            return await write()
        except Exception:
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(interval_s)
    return None


async def _in_thread(frames: Iterator[Any]) -> Any:
    """The frames of a run, each chunk computed in a thread (the engine releases the GIL),
    so the event loop keeps obeying commands and beating meanwhile (even while paused)."""
    done = object()
    while True:
        frame = await asyncio.to_thread(next, frames, done)
        if frame is done:
            return
        yield frame


def _preload(kind: str) -> None:
    """Import what a run of ``kind`` needs (torch's compiler stack is what the first
    optimizer of a training run would otherwise import, in the middle of the run)."""
    needs = (
        ["simcore", "torch._dynamo", "simcore.train.trainer"] if kind == "train" else ["simcore"]
    )
    for module in needs:
        importlib.import_module(module)


async def load_dataset(name: str, objects: ObjectStore) -> tuple[Any, Any]:
    """The training and evaluation sets of dataset ``name`` (a built-in's name or an
    upload's id, its files read from object storage), as Torch datasets of ``(x, label)``,
    split the same way on every run."""
    from simcore.train.datasets import builtin, split

    if name in BUILTIN_DATASETS:
        dataset = await asyncio.to_thread(builtin, name)
    else:
        dataset = await datasets.open_upload(objects, UUID(name))
    return split(dataset, _EVAL_FRACTION, seed=0)


def simulation_seconds(spec: ModelSpec) -> float:
    """The spec's duration (the service checked it is one time)."""
    duration = to_si(spec.simulation.duration, "time", "simulation/duration")
    assert isinstance(duration, float | int)
    return float(duration)


def _monitored_sizes(spec: ModelSpec) -> dict[str, int]:
    sizes = {population.id: population.size for population in spec.populations}
    return {
        monitor.id: len(monitor.neurons) if monitor.neurons is not None else sizes[monitor.target]
        for monitor in spec.monitors
    }


def _frame_metrics(frame: Any, sizes: dict[str, int]) -> dict[str, float]:
    span = (frame.end_step - frame.start_step) * frame.dt
    metrics: dict[str, float] = {}
    for monitor, spikes in frame.spikes.items():
        if span > 0 and sizes.get(monitor):
            metrics[f"rate_hz/{monitor}"] = len(spikes) / (sizes[monitor] * span)
    for monitor, rates in frame.rates.items():
        if rates.hz.size:
            metrics[f"rate_hz/{monitor}"] = float(rates.hz.mean())
    if frame.wall_s > 0:
        metrics["steps_per_s"] = (frame.end_step - frame.start_step) / frame.wall_s
        metrics["realtime_factor"] = span / frame.wall_s
        metrics["synaptic_events_per_s"] = frame.synaptic_events / frame.wall_s
    return metrics


def _text(value: Any) -> str | bytes:
    return value if isinstance(value, str | bytes) else msgspec.json.encode(value)


async def execute(run_id: UUID, settings: Settings | None = None) -> str:
    """Run ``run_id`` to its end (the final state); what the executors call."""
    settings = settings or load_settings()
    connections = await Connections.open(settings)
    try:
        worker = Worker(run_id, settings, connections)
        loop = asyncio.get_running_loop()
        # SIGTERM (the server shutting down, Ray cancelling): end like a stop, recorded.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGTERM, lambda: _terminate(worker))
        return await worker.run()
    finally:
        await connections.close()


def _terminate(worker: Worker) -> None:
    worker.error = "the worker was terminated (SIGTERM) before the run ended"
    task = asyncio.get_running_loop().create_task(worker.obey(Stop()))
    _background.add(task)
    task.add_done_callback(_background.discard)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m server.domain.runs.worker RUN_ID", file=sys.stderr)
        sys.exit(2)
    try:
        state = asyncio.run(execute(UUID(argv[0])))
    except RunGone as gone:
        print(str(gone), file=sys.stderr)
        sys.exit(0)
    sys.exit(0 if state != "failed" else 1)


if __name__ == "__main__":
    main()
