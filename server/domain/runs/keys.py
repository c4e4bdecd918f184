"""The Valkey keys a run's worker and the servers share, named only here.

- ``frames_key``: a capped stream; the worker XADDs each encoded frame (``simcore.frames``)
  under the field ``FRAME_FIELD`` (MAXLEN ~ ``Settings.run_frames_maxlen``).
- ``events_key``: a capped stream of ``messages.RunEvent`` (msgpack) under ``EVENT_FIELD``:
  state changes, progress, metrics and log lines, as they happen (PostgreSQL keeps them).
- ``commands_key``: a stream of ``messages.Command`` (msgpack) under ``COMMAND_FIELD``,
  read by the worker between chunks (pause, resume, stop, steer).
- ``heartbeat_key``: a key the worker refreshes with a TTL while it is alive.
"""

from __future__ import annotations

from uuid import UUID

PREFIX = "spikex:run"

FRAME_FIELD = b"frame"
EVENT_FIELD = b"event"
COMMAND_FIELD = b"command"


def frames_key(run_id: UUID | str) -> str:
    return f"{PREFIX}:{run_id}:frames"


def events_key(run_id: UUID | str) -> str:
    return f"{PREFIX}:{run_id}:events"


def commands_key(run_id: UUID | str) -> str:
    return f"{PREFIX}:{run_id}:commands"


def heartbeat_key(run_id: UUID | str) -> str:
    return f"{PREFIX}:{run_id}:heartbeat"
