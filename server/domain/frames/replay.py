"""Replay of a finished run from its recording, paced at a chosen speed, with seek and pause:
it offers frames to one viewer's mailbox exactly as a live run's feed does."""

from __future__ import annotations

import asyncio
import contextlib

from server.domain.frames.recorder import Recording
from server.domain.frames.schemas import ReplayStatus
from server.domain.frames.viewer import Shared, Viewer
from simcore import frames

TRAINING_FRAME_S = 0.1
"""Wall seconds per frame at speed 1 when frames have no time step (training)."""


class Replay:
    def __init__(self, recording: Recording, viewer: Viewer, speed: float = 1.0):
        self._recording = recording
        self._viewer = viewer
        self.position = recording.index.start
        self.speed = speed
        self.paused = False
        self._changed = asyncio.Event()

    def seek(self, step: int) -> None:
        self.position = min(max(step, self._recording.index.start), self._recording.index.end)
        self._changed.set()

    def set_speed(self, speed: float) -> None:
        self.speed = speed
        self._changed.set()

    def pause(self) -> None:
        self.paused = True
        self._changed.set()

    def resume(self) -> None:
        self.paused = False
        self._changed.set()

    def status(self, *, done: bool = False) -> ReplayStatus:
        index = self._recording.index
        return ReplayStatus(self.position, index.start, index.end, self.speed, self.paused, done)

    async def run(self) -> None:
        while True:
            self._changed.clear()
            self._viewer.notify(self.status())
            if self.paused:
                await self._changed.wait()
                continue
            if await self._play():
                continue  # a seek, speed change or pause came
            self._viewer.notify(self.status(done=True))
            await self._changed.wait()

    async def _play(self) -> bool:
        """Plays from ``position`` to the end; True when interrupted by a change."""
        async for data in self._recording.frames_from(self.position):
            frame = Shared(data)
            header = frame.decoded.header
            self._viewer.offer(frame)
            self.position = header.end
            if await self._wait(_wall_s(header) / self.speed):
                return True
        return False

    async def _wait(self, seconds: float) -> bool:
        """Sleeps ``seconds``; True when a change cut it short."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)
            return True
        return False


def _wall_s(header: frames.Header) -> float:
    if header.dt > 0:
        return (header.end - header.start) * header.dt
    return TRAINING_FRAME_S
