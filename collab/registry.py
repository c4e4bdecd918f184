"""The rooms one process holds: each loaded once, however many peers ask at the same moment,
and unloaded when nobody has used it for a while."""

from __future__ import annotations

import asyncio
import logging

from collab.channel import Channel
from collab.fanout import Alone, Fanout
from collab.protocol import Close
from collab.room import EDIT, Access, Limits, Room
from collab.store import DocumentStore

log = logging.getLogger(__name__)


class Rooms:
    def __init__(self, store: DocumentStore, limits: Limits, fanout: Fanout | None = None):
        self.store = store
        self.limits = limits
        self.fanout = fanout if fanout is not None else Alone()
        self._rooms: dict[str, asyncio.Task[Room]] = {}
        """Loaded rooms, and rooms being loaded, by name."""
        self._closing: set[asyncio.Task[None]] = set()

    async def get(self, name: str) -> Room:
        """The room ``name``, loading it from storage if this process does not hold it."""
        loading = self._rooms.get(name)
        if loading is None:
            loading = asyncio.create_task(self._load(name))
            self._rooms[name] = loading
            loading.add_done_callback(lambda task: self._forget_failed(name, task))
        # Shielded: one caller giving up must not cancel the load the others wait on.
        return await asyncio.shield(loading)

    async def open(self, name: str) -> Room:
        """The room ``name``, loaded and not being unloaded."""
        room = await self.get(name)
        while room.closed:  # unloaded between loading and now: load it again
            room = await self.get(name)
        return room

    async def serve(self, name: str, channel: Channel, access: Access = EDIT) -> None:
        """Join ``channel``'s peer to room ``name`` until it leaves."""
        try:
            room = await self.open(name)
        except Exception:
            log.exception("could not load %s", name)
            await channel.close(Close.TRY_AGAIN, "the document could not be loaded; try again")
            return
        await room.serve(channel, access)

    async def close(self) -> None:
        """Close every room (their peers are told the server is going away)."""
        loading = list(self._rooms.values())
        self._rooms.clear()
        rooms = [room for task in loading if (room := _loaded(task))]
        for task in loading:
            task.cancel()  # those still loading; a finished task ignores it
        await asyncio.gather(*(room.close() for room in rooms), *self._closing)
        await self.fanout.close()
        await self.store.close()

    async def _load(self, name: str) -> Room:
        room = Room(name, self.store, self.limits, self._release, self.fanout)
        await room.open()
        return room

    def _release(self, room: Room) -> None:
        """Called by a room that is done (idle, or broken): forget it, and close it."""
        loading = self._rooms.get(room.name)
        if loading is not None and _loaded(loading) is room:
            del self._rooms[room.name]
        closing = asyncio.create_task(room.close())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    def _forget_failed(self, name: str, task: asyncio.Task[Room]) -> None:
        failed = task.cancelled() or task.exception() is not None
        if failed and self._rooms.get(name) is task:
            del self._rooms[name]


def _loaded(task: asyncio.Task[Room]) -> Room | None:
    """The room ``task`` loaded; None while it loads, or if loading failed."""
    if task.done() and not task.cancelled() and task.exception() is None:
        return task.result()
    return None
