"""``/api/models/{id}/spec``, ``/changes``, ``/share`` and ``/versions``: HTTP only; the rules
live in ``service``."""

from __future__ import annotations

from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.exceptions import ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import ExceptionHandlersMap

from collab.changes import Change, ChangeError
from collab.protocol import Close, Refused
from server.domain.documents import service
from server.domain.documents.schemas import (
    DocumentRead,
    ShareCreate,
    ShareRead,
    VersionCreate,
    VersionRead,
)
from server.domain.models.service import ModelNotFound
from simcore.spec import ModelSpec, SpecError

_SPEC_ERRORS = {
    422: ResponseSpec(
        list[SpecError],
        description="The document is not a sound model: what is wrong, and where",
        generate_examples=False,
    )
}

# What a refused change means over HTTP.
_REFUSED_STATUS = {Close.TOO_BIG: 413, Close.TRY_AGAIN: 503}


def _unprocessable(request: Request, error: ValidationException) -> Response[dict[str, object]]:
    """A change list that does not decode is as unprocessable as one that cannot be made."""
    extra = error.extra if isinstance(error.extra, list) else []
    problems = "; ".join(str(item.get("message", item)) for item in extra) or str(error.detail)
    detail = (
        f"the body should be a list of changes, each {{op: set | delete | insert, path, "
        f"value}}: {problems}"
    )
    return _error(422, detail)


_HANDLERS: ExceptionHandlersMap = {
    ModelNotFound: lambda _, error: _error(404, error),
    service.VersionNotFound: lambda _, error: _error(404, error),
    ChangeError: lambda _, error: _error(422, error),
    Refused: lambda _, error: _error(_REFUSED_STATUS.get(error.code, 500), error),
}


class DocumentController(Controller):
    path = "/api/models/{model_id:uuid}"
    tags = ("models",)
    exception_handlers = _HANDLERS

    @get("/spec", summary="Read a model as its spec", responses=_SPEC_ERRORS)
    async def spec(self, model_id: UUID, state: State) -> Response[ModelSpec | list[SpecError]]:
        """The model's current ``ModelSpec``, or (422) every error in its document, each with
        the document path it is about."""
        return _spec(await service.read_spec(state.rooms, model_id))

    @post(
        "/changes",
        summary="Change a model's document",
        status_code=200,
        exception_handlers={ValidationException: _unprocessable},
    )
    async def change(self, model_id: UUID, data: list[Change], state: State) -> DocumentRead:
        """Apply a list of operations (``set``, ``delete``, ``insert`` at a document path such
        as ``populations/exc/size``) as one change, seen at once by everyone editing the
        model; it is stored before the answer. A path or operation that cannot be applied is
        a 422 saying which and why, and nothing is changed."""
        return await service.change(state.rooms, model_id, data)

    @post("/share", summary="Make a share token for a model's document")
    async def share(self, model_id: UUID, data: ShareCreate, state: State) -> ShareRead:
        """A signed token for ``/ws/docs/{model_id}?token=...``: ``editor``, ``viewer``
        (read-only, shown to the others) or ``embed`` (read-only, unseen)."""
        return await service.share(state.sharing, model_id, data.role, data.expires_in_s)

    @post("/versions", summary="Keep the document as a named version")
    async def create_version(
        self, model_id: UUID, data: VersionCreate, state: State
    ) -> VersionRead:
        return await service.create_version(
            state.rooms, state.connections.objects, model_id, data.name
        )

    @get("/versions", summary="List a model's named versions, newest first")
    async def list_versions(self, model_id: UUID) -> list[VersionRead]:
        return await service.list_versions(model_id)

    @get(
        "/versions/{version_id:uuid}", summary="Read a version as its spec", responses=_SPEC_ERRORS
    )
    async def version(
        self, model_id: UUID, version_id: UUID, state: State
    ) -> Response[ModelSpec | list[SpecError]]:
        return _spec(await service.version_spec(state.connections.objects, model_id, version_id))

    @post("/versions/{version_id:uuid}/restore", summary="Restore a named version", status_code=200)
    async def restore(self, model_id: UUID, version_id: UUID, state: State) -> DocumentRead:
        """Make the document's content the version's, as one new change that everyone editing
        sees at once; nothing before it is lost (it can be restored in turn)."""
        return await service.restore_version(
            state.rooms, state.connections.objects, model_id, version_id
        )


def _spec(result: ModelSpec | list[SpecError]) -> Response[ModelSpec | list[SpecError]]:
    return Response(result, status_code=422 if isinstance(result, list) else 200)


def _error(status: int, detail: object) -> Response[dict[str, object]]:
    """The body Litestar gives its own errors: ``{status_code, detail}``."""
    return Response({"status_code": status, "detail": str(detail)}, status_code=status)
