"""Queries and rules for model records; controllers, jobs and websockets share them."""

from __future__ import annotations

from uuid import UUID

import msgspec

from collab.templates import TEMPLATES, empty
from server.db.tables import Model
from server.domain.documents.store import create_document
from server.domain.models.schemas import ModelCreate, ModelRead


class ModelNotFound(LookupError):
    def __init__(self, model_id: UUID):
        super().__init__(f"no model with id {model_id}")


class KindMismatch(ValueError):
    """A template was asked for with a kind that is not the template's."""


def _read(row: dict[str, object]) -> ModelRead:
    return msgspec.convert(row, ModelRead)


async def create_model(data: ModelCreate, owner: UUID | None = None) -> ModelRead:
    """The model's row and its document (from the template), both or neither."""
    name = data.name.strip()
    kind = "snn" if data.kind is msgspec.UNSET else data.kind
    spec = TEMPLATES[data.template](name) if data.template else empty(name, kind)
    if data.kind is not msgspec.UNSET and data.kind != spec.kind:
        raise KindMismatch(
            f"the {data.template} template makes an {spec.kind} model, not an {data.kind} one"
        )
    async with Model._meta.db.transaction():
        row = Model(name=name, kind=spec.kind, owner=owner)
        await row.save()
        await create_document(row.id, spec)
    return await get_model(row.id)


async def list_models(limit: int, offset: int) -> list[ModelRead]:
    rows = await (
        Model.select().order_by(Model.created_at, ascending=False).limit(limit).offset(offset)
    )
    return [_read(row) for row in rows]


async def get_model(model_id: UUID) -> ModelRead:
    row = await Model.select().where(Model.id == model_id).first()
    if row is None:
        raise ModelNotFound(model_id)
    return _read(row)
