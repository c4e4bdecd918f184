"""The y-websocket wire protocol: reading a frame into a message, writing messages, and the
close codes a room ends a connection with.

A frame is a varuint message type, then its body: for ``SYNC`` a varuint sync step and a
length-prefixed payload (a state vector for step 1, an update for step 2 and updates); for
``AWARENESS`` a length-prefixed awareness update; ``QUERY_AWARENESS`` has no body. Everything
is checked here, before a room sees it, so a bad frame is refused with a reason and changes
nothing. (Whether an update's bytes decode is checked by applying it: only Yjs can tell.)
"""

from __future__ import annotations

import json
from enum import IntEnum
from typing import NamedTuple

from pycrdt import write_var_uint

# A Yjs varuint holds at most 53 bits (lib0 numbers are JavaScript numbers).
_VARUINT_BYTES = 8


class MessageType(IntEnum):
    SYNC = 0
    AWARENESS = 1
    AUTH = 2
    QUERY_AWARENESS = 3


class SyncStep(IntEnum):
    STEP1 = 0
    STEP2 = 1
    UPDATE = 2


class Close(IntEnum):
    """Why a room ended a connection: the code, with a reason in words, is what the peer sees."""

    GOING_AWAY = 1001
    """The server is stopping."""
    PROTOCOL_ERROR = 1002
    """A malformed or truncated frame, or a message type the protocol does not have."""
    UNSUPPORTED_DATA = 1003
    """A text frame: the protocol is binary."""
    INVALID_DATA = 1007
    """An update or awareness state that does not decode."""
    TOO_BIG = 1009
    """A message over the size limit, or an update that would grow the document over its."""
    INTERNAL_ERROR = 1011
    """The server failed; nothing the peer sent is at fault."""
    TRY_AGAIN = 1013
    """The room could not save a change (or is being unloaded): reconnect to resync."""
    BAD_TOKEN = 4401
    """The share token is malformed, expired, or not signed by this server."""
    FORBIDDEN = 4403
    """The share token is for another model."""
    UNKNOWN_MODEL = 4404
    """There is no model with that id."""
    TOO_SLOW = 4408
    """The peer fell too far behind in reading what the room sent it."""


class Refused(Exception):
    """A connection is ended with ``code`` because of what its peer sent or did."""

    def __init__(self, code: Close, reason: str):
        super().__init__(reason)
        self.code = code
        self.reason = reason


class SyncStep1(NamedTuple):
    state: bytes


class SyncStep2(NamedTuple):
    update: bytes


class SyncUpdate(NamedTuple):
    update: bytes


class AwarenessUpdate(NamedTuple):
    update: bytes


class QueryAwareness(NamedTuple):
    pass


Message = SyncStep1 | SyncStep2 | SyncUpdate | AwarenessUpdate | QueryAwareness


def parse(frame: bytes) -> Message:
    """The message in ``frame``; raises ``Refused`` saying what is wrong with it."""
    reader = _Reader(frame)
    kind = reader.uint("message type")
    if kind == MessageType.SYNC:
        step = reader.uint("sync step")
        if step not in SyncStep._value2member_map_:
            raise Refused(Close.PROTOCOL_ERROR, f"unknown sync step {step}")
        payload = reader.payload("sync payload")
        reader.end()
        if step == SyncStep.STEP1:
            _check_state_vector(payload)
            return SyncStep1(payload)
        return SyncStep2(payload) if step == SyncStep.STEP2 else SyncUpdate(payload)
    if kind == MessageType.AWARENESS:
        payload = reader.payload("awareness update")
        reader.end()
        _check_awareness(payload)
        return AwarenessUpdate(payload)
    if kind == MessageType.QUERY_AWARENESS:
        reader.end()
        return QueryAwareness()
    if kind == MessageType.AUTH:
        raise Refused(Close.PROTOCOL_ERROR, "auth messages are sent by the server, not to it")
    raise Refused(Close.PROTOCOL_ERROR, f"unknown message type {kind}")


def sync_step1(state: bytes) -> bytes:
    return _frame(MessageType.SYNC, SyncStep.STEP1, state)


def sync_step2(update: bytes) -> bytes:
    return _frame(MessageType.SYNC, SyncStep.STEP2, update)


def sync_update(update: bytes) -> bytes:
    return _frame(MessageType.SYNC, SyncStep.UPDATE, update)


def awareness(update: bytes) -> bytes:
    return _frame(MessageType.AWARENESS, None, update)


def _frame(kind: MessageType, step: SyncStep | None, payload: bytes) -> bytes:
    head = bytes([kind] if step is None else [kind, step])
    return head + write_var_uint(len(payload)) + payload


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.at = 0

    def uint(self, what: str) -> int:
        number = 0
        for shift in range(0, 7 * _VARUINT_BYTES, 7):
            if self.at >= len(self.data):
                raise Refused(Close.PROTOCOL_ERROR, f"truncated message: no complete {what}")
            byte = self.data[self.at]
            self.at += 1
            number |= (byte & 0x7F) << shift
            if byte < 0x80:
                return number
        raise Refused(Close.PROTOCOL_ERROR, f"malformed message: {what} is too long")

    def payload(self, what: str) -> bytes:
        length = self.uint(f"{what} length")
        if self.at + length > len(self.data):
            raise Refused(
                Close.PROTOCOL_ERROR,
                f"truncated message: {what} of {length} bytes has {len(self.data) - self.at}",
            )
        self.at += length
        return self.data[self.at - length : self.at]

    def text(self, what: str) -> str:
        try:
            return self.payload(what).decode()
        except UnicodeDecodeError:
            raise Refused(Close.INVALID_DATA, f"{what} is not UTF-8 text") from None

    def end(self) -> None:
        if self.at != len(self.data):
            raise Refused(
                Close.PROTOCOL_ERROR,
                f"malformed message: {len(self.data) - self.at} unexpected bytes at its end",
            )


def _check_state_vector(state: bytes) -> None:
    reader = _Reader(state)
    for _ in range(reader.uint("state vector length")):
        reader.uint("client id")
        reader.uint("clock")
    reader.end()


def _check_awareness(update: bytes) -> None:
    reader = _Reader(update)
    for _ in range(reader.uint("awareness entry count")):
        reader.uint("awareness client id")
        reader.uint("awareness clock")
        state = reader.text("awareness state")
        try:
            json.loads(state)
        except ValueError:
            raise Refused(Close.INVALID_DATA, "an awareness state is not JSON") from None
    reader.end()
