"""Model documents read as a ``ModelSpec``."""

from __future__ import annotations

from uuid import UUID

from pycrdt import Doc

from collab.registry import Rooms
from collab.schema import to_spec
from server.domain.documents.rooms import room_of
from server.domain.models.service import get_model
from simcore.spec import ModelSpec, SpecError


async def read_spec(rooms: Rooms, model_id: UUID) -> ModelSpec | list[SpecError]:
    """The model's current spec, or what is wrong with its document; raises
    ``ModelNotFound``."""
    await get_model(model_id)
    room = await rooms.get(room_of(model_id))
    doc = Doc()
    doc.apply_update(await room.state())
    return to_spec(doc)
