"""Runs: what may be run, their states and commands, the watch on their workers, and the
steering of running simulations from their model's document.

Controllers, websocket handlers and jobs share these. A run's worker owns its row while it
runs (state, progress, metrics, logs); the server only creates the row, dispatches it, sends
commands, and marks the run failed when its worker is gone (it exited, or its heartbeat and
its lease ran out).

Dispatching is claimed in PostgreSQL, never in Valkey: the server that dispatches a queued run
holds a lease on it (``claimed_by``, ``lease_until``), renewed every sweep while the run waits
for a worker, then by the worker's heartbeat. Every server sweeps for queued runs whose lease
ran out (their server died before a worker started them) and dispatches them again; one
atomic UPDATE takes each, so two servers sharing the database never both dispatch one run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec
import structlog
from pycrdt import Doc
from valkey.exceptions import ValkeyError

from collab.registry import Rooms
from collab.schema import to_spec
from server.config import Settings
from server.connections import Connections
from server.db.tables import Run, RunLog, RunMetric
from server.domain.datasets import service as datasets
from server.domain.documents.rooms import room_of
from server.domain.documents.service import read_spec
from server.domain.models.service import get_model
from server.domain.runs import keys, messages
from server.domain.runs.executor import (
    Executor,
    Placement,
    UnknownTarget,
    check_placement,
    open_executor,
)
from server.domain.runs.messages import Command, Pause, Resume, StateChanged, Steer, Stop
from server.domain.runs.schemas import (
    ComputeTarget,
    RunCreate,
    RunLogRead,
    RunMetricRead,
    RunOptions,
    RunRead,
)
from server.domain.runs.steering import steering
from simcore.spec import ModelSpec, SpecError, Training, to_si

log = structlog.get_logger(__name__)

DEFAULT_FRAME_S = 0.01


class RunNotFound(LookupError):
    def __init__(self, run_id: UUID):
        super().__init__(f"no run with id {run_id}")


class RunRefused(ValueError):
    """A run that cannot start: nothing was queued. ``errors``: the spec's, if that is why."""

    def __init__(self, message: str, errors: list[SpecError] | None = None):
        super().__init__(message)
        self.errors = errors or []


class WrongState(ValueError):
    """A command the run's state does not allow (pausing a finished run, say)."""


class WorkerUnreachable(RuntimeError):
    """The command could not be sent (Valkey is unreachable); nothing changed."""


