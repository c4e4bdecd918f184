"""``/api/datasets``: list, upload, read (with a preview) and delete datasets. HTTP only; the
rules live in ``service``.

An upload is ``multipart/form-data``: the file in the field ``file`` (an MNIST IDX pair as the
fields ``images`` and ``labels``), and optionally the fields ``name`` and ``format``. The body
is spooled to temporary files as it arrives and refused with 413 once it passes
``SPIKEX_DATASET_MAX_UPLOAD_BYTES``; Litestar's own body limit does not apply here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import IO, Annotated, NamedTuple

from litestar import Controller, Request, delete, get, post
from litestar.datastructures import State
from litestar.exceptions import ClientException, NotFoundException, ValidationException
from litestar.params import Parameter
from multipart import MultipartSegment, ParserError, PushMultipartParser

from server.auth.guards import authenticated
from server.domain.datasets import service
from server.domain.datasets.schemas import DatasetDetail, DatasetRead

_FORM_FIELDS = ("name", "format")
_FIELD_BYTES = 1000
"""The longest a form field other than a file may be (a name, a format)."""


class DatasetController(Controller):
    path = "/api/datasets"
    tags = ("datasets",)

    @get("/", summary="List datasets: the built-in ones first, then uploads (newest first)")
    async def list(
        self,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
        offset: Annotated[int, Parameter(ge=0)] = 0,
    ) -> list[DatasetRead]:
        """``limit`` and ``offset`` page through the uploads; the built-ins always come."""
        return await service.list_datasets(limit, offset)

    @post(
        "/",
        summary="Upload a dataset",
        request_max_body_size=None,  # checked as the body streams in, against our own limit
    )
    async def upload(self, request: Request, state: State) -> DatasetDetail:
        """Multipart form: ``file`` (``.npz``, ``.csv``, a ``.zip`` of class folders, an
        events ``.npz``), or ``images`` and ``labels`` (MNIST IDX, plain or gzipped);
        ``format`` (``npz``, ``csv``, ``idx``, ``image-folders``, ``events``) when the file
        name does not tell it; ``name`` (default: the file's name). 413 past the size limit,
        422 for a file that is not a sound dataset; either way nothing is kept."""
        owner = (await authenticated(request)).id if "authorization" in request.headers else None
        settings = state.connections.settings
        with tempfile.TemporaryDirectory(prefix="spikex-upload-") as scratch:
            form = await _receive(request, settings.dataset_max_upload_bytes, Path(scratch))
            try:
                return await service.create(
                    state.connections.objects,
                    name=form.fields.get("name"),
                    format=form.fields.get("format"),
                    files=form.files,
                    size=sum(upload.path.stat().st_size for upload in form.files.values()),
                    owner=owner,
                    preview_samples=settings.dataset_preview_samples,
                    preview_values=settings.dataset_preview_values,
                )
            except service.Invalid as error:
                raise ClientException(str(error), status_code=422) from None

    @get("/{dataset:str}", summary="A dataset, with a preview (a few samples, class counts)")
    async def read(self, dataset: str) -> DatasetDetail:
        """``dataset``: a built-in's name or an upload's id."""
        try:
            return await service.get_dataset(dataset)
        except service.DatasetNotFound as error:
            raise NotFoundException(str(error)) from None

    @delete("/{dataset:str}", summary="Delete an uploaded dataset")
    async def remove(self, dataset: str, state: State) -> None:
        try:
            await service.delete(state.connections.objects, dataset)
        except service.DatasetNotFound as error:
            raise NotFoundException(str(error)) from None
        except service.Invalid as error:
            raise ClientException(str(error), status_code=409) from None


class _Form(NamedTuple):
    fields: dict[str, str]
    files: dict[str, service.UploadedFile]


async def _receive(request: Request, max_bytes: int, folder: Path) -> _Form:
    """The multipart body, its files written to ``folder`` as they arrive."""
    content_type, options = request.content_type
    if content_type != "multipart/form-data" or not options.get("boundary"):
        raise ValidationException(
            "send the dataset as multipart/form-data: the field 'file' (or 'images' and "
            "'labels' for IDX), optionally 'name' and 'format'"
        )
    too_large = ClientException(
        f"the upload is larger than {max_bytes} bytes (SPIKEX_DATASET_MAX_UPLOAD_BYTES)",
        status_code=413,
    )
    announced = request.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > max_bytes:
        raise too_large
    fields: dict[str, str] = {}
    files: dict[str, service.UploadedFile] = {}
    received = 0
    field: bytearray | None = None
    out: IO[bytes] | None = None
    segment: MultipartSegment | None = None
    try:
        with PushMultipartParser(options["boundary"]) as parser:
            async for chunk in request.stream():
                received += len(chunk)
                if received > max_bytes:
                    raise too_large
                for part in parser.parse(chunk):
                    if isinstance(part, MultipartSegment):
                        segment = part
                        field, out = _begin(segment, fields, files, folder)
                    elif part is not None:
                        if out is not None:
                            out.write(part)
                        elif field is not None:
                            field += part
                            if len(field) > _FIELD_BYTES:
                                raise ValidationException("a form field is too long")
                    else:
                        if out is not None:
                            out.close()
                        elif field is not None and segment is not None:
                            fields[segment.name] = field.decode("utf-8", "replace").strip()
                        field, out, segment = None, None, None
            if not parser.closed:
                raise ValidationException("the multipart/form-data body ended early")
    except ParserError as error:
        raise ValidationException(f"invalid multipart/form-data: {error}") from None
    finally:
        if out is not None:
            out.close()
    if not files:
        raise ValidationException(
            "no file was uploaded: send it in the field 'file' (or 'images' and 'labels')"
        )
    return _Form(fields, files)


def _begin(
    segment: MultipartSegment,
    fields: dict[str, str],
    files: dict[str, service.UploadedFile],
    folder: Path,
) -> tuple[bytearray | None, IO[bytes] | None]:
    """Where one part of the form goes: a file in ``folder``, or a short text field."""
    name = segment.name or ""
    if name in fields or name in files:
        raise ValidationException(f"the form field {name!r} was sent twice")
    if segment.filename is None:
        if name not in _FORM_FIELDS:
            raise ValidationException(
                f"unknown form field {name!r}: the fields are 'file' (or 'images' and "
                "'labels'), 'name' and 'format'"
            )
        return bytearray(), None
    known = {*service.SINGLE, *(p for parts in service.PARTS.values() for p in parts)}
    if name not in known:
        raise ValidationException(
            f"unknown file field {name!r}: send the file as 'file' (or 'images' and 'labels')"
        )
    path = folder / name
    files[name] = service.UploadedFile(Path(segment.filename.replace("\\", "/")).name, path)
    return None, path.open("wb")
