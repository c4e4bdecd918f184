"""Queries and rules for model records; controllers, jobs and websockets share them."""

from __future__ import annotations

from uuid import UUID

import msgspec

from server.db.tables import Model
from server.domain.models.schemas import ModelCreate, ModelRead


class ModelNotFound(LookupError):
    def __init__(self, model_id: UUID):
        super().__init__(f"no model with id {model_id}")


def _read(row: dict[str, object]) -> ModelRead:
    return msgspec.convert(row, ModelRead)


async def create_model(data: ModelCreate, owner: UUID | None = None) -> ModelRead:
    row = Model(name=data.name.strip(), kind=data.kind, owner=owner)
    await row.save()
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
