"""``/ws/docs/{model_id}``: a model's document over the Yjs sync and awareness protocol
(y-websocket's framing), so yjs + y-websocket in a browser and pycrdt's ``Provider`` in a
script connect unchanged. The room does the work; this adapts Litestar's websocket to it."""

from __future__ import annotations

from uuid import UUID

from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect

from collab.channel import ChannelClosed
from collab.protocol import Close, Refused
from collab.registry import Rooms
from server.domain.documents.rooms import room_of
from server.domain.documents.sharing import ACCESS, Sharing
from server.domain.models.service import ModelNotFound, get_model
from server.websocket_direct import binary_message, capture, direct_of

# What a dead connection raises: uvicorn's ClientDisconnected is an OSError; Litestar raises
# RuntimeError for a send after the close.
_GONE = (WebSocketDisconnect, OSError, RuntimeError)
_MAX_REASON_BYTES = 123  # the WebSocket protocol's limit


class WebSocketChannel:
    """A Litestar websocket as a ``collab.channel.Channel``; binary messages go straight to
    the connection where the server allows (``server.websocket_direct``)."""

    def __init__(self, socket: WebSocket):
        self.socket = socket
        self.direct = direct_of(socket.scope)

    def try_send(self, message: bytes) -> bool:
        return self.direct is not None and self.direct.write(binary_message(message))

    async def send(self, message: bytes) -> None:
        try:
            if self.direct is not None:
                await self.direct.send(binary_message(message))
            else:
                await self.socket.send_bytes(message)
        except (*_GONE, ConnectionError):
            raise ChannelClosed from None

    async def recv(self) -> bytes | str:
        event = await self.socket.receive()
        if event["type"] == "websocket.disconnect":
            raise ChannelClosed
        data = event.get("bytes")
        return data if data is not None else event.get("text") or ""

    async def close(self, code: int, reason: str) -> None:
        reason = reason.encode()[:_MAX_REASON_BYTES].decode(errors="ignore")
        try:
            await self.socket.close(code, reason)
        except _GONE:
            raise ChannelClosed from None


@websocket("/ws/docs/{model_id:str}", middleware=[capture])
async def document_socket(socket: WebSocket, model_id: str, token: str | None = None) -> None:
    """``?token=`` is a share token (``POST /api/models/{id}/share``); without one, the
    connection has the default role (``SPIKEX_DOC_DEFAULT_ROLE``)."""
    await socket.accept()
    channel = WebSocketChannel(socket)
    rooms: Rooms = socket.app.state.rooms
    sharing: Sharing = socket.app.state.sharing
    try:
        model = await get_model(UUID(model_id))
    except (ValueError, ModelNotFound):
        await channel.close(Close.UNKNOWN_MODEL, f"no model with id {model_id}")
        return
    try:
        role = sharing.role(model.id, token)
    except Refused as refusal:
        await channel.close(refusal.code, refusal.reason)
        return
    await rooms.serve(room_of(model.id), channel, ACCESS[role])
