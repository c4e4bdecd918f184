"""``/api/models/{id}/spec``: HTTP only; the rules live in ``service``."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec

from server.domain.documents import service
from server.domain.models.service import ModelNotFound
from simcore.spec import ModelSpec, SpecError


class DocumentController(Controller):
    path = "/api/models/{model_id:uuid}"
    tags = ("models",)

    @get(
        "/spec",
        summary="Read a model as its spec",
        responses={
            422: ResponseSpec(
                list[SpecError],
                description="The document is not a sound model: what is wrong, and where",
                generate_examples=False,
            )
        },
    )
    async def spec(self, model_id: UUID, state: State) -> Response[ModelSpec | list[SpecError]]:
        """The model's current ``ModelSpec``, or (422) every error in its document, each with
        the document path it is about."""
        try:
            result = await service.read_spec(state.rooms, model_id)
        except ModelNotFound as error:
            raise NotFoundException(str(error)) from None
        return Response(result, status_code=422 if isinstance(result, list) else 200)
