"""The websocket fast path of the frames and documents sockets: a message's websocket frame
written straight to the connection's transport, without a trip through the ASGI send.

Through ASGI, every receiver's copy of a message is framed again and passes through several
layers of calls and a task switch: measured at about twice the server's time per receiver of
this path, which for a run's frames at a few hundred viewers and 60 frames a second, or an
edit broadcast to a few hundred editors, is a large part of a core. Messages go uncompressed
(the server does not take permessage-deflate, and RFC 7692 would allow it even where a
connection did), so a message can be framed once and handed to each connection.

This needs the ASGI server's connection, which ASGI does not expose: ``capture`` recognises
uvicorn's websockets (sans-I/O) protocol from the ``receive`` callable it hands the
application (``server.cli.uvicorn_config`` chooses it; a test checks it is found). Under any
other server ``Direct`` is absent and messages go through the ordinary ASGI send; everything
else (text, close) always does."""

from __future__ import annotations

import socket
import struct
from typing import Any

from litestar.types import ASGIApp, Receive, Scope, Send

SCOPE_KEY = "spikex.websocket.direct"

_SHORT = struct.Struct("!BB")
_MEDIUM = struct.Struct("!BBH")
_LONG = struct.Struct("!BBQ")
_FIN_BINARY = 0x82


def binary_message(payload: bytes) -> bytes:
    """``payload`` as one unmasked, unfragmented binary websocket message (server to client)."""
    size = len(payload)
    if size < 126:
        head = _SHORT.pack(_FIN_BINARY, size)
    elif size < 1 << 16:
        head = _MEDIUM.pack(_FIN_BINARY, 126, size)
    else:
        head = _LONG.pack(_FIN_BINARY, 127, size)
    return head + payload


class Direct:
    """Writes ready-made binary messages to one uvicorn websocket connection."""

    __slots__ = ("_open", "_protocol")

    def __init__(self, protocol: Any, open_state: object):
        self._protocol = protocol
        self._open = open_state

    def _usable(self) -> bool:
        protocol = self._protocol
        return (
            protocol.handshake_complete
            and not protocol.close_sent
            and not protocol.disconnected
            and protocol.conn.state is self._open
            and not protocol.transport.is_closing()
        )

    def limit_buffers(self, size: int) -> None:
        """Bound what waits to be sent to ``size`` bytes in the kernel (which would otherwise
        grow its buffer to megabytes for a reader that lags) and as much again above it:
        past that, the viewer's mailbox holds only the newest frame."""
        transport = self._protocol.transport
        connection = transport.get_extra_info("socket")
        if connection is not None:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        transport.set_write_buffer_limits(high=size)

    def write(self, message: bytes) -> bool:
        """Writes ``message`` now if the connection is open and not pushing back (its
        transport's buffer is under the high-water mark); False, and nothing written, if not."""
        if not self._protocol.writable.is_set() or not self._usable():
            return False
        self._protocol.transport.write(message)
        return True

    async def send(self, message: bytes) -> None:
        """Writes ``message`` once the connection takes more; ``ConnectionError`` if it closed."""
        await self._protocol.writable.wait()
        if not self._usable():
            raise ConnectionError("the connection is closed")
        self._protocol.transport.write(message)


def _direct_for(receive: Receive) -> Direct | None:
    protocol = getattr(receive, "__self__", None)
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
        from websockets.protocol import State
    except ImportError:
        return None
    if not isinstance(protocol, WebSocketsSansIOProtocol):
        return None
    needed = ("handshake_complete", "close_sent", "disconnected", "conn", "transport", "writable")
    if not all(hasattr(protocol, name) for name in needed):
        return None
    return Direct(protocol, State.OPEN)


def capture(app: ASGIApp) -> ASGIApp:
    """Route middleware: puts the connection's ``Direct`` (or None) in the scope."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        scope[SCOPE_KEY] = _direct_for(receive)  # type: ignore[literal-required]
        await app(scope, receive, send)

    return middleware


def direct_of(scope: Scope) -> Direct | None:
    return scope.get(SCOPE_KEY)  # type: ignore[return-value]
