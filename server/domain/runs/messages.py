"""What crosses between the servers and a run's worker (through the Valkey keys in ``keys``),
msgpack-encoded: the commands a worker obeys and the events it publishes."""

from __future__ import annotations

from typing import Literal

import msgspec

RunState = Literal["queued", "running", "paused", "completed", "stopped", "failed"]
FINAL_STATES: frozenset[str] = frozenset({"completed", "stopped", "failed"})
LIVE_STATES: tuple[str, ...] = ("queued", "running", "paused")

SteerKind = Literal["rate", "weight_scale", "current"]
LogLevel = Literal["debug", "info", "warning", "error"]


class Pause(msgspec.Struct, frozen=True, tag="pause"):
    """Hold the run before its next chunk."""


class Resume(msgspec.Struct, frozen=True, tag="resume"):
    pass


class Stop(msgspec.Struct, frozen=True, tag="stop"):
    """End the run after the chunk in progress (state ``stopped``)."""


class Steer(msgspec.Struct, frozen=True, tag="steer"):
    """A parameter change, applied from the next chunk (the frame that starts there lists it
    with its step). ``value``: Hz for ``rate`` (one, or one per input), a factor of the
    projection's weights as the run started for ``weight_scale``, amperes for ``current``."""

    kind: SteerKind
    target: str
    """The stimulus or projection id."""
    value: float | tuple[float, ...]


Command = Pause | Resume | Stop | Steer


class StateChanged(msgspec.Struct, frozen=True, tag="state"):
    state: RunState
    error: str | None = None
    at: float = 0.0
    """Unix time."""


class Progress(msgspec.Struct, frozen=True, tag="progress"):
    """After each frame (simulation) or each epoch (training)."""

    fraction: float
    step: int
    """Steps (simulation) or epochs (training) done."""
    metrics: dict[str, float] = {}


class LogLine(msgspec.Struct, frozen=True, tag="log"):
    level: LogLevel
    message: str
    at: float = 0.0


RunEvent = StateChanged | Progress | LogLine

encode = msgspec.msgpack.Encoder().encode
decode_command = msgspec.msgpack.Decoder(Command).decode
decode_event = msgspec.msgpack.Decoder(RunEvent).decode
