"""The fan-out of live runs: per run watched in this process, one reader of its Valkey streams
(frames and events) hands each frame to every local viewer's mailbox.

The reader never waits on a viewer (``Viewer.offer`` is a plain call), and the worker never
waits on the reader (Valkey's capped stream sits between them), so viewers cannot slow a run.
The reader also keeps the run's current state for viewers that join late: the latest frame and
the recent progress events with their metrics."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from uuid import UUID

import structlog
import valkey.asyncio as valkey_asyncio
from valkey.exceptions import ValkeyError

from server.config import Settings
from server.domain.frames.schemas import Metrics, RunState
from server.domain.frames.viewer import Shared, Viewer, cancel
from server.domain.runs import keys, messages
from simcore import frames

log = structlog.get_logger(__name__)


class Feed:
    """One live run's frames, read once from Valkey and offered to this process's viewers."""

    def __init__(self, run_id: UUID, valkey: valkey_asyncio.Valkey, settings: Settings):
        self.run_id = run_id
        self._valkey = valkey
        self._settings = settings
        self.viewers: set[Viewer] = set()
        self.latest: Shared | None = None
        self.recent: deque[tuple[int, dict[str, float]]] = deque(
            maxlen=settings.frames_recent_metrics
        )
        self.state: RunState | None = None
        self.frames_read = 0
        """Frames taken from the stream and offered to every viewer."""
        self._ids = {keys.frames_key(run_id): "0-0", keys.events_key(run_id): "0-0"}
        self.ready = asyncio.Event()
        self.task = asyncio.create_task(self._read())

    def join(self, viewer: Viewer) -> None:
        """Adds ``viewer``, first handing it the run's current state (once it is known)."""
        self.viewers.add(viewer)
        if self.ready.is_set():
            self._greet(viewer)

    def _greet(self, viewer: Viewer) -> None:
        if self.state is not None:
            viewer.notify(self.state)
        if self.recent:
            viewer.notify(Metrics(list(self.recent)))
        if self.latest is not None:
            viewer.offer(self.latest)

    async def _read(self) -> None:
        while True:
            try:
                if not self.ready.is_set():
                    await self._catch_up()
                    self.ready.set()
                    for viewer in self.viewers:
                        self._greet(viewer)
                await self._follow()
            except asyncio.CancelledError:
                raise
            except (ValkeyError, OSError) as error:
                log.info(
                    "run frames: Valkey unavailable, retrying",
                    run=str(self.run_id),
                    error=str(error),
                )
                await asyncio.sleep(self._settings.frames_retry_s)
            except Exception:
                log.exception("run frames: reader failed, retrying", run=str(self.run_id))
                await asyncio.sleep(self._settings.frames_retry_s)

    async def _catch_up(self) -> None:
        """The latest frame and the recent events; reading goes on after them."""
        frames_key, events_key = keys.frames_key(self.run_id), keys.events_key(self.run_id)
        last = await self._valkey.xrevrange(frames_key, count=1)
        if last:
            entry_id, fields = last[0]
            self._ids[frames_key] = _text(entry_id)
            self._take_frame(fields)
        events = await self._valkey.xrevrange(
            events_key, count=self._settings.frames_recent_metrics
        )
        for entry_id, fields in reversed(events):
            self._ids[events_key] = _text(entry_id)
            self._take_event(fields)

    async def _follow(self) -> None:
        block_ms = max(1, int(self._settings.frames_poll_s * 1000))
        batches = await self._valkey.xread(self._ids, block=block_ms)
        frames_key = keys.frames_key(self.run_id)
        for key, entries in batches or ():
            key = _text(key)
            if not entries:
                continue
            self._ids[key] = _text(entries[-1][0])
            if key == frames_key:
                # Behind the run (a busy server): on to its newest frame, every viewer told
                # how many it missed, rather than a backlog that only grows.
                frame = self._take_frame(entries[-1][1])
                if frame is not None:
                    for viewer in self.viewers:
                        viewer.offer(frame, missed=len(entries) - 1)
                    self.frames_read += len(entries)
            else:
                for _, fields in entries:
                    notice = self._take_event(fields)
                    if notice is not None:
                        for viewer in self.viewers:
                            viewer.notify(notice)

    def _take_frame(self, fields: dict[bytes, bytes]) -> Shared | None:
        data = fields.get(keys.FRAME_FIELD)
        if data is None:
            return None
        try:
            self.latest = Shared(data)
        except frames.FrameError as error:
            log.warning(
                "run frames: a frame that does not decode", run=str(self.run_id), error=str(error)
            )
            return None
        return self.latest

    def _take_event(self, fields: dict[bytes, bytes]) -> Metrics | RunState | None:
        data = fields.get(keys.EVENT_FIELD)
        if data is None:
            return None
        try:
            event = messages.decode_event(data)
        except Exception:
            return None
        if isinstance(event, messages.Progress):
            self.recent.append((event.step, dict(event.metrics)))
            return Metrics([self.recent[-1]])
        if isinstance(event, messages.StateChanged):
            self.state = RunState(event.state, event.error)
            return self.state
        return None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class FrameHub:
    """The live runs this process's viewers watch (``app.state.frames``)."""

    def __init__(self, settings: Settings, valkey: valkey_asyncio.Valkey):
        self._settings = settings
        self._valkey = valkey
        self._feeds: dict[UUID, Feed] = {}

    async def join(self, run_id: UUID, viewer: Viewer) -> Feed:
        feed = self._feeds.get(run_id)
        if feed is None:
            feed = self._feeds[run_id] = Feed(run_id, self._valkey, self._settings)
        # Until the reader has the current state, a late joiner would get nothing yet.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(feed.ready.wait()), self._settings.frames_poll_s)
        feed.join(viewer)
        return feed

    async def leave(self, run_id: UUID, viewer: Viewer) -> None:
        feed = self._feeds.get(run_id)
        if feed is None:
            return
        feed.viewers.discard(viewer)
        if not feed.viewers:
            del self._feeds[run_id]
            await cancel(feed.task)

    async def close(self) -> None:
        feeds, self._feeds = list(self._feeds.values()), {}
        for feed in feeds:
            await cancel(feed.task)
