"""A room: one document, the peers editing it, their awareness, and the document's storage.

Every change takes one path, one batch at a time: apply it to the document, append the update
Yjs made of it to the log (the changes that came while the previous batch was being stored go
in one transaction together), then send that to every peer (the sender too: it is the sender's
acknowledgement). So a change any peer has seen is durable, and a peer that joins at any
moment misses nothing: what came before reaches it in its sync step 2 (answered under the same
lock), what comes after in the broadcast, which it is part of from the moment it joins.

Each peer has its own bounded send queue, drained by its own task: a peer that stops reading
holds up nobody, and is dropped once its queue is full.

Other processes may hold the same room: a committed change is also published to them through
the fan-out (after it is in the log), and what they publish is applied here and sent to this
room's peers, never appended again. When the fan-out may have lost something, the room
catches up from storage. A room that is its channel's only subscriber publishes nothing until
another holder makes itself heard (``collab.fanout`` says how none misses anything).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import msgspec
from pycrdt import Awareness, Doc, TransactionEvent

from collab import fanout, protocol
from collab.channel import Channel, ChannelClosed
from collab.fanout import Fanout, Relayed
from collab.protocol import Close, Refused
from collab.store import DocumentStore

log = logging.getLogger(__name__)

_EMPTY_UPDATE = b"\x00\x00"
"""An update with nothing in it (pycrdt's provider sends these)."""


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """How far a room lets things grow, and when it tidies up (from the server settings)."""

    max_message_bytes: int
    """The largest message a peer may send; a larger one ends its connection (1009)."""
    max_document_bytes: int
    """The largest a document may grow (its stored size); beyond it, updates are refused."""
    send_queue_bytes: int
    """How much may wait to be sent to one peer; a peer with more waiting is too slow."""
    compact_log_bytes: int
    """Compact once the log after the snapshot holds this many bytes..."""
    compact_log_updates: int
    """... or this many updates..."""
    compact_idle_s: float
    """... or when the room has had no change for this long."""
    unload_idle_s: float
    """A room with no peers for this long is compacted and unloaded."""
    close_timeout_s: float
    """How long closing a connection may wait on a peer that does not read."""
    retry_s: float
    """How long to wait before trying again to catch up from storage."""
    awareness_timeout_s: float
    """An awareness state relayed from another process and not renewed for this long is
    dropped: that process ended without saying so (clients renew theirs every 15 s)."""


class Access(NamedTuple):
    """What one connection may do in a room."""

    write: bool
    """Its updates are applied; a read-only peer's are dropped (never applied nor stored)."""
    awareness: bool
    """It takes part in awareness: its own state is relayed, and it is sent the others'."""


EDIT = Access(write=True, awareness=True)

_RELAYED = "relayed"
"""The origin of an awareness change another process published."""


class Peer:
    """One connection in a room: its channel, its send queue and the awareness it owns."""

    def __init__(self, channel: Channel, queue_bytes: int, access: Access = EDIT):
        self.channel = channel
        self.access = access
        self.awareness_ids: set[int] = set()
        self.gone = asyncio.Event()
        self.ending: tuple[Close, str] | None = None
        """How its connection is to be closed; None when the peer left by itself."""
        self.committing = False
        """Whether a change of its is being applied, stored and sent."""
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        self._queue_limit = queue_bytes
        self._wake = asyncio.Event()
        self._sending = False

    def send(self, message: bytes) -> None:
        """Send ``message`` now if nothing waits before it and the connection takes it at
        once (no task switch: a broadcast to hundreds of peers is hundreds of these), else
        queue it; a peer too far behind is dropped instead."""
        if self.gone.is_set():
            return
        if not self._queue and not self._sending and self.channel.try_send(message):
            return
        # What already waits is measured, not what would: so one message larger than the
        # whole queue (the sync of a big document) still goes out, and memory stays bounded
        # by the limit plus one message.
        if self._queued_bytes > self._queue_limit:
            self.end(Close.TOO_SLOW, "fell too far behind in reading updates; reconnect")
            return
        self._queue.append(message)
        self._queued_bytes += len(message)
        self._wake.set()

    def end(self, code: Close | None, reason: str = "") -> None:
        if not self.gone.is_set():
            self.ending = None if code is None else (code, reason)
            self._queue.clear()
            self.gone.set()

    async def pump(self) -> None:
        while True:
            await self._wake.wait()
            while self._queue:
                message = self._queue.popleft()
                self._queued_bytes -= len(message)
                self._sending = True  # until it is out, nothing may be sent past it
                await self.channel.send(message)
                self._sending = False
            self._wake.clear()


class Room:
    """Made empty; ``open`` loads it."""

    def __init__(
        self,
        name: str,
        store: DocumentStore,
        limits: Limits,
        release: Callable[[Room], None],
        fanout: Fanout,
    ):
        self.name = name
        self.store = store
        self.limits = limits
        self.fanout = fanout
        self.peers: set[Peer] = set()
        self.closed = False
        self._release = release
        self._changes: list[bytes] = []
        self._incoming: list[tuple[bytes, asyncio.Future[bool]]] = []
        """Updates waiting for the next batch to commit them, each with what became of it."""
        self.doc = Doc()
        self.doc.observe(self._on_change)
        self.awareness = Awareness(self.doc)
        self.awareness.set_local_state(None)  # the server is not one of the people here
        self.awareness.observe(self._on_awareness)
        self._lock = asyncio.Lock()
        self._finishing: set[asyncio.Task[None]] = set()
        """Readers of peers that left while committing a change, left to finish it."""
        self._snapshot: str | None = None
        self._log: dict[int, int] = {}
        """Size of each log entry after the snapshot, by id, oldest first."""
        self._log_bytes = 0
        self._size = 0
        self._origin = uuid.uuid4().hex
        self._sent = 0
        self._heard: dict[str, int] = {}
        """The last sequence number heard from each other holder of the room."""
        self._relayed_awareness: dict[int, float] = {}
        """When each awareness state relayed from another process was last heard of."""
        self._alone = False
        """Whether no other process holds the room (so nothing is published)."""
        self._heard_of_others = 0
        """How many times another holder made itself heard (or may have): a check of being
        alone that began before the last of them tells nothing."""
        self._alone_check: asyncio.Task[None] | None = None
        self._expiry: asyncio.TimerHandle | None = None
        self._catching_up: asyncio.Task[None] | None = None
        self._catch_up_again = False
        self._compaction: asyncio.Task[None] | None = None
        self._compact_timer: asyncio.TimerHandle | None = None
        self._unload_timer: asyncio.TimerHandle | None = None

    async def open(self) -> None:
        """Subscribe to the room's other holders, then load it from storage: in that order,
        so a change published meanwhile is either in what is loaded or heard after."""
        await self.fanout.subscribe(self.name, self._on_relayed)
        try:
            stored = await self.store.load(self.name)
        except BaseException:
            self.closed = True
            if self._catching_up:
                self._catching_up.cancel()
            await self.fanout.unsubscribe(self.name)
            raise
        if stored.state:
            self._apply(stored.state)
        self._snapshot = stored.snapshot
        self._track(stored.entries)
        self._size = len(stored.state)
        self._wait_for_peers()
        self._publish("hello")
        self._check_alone_soon()

    async def serve(self, channel: Channel, access: Access = EDIT) -> None:
        """Keep ``channel``'s peer in sync until it leaves or is refused, then close it."""
        peer = Peer(channel, self.limits.send_queue_bytes, access)
        if self.closed:
            peer.end(Close.TRY_AGAIN, "the room is being unloaded; reconnect")
        else:
            self._join(peer)
            pump = asyncio.create_task(self._guard(peer, peer.pump()))
            reader = asyncio.create_task(self._guard(peer, self._read(peer)))
            try:
                await peer.gone.wait()
            finally:
                peer.end(None)  # if this was cancelled, the reader must stop too
                pump.cancel()
                if peer.committing:
                    # Left to finish: a change applied here must not be left unlogged or
                    # unsent. It stops once the change is out.
                    self._finishing.add(reader)
                    reader.add_done_callback(self._finishing.discard)
                else:
                    reader.cancel()
                self._leave(peer)
        if peer.ending is not None:
            code, reason = peer.ending
            log.info("closing a connection to %s: %s (%d)", self.name, reason, code)
            with contextlib.suppress(ChannelClosed, TimeoutError):
                await asyncio.wait_for(channel.close(code, reason), self.limits.close_timeout_s)

    async def state(self) -> bytes:
        """The document as one update, holding only changes already in the log."""
        async with self._lock:
            return self.doc.get_update()

    async def edit(self, change: Callable[[Doc], None]) -> None:
        """Make ``change`` to a copy of the document, then commit what it changed as one
        update, the way a peer's is (stored, then sent). If ``change`` raises, nothing is
        changed; ``Refused`` says why a change was not committed."""
        await asyncio.shield(self._edit(change))

    async def _edit(self, change: Callable[[Doc], None]) -> None:
        async with self._lock:
            # The room's own client id: drafts are made one at a time, each from a document
            # that holds the one before, so their clocks never collide.
            draft = Doc(client_id=self.doc.client_id)
            draft.apply_update(self.doc.get_update())
            before = draft.get_state()
            with draft.transaction():
                change(draft)
            done = asyncio.get_running_loop().create_future()
            self._incoming.append((draft.get_update(before), done))
            await self._flush()
        if done.result():
            self._after_change()

    async def close(self) -> None:
        """Drop every peer, then fold the log into a snapshot so the next load is quick."""
        self.closed = True
        for timer in (self._compact_timer, self._unload_timer, self._expiry):
            if timer:
                timer.cancel()
        for task in (self._catching_up, self._alone_check):
            if task:
                task.cancel()
        for peer in list(self.peers):
            peer.end(Close.GOING_AWAY, "the server is unloading this document; reconnect")
        with contextlib.suppress(Exception):
            await self.fanout.unsubscribe(self.name)
        # After unsubscribing, so a holder that hears it and checks finds itself alone.
        self._publish("goodbye")
        if self._compaction:
            await self._compaction
        if self._log:
            await self._compact()

    def _join(self, peer: Peer) -> None:
        self.peers.add(peer)
        if self._unload_timer:
            self._unload_timer.cancel()
            self._unload_timer = None
        peer.send(protocol.sync_step1(self.doc.get_state()))
        if self.awareness.states and peer.access.awareness:
            peer.send(self._awareness_of(list(self.awareness.states)))

    def _leave(self, peer: Peer) -> None:
        self.peers.discard(peer)
        if peer.awareness_ids:
            self.awareness.remove_awareness_states(sorted(peer.awareness_ids), origin=None)
        if not self.peers and not self.closed:
            self._wait_for_peers()

    async def _guard(self, peer: Peer, work: Awaitable[None]) -> None:
        """Run one of a peer's tasks; whatever ends it ends the peer, with the reason."""
        try:
            await work
        except ChannelClosed:
            peer.end(None)
        except Refused as refusal:
            peer.end(refusal.code, refusal.reason)
        except Exception:
            log.exception("peer of %s failed", self.name)
            peer.end(Close.INTERNAL_ERROR, "the server failed; reconnect")

    async def _read(self, peer: Peer) -> None:
        while True:
            frame = await peer.channel.recv()
            if isinstance(frame, str):
                raise Refused(Close.UNSUPPORTED_DATA, "text frames are not Yjs messages")
            if len(frame) > self.limits.max_message_bytes:
                raise Refused(
                    Close.TOO_BIG,
                    f"a message of {len(frame)} bytes is over the limit of "
                    f"{self.limits.max_message_bytes}",
                )
            match protocol.parse(frame):
                case protocol.SyncStep1(state):
                    await self._answer(peer, state)
                case protocol.SyncStep2(update) | protocol.SyncUpdate(update):
                    if peer.access.write and update != _EMPTY_UPDATE:
                        # In this task rather than one of its own: a task per change was a
                        # measurable part of every edit's latency (``serve`` lets a reader
                        # that is committing finish instead of cancelling it).
                        peer.committing = True
                        try:
                            await self._commit(update)
                        finally:
                            peer.committing = False
                        if peer.gone.is_set():
                            return
                case protocol.AwarenessUpdate(update):
                    if peer.access.awareness:
                        self.awareness.apply_awareness_update(update, origin=peer)
                case protocol.QueryAwareness():
                    if peer.access.awareness:
                        peer.send(self._awareness_of(list(self.awareness.states)))

    async def _answer(self, peer: Peer, state: bytes) -> None:
        # Under the lock, so the answer holds no change that is not in the log yet.
        async with self._lock:
            try:
                update = self.doc.get_update(state)
            except ValueError:
                raise Refused(Close.INVALID_DATA, "the state vector does not decode") from None
            peer.send(protocol.sync_step2(update))

    async def _commit(self, update: bytes) -> None:
        done = asyncio.get_running_loop().create_future()
        self._incoming.append((update, done))
        async with self._lock:
            if not done.done():  # else a batch before this one took it
                await self._flush()
        if done.result():
            self._after_change()

    async def _flush(self) -> None:
        """Under the lock: commit every update that came (group commit). Each is checked and
        applied in order of arrival (one refused is refused alone), what they changed is
        appended to the log in one transaction, then sent to the peers and the other holders.
        Updates that come while the append is in flight wait for the next batch, unapplied:
        so outside this, the document holds nothing that is not in the log."""
        batch, self._incoming = self._incoming, []
        changes: list[bytes] = []
        waiting: list[asyncio.Future[bool]] = []
        for update, done in batch:
            try:
                change = self._check(update)
            except Refused as refusal:
                done.set_exception(refusal)
                continue
            if change is None:
                done.set_result(False)  # nothing new: an echo, or waiting for updates it depends on
                continue
            self._size += len(change)
            changes.append(change)
            waiting.append(done)
        if not changes:
            return
        try:
            entries = await self.store.append(self.name, changes)
        except Exception:
            log.exception("could not append to the log of %s", self.name)
            self._fail()
            for done in waiting:
                done.set_exception(
                    Refused(Close.TRY_AGAIN, "the server could not save a change; reconnect")
                )
            return
        self._track([(entry, len(change)) for entry, change in zip(entries, changes, strict=True)])
        for entry, change, done in zip(entries, changes, waiting, strict=True):
            self._broadcast(protocol.sync_update(change))
            self._publish("update", change, entry)
            done.set_result(True)

    def _check(self, update: bytes) -> bytes | None:
        """Apply ``update`` if the room and the limits allow; what it changed, if anything."""
        if self.closed:
            raise Refused(Close.TRY_AGAIN, "the room is being unloaded; reconnect")
        if self._size + len(update) > self.limits.max_document_bytes:
            raise Refused(
                Close.TOO_BIG,
                f"the document would grow over its limit of {self.limits.max_document_bytes} bytes",
            )
        return self._apply(update)

    def _track(self, entries: list[tuple[int, int]]) -> None:
        """Count log entries in what the next compaction folds (each one once)."""
        for entry, size in entries:
            if entry not in self._log:
                self._log[entry] = size
                self._log_bytes += size

    def _apply(self, update: bytes) -> bytes | None:
        """Apply ``update``; the update of what it changed, or None when nothing changed."""
        self._changes.clear()
        try:
            self.doc.apply_update(update)
        except ValueError:
            # The bytes are decoded before anything is integrated: the document is unchanged.
            raise Refused(
                Close.INVALID_DATA, "the update does not decode as a Yjs update"
            ) from None
        # One update is one transaction: at most one event.
        change = self._changes[0] if self._changes else None
        # Not kept until the next change: after a load it is the whole document, a copy an
        # idle room would otherwise hold for as long as it stays loaded.
        self._changes.clear()
        return None if change == _EMPTY_UPDATE else change

    def _on_change(self, event: TransactionEvent) -> None:
        self._changes.append(event.update)

    def _on_awareness(self, topic: str, event: tuple[dict[str, list[int]], Any]) -> None:
        if topic != "update":
            return
        changes, origin = event
        if isinstance(origin, Peer):
            origin.awareness_ids |= {*changes["added"], *changes["updated"]}
            origin.awareness_ids -= set(changes["removed"])
        client_ids = [*changes["added"], *changes["updated"], *changes["removed"]]
        update = self.awareness.encode_awareness_update(client_ids)
        self._broadcast(protocol.awareness(update), awareness=True)
        if origin != _RELAYED:
            self._publish("awareness", update)
            return
        now = asyncio.get_running_loop().time()
        for client_id in [*changes["added"], *changes["updated"]]:
            self._relayed_awareness[client_id] = now
        for client_id in changes["removed"]:
            self._relayed_awareness.pop(client_id, None)
        self._expire_soon()

    def _expire_soon(self) -> None:
        if self._expiry is None and self._relayed_awareness and not self.closed:
            self._expiry = asyncio.get_running_loop().call_later(
                self.limits.awareness_timeout_s / 2, self._expire
            )

    def _expire(self) -> None:
        self._expiry = None
        oldest = asyncio.get_running_loop().time() - self.limits.awareness_timeout_s
        stale = [client for client, heard in self._relayed_awareness.items() if heard <= oldest]
        if stale:
            log.info("dropping %d awareness states of a gone process in %s", len(stale), self.name)
            self.awareness.remove_awareness_states(stale, origin=_RELAYED)
        self._expire_soon()

    def _awareness_of(self, client_ids: list[int]) -> bytes:
        return protocol.awareness(self.awareness.encode_awareness_update(client_ids))

    def _broadcast(self, message: bytes, awareness: bool = False) -> None:
        for peer in list(self.peers):
            if peer.access.awareness or not awareness:
                peer.send(message)

    def _publish(
        self,
        kind: fanout.Kind,
        data: bytes = b"",
        entry: int = 0,
    ) -> None:
        self._sent += 1
        if self._alone and kind in ("update", "awareness"):
            # Nobody would hear it: a Valkey round trip and our own copy back, per change,
            # saved. The number is still taken, so a holder that comes sees the gap.
            return
        relayed = Relayed(self._origin, self._sent, kind, data, entry)
        self.fanout.publish(self.name, fanout.encode(relayed))

    def _not_alone(self) -> None:
        """Another holder made itself heard, or may have (a message may have been lost)."""
        self._alone = False
        self._heard_of_others += 1

    def _check_alone_soon(self) -> None:
        if not self.closed and (self._alone_check is None or self._alone_check.done()):
            self._alone_check = asyncio.create_task(self._check_alone())

    async def _check_alone(self) -> None:
        heard = self._heard_of_others
        try:
            alone = await self.fanout.alone(self.name)
        except Exception:
            log.warning("could not tell whether %s has other holders", self.name, exc_info=True)
            return
        # Another holder may have subscribed and loaded the room since the check began:
        # only one that says nothing until it has loaded can be missed, and that one's hello
        # is answered (so it catches up on what was not published meanwhile).
        if alone and heard == self._heard_of_others and not self.closed:
            self._alone = True

    def _on_relayed(self, message: bytes | None) -> None:
        """What another holder of the room published (or ``INTERRUPTED``)."""
        if self.closed:
            return
        if message is fanout.INTERRUPTED:
            # Whoever published meanwhile may be a newcomer that this room did not answer.
            self._not_alone()
            self._publish("hello")
            self._catch_up_soon()
            self._check_alone_soon()
            return
        try:
            relayed = fanout.decode(message)
        except msgspec.DecodeError:
            log.warning("an unreadable message was published for %s", self.name)
            self._not_alone()
            self._catch_up_soon()
            return
        if relayed.origin == self._origin:
            return
        self._not_alone()
        last = self._heard.get(relayed.origin)
        if last is None:
            # A holder not heard from before: it may lack changes made here while alone,
            # which this answer's number shows it.
            self._publish("hello")
            last = 0
        if relayed.seq <= last:
            return  # heard already: a batch its sender published again after a failure
        self._heard[relayed.origin] = relayed.seq
        if relayed.seq != last + 1:
            # Lost in between, or a holder first heard from mid-way: the log has it all.
            self._catch_up_soon()
        if relayed.kind == "hello":
            return
        if relayed.kind == "goodbye":
            self._check_alone_soon()
            return
        if relayed.kind == "awareness":
            try:
                self.awareness.apply_awareness_update(relayed.data, origin=_RELAYED)
            except (ValueError, KeyError):
                log.warning("an unreadable awareness update was published for %s", self.name)
            return
        try:
            change = self._apply(relayed.data)
        except Refused:
            log.warning("an unreadable update was published for %s", self.name)
            self._catch_up_soon()
            return
        if change is not None:
            self._track([(relayed.entry, len(change))])
            self._size += len(change)
            self._broadcast(protocol.sync_update(change))
            self._after_change()

    def _catch_up_soon(self) -> None:
        if self._catching_up is not None and not self._catching_up.done():
            self._catch_up_again = True  # what it reads may already be too old
        elif not self.closed:
            self._catching_up = asyncio.create_task(self._catch_up())

    async def _catch_up(self) -> None:
        """Apply what storage holds and this room may lack (the log is the truth)."""
        while True:
            self._catch_up_again = False
            try:
                stored = await self.store.load(self.name)
            except Exception:
                log.warning("could not catch up %s; will try again", self.name, exc_info=True)
                self._catch_up_again = True
                await asyncio.sleep(self.limits.retry_s)
                continue
            if self.closed:
                return
            change = self._apply(stored.state) if stored.state else None
            self._track(stored.entries)
            if change is not None:
                log.info("caught up %s from storage", self.name)
                self._size += len(change)
                self._broadcast(protocol.sync_update(change))
                self._after_change()
            if not self._catch_up_again:
                return

    def _fail(self) -> None:
        """The log could not be written: the document here may hold a change that is not
        stored. Unload the room; peers reconnect to a room loaded from storage and resend
        what it lacks in their sync."""
        self.closed = True
        for peer in list(self.peers):
            peer.end(Close.TRY_AGAIN, "the server could not save a change; reconnect")
        self._release(self)

    def _due(self) -> bool:
        return (
            self._log_bytes >= self.limits.compact_log_bytes
            or len(self._log) >= self.limits.compact_log_updates
        )

    def _after_change(self) -> None:
        if self._due():
            self._compact_soon()
        # Also once the room falls quiet: that catches a compaction that failed just now.
        if self._compact_timer:
            self._compact_timer.cancel()
        self._compact_timer = asyncio.get_running_loop().call_later(
            self.limits.compact_idle_s, self._compact_soon
        )

    def _compact_soon(self) -> None:
        running = self._compaction is not None and not self._compaction.done()
        if self._log and not running and not self.closed:
            self._compaction = asyncio.create_task(self._compact_while_due())

    async def _compact_while_due(self) -> None:
        # Changes that came while it ran may be due for the next one already.
        while await self._compact() and self._due() and not self.closed:
            pass

    async def _compact(self) -> bool:
        """Fold the log into a new snapshot; whether it did."""
        state = self.doc.get_update()
        covered = list(self._log)
        try:
            key = await self.store.compact(self.name, state, covered, self._snapshot)
        except Exception:
            log.warning("compaction of %s failed; will try again", self.name, exc_info=True)
            return False
        if key is None:
            log.info("compaction of %s lost a race with another process", self.name)
            return False
        self._snapshot = key
        for entry in covered:  # entries added meanwhile stay
            del self._log[entry]
        self._log_bytes = sum(self._log.values())
        self._size = len(state) + self._log_bytes
        log.info("compacted %s: %d updates into %d bytes", self.name, len(covered), len(state))
        return True

    def _wait_for_peers(self) -> None:
        self._unload_timer = asyncio.get_running_loop().call_later(
            self.limits.unload_idle_s, self._unload_if_idle
        )

    def _unload_if_idle(self) -> None:
        if not self.peers and not self.closed:
            self.closed = True
            self._release(self)
