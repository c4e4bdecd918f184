"""Datasets: what may be uploaded, how an upload is checked and kept, and how a run's worker
opens one.

An upload arrives as files on disk (the controller spools the request there); it is parsed
from them (memory-mapped where the format allows), described, and only then stored: its
file(s) in object storage under ``datasets/<id>/`` (``file``, or ``images`` and ``labels``
for IDX), then its row. A file that does not parse stores nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import shutil
import tempfile
import weakref
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple
from uuid import UUID, uuid4

import msgspec
import numpy as np
import structlog

from server.db.tables import Dataset
from server.domain.datasets.schemas import DatasetDetail, DatasetRead, PreviewSample
from server.objects import ObjectStore
from simcore.builtin_datasets import BUILTIN_DATASETS

log = structlog.get_logger(__name__)

FORMATS = ("npz", "csv", "idx", "image-folders", "events")
"""The upload formats (``simcore.train.datasets.formats`` parses each)."""

PARTS: dict[str, tuple[str, ...]] = {"idx": ("images", "labels")}
"""The files a format takes, by form field; the others take one, ``file``."""
SINGLE = ("file",)

_SUFFIXES = {".npz": "npz", ".csv": "csv", ".zip": "image-folders"}


class DatasetNotFound(LookupError):
    def __init__(self, dataset: str):
        super().__init__(f"no dataset {dataset!r}")


class Invalid(ValueError):
    """An upload that cannot be a dataset; the message says why. Nothing was stored."""


class UploadedFile(NamedTuple):
    filename: str
    path: Path


def _parts(format: str) -> tuple[str, ...]:
    return PARTS.get(format, SINGLE)


def upload_format(given: str | None, files: Mapping[str, UploadedFile]) -> str:
    """The format the client named, or the one its files' names (and an npz's arrays) say."""
    if given:
        if given not in FORMATS:
            raise Invalid(f"unknown format {given!r}; the formats are {list(FORMATS)}")
        return given
    if set(files) == set(PARTS["idx"]):
        return "idx"
    if set(files) != set(SINGLE):
        raise Invalid(
            "send the dataset as one file in the form field 'file' (an IDX pair as the "
            f"fields 'images' and 'labels'); got the fields {sorted(files)}"
        )
    upload = files["file"]
    suffix = Path(upload.filename.lower()).suffix
    if suffix not in _SUFFIXES:
        if "idx" in upload.filename.lower():
            raise Invalid(
                "an IDX dataset is two files: send them as the fields 'images' and 'labels'"
            )
        raise Invalid(
            f"cannot tell the format of {upload.filename!r} from its name: give the form field "
            f"'format', one of {list(FORMATS)}"
        )
    found = _SUFFIXES[suffix]
    if found == "npz" and _holds_events(upload.path):
        return "events"
    return found


def _holds_events(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return "events.npy" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False  # the npz parser says what is wrong with it


def _parse(format: str, files: Mapping[str, UploadedFile]) -> Any:
    """The dataset the files hold (a torch-style dataset; it may read its files later)."""
    # Imported here: the parsers bring torch, which a server needs only for uploads.
    from simcore.train.datasets import FORMATS as PARSERS
    from simcore.train.datasets import DatasetError

    try:
        return PARSERS[format](*(files[part].path for part in _parts(format)))
    except DatasetError as error:
        raise Invalid(str(error)) from None


class Described(NamedTuple):
    classes: list[str]
    shape: list[int]
    samples: int
    class_counts: list[int]
    preview: list[PreviewSample]


def describe(dataset: Any, preview_samples: int, preview_values: int) -> Described:
    """What a parsed dataset holds, and its preview: the first sample of each class, then
    the first others, up to ``preview_samples``."""
    labels = np.asarray(dataset.y)
    if len(labels) == 0:
        raise Invalid("the dataset holds no samples")
    _, firsts = np.unique(labels, return_index=True)
    picks = [int(i) for i in firsts[:preview_samples]]
    picks += [i for i in range(min(len(labels), preview_samples + len(picks))) if i not in picks]
    preview = []
    for index in picks[:preview_samples]:
        x, label = dataset[index]
        values, reduced = _small(np.asarray(x), preview_values)
        preview.append(
            PreviewSample(
                index=index,
                label=label,
                class_name=dataset.classes[label],
                shape=list(x.shape),
                values=np.round(values.astype(np.float64), 4).tolist(),
                reduced=reduced,
            )
        )
    return Described(
        classes=list(dataset.classes),
        shape=list(dataset.shape),
        samples=len(labels),
        class_counts=[int(c) for c in dataset.class_counts()],
        preview=preview,
    )


def _small(x: np.ndarray, max_values: int) -> tuple[np.ndarray, bool]:
    """``x`` within ``max_values``: summed over its leading axes (time bins, polarity,
    channels) while it has more than two, then every n-th value along each axis."""
    reduced = False
    while x.size > max_values and x.ndim > 2:
        x, reduced = x.sum(axis=0), True
    if x.size > max_values:
        step = math.ceil((x.size / max_values) ** (1.0 / x.ndim))
        x, reduced = x[(slice(None, None, step),) * x.ndim], True
    return x, reduced


# ---------------------------------------------------------------- uploads


async def create(
    objects: ObjectStore,
    *,
    name: str | None,
    format: str | None,
    files: Mapping[str, UploadedFile],
    size: int,
    owner: UUID | None,
    preview_samples: int,
    preview_values: int,
) -> DatasetDetail:
    """Check the uploaded ``files`` and keep them as a new dataset; raises ``Invalid`` (then
    nothing is stored)."""
    chosen = upload_format(format, files)
    parts = _parts(chosen)
    if set(files) != set(parts):
        raise Invalid(
            f"the format {chosen} takes the form field(s) {list(parts)}; got {sorted(files)}"
        )
    name = (name or "").strip() or Path(files[parts[0]].filename).name or chosen
    if len(name) > 200:
        raise Invalid("the name is longer than 200 characters")

    def check() -> Described:
        return describe(_parse(chosen, files), preview_samples, preview_values)

    described = await asyncio.to_thread(check)
    dataset_id = uuid4()
    prefix = _prefix(dataset_id)
    try:
        for part in parts:
            await objects.put_file(prefix + part, files[part].path)
        await Dataset.insert(
            Dataset(
                id=dataset_id,
                name=name,
                format=chosen,
                classes=described.classes,
                shape=described.shape,
                samples=described.samples,
                class_counts=described.class_counts,
                size=size,
                object_key=prefix,
                preview=msgspec.json.encode(described.preview).decode(),
                owner=owner,
            )
        )
    except BaseException:
        # Nothing half-kept: the files go again when the row could not be written.
        with contextlib.suppress(Exception):
            await _delete_objects(objects, prefix)
        raise
    log.info("dataset uploaded", dataset=str(dataset_id), format=chosen, size=size)
    return await get_dataset(str(dataset_id))


def _prefix(dataset_id: UUID) -> str:
    return f"datasets/{dataset_id}/"


async def _delete_objects(objects: ObjectStore, prefix: str) -> None:
    for key in await objects.list(prefix):
        await objects.delete(key)


# ---------------------------------------------------------------- reading

_COLUMNS = (
    Dataset.id,
    Dataset.name,
    Dataset.format,
    Dataset.classes,
    Dataset.shape,
    Dataset.samples,
    Dataset.class_counts,
    Dataset.size,
    Dataset.owner,
    Dataset.created_at,
)


def _builtin(name: str) -> DatasetRead:
    info = BUILTIN_DATASETS[name]
    return DatasetRead(
        id=name,
        name=name,
        builtin=True,
        format="builtin",
        description=info.description,
        classes=list(info.classes),
        shape=list(info.shape),
        samples=info.samples,
        class_counts=None,
        size=None,
    )


def _read(row: dict[str, Any]) -> DatasetRead:
    return DatasetRead(
        id=str(row["id"]),
        name=row["name"],
        builtin=False,
        format=row["format"],
        classes=row["classes"],
        shape=row["shape"],
        samples=row["samples"],
        class_counts=row["class_counts"],
        size=row["size"],
        owner=row["owner"],
        created_at=row["created_at"],
    )


async def list_datasets(limit: int, offset: int) -> list[DatasetRead]:
    """The built-in datasets, then the uploads (newest first; ``limit`` and ``offset`` page
    through these)."""
    rows = await (
        Dataset.select(*_COLUMNS)
        .order_by(Dataset.created_at, ascending=False)
        .limit(limit)
        .offset(offset)
    )
    return [_builtin(name) for name in BUILTIN_DATASETS] + [_read(row) for row in rows]


def _upload_id(dataset: str) -> UUID:
    try:
        return UUID(dataset)
    except ValueError:
        raise DatasetNotFound(dataset) from None


async def get_dataset(dataset: str) -> DatasetDetail:
    """A built-in dataset (by name) or an upload (by id), with its preview."""
    if dataset in BUILTIN_DATASETS:
        return DatasetDetail(**msgspec.structs.asdict(_builtin(dataset)), preview=[])
    row = (
        await Dataset.select(*_COLUMNS, Dataset.preview)
        .where(Dataset.id == _upload_id(dataset))
        .first()
    )
    if row is None:
        raise DatasetNotFound(dataset)
    preview = row["preview"]
    return DatasetDetail(
        **msgspec.structs.asdict(_read(row)),
        preview=msgspec.json.decode(
            preview if isinstance(preview, str | bytes) else msgspec.json.encode(preview),
            type=list[PreviewSample],
        ),
    )


async def exists(dataset: str) -> bool:
    """Whether ``dataset`` names a built-in dataset or an upload."""
    if dataset in BUILTIN_DATASETS:
        return True
    try:
        dataset_id = _upload_id(dataset)
    except DatasetNotFound:
        return False
    return await Dataset.exists().where(Dataset.id == dataset_id)


async def names() -> list[str]:
    """What a run's ``dataset`` may be: the built-ins' names, then the uploads' ids."""
    rows = await Dataset.select(Dataset.id).order_by(Dataset.created_at, ascending=False)
    return [*BUILTIN_DATASETS, *(str(row["id"]) for row in rows)]


