"""What crosses ``/ws/runs/{run_id}/frames`` as JSON text (frames themselves are binary,
``simcore.frames``): the control messages a viewer sends and the notices the server sends."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

Step = Annotated[int, msgspec.Meta(ge=0)]
Positive = Annotated[int, msgspec.Meta(ge=1)]


class _Control(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="type"):
    pass


class Select(_Control, tag="select"):
    """Full resolution for ``neurons`` (per monitor; none: everything at full resolution),
    the rest of each spike monitor as a raster of ``rows`` x ``columns`` bins per frame and a
    population rate per row."""

    neurons: dict[str, list[Annotated[int, msgspec.Meta(ge=0)]]] | None = None
    rows: Positive = 10
    columns: Positive = 256


class Seek(_Control, tag="seek"):
    """Replay: go on from the frame holding ``step``."""

    step: Step


class Speed(_Control, tag="speed"):
    """Replay: biological seconds per second of wall time."""

    speed: Annotated[float, msgspec.Meta(gt=0)]


class Pause(_Control, tag="pause"):
    """Replay: hold; live: pause the run (editors only)."""


class Resume(_Control, tag="resume"):
    pass


class Stop(_Control, tag="stop"):
    """Live: stop the run (editors only)."""


Control = Select | Seek | Speed | Pause | Resume | Stop
decode_control = msgspec.json.Decoder(Control).decode


class Hello(msgspec.Struct, frozen=True, tag_field="type", tag="hello"):
    run: str
    model: str
    state: str
    mode: Literal["live", "replay"]
    role: str
    """What this viewer may do: ``editor`` may pause, resume and stop a live run."""


class Metrics(msgspec.Struct, frozen=True, tag_field="type", tag="metrics"):
    """Recent progress of a live run: ``[step, {name: value}]``, oldest first."""

    recent: list[tuple[int, dict[str, float]]]


class RunState(msgspec.Struct, frozen=True, tag_field="type", tag="state"):
    state: str
    error: str | None = None


class ReplayStatus(msgspec.Struct, frozen=True, tag_field="type", tag="replay"):
    position: int
    """The step the replay is at."""
    start: int
    end: int
    speed: float
    paused: bool
    done: bool = False


class Notice(msgspec.Struct, frozen=True, tag_field="type", tag="error"):
    """A control message that was understood but could not be obeyed (the socket stays)."""

    message: str


ServerMessage = Hello | Metrics | RunState | ReplayStatus | Notice
encode_message = msgspec.json.Encoder().encode
