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
from server.websocket_direct import Direct, binary_message
from simcore import frames

Send = Callable[[bytes | str], Awaitable[None]]


class Shared:
    """One frame, as every viewer of it may want it: each variant (a selection, a count of
    skipped frames) encoded once, and once more as a websocket message, however many viewers
    take it."""

    __slots__ = ("_encodings", "_messages", "data", "decoded")

    def __init__(self, data: bytes):
        self.data = data
        self.decoded = frames.decode(data)
        self._encodings: dict[tuple[object, int], bytes] = {}
        self._messages: dict[tuple[object, int], bytes] = {}

    def encoded(self, selection: Selection | None, skipped: int = 0) -> bytes:
        """The frame as ``selection`` asks, its header saying ``skipped`` frames came before."""
        key = (None if selection is None else selection.key, skipped)
        encoded = self._encodings.get(key)
        if encoded is None:
            if skipped:
                whole = self.encoded(selection)
                source = self.decoded if whole is self.data else frames.decode(whole)
                encoded = frames.with_header(source, skipped=skipped)
            elif selection is None:
                encoded = self.data
            else:
                encoded = downsample(self.decoded, selection)
            self._encodings[key] = encoded
        return encoded

    def message(self, selection: Selection | None, skipped: int = 0) -> bytes:
        """``encoded(...)`` framed as a binary websocket message."""
        key = (None if selection is None else selection.key, skipped)
        message = self._messages.get(key)
        if message is None:
            message = self._messages[key] = binary_message(self.encoded(selection, skipped))
        return message


class Viewer:
    """A viewer's mailbox (one frame, the newest) plus the notices waiting for it.

    With a ``Direct`` connection, a frame offered while nothing waits for the viewer and its
    connection takes more is written there and then, by the one task that offers the frame to
    every viewer: no task per viewer wakes up for it. Otherwise (a notice queued, a send under
    way, a connection pushing back) it waits in the mailbox for the viewer's writer."""

    def __init__(self, send: Send, direct: Direct | None = None):
        self._send = send
        self._direct = direct
        self._frame: Shared | None = None
        self._skipped = 0
        self._notices: dict[str, str] = {}
        """Per kind of notice, the newest (a state change replaces the one before)."""
        self._ready = asyncio.Event()
        self._writing = False
        self.selection: Selection | None = None
        self.sent = 0
        self.skipped_total = 0

    def offer(self, frame: Shared, missed: int = 0) -> None:
        """Puts ``frame`` in the slot, replacing (and counting) one not sent yet; ``missed``:
        frames before it that were never offered (the producer is ahead of us)."""
        if (
            self._direct is not None
            and self._frame is None
            and not self._writing
            and not self._notices
            and self._direct.write(frame.message(self.selection, missed))
        ):
            self.skipped_total += missed
            self.sent += 1
            return
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
            self._writing = True
            try:
                while self._notices or self._frame is not None:
                    await self._write_waiting()
            finally:
                self._writing = False

    async def _write_waiting(self) -> None:
        notices = list(self._notices.values())
        self._notices.clear()
        frame, skipped = self._frame, self._skipped
        self._frame, self._skipped = None, 0
        for notice in notices:
            await self._send(notice)
        if frame is not None:
            if self._direct is not None:
                await self._direct.send(frame.message(self.selection, skipped))
            else:
                await self._send(frame.encoded(self.selection, skipped))
            self.sent += 1


async def cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
