"""``/api/library``: browse and search components, contribute and review. HTTP only; the
rules live in ``service``."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State, UploadFile
from litestar.di import Provide
from litestar.exceptions import (
    ClientException,
    NotFoundException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from server.auth.guards import authenticated, reviewer
from server.auth.service import AuthUser
from server.domain.library import service
from server.domain.library.schemas import (
    ComponentPage,
    ComponentSummary,
    ContributionRead,
    Review,
    Status,
    ValidationProblem,
)

Kind = Annotated[str, Parameter(pattern=r"^[a-z]+$", max_length=16)]
Name = Annotated[str, Parameter(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Version = Annotated[str, Parameter(pattern=r"^\d+\.\d+\.\d+$")]


class LibraryController(Controller):
    path = "/api/library"
    tags = ("library",)

    @get("/components", summary="Search the component library")
    async def search(
        self,
        q: Annotated[str | None, Parameter(max_length=500)] = None,
        kind: Annotated[str | None, Parameter(max_length=16)] = None,
        tag: Annotated[list[str] | None, Parameter(max_length=20)] = None,
    ) -> list[ComponentSummary]:
        """Approved components (newest version each) whose names, title, summary, tags or
        description match the words of ``q``, best first; ``kind`` and ``tag`` (all of them,
        repeatable) filter."""
        return await service.search(q, kind, tag or [])

    @get("/components/{kind:str}/{name:str}", summary="A component's page")
    async def read(self, kind: Kind, name: Name) -> ComponentPage:
        """The newest approved version, with the versions that exist."""
        try:
            return await service.page(kind, name)
        except service.ComponentNotFound as error:
            raise NotFoundException(str(error)) from None

    @get("/components/{kind:str}/{name:str}/versions/{version:str}", summary="One version")
    async def read_version(self, kind: Kind, name: Name, version: Version) -> ComponentPage:
        try:
            return await service.page(kind, name, version)
        except service.ComponentNotFound as error:
            raise NotFoundException(str(error)) from None

    @get(
        "/components/{kind:str}/{name:str}/versions/{version:str}/files/{filename:str}",
        summary="One file of a component (Markdown, TeX, code, images, papers)",
        media_type="application/octet-stream",
    )
    async def read_file(
        self,
        state: State,
        kind: Kind,
        name: Name,
        version: Version,
        filename: Annotated[str, Parameter(pattern=r"^[A-Za-z0-9_.\-]{1,200}$")],
    ) -> Response[bytes]:
        try:
            data = await service.file(state.connections.objects, kind, name, version, filename)
        except service.ComponentNotFound as error:
            raise NotFoundException(str(error)) from None
        # Contributed files (an SVG, say) must not run as part of this site.
        return Response(
            data,
            media_type=_media_type(filename),
            headers={"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"},
        )

    @post(
        "/contributions",
        summary="Contribute a component or a new version of one",
        dependencies={"user": Provide(authenticated)},
        responses={
            422: ResponseSpec(ValidationProblem, description="The component does not validate"),
        },
    )
    async def submit(
        self, request: Request, state: State, user: AuthUser
    ) -> Response[ContributionRead | ValidationProblem]:
        """Multipart form: the component's files (``component.toml``, ``description.md``,
        ``math.tex``, the reference implementation, images, papers), or one zip of its
        folder. It is checked like the repository's components (its reference runs in a
        separate process) and waits for a reviewer."""
        files = await _uploaded(request)
        settings = state.connections.settings
        try:
            created = await service.submit(
                state.connections.objects,
                user,
                files,
                max_bytes=settings.library_max_upload_bytes,
                timeout_s=settings.library_check_timeout_s,
            )
        except service.Invalid as problem:
            error = problem.error
            return Response(ValidationProblem(error.file, error.field, str(error)), status_code=422)
        except service.VersionExists as error:
            raise ClientException(str(error), status_code=409) from None
        return Response(created, status_code=201)

    @get(
        "/contributions",
        summary="Contributions (reviewers: all; others: their own)",
        dependencies={"user": Provide(authenticated)},
    )
    async def contributions(
        self, user: AuthUser, status: Status | None = None
    ) -> list[ContributionRead]:
        return await service.contributions(user, status)

    @get(
        "/contributions/{contribution_id:uuid}",
        summary="A contribution",
        dependencies={"user": Provide(authenticated)},
    )
    async def contribution(self, contribution_id: UUID, user: AuthUser) -> ContributionRead:
        try:
            found = await service.contribution(contribution_id)
        except service.ContributionNotFound as error:
            raise NotFoundException(str(error)) from None
        if not user.reviewer and found.submitted_by != user.id:
            raise NotFoundException(f"no contribution with id {contribution_id}")
        return found

    @post(
        "/contributions/{contribution_id:uuid}/review",
        summary="Approve or reject a contribution (reviewers)",
        dependencies={"user": Provide(reviewer)},
        status_code=200,
    )
    async def review(self, contribution_id: UUID, data: Review, user: AuthUser) -> ContributionRead:
        try:
            return await service.review(contribution_id, user, data)
        except service.ContributionNotFound as error:
            raise NotFoundException(str(error)) from None
        except service.NotPending as error:
            raise ClientException(str(error), status_code=409) from None
        except ValueError as error:
            raise ValidationException(str(error)) from None


async def _uploaded(request: Request) -> dict[str, bytes]:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ValidationException(
            "send the component as multipart/form-data: its files, or one zip of its folder"
        )
    form = await request.form()
    files: dict[str, bytes] = {}
    for _, value in form.multi_items():
        if isinstance(value, UploadFile):
            name = (value.filename or "").rsplit("/", 1)[-1]
            if not name:
                raise ValidationException("every uploaded file needs a file name")
            files[name] = await value.read()
    if not files:
        raise ValidationException("no files were uploaded")
    return files


_MEDIA = {
    ".md": "text/markdown; charset=utf-8",
    ".tex": "text/x-tex; charset=utf-8",
    ".py": "text/x-python; charset=utf-8",
    ".toml": "application/toml; charset=utf-8",
    ".bib": "text/plain; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".pdf": "application/pdf",
}


def _media_type(filename: str) -> str:
    suffix = filename[filename.rfind(".") :].lower() if "." in filename else ""
    return _MEDIA.get(suffix, "application/octet-stream")