async def delete(objects: ObjectStore, dataset: str) -> None:
    """Remove an upload: its row first (nobody finds it after), then its files."""
    if dataset in BUILTIN_DATASETS:
        raise Invalid(f"{dataset!r} is a built-in dataset; only uploads can be deleted")
    dataset_id = _upload_id(dataset)
    removed = await Dataset.delete().where(Dataset.id == dataset_id).returning(Dataset.object_key)
    if not removed:
        raise DatasetNotFound(dataset)
    await _delete_objects(objects, removed[0]["object_key"])
    log.info("dataset deleted", dataset=dataset)


# ---------------------------------------------------------------- training


async def open_upload(objects: ObjectStore, dataset_id: UUID) -> Any:
    """An upload as a torch-style dataset, its files downloaded to a temporary folder that
    lives as long as the dataset (which may read them memory-mapped)."""
    row = (
        await Dataset.select(Dataset.format, Dataset.object_key)
        .where(Dataset.id == dataset_id)
        .first()
    )
    if row is None:
        raise DatasetNotFound(str(dataset_id))
    folder = Path(tempfile.mkdtemp(prefix="spikex-dataset-"))
    try:
        files = {}
        for part in _parts(row["format"]):
            files[part] = UploadedFile(part, folder / part)
            await objects.get_file(row["object_key"] + part, folder / part)
        dataset = await asyncio.to_thread(_parse, row["format"], files)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    weakref.finalize(dataset, shutil.rmtree, folder, True)
    return dataset
