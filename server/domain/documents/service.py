"""Model documents read as a ``ModelSpec``, changed by scripts, and kept as named versions.

Every change goes through the model's live room, as one update, like an editor's: it is in the
log before the call returns, and everyone connected sees it at once.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from uuid import UUID

import msgspec
from piccolo.query import Select
from pycrdt import Doc

from collab.changes import Change, apply_changes, restore
from collab.registry import Rooms
from collab.room import Room
from collab.schema import to_spec
from server.config import DocumentRole
from server.db.tables import DocumentVersion
from server.domain.documents.rooms import room_of
from server.domain.documents.schemas import DocumentRead, ShareRead, VersionRead
from server.domain.documents.sharing import Sharing
from server.domain.models.service import get_model
from server.objects import ObjectStore
from simcore.spec import ModelSpec, SpecError


class VersionNotFound(LookupError):
    def __init__(self, model_id: UUID, version_id: UUID):
        super().__init__(f"model {model_id} has no version {version_id}")


async def read_spec(rooms: Rooms, model_id: UUID) -> ModelSpec | list[SpecError]:
    """The model's current spec, or what is wrong with its document; raises
    ``ModelNotFound``."""
    return to_spec(_loaded(await (await _room(rooms, model_id)).state()))


async def change(rooms: Rooms, model_id: UUID, changes: list[Change]) -> DocumentRead:
    """Make ``changes`` as one update; raises ``ChangeError`` (nothing changed) or
    ``collab.protocol.Refused`` (too big, or not stored)."""
    room = await _room(rooms, model_id)
    await room.edit(lambda draft: apply_changes(draft, changes))
    return await _read(room)


async def share(
    sharing: Sharing, model_id: UUID, role: DocumentRole, expires_in_s: float | None
) -> ShareRead:
    await get_model(model_id)
    token, expires = sharing.mint(model_id, role, expires_in_s)
    return ShareRead(token, model_id, role, datetime.fromtimestamp(expires, UTC))


async def create_version(
    rooms: Rooms, objects: ObjectStore, model_id: UUID, name: str
) -> VersionRead:
    """Keep the document as it is now under ``name``: its state in object storage, then its
    row (the object is removed again if the row cannot be written)."""
    state = await (await _room(rooms, model_id)).state()
    version = uuid.uuid4()
    key = f"versions/{model_id}/{version}.ystate"
    await objects.put(key, state)
    try:
        await DocumentVersion.insert(
            DocumentVersion(
                id=version, model=model_id, name=name.strip(), object_key=key, size=len(state)
            )
        )
    except BaseException:
        await objects.delete(key)
        raise
    return await _version(model_id, version)


async def list_versions(model_id: UUID) -> list[VersionRead]:
    await get_model(model_id)
    rows = await (
        _versions()
        .where(DocumentVersion.model == model_id)
        .order_by(DocumentVersion.created_at, ascending=False)
    )
    return [msgspec.convert(row, VersionRead) for row in rows]


async def version_spec(
    objects: ObjectStore, model_id: UUID, version_id: UUID
) -> ModelSpec | list[SpecError]:
    return to_spec(await _version_doc(objects, model_id, version_id))


async def restore_version(
    rooms: Rooms, objects: ObjectStore, model_id: UUID, version_id: UUID
) -> DocumentRead:
    """Make the live document's content the version's, as one new update: whoever is
    connected sees it, and the history before it stays."""
    version = await _version_doc(objects, model_id, version_id)
    room = await _room(rooms, model_id)
    await room.edit(lambda draft: restore(draft, version))
    return await _read(room)


async def _room(rooms: Rooms, model_id: UUID) -> Room:
    await get_model(model_id)
    return await rooms.open(room_of(model_id))


async def _read(room: Room) -> DocumentRead:
    spec = to_spec(_loaded(await room.state()))
    return DocumentRead(spec, []) if isinstance(spec, ModelSpec) else DocumentRead(None, spec)


def _versions() -> Select:
    return DocumentVersion.select(
        DocumentVersion.id,
        DocumentVersion.model,
        DocumentVersion.name,
        DocumentVersion.size,
        DocumentVersion.created_at,
    )


async def _version(model_id: UUID, version_id: UUID) -> VersionRead:
    row = (
        await _versions()
        .where((DocumentVersion.model == model_id) & (DocumentVersion.id == version_id))
        .first()
    )
    if row is None:
        await get_model(model_id)
        raise VersionNotFound(model_id, version_id)
    return msgspec.convert(row, VersionRead)


async def _version_doc(objects: ObjectStore, model_id: UUID, version_id: UUID) -> Doc:
    row = (
        await DocumentVersion.select(DocumentVersion.object_key)
        .where((DocumentVersion.model == model_id) & (DocumentVersion.id == version_id))
        .first()
    )
    if row is None:
        await get_model(model_id)
        raise VersionNotFound(model_id, version_id)
    return _loaded(await objects.get(row["object_key"]))


def _loaded(state: bytes) -> Doc:
    doc = Doc()
    doc.apply_update(state)
    return doc
