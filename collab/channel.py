"""A connection to one peer, whatever carries it: a websocket, or a test's in-memory pipe.

Rooms speak only to this, so a new transport is one small adapter (``server`` has the
Litestar websocket one).
"""

from __future__ import annotations

from typing import Protocol


class ChannelClosed(Exception):
    """The peer has gone: nothing more can be sent to it or received from it."""


class Channel(Protocol):
    async def send(self, message: bytes) -> None:
        """Send one binary message; raises ``ChannelClosed`` once the peer has gone."""
        ...

    def try_send(self, message: bytes) -> bool:
        """Send one binary message now, without waiting, if the connection can take it at
        once; False, and nothing sent, if not (or if this transport cannot): then ``send``."""
        ...

    async def recv(self) -> bytes | str:
        """The next message (``str`` for a text frame); raises ``ChannelClosed`` at the end."""
        ...

    async def close(self, code: int, reason: str) -> None:
        """End the connection, telling the peer why."""
        ...
