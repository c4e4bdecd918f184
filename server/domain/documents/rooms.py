"""The rooms of model documents: one per model, named by the model's id (built and parsed
only here), stored in PostgreSQL (log) and object storage (snapshots), shared with the other
server processes through Valkey."""

from __future__ import annotations

from uuid import UUID

from collab.registry import Rooms
from collab.room import Limits
from collab.store import DocumentStore
from server.config import Settings
from server.connections import Connections
from server.domain.documents.fanout import ValkeyFanout
from server.domain.documents.store import PostgresUpdateLog


def room_of(model_id: UUID) -> str:
    return str(model_id)


def model_of(room: str) -> UUID:
    return UUID(room)


def open_rooms(settings: Settings, connections: Connections) -> Rooms:
    limits = Limits(
        max_message_bytes=settings.doc_max_update_bytes,
        max_document_bytes=settings.doc_max_bytes,
        send_queue_bytes=settings.doc_send_queue_bytes,
        compact_log_bytes=settings.doc_compact_bytes,
        compact_log_updates=settings.doc_compact_updates,
        compact_idle_s=settings.doc_compact_idle_s,
        unload_idle_s=settings.doc_unload_idle_s,
        close_timeout_s=settings.doc_close_timeout_s,
        retry_s=settings.doc_retry_s,
        awareness_timeout_s=settings.doc_awareness_timeout_s,
    )
    fanout = ValkeyFanout(
        connections.valkey,
        retry_s=settings.doc_retry_s,
        queue_bytes=settings.doc_fanout_queue_bytes,
        subscribe_timeout_s=settings.connect_timeout_s,
    )
    store = DocumentStore(
        PostgresUpdateLog(model_of, settings.doc_commit_flush), connections.objects
    )
    return Rooms(store, limits, fanout)
