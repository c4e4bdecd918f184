"""``/ws/runs/{run_id}/frames``: a run's frames for one viewer, live from the run's feed or, for a
finished run, replayed from its recording. Binary messages are frames (``docs/frames.md``), text
messages JSON notices; the viewer steers with JSON control messages (``schemas.Control``)."""

from __future__ import annotations

import asyncio
import contextlib
from uuid import UUID

import msgspec
from litestar import WebSocket, websocket

from collab.protocol import Refused
from server.config import Settings
from server.domain.documents.sharing import Sharing
from server.domain.frames.downsample import selection_of
from server.domain.frames.hub import FrameHub
from server.domain.frames.recorder import Recording
from server.domain.frames.replay import Replay
from server.domain.frames.schemas import (
    Control,
    Hello,
    Notice,
    Pause,
    Resume,
    Seek,
    Select,
    Speed,
    Stop,
    decode_control,
)
from server.domain.frames.viewer import Viewer, cancel
from server.domain.runs.messages import FINAL_STATES
from server.domain.runs.service import RunNotFound, Runs, WorkerUnreachable, WrongState
from server.websocket_direct import capture, direct_of

UNKNOWN_RUN = 4404
BAD_CONTROL = 4400
TOO_BIG = 1009
_MAX_REASON_BYTES = 123  # the WebSocket protocol's limit


class _Closed(Exception):
    def __init__(self, code: int, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


@websocket("/ws/runs/{run_id:str}/frames", middleware=[capture])
async def frames_socket(socket: WebSocket, run_id: str, token: str | None = None) -> None:
    """``?token=`` is a share token of the run's model (``POST /api/models/{id}/share``); an
    ``editor`` may pause, resume and stop a live run from here, others only watch."""
    await socket.accept()
    state = socket.app.state
    settings: Settings = state.connections.settings
    runs: Runs = state.runs
    hub: FrameHub = state.frames
    sharing: Sharing = state.sharing

    async def send(message: bytes | str) -> None:
        if isinstance(message, str):
            await socket.send_text(message)
        else:
            await socket.send_bytes(message)

    direct = direct_of(socket.scope)
    if direct is not None:
        direct.limit_buffers(settings.frames_send_buffer_bytes)
    viewer = Viewer(send, direct)
    tasks: list[asyncio.Task[None]] = []
    replay: Replay | None = None
    live: UUID | None = None
    try:
        try:
            rid = UUID(run_id)
        except ValueError:
            raise _Closed(UNKNOWN_RUN, f"no run with id {run_id}") from None
        try:
            run = await runs.get(rid)
        except RunNotFound:
            raise _Closed(UNKNOWN_RUN, f"no run with id {run_id}") from None
        try:
            role = sharing.role(run.model, token)
        except Refused as refusal:
            raise _Closed(refusal.code, refusal.reason) from None
        tasks.append(asyncio.create_task(viewer.write()))
        if run.state in FINAL_STATES:
            recording = await Recording.open(state.connections.objects, rid)
            if recording is None or not recording.index.chunks:
                raise _Closed(UNKNOWN_RUN, f"run {run_id} ({run.state}) has no recording")
            viewer.notify(Hello(str(rid), str(run.model), run.state, "replay", role))
            replay = Replay(recording, viewer)
            tasks.append(asyncio.create_task(replay.run()))
        else:
            viewer.notify(Hello(str(rid), str(run.model), run.state, "live", role))
            live = rid
            await hub.join(rid, viewer)
        while True:
            event = await socket.receive()
            if event["type"] == "websocket.disconnect":
                return
            raw = event.get("text") or event.get("bytes") or b""
            if len(raw) > settings.frames_max_control_bytes:
                raise _Closed(
                    TOO_BIG, f"control message over {settings.frames_max_control_bytes} bytes"
                )
            try:
                control = decode_control(raw)
            except msgspec.DecodeError as error:
                raise _Closed(BAD_CONTROL, f"bad control message: {error}") from None
            await _obey(control, viewer, replay, rid, role, runs, settings)
    except _Closed as closed:
        for task in tasks:
            await cancel(task)
        tasks.clear()
        reason = closed.reason.encode()[:_MAX_REASON_BYTES].decode(errors="ignore")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                socket.close(closed.code, reason), settings.frames_close_timeout_s
            )
    except Exception:
        # The socket went away under a send or a receive: nothing to tell anyone.
        pass
    finally:
        for task in tasks:
            await cancel(task)
        if live is not None:
            await hub.leave(live, viewer)


async def _obey(
    control: Control,
    viewer: Viewer,
    replay: Replay | None,
    run_id: UUID,
    role: str,
    runs: Runs,
    settings: Settings,
) -> None:
    if isinstance(control, Select):
        try:
            viewer.selection = selection_of(control, settings)
        except ValueError as error:
            raise _Closed(BAD_CONTROL, str(error)) from None
        return
    if isinstance(control, Speed) and control.speed > settings.frames_max_replay_speed:
        raise _Closed(BAD_CONTROL, f"speed: at most {settings.frames_max_replay_speed:g}")
    if replay is not None:
        if isinstance(control, Seek):
            replay.seek(control.step)
        elif isinstance(control, Speed):
            replay.set_speed(control.speed)
        elif isinstance(control, Pause):
            replay.pause()
        elif isinstance(control, Resume):
            replay.resume()
        else:
            viewer.notify(Notice("a replay cannot be stopped; close the socket"))
        return
    if isinstance(control, Seek | Speed):
        viewer.notify(Notice(f"{type(control).__name__.lower()} is for replays of finished runs"))
        return
    if role != "editor":
        viewer.notify(Notice(f"a {role} cannot pause, resume or stop the run"))
        return
    command = {Pause: runs.pause, Resume: runs.resume, Stop: runs.stop}[type(control)]
    try:
        await command(run_id)
    except (WrongState, WorkerUnreachable) as error:
        viewer.notify(Notice(str(error)))
