"""Parsers for uploaded files; each returns a dataset or raises ``DatasetError`` naming the
problem (shape mismatch, unknown label, corrupt file).

Each takes the file's bytes or its path. From a path, what the format allows stays on disk:
the uncompressed arrays of an npz (``np.savez``, not ``savez_compressed``) and a plain IDX
file are memory-mapped, a CSV is read line by line; a gzipped IDX file, compressed npz arrays
and a zip of images are decoded into memory (images as 8 bits a value).

Layouts:
- ``npz``: arrays ``x`` (n, ...) and ``y`` (n,) integer labels; optional ``classes`` (names).
- ``csv``: a header row; the column named ``label`` holds the labels (any strings, sorted into
  classes), every other column is a numeric feature.
- ``idx``: an MNIST IDX images file and an IDX labels file (optionally gzipped).
- ``image-folders``: a zip with one folder per class (the folder names, sorted, are the
  classes; one common top folder around them is allowed), each holding images Pillow reads
  (PNG, JPEG, ...), all of one size: samples (1, height, width) in [0, 1] if every image is
  grayscale, else (3, height, width) RGB.
- ``events``: npz with ``events`` (structured array, fields ``x``, ``y``, ``t``, ``p``, all
  samples' events concatenated, each sample's sorted by ``t``), ``offsets`` (n + 1, sample i is
  ``events[offsets[i]:offsets[i+1]]``), ``labels`` (n,), ``sensor`` ([width, height]) and
  optionally ``bins`` (time bins per sample, default 10). A sample is binned on reading into
  (bins, 2, height, width) counts, so the dense form is never held for the whole set.
"""

from __future__ import annotations

import array
import csv
import gzip
import io
import os
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Literal

import numpy as np
import torch
from torch import Tensor

from simcore.train.datasets.arrays import ArrayDataset, DatasetError

Source = bytes | str | os.PathLike[str]
"""A file's content, or its path."""


def _load_npz(source: Source) -> dict[str, np.ndarray]:
    try:
        if isinstance(source, bytes):
            with np.load(io.BytesIO(source), allow_pickle=False) as archive:
                return {k: archive[k] for k in archive.files}
        return _map_npz(Path(source))
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DatasetError(f"corrupt .npz file: {exc}") from exc


def _map_npz(path: Path) -> dict[str, np.ndarray]:
    """The arrays of the npz at ``path``: stored (uncompressed) ones memory-mapped where they
    lie in the file, compressed ones read."""
    arrays: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as archive, path.open("rb") as raw:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            name = info.filename[: -len(".npy")]
            mapped = None
            if info.compress_type == zipfile.ZIP_STORED:
                mapped = _map_member(path, raw, info)
            if mapped is None:
                with archive.open(info) as member:
                    mapped = np.lib.format.read_array(member, allow_pickle=False)
            arrays[name] = mapped
    return arrays


def _map_member(path: Path, raw: IO[bytes], info: zipfile.ZipInfo) -> np.ndarray | None:
    """A stored ``.npy`` member as a memmap, or None where reading it is as good (a scalar,
    an empty array, a header version numpy has no public reader for)."""
    # The member's data follow its local header, whose extra field may differ from the
    # central directory's: read the lengths there.
    raw.seek(info.header_offset)
    local = raw.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise DatasetError(f"corrupt .npz file: bad local header of {info.filename}")
    raw.seek(int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little"), 1)
    start = raw.tell()
    version = np.lib.format.read_magic(raw)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(raw)
    elif version == (2, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(raw)
    else:
        return None
    if dtype.hasobject:
        raise DatasetError(f"{info.filename} holds Python objects; only numeric arrays load")
    size = int(np.prod(shape)) * dtype.itemsize
    if raw.tell() - start + size != info.file_size:
        raise DatasetError(f"corrupt .npz file: {info.filename} does not hold its {shape} array")
    if not shape or size == 0:
        return None
    order: Literal["C", "F"] = "F" if fortran else "C"
    return np.memmap(path, dtype=dtype, mode="r", offset=raw.tell(), shape=shape, order=order)


def _classes(names: np.ndarray | None, y: np.ndarray) -> list[str]:
    if names is not None:
        return [str(c) for c in names.tolist()]
    return [str(c) for c in range(int(y.max()) + 1 if len(y) else 0)]


def parse_npz(source: Source) -> ArrayDataset:
    arrays = _load_npz(source)
    missing = {"x", "y"} - arrays.keys()
    if missing:
        raise DatasetError(f"the .npz file lacks the array(s) {sorted(missing)}")
    x, y = arrays["x"], arrays["y"]
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise DatasetError(f"x must be real numbers, got dtype {x.dtype}")
    return ArrayDataset(x, y, _classes(arrays.get("classes"), y))


@contextmanager
def _text(source: Source) -> Iterator[IO[str]]:
    if isinstance(source, bytes):
        try:
            yield io.StringIO(source.decode("utf-8"), newline="")
        except UnicodeDecodeError as exc:
            raise DatasetError(f"corrupt CSV file: {exc}") from exc
        return
    with open(source, encoding="utf-8", newline="") as lines:
        yield lines


def parse_csv(source: Source) -> ArrayDataset:
    # The features go into one flat float32 buffer as the lines are read: the file is never
    # held whole, nor a Python float per value.
    features = array.array("f")
    labels: list[str] = []
    try:
        with _text(source) as text:
            rows = csv.reader(text)
            header = [h.strip() for h in next(rows, [])]
            if "label" not in header:
                raise DatasetError(f"the CSV header has no 'label' column: {header}")
            col = header.index("label")
            for line, row in enumerate(rows, start=2):
                if len(row) != len(header):
                    raise DatasetError(
                        f"line {line}: {len(row)} fields, the header has {len(header)}"
                    )
                try:
                    features.extend(float(v) for j, v in enumerate(row) if j != col)
                except ValueError as exc:
                    raise DatasetError(f"line {line}: {exc}") from exc
                labels.append(row[col].strip())
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"corrupt CSV file: {exc}") from exc
    if not labels:
        raise DatasetError("the CSV file needs a header row and at least one sample")
    classes = sorted(set(labels))
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[v] for v in labels], dtype=np.int64)
    x = np.frombuffer(features, dtype=np.float32).reshape(len(labels), len(header) - 1)
    return ArrayDataset(x, y, classes)


