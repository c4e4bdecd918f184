"""``collab.fanout.Fanout`` over Valkey pub/sub: one channel per room, one subscriber
connection per process (re-made after it breaks, each room then told it may have missed
something), and one sender task that publishes in order, in pipelined batches.

A batch that fails to publish is tried again until Valkey takes it; messages that had to be
dropped meanwhile (the outbox is bounded) leave a ``LOST`` marker on their channel, sent once
Valkey is back, so the other holders catch up from the log even when no later message of
theirs would show the gap."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import Any

import valkey.asyncio as valkey_asyncio
from valkey.exceptions import ValkeyError

from collab.fanout import INTERRUPTED, Deliver

log = logging.getLogger(__name__)

CHANNEL_PREFIX = "spikex:docs:"
LOST = b""
"""Published on a room's channel where messages were dropped: its holders catch up (no real
message is empty)."""
_FAILURES = (ValkeyError, OSError, TimeoutError)


class ValkeyFanout:
    def __init__(
        self,
        client: valkey_asyncio.Valkey,
        *,
        retry_s: float,
        queue_bytes: int,
        subscribe_timeout_s: float,
    ):
        self.client = client
        self.retry_s = retry_s
        self.queue_bytes = queue_bytes
        self.subscribe_timeout_s = subscribe_timeout_s
        self._deliver: dict[str, Deliver] = {}
        self._confirmed: dict[str, asyncio.Future[None]] = {}
        self._interrupted: set[str] = set()
        """Channels to tell, once subscribed again, that they may have missed messages."""
        self._pubsub: Any = None
        """The subscriber connection, once it is subscribed; None while there is none."""
        self._down = False
        """Whether the last try to subscribe failed (so a new room does not wait on it)."""
        self._outbox: deque[tuple[str, bytes]] = deque()
        self._outbox_bytes = 0
        self._lost: set[str] = set()
        """Channels whose messages were dropped, to be sent ``LOST``."""
        self._wake = asyncio.Event()
        self._closing = False
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._send())]

    async def subscribe(self, room: str, deliver: Deliver) -> None:
        channel = CHANNEL_PREFIX + room
        self._deliver[channel] = deliver
        confirmed = self._confirmed[channel] = asyncio.get_running_loop().create_future()
        if self._pubsub is not None:
            with contextlib.suppress(*_FAILURES):  # the listener re-subscribes everything
                await self._pubsub.subscribe(channel)
        try:
            if self._down:
                raise TimeoutError
            await asyncio.wait_for(confirmed, self.subscribe_timeout_s)
        except TimeoutError:
            # Valkey is away: the room works alone until the subscription is confirmed,
            # then catches up from the log.
            log.warning("no subscription to %s yet; the room will catch up", channel)
            self._interrupted.add(channel)

    async def unsubscribe(self, room: str) -> None:
        channel = CHANNEL_PREFIX + room
        self._deliver.pop(channel, None)
        self._confirmed.pop(channel, None)
        self._interrupted.discard(channel)
        if self._pubsub is not None:
            with contextlib.suppress(*_FAILURES):
                await self._pubsub.unsubscribe(channel)

    def publish(self, room: str, message: bytes) -> None:
        self._queue([(CHANNEL_PREFIX + room, message)])
        self._wake.set()

    async def alone(self, room: str) -> bool:
        channel = CHANNEL_PREFIX + room
        if not self._subscribed(channel):
            return False
        try:
            [(_, count)] = await self.client.pubsub_numsub(channel)
        except _FAILURES:
            return False
        # Ours is among them only if it was confirmed before and is still up after.
        return count == 1 and self._subscribed(channel)

    def _subscribed(self, channel: str) -> bool:
        confirmed = self._confirmed.get(channel)
        return (
            self._pubsub is not None
            and confirmed is not None
            and confirmed.done()
            and channel not in self._interrupted
        )

    def _queue(self, messages: list[tuple[str, bytes]], *, first: bool = False) -> None:
        """Add ``messages`` to the outbox (at its front when ``first``: a batch to retry),
        dropping the oldest while it is over its bound: Valkey is not keeping up, and the
        receivers of what is dropped will be sent ``LOST``."""
        if first:
            self._outbox.extendleft(reversed(messages))
        else:
            self._outbox.extend(messages)
        self._outbox_bytes += sum(len(message) for _, message in messages)
        while len(self._outbox) > 1 and self._outbox_bytes > self.queue_bytes:
            channel, dropped = self._outbox.popleft()
            self._outbox_bytes -= len(dropped)
            self._lost.add(channel)

    async def close(self) -> None:
        # A cancellation that lands inside a Valkey client call can be swallowed by it (seen
        # for a publish in flight): the tasks then stop at their next turn instead.
        self._closing = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._pubsub is not None:
            with contextlib.suppress(*_FAILURES):
                await self._pubsub.aclose()

    async def _listen(self) -> None:
        while not self._closing:
            pubsub = self.client.pubsub()
            try:
                # The bare prefix is always subscribed: with no room, it is still a
                # connection to read from.
                channels = set(self._deliver)
                await pubsub.subscribe(CHANNEL_PREFIX, *channels)
                self._pubsub, self._down = pubsub, False
                # Rooms opened or closed meanwhile found no connection to do it on.
                if opened := set(self._deliver) - channels:
                    await pubsub.subscribe(*opened)
                if closed := channels - set(self._deliver):
                    await pubsub.unsubscribe(*closed)
                while not self._closing:
                    message = await pubsub.get_message(timeout=self.retry_s)
                    if message is not None:
                        self._dispatch(message)
            except Exception as error:  # whatever broke it, the rooms must hear of it
                log.warning("document fan-out lost Valkey (%s); reconnecting", error)
                self._pubsub, self._down = None, True
                self._interrupted |= set(self._deliver)
                with contextlib.suppress(*_FAILURES):
                    await pubsub.aclose()
                await asyncio.sleep(self.retry_s)

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"].decode()
        deliver = self._deliver.get(channel)
        if message["type"] == "message" and deliver is not None:
            deliver(INTERRUPTED if message["data"] == LOST else message["data"])
        elif message["type"] == "subscribe":
            confirmed = self._confirmed.get(channel)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
            if channel in self._interrupted and deliver is not None:
                self._interrupted.discard(channel)
                deliver(INTERRUPTED)

    async def _send(self) -> None:
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox or self._lost:
                batch = [(channel, LOST) for channel in self._lost] + list(self._outbox)
                lost, self._lost = self._lost, set()
                self._outbox.clear()
                self._outbox_bytes = 0
                try:
                    async with self.client.pipeline(transaction=False) as pipe:
                        for channel, message in batch:
                            pipe.publish(channel, message)
                        await pipe.execute()
                except Exception as error:
                    # Part of the batch may have gone out: receivers skip what they heard.
                    log.warning("could not publish %d document messages: %s", len(batch), error)
                    self._lost |= lost
                    self._queue(batch[len(lost) :], first=True)
                    await asyncio.sleep(self.retry_s)
