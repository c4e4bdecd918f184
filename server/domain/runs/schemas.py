"""Wire types of the runs API, and what a run stores besides its spec."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from server.domain.runs.messages import RunState, Steer
from simcore.spec import SpecError, Value

RunKind = Literal["simulate", "train"]
Device = Annotated[str, msgspec.Meta(pattern=r"^(cpu|cuda(:[0-9]+)?)$")]
Pace = Annotated[float, msgspec.Meta(gt=0)]


class RunCreate(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    kind: RunKind = "simulate"
    duration: Value | None = None
    """Simulate: biological time to run (default: the model's ``simulation/duration``)."""
    epochs: Annotated[int, msgspec.Meta(ge=1)] | None = None
    """Train: epochs (default: the model's ``training/epochs``)."""
    dataset: str | None = None
    """Train: the dataset (default: the model's ``training/dataset``)."""
    device: Device = "cpu"
    """``cpu``, ``cuda`` (any GPU of the target) or ``cuda:N``."""
    seed: int | None = None
    """Default: the model's ``simulation/seed``."""
    target: str | None = None
    """A compute target id from ``GET /api/compute``; none: wherever the executor likes."""
    frame_every: Value | None = None
    """Simulate: biological time per frame (default 10 ms)."""
    pace: Pace | None = None
    """Simulate: biological seconds per second of wall time (1: real time); none: as fast
    as the engine goes."""


class RunRefusal(msgspec.Struct, frozen=True):
    """Why a run was not queued (422)."""

    detail: str
    errors: list[SpecError]
    """What is wrong in the model's document, each with its path (when that is why)."""


class RunOptions(msgspec.Struct, frozen=True, kw_only=True):
    """What a run was asked for besides its spec (which holds its duration, epochs, seed)."""

    device: str
    target: str | None
    frame_every_s: float
    pace: float | None
    dataset: str | None = None


class RunRead(msgspec.Struct, frozen=True):
    id: UUID
    model: UUID
    kind: RunKind
    state: RunState
    error: str | None
    device: str
    target: str | None
    worker: str | None
    """Where it runs (host and process id), once it started."""
    progress: float
    """0 to 1."""
    step: int
    """Steps (simulate) or epochs (train) done."""
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None


class RunLogRead(msgspec.Struct, frozen=True):
    id: int
    level: str
    message: str
    at: datetime


class RunMetricRead(msgspec.Struct, frozen=True):
    step: int
    name: str
    value: float


class SteerRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    changes: list[Steer]


class ComputeTarget(msgspec.Struct, frozen=True):
    """Somewhere a run can execute: this machine, or one node of a Ray cluster."""

    id: str
    executor: Literal["local", "ray"]
    node: str
    """Host name or address."""
    devices: list[str]
    """What a run's ``device`` may be here."""
    resources: dict[str, float]
    """CPU (cores), GPU (count), memory (bytes), and for Ray its other resources."""