def _read(row: dict[str, Any]) -> RunRead:
    options = msgspec.json.decode(_json(row["options"]), type=RunOptions)
    return RunRead(
        id=row["id"],
        model=row["model"],
        kind=row["kind"],
        state=row["state"],
        error=row["error"],
        device=options.device,
        target=options.target,
        worker=row["worker"],
        progress=row["progress"],
        step=row["step"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
    )


def _json(value: Any) -> str | bytes:
    return value if isinstance(value, str | bytes) else msgspec.json.encode(value)


_CLAIM = """
UPDATE runs SET claimed_by = {}, lease_until = now() + make_interval(secs => {})
WHERE state = 'queued' AND (lease_until IS NULL OR lease_until < now())
    AND (options->>'target' IS NULL OR options->>'target' = ANY({}))
    AND options->>'device' = ANY({})
RETURNING id, model, kind, spec, options
"""
"""Take every queued run nobody holds that this server's executor can place (its compute
target, if it chose one, and its device). Concurrent sweeps each lock a row in turn and the
later one sees the lease just set, so each run goes to exactly one server."""

_CLAIM_NEW = """
UPDATE runs SET claimed_by = {}, lease_until = now() + make_interval(secs => {})
WHERE id = {} AND state = 'queued'
"""

_RENEW = """
UPDATE runs SET lease_until = now() + make_interval(secs => {})
WHERE claimed_by = {} AND state = 'queued'
"""

_RELEASE = """
UPDATE runs SET claimed_by = NULL, lease_until = NULL
WHERE claimed_by = {} AND state = 'queued'
"""

_WATCHED = """
SELECT id, COALESCE(lease_until < now(), true) AS lapsed FROM runs
WHERE state IN ('running', 'paused')
"""


def server_name() -> str:
    """This server process, as its claims name it (unique even when a pid is reused)."""
    return f"{socket.gethostname()} pid {os.getpid()} server {uuid4().hex[:8]}"


class Runs:
    """The runs service of one server process (``app.state.runs``)."""

    def __init__(self, settings: Settings, connections: Connections, rooms: Rooms):
        self.settings = settings
        self.valkey = connections.valkey
        self.rooms = rooms
        self.executor: Executor = open_executor(settings, self._worker_ended)
        self.name = server_name()
        self._tasks: set[asyncio.Task[None]] = set()
        self._silent_since: dict[UUID, float] = {}

    async def start(self) -> None:
        await self.executor.start()
        self._spawn(self._watch_heartbeats())
        self._spawn(self._sweep())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.executor.close()
        # What still waited for a worker here goes to the other servers at once, not once
        # its lease runs out.
        with contextlib.suppress(Exception):
            await Run.raw(_RELEASE, self.name)

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---------------------------------------------------------------- creating

    async def create(self, model_id: UUID, data: RunCreate) -> RunRead:
        """Freeze the model's spec and queue a run of it; raises ``ModelNotFound`` or
        ``RunRefused`` (then nothing is queued)."""
        spec = await read_spec(self.rooms, model_id)
        if isinstance(spec, list):
            raise RunRefused("the model's document is not a sound model", spec)
        spec, dataset = self._frozen(spec, data)
        if dataset is not None:
            await _check_dataset(dataset)
        placement = Placement(data.device, data.target)
        try:
            check_placement(await self.executor.targets(), placement)
        except UnknownTarget as error:
            raise RunRefused(str(error)) from None
        if data.kind == "simulate" and data.device != "cpu":
            raise RunRefused(
                f"the spiking engine simulates on CPUs; device {data.device!r} is for training"
            )
        frame_every = DEFAULT_FRAME_S
        if data.frame_every is not None:
            frame_every = _seconds(data.frame_every, "frame_every")
        options = RunOptions(
            device=data.device,
            target=data.target,
            frame_every_s=frame_every,
            pace=data.pace,
            dataset=dataset,
        )
        run_id = uuid4()
        # Claimed as it is made: no other server's sweep ever sees it unclaimed.
        async with Run._meta.db.transaction():
            await Run.insert(
                Run(
                    id=run_id,
                    model=model_id,
                    kind=data.kind,
                    state="queued",
                    spec=msgspec.json.encode(spec).decode(),
                    options=msgspec.json.encode(options).decode(),
                )
            )
            await Run.raw(_CLAIM_NEW, self.name, self.settings.run_lease_s, run_id)
        log.info("run queued", run=str(run_id), model=str(model_id), kind=data.kind)
        await self._dispatch(run_id, model_id, data.kind, spec, placement)
        return await self.get(run_id)

    async def _dispatch(
        self, run_id: UUID, model_id: UUID, kind: str, spec: ModelSpec, placement: Placement
    ) -> None:
        """Hand a run this server has claimed to the executor, and steer it from its model's
        document while it is live."""
        log.info("run dispatched", run=str(run_id), server=self.name)
        try:
            await self.executor.submit(run_id, placement)
        except Exception as error:
            await self._fail(run_id, f"the executor refused the run: {error}")
            raise
        if kind == "simulate":
            self._spawn(self._steer_from_document(run_id, model_id, spec))

    async def _sweep(self) -> None:
        """Keep this server's claims, and dispatch the queued runs nobody holds (their server
        died before a worker started them), now and every ``run_sweep_s``."""
        while True:
            try:
                await Run.raw(_RENEW, self.settings.run_lease_s, self.name)
                targets = await self.executor.targets()
                claimed = await Run.raw(
                    _CLAIM,
                    self.name,
                    self.settings.run_lease_s,
                    [target.id for target in targets],
                    sorted({device for target in targets for device in target.devices}),
                )
            except Exception:
                log.warning("could not sweep the queued runs; will try again", exc_info=True)
                claimed = []
            for row in claimed:
                options = msgspec.json.decode(_json(row["options"]), type=RunOptions)
                spec = msgspec.json.decode(_json(row["spec"]), type=ModelSpec)
                with contextlib.suppress(Exception):  # _dispatch failed the run, and said so
                    await self._dispatch(
                        row["id"],
                        row["model"],
                        row["kind"],
                        spec,
                        Placement(options.device, options.target),
                    )
            await asyncio.sleep(self.settings.run_sweep_s)

    def _frozen(self, spec: ModelSpec, data: RunCreate) -> tuple[ModelSpec, str | None]:
        """The spec as this run runs it (its seed, duration or epochs), and its dataset."""
        simulation = spec.simulation
        if data.seed is not None:
            simulation = msgspec.structs.replace(simulation, seed=data.seed)
        if data.kind == "simulate":
            if spec.kind != "snn":
                raise RunRefused("only spiking models (kind snn) can be simulated; train it")
            if data.epochs is not None or data.dataset is not None:
                raise RunRefused("epochs and dataset are for training runs (kind: train)")
            if data.duration is not None:
                simulation = msgspec.structs.replace(simulation, duration=data.duration)
            if _seconds(simulation.duration, "duration") <= 0:
                raise RunRefused("duration: needs a time > 0")
            return msgspec.structs.replace(spec, simulation=simulation), None
        if data.duration is not None:
            raise RunRefused("duration is for simulation runs; a training run takes epochs")
        training = spec.training or Training()
        if spec.training is None and not spec.layers:
            raise RunRefused("the model has no training section nor layers to train")
        dataset = data.dataset or training.dataset
        if not dataset:
            raise RunRefused("training needs a dataset: set training/dataset or give one")
        training = msgspec.structs.replace(
            training, dataset=dataset, epochs=data.epochs or training.epochs
        )
        return msgspec.structs.replace(spec, simulation=simulation, training=training), dataset

    # ---------------------------------------------------------------- reading

    async def get(self, run_id: UUID) -> RunRead:
        return _read(await self._row(run_id))

    async def _row(self, run_id: UUID) -> dict[str, Any]:
        row = await Run.select(*_COLUMNS).where(Run.id == run_id).first()
        if row is None:
            raise RunNotFound(run_id)
        return row

    async def list_for_model(self, model_id: UUID, limit: int, offset: int) -> list[RunRead]:
        await get_model(model_id)
        rows = await (
            Run.select(*_COLUMNS)
            .where(Run.model == model_id)
            .order_by(Run.created_at, ascending=False)
            .limit(limit)
            .offset(offset)
        )
        return [_read(row) for row in rows]

    async def spec(self, run_id: UUID) -> ModelSpec:
        row = await Run.select(Run.spec).where(Run.id == run_id).first()
        if row is None:
            raise RunNotFound(run_id)
        return msgspec.json.decode(_json(row["spec"]), type=ModelSpec)

    async def logs(self, run_id: UUID, after: int, limit: int) -> list[RunLogRead]:
        await self._row(run_id)
        rows = await (
            RunLog.select()
            .where((RunLog.run == run_id) & (RunLog.id > after))
            .order_by(RunLog.id)
            .limit(limit)
        )
        return [RunLogRead(r["id"], r["level"], r["message"], r["created_at"]) for r in rows]

    async def metrics(
        self, run_id: UUID, name: str | None, after_step: int, limit: int
    ) -> list[RunMetricRead]:
        await self._row(run_id)
        where = (RunMetric.run == run_id) & (RunMetric.step > after_step)
        if name is not None:
            where &= RunMetric.name == name
        rows = await (
            RunMetric.select(RunMetric.step, RunMetric.name, RunMetric.value)
            .where(where)
            .order_by(RunMetric.step)
            .order_by(RunMetric.id)
            .limit(limit)
        )
        return [RunMetricRead(r["step"], r["name"], r["value"]) for r in rows]

    async def targets(self) -> list[ComputeTarget]:
        return await self.executor.targets()

    # ---------------------------------------------------------------- commands

    async def pause(self, run_id: UUID) -> RunRead:
        return await self._command(run_id, Pause(), ("running",), "pause")

    async def resume(self, run_id: UUID) -> RunRead:
        return await self._command(run_id, Resume(), ("paused",), "resume")

    async def stop(self, run_id: UUID) -> RunRead:
        # A run still waiting for a worker stops here; its worker, if one starts, finds it so.
        stopped = (
            await Run.update({Run.state: "stopped", Run.ended_at: datetime.now(UTC)})
            .where((Run.id == run_id) & (Run.state == "queued"))
            .returning(Run.id)
        )
        if stopped:
            return await self.get(run_id)
        return await self._command(run_id, Stop(), ("running", "paused"), "stop")

    async def steer(self, run_id: UUID, changes: list[Steer]) -> RunRead:
        """Send parameter changes to a running simulation (applied from its next chunk)."""
        row = await self._row(run_id)
        if row["kind"] != "simulate":
            raise WrongState("only simulations can be steered")
        for change in changes:
            await self._command(run_id, change, messages.LIVE_STATES, "steer")
        return _read(row)

    async def _command(
        self, run_id: UUID, command: Command, allowed: tuple[str, ...], verb: str
    ) -> RunRead:
        row = await self._row(run_id)
        if row["state"] not in allowed:
            raise WrongState(f"cannot {verb} a run that is {row['state']}")
        try:
            await self.valkey.xadd(
                keys.commands_key(run_id), {keys.COMMAND_FIELD: messages.encode(command)}
            )
        except (ValkeyError, OSError):
            raise WorkerUnreachable(
                f"could not reach the run's worker to {verb} it; try again"
            ) from None
        return _read(row)

    # ---------------------------------------------------------------- workers

    async def _worker_ended(self, run_id: UUID, reason: str) -> None:
        """An executor saw a worker end: a run it left unfinished failed."""
        await self._fail(run_id, reason)

    async def _fail(self, run_id: UUID, reason: str) -> None:
        failed = (
            await Run.update(
                {Run.state: "failed", Run.error: reason, Run.ended_at: datetime.now(UTC)}
            )
            .where((Run.id == run_id) & Run.state.is_in(list(messages.LIVE_STATES)))
            .returning(Run.id)
        )
        if not failed:
            return
        log.warning("run failed", run=str(run_id), reason=reason)
        await RunLog.insert(RunLog(run=run_id, level="error", message=reason))
        with contextlib.suppress(ValkeyError, OSError):
            await self.valkey.xadd(
                keys.events_key(run_id),
                {keys.EVENT_FIELD: messages.encode(StateChanged("failed", reason, time.time()))},
                maxlen=self.settings.run_events_maxlen,
                approximate=True,
            )

    async def _watch_heartbeats(self) -> None:
        """Fail the running runs whose worker stopped beating (any executor, any server).

        A heartbeat counts as gone only once this watcher has seen it missing for a whole
        TTL while Valkey answered: a restarted Valkey has lost every heartbeat, and its
        workers need a moment to set theirs again. And only once the worker's lease in
        PostgreSQL ran out too: a server on another Valkey never sees this one's heartbeats."""
        interval = self.settings.run_heartbeat_s
        ttl = self.settings.run_heartbeat_ttl_s
        while True:
            await asyncio.sleep(interval)
            try:
                rows = await Run.raw(_WATCHED)
                running = [row["id"] for row in rows]
                alive = [await self.valkey.exists(keys.heartbeat_key(r)) for r in running]
            except Exception:
                self._silent_since.clear()  # cannot tell now; start counting afresh
                continue
            now = time.monotonic()
            lapsed = {row["id"] for row in rows if row["lapsed"]}
            silent = {run for run, beating in zip(running, alive, strict=True) if not beating}
            self._silent_since = {run: self._silent_since.get(run, now) for run in silent}
            for run, since in list(self._silent_since.items()):
                if now - since >= ttl and run in lapsed:
                    del self._silent_since[run]
                    await self._fail(
                        run, f"the worker stopped answering (no heartbeat for {ttl:g} s)"
                    )

    # ---------------------------------------------------------------- steering

    async def _steer_from_document(self, run_id: UUID, model_id: UUID, frozen: ModelSpec) -> None:
        """While the run is live, turn edits of whitelisted parameters in the model's
        document into steering commands (``steering``)."""
        applied = frozen
        changed = asyncio.Event()
        while await self._live(run_id):
            try:
                room = await self.rooms.open(room_of(model_id))
            except Exception:
                log.warning("steering: the document could not be opened", exc_info=True)
                await asyncio.sleep(self.settings.run_heartbeat_s)
                continue
            subscription = room.doc.observe(lambda _: changed.set())
            # Compared at once: an edit made while the room was not held here (before it was
            # first opened, or while it was unloaded for idling) is in the state it loaded.
            changed.set()
            try:
                while not room.closed:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), self.settings.run_heartbeat_s)
                    if not changed.is_set():
                        if not await self._live(run_id):
                            return
                        continue
                    changed.clear()
                    doc: Doc = Doc()
                    doc.apply_update(await room.state())
                    now = to_spec(doc)
                    if isinstance(now, list):
                        continue  # mid-edit; steer once the document is sound again
                    commands = steering(frozen, applied, now)
                    applied = now
                    if commands:
                        with contextlib.suppress(WrongState, RunNotFound):
                            await self.steer(run_id, commands)
            except WorkerUnreachable:
                await asyncio.sleep(self.settings.run_heartbeat_s)
            finally:
                with contextlib.suppress(Exception):
                    room.doc.unobserve(subscription)

    async def _live(self, run_id: UUID) -> bool:
        try:
            row = await Run.select(Run.state).where(Run.id == run_id).first()
        except Exception:
            return True  # PostgreSQL is away; the run probably is not
        return row is not None and row["state"] in messages.LIVE_STATES


_COLUMNS = (
    Run.id,
    Run.model,
    Run.kind,
    Run.state,
    Run.error,
    Run.options,
    Run.worker,
    Run.progress,
    Run.step,
    Run.created_at,
    Run.started_at,
    Run.ended_at,
)


def _seconds(value: Any, what: str) -> float:
    try:
        seconds = to_si(value, "time", what)
    except ValueError as error:
        raise RunRefused(str(error)) from None
    if isinstance(seconds, tuple):
        raise RunRefused(f"{what}: needs one time, not one per element")
    return float(seconds)


async def _check_dataset(dataset: str) -> None:
    """A built-in dataset's name or an upload's id."""
    if not await datasets.exists(dataset):
        raise RunRefused(f"unknown dataset {dataset!r}; the datasets are {await datasets.names()}")
