"""``/api/models``: HTTP only; the rules live in ``service``."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, get, post
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import Parameter

from server.domain.models import service
from server.domain.models.schemas import ModelCreate, ModelRead


class ModelController(Controller):
    path = "/api/models"
    tags = ("models",)

    @post("/", summary="Create a model")
    async def create(self, data: ModelCreate) -> ModelRead:
        """A new model; with a ``template``, its document starts as that template."""
        try:
            return await service.create_model(data)
        except service.KindMismatch as error:
            raise ValidationException(str(error)) from None

    @get("/", summary="List models, newest first")
    async def list(
        self,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
        offset: Annotated[int, Parameter(ge=0)] = 0,
    ) -> list[ModelRead]:
        return await service.list_models(limit, offset)

    @get("/{model_id:uuid}", summary="Read a model")
    async def read(self, model_id: UUID) -> ModelRead:
        try:
            return await service.get_model(model_id)
        except service.ModelNotFound as error:
            raise NotFoundException(str(error)) from None