_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


_GZIP = b"\x1f\x8b"


def _idx_header(head: bytes, size: int, what: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """The dims, type and data offset an IDX file of ``size`` bytes starting with ``head``
    declares (checked against its size)."""
    if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in _IDX_TYPES:
        raise DatasetError(f"the {what} file is not an IDX file (bad magic number)")
    ndim = head[3]
    offset = 4 + 4 * ndim
    if size < offset:
        raise DatasetError(f"the IDX {what} file is truncated in its header")
    dims = tuple(int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[head[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if size - offset != expected:
        raise DatasetError(
            f"the IDX {what} file holds {size - offset} data bytes, its header {dims} "
            f"says {expected}"
        )
    return dims, dtype, offset


def _idx(source: Source, what: str) -> np.ndarray:
    if not isinstance(source, bytes):
        with open(source, "rb") as file:
            head = file.read(4 + 4 * 255)
        if head[:2] != _GZIP:
            dims, dtype, offset = _idx_header(head, os.path.getsize(source), what)
            if 0 in dims:
                return np.empty(dims, dtype)
            return np.memmap(source, dtype=dtype, mode="r", offset=offset, shape=dims)
        source = Path(source).read_bytes()
    if source[:2] == _GZIP:
        try:
            source = gzip.decompress(source)
        except (OSError, EOFError) as exc:
            raise DatasetError(f"corrupt gzipped IDX {what} file: {exc}") from exc
    dims, dtype, offset = _idx_header(source[: 4 + 4 * 255], len(source), what)
    return np.frombuffer(source, dtype=dtype, offset=offset).reshape(dims)


def parse_idx(images: Source, labels: Source) -> ArrayDataset:
    x = _idx(images, "images")
    y = _idx(labels, "labels")
    if x.ndim < 2:
        raise DatasetError(f"the IDX images file has shape {x.shape}, expected (n, ...)")
    if y.ndim != 1:
        raise DatasetError(f"the IDX labels file has shape {y.shape}, expected (n,)")
    x = x.reshape(len(x), 1, *x.shape[1:]) if x.ndim == 3 else x
    y = y.astype(np.int64)
    # 8-bit pixels stay 8-bit (and on disk) until a sample is read.
    scale = 1.0 / 255.0 if x.dtype == np.uint8 else 1.0
    return ArrayDataset(x, y, _classes(None, y), scale=scale)


_GRAYSCALE = {"1", "L", "LA", "I", "I;16", "F"}
"""Pillow's modes of one-channel images (LA: with an alpha channel, which is dropped)."""


def parse_image_folders(source: Source) -> ArrayDataset:
    from PIL import Image, UnidentifiedImageError

    try:
        archive = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"corrupt zip file: {exc}") from exc
    with archive:
        members = sorted(
            (info for info in archive.infolist() if not info.is_dir() and not _hidden(info)),
            key=lambda info: info.filename,
        )
        paths = [PurePosixPath(info.filename).parts for info in members]
        if len({p[0] for p in paths}) == 1 and all(len(p) >= 3 for p in paths):
            paths = [p[1:] for p in paths]  # one folder around the class folders
        if not paths:
            raise DatasetError("the zip holds no images (one folder per class, images in it)")
        for info, path in zip(members, paths, strict=True):
            if len(path) != 2:
                raise DatasetError(
                    f"{info.filename}: every image must lie in a class folder "
                    "(class/image.png), one level deep"
                )
        # A first pass reads only the headers: a wrong file or size fails before decoding.
        sizes: list[tuple[int, int]] = []
        modes: set[str] = set()
        for info in members:
            try:
                with archive.open(info) as file, Image.open(file) as image:
                    sizes.append(image.size)
                    modes.add(image.mode)
            except (
                UnidentifiedImageError,
                OSError,
                zipfile.BadZipFile,
                Image.DecompressionBombError,
            ) as exc:
                raise DatasetError(f"{info.filename} is not an image: {exc}") from exc
            if sizes[-1] != sizes[0]:
                raise DatasetError(
                    f"images differ in size: {members[0].filename} is "
                    f"{sizes[0][0]}x{sizes[0][1]}, {info.filename} is "
                    f"{sizes[-1][0]}x{sizes[-1][1]}; give every image one size"
                )
        mode = "L" if modes <= _GRAYSCALE else "RGB"
        width, height = sizes[0]
        x = np.empty((len(members), 1 if mode == "L" else 3, height, width), dtype=np.uint8)
        for i, info in enumerate(members):
            try:
                with archive.open(info) as file, Image.open(file) as image:
                    pixels = np.asarray(image.convert(mode))
            except (OSError, zipfile.BadZipFile, Image.DecompressionBombError) as exc:
                raise DatasetError(f"{info.filename} is a corrupt image: {exc}") from exc
            x[i] = pixels[None] if mode == "L" else pixels.transpose(2, 0, 1)
    names = [path[0] for path in paths]
    classes = sorted(set(names))
    index = {c: k for k, c in enumerate(classes)}
    y = np.array([index[n] for n in names], dtype=np.int64)
    return ArrayDataset(x, y, classes, scale=1.0 / 255.0)


def _hidden(info: zipfile.ZipInfo) -> bool:
    """Files archivers add beside the data (macOS resource forks, .DS_Store, Thumbs.db)."""
    parts = PurePosixPath(info.filename).parts
    return parts[0] == "__MACOSX" or parts[-1].startswith(".") or parts[-1] == "Thumbs.db"


class EventDataset(torch.utils.data.Dataset[tuple[Tensor, int]]):
    """Event streams binned per sample on reading; see the module docstring for the layout."""

    def __init__(
        self,
        events: np.ndarray,
        offsets: np.ndarray,
        labels: np.ndarray,
        sensor: tuple[int, int],
        bins: int,
        classes: list[str],
    ) -> None:
        self.events, self.offsets, self.y = events, offsets, labels
        self.width, self.height = sensor
        self.bins = bins
        self.classes = classes

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.bins, 2, self.height, self.width)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        ev = self.events[int(self.offsets[i]) : int(self.offsets[i + 1])]
        frames = np.zeros(self.shape, dtype=np.float32)
        if len(ev):
            t = ev["t"].astype(np.float64)
            span = max(float(t[-1] - t[0]), 1.0)
            b = np.minimum(((t - t[0]) / span * self.bins).astype(np.int64), self.bins - 1)
            np.add.at(frames, (b, (ev["p"] > 0).astype(np.int64), ev["y"], ev["x"]), 1.0)
        return torch.from_numpy(frames), int(self.y[i])

    def class_counts(self) -> list[int]:
        return np.bincount(self.y, minlength=len(self.classes)).tolist()


def parse_events(source: Source) -> EventDataset:
    arrays = _load_npz(source)
    missing = {"events", "offsets", "labels", "sensor"} - arrays.keys()
    if missing:
        raise DatasetError(f"the events file lacks the array(s) {sorted(missing)}")
    events, offsets, labels = arrays["events"], arrays["offsets"], arrays["labels"]
    fields = set(events.dtype.names or ())
    if not {"x", "y", "t", "p"} <= fields:
        raise DatasetError(f"events need the fields x, y, t, p; got {sorted(fields)}")
    if offsets.shape != (len(labels) + 1,):
        raise DatasetError(
            f"shape mismatch: offsets has shape {offsets.shape}, {len(labels)} labels need "
            f"({len(labels) + 1},)"
        )
    if offsets[0] != 0 or offsets[-1] != len(events) or np.any(np.diff(offsets) < 0):
        raise DatasetError("offsets must rise from 0 to the number of events")
    width, height = (int(v) for v in arrays["sensor"].reshape(-1)[:2])
    if len(events) and (
        events["x"].min() < 0
        or events["x"].max() >= width
        or events["y"].min() < 0
        or events["y"].max() >= height
    ):
        raise DatasetError(f"an event lies outside the {width}x{height} sensor")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(f"labels must be integers, got dtype {labels.dtype}")
    classes = _classes(arrays.get("classes"), labels)
    if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
        raise DatasetError(f"unknown label {int(labels.max())}: the classes are {classes}")
    bins = int(arrays["bins"]) if "bins" in arrays else 10
    return EventDataset(events, offsets, labels.astype(np.int64), (width, height), bins, classes)


FORMATS: dict[str, Callable[..., ArrayDataset | EventDataset]] = {
    "npz": parse_npz,
    "csv": parse_csv,
    "idx": parse_idx,
    "image-folders": parse_image_folders,
    "events": parse_events,
}
