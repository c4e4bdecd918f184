"""One viewer of a run: a one-slot mailbox for frames and a writer that sends what is in it.

Whoever produces frames (the run's feed, or a replay) only ``offer``s them: a plain call that
never waits. A viewer slower than the run finds the newest frame in its slot, with a count of
those it missed, so nothing queues up behind a slow socket and nothing upstream slows down."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from server.domain.frames.downsample import Selection, downsample
from server.domain.frames.schemas import ServerMessage, encode_message
from simcore import frames

Send = Callable[[bytes | str], Awaitable[None]]


class Shared:
    """One frame, as every viewer of it may want it: encodings made once per selection."""

    __slots__ = ("_encodings", "data", "decoded")

    def __init__(self, data: bytes, decoded: frames.Decoded | None = None):
        self.data = data
        self.decoded = decoded or frames.decode(data)
        self._encodings: dict[tuple[object, ...], bytes] = {}

    def for_selection(self, selection: Selection | None) -> bytes:
        if selection is None:
            return self.data
        encoded = self._encodings.get(selection.key)
        if encoded is None:
            encoded = self._encodings[selection.key] = downsample(self.decoded, selection)
        return encoded


class Viewer:
    """A viewer's mailbox (one frame, the newest) plus the notices waiting for it."""

    def __init__(self, send: Send):
        self._send = send
        self._frame: Shared | None = None
        self._skipped = 0
        self._notices: dict[str, str] = {}
        """Per kind of notice, the newest (a state change replaces the one before)."""
        self._ready = asyncio.Event()
        self.selection: Selection | None = None
        self.sent = 0
        self.skipped_total = 0

    def offer(self, frame: Shared, missed: int = 0) -> None:
        """Puts ``frame`` in the slot, replacing (and counting) one not sent yet; ``missed``:
        frames before it that were never offered (the producer is ahead of us)."""
        dropped = missed + (self._frame is not None)
        self._skipped += dropped
        self.skipped_total += dropped
        self._frame = frame
        self._ready.set()

    def notify(self, message: ServerMessage) -> None:
        kind = type(message).__name__
        self._notices.pop(kind, None)  # the newest goes after what is already waiting
        self._notices[kind] = encode_message(message).decode()
        self._ready.set()

    async def write(self) -> None:
        """Sends what arrives in the mailbox until cancelled or the socket fails."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            notices = list(self._notices.values())
            self._notices.clear()
            frame, skipped = self._frame, self._skipped
            self._frame, self._skipped = None, 0
            for notice in notices:
                await self._send(notice)
            if frame is not None:
                data = frame.for_selection(self.selection)
                if skipped:
                    data = frames.with_header(frames.decode(data), skipped=skipped)
                await self._send(data)
                self.sent += 1


async def cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
