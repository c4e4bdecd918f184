"""Rooms of one document held by several server processes: what crosses between them.

A room publishes each change it committed (after it is in the log) and each awareness change
of its own peers; the other holders of the room apply them and send them to their peers. The
transport (``server`` has the Valkey one) may lose messages, so each carries its sender's
sequence number: a receiver that sees a gap, or is told its subscription was interrupted,
catches up from the log, which is the truth.

A room that is the only subscriber of its channel publishes nothing but says ``hello`` when it
opens, and ``goodbye`` when it closes; its numbers still count what it did not publish. A
holder that hears from one it had not heard from answers with a ``hello`` of its own: so a
newcomer that loaded the room before the last changes made alone sees the gap, and catches up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

import msgspec

Kind = Literal["update", "awareness", "hello", "goodbye"]
"""What a relayed message is: a change, an awareness change, or a holder making itself
heard as it opens (or answers a newcomer) and as it closes."""


class Relayed(msgspec.Struct, frozen=True, array_like=True):
    """One message between holders of a room."""

    origin: str
    """The sending room (one holder, for as long as it has the room loaded)."""
    seq: int
    """1, 2, 3, ... per origin: a number skipped is a message lost."""
    kind: Kind
    data: bytes
    """A Yjs update, or an awareness update (empty for ``hello`` and ``goodbye``)."""
    entry: int = 0
    """The update's log entry id (0 for the other kinds)."""


INTERRUPTED = None
"""Passed to a subscriber instead of a message: some may have been lost meanwhile."""

Deliver = Callable[[bytes | None], None]


class Fanout(Protocol):
    async def subscribe(self, room: str, deliver: Deliver) -> None:
        """From when this returns, pass every message published for ``room`` to ``deliver``
        (its own included), or ``INTERRUPTED`` when some may have been missed (the
        subscription broke and came back, or a sender had to drop messages)."""
        ...

    async def unsubscribe(self, room: str) -> None: ...

    def publish(self, room: str, message: bytes) -> None:
        """Send ``message`` to every subscriber of ``room``: queued, sent in order."""
        ...

    async def alone(self, room: str) -> bool:
        """Whether this subscription to ``room`` is, at this moment, its only one (False
        when that cannot be told, or while the subscription is not confirmed)."""
        ...

    async def close(self) -> None:
        """Stop (once the rooms using it are closed)."""
        ...


class Alone:
    """The fan-out of a process that holds its rooms alone."""

    async def subscribe(self, room: str, deliver: Deliver) -> None:
        pass

    async def unsubscribe(self, room: str) -> None:
        pass

    def publish(self, room: str, message: bytes) -> None:
        pass

    async def alone(self, room: str) -> bool:
        return True

    async def close(self) -> None:
        pass


encode = msgspec.msgpack.Encoder().encode
decode = msgspec.msgpack.Decoder(Relayed).decode
