"""The y-websocket framing: what pycrdt and yjs write is read back; anything else is refused
with a close code and a reason."""

from __future__ import annotations

import pytest
from pycrdt import Awareness, Doc, Map, create_awareness_message, create_sync_message

from collab import protocol
from collab.protocol import Close, Refused


def edited() -> Doc:
    doc = Doc()
    doc["meta"] = meta = Map()
    meta["name"] = "m"
    return doc


def test_frames_written_by_pycrdt_are_read_back() -> None:
    doc = edited()
    assert protocol.parse(create_sync_message(doc)) == protocol.SyncStep1(doc.get_state())
    assert protocol.parse(protocol.sync_step2(doc.get_update())) == protocol.SyncStep2(
        doc.get_update()
    )
    assert protocol.parse(protocol.sync_update(b"\x00\x00")) == protocol.SyncUpdate(b"\x00\x00")
    awareness = Awareness(doc)
    awareness.set_local_state({"user": {"name": "Ada"}})
    update = awareness.encode_awareness_update([doc.client_id])
    assert protocol.parse(create_awareness_message(update)) == protocol.AwarenessUpdate(update)
    assert protocol.parse(bytes([3])) == protocol.QueryAwareness()


@pytest.mark.parametrize(
    ("frame", "code", "reason"),
    [
        (b"", Close.PROTOCOL_ERROR, "truncated message: no complete message type"),
        (b"\x00", Close.PROTOCOL_ERROR, "truncated message: no complete sync step"),
        (
            b"\x00\x02\x10abc",
            Close.PROTOCOL_ERROR,
            "truncated message: sync payload of 16 bytes has 3",
        ),
        (
            b"\x00\x02\x01ab",
            Close.PROTOCOL_ERROR,
            "malformed message: 1 unexpected bytes at its end",
        ),
        (b"\x00\x07\x00", Close.PROTOCOL_ERROR, "unknown sync step 7"),
        (b"\x09", Close.PROTOCOL_ERROR, "unknown message type 9"),
        (b"\x02\x00", Close.PROTOCOL_ERROR, "auth messages are sent by the server, not to it"),
        (b"\xff" * 9, Close.PROTOCOL_ERROR, "malformed message: message type is too long"),
        (b"\x00\x00\x02\x05\x01", Close.PROTOCOL_ERROR, "truncated message: no complete clock"),
        (b"\x03\x00", Close.PROTOCOL_ERROR, "malformed message: 1 unexpected bytes at its end"),
        (
            b"\x01\x06\x01\x01\x01\x02\xc3\x28",
            Close.INVALID_DATA,
            "awareness state is not UTF-8 text",
        ),
        (b"\x01\x06\x01\x01\x01\x02{x", Close.INVALID_DATA, "an awareness state is not JSON"),
    ],
)
def test_a_bad_frame_is_refused_with_a_code_and_a_reason(
    frame: bytes, code: Close, reason: str
) -> None:
    with pytest.raises(Refused) as refused:
        protocol.parse(frame)
    assert (refused.value.code, refused.value.reason) == (code, reason)
    assert len(reason.encode()) <= 123, "a close reason must fit in a close frame"
