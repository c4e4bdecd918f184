"""Parsers for uploaded files; each returns a dataset or raises ``DatasetError`` naming the
problem (shape mismatch, unknown label, corrupt file).

Layouts:
- ``npz``: arrays ``x`` (n, ...) and ``y`` (n,) integer labels; optional ``classes`` (names).
- ``csv``: a header row; the column named ``label`` holds the labels (any strings, sorted into
  classes), every other column is a numeric feature.
- ``idx``: an MNIST IDX images file and an IDX labels file (optionally gzipped).
- ``events``: npz with ``events`` (structured array, fields ``x``, ``y``, ``t``, ``p``, all
  samples' events concatenated, each sample's sorted by ``t``), ``offsets`` (n + 1, sample i is
  ``events[offsets[i]:offsets[i+1]]``), ``labels`` (n,), ``sensor`` ([width, height]) and
  optionally ``bins`` (time bins per sample, default 10). A sample is binned on reading into
  (bins, 2, height, width) counts, so the dense form is never held for the whole set.
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from simcore.train.datasets.arrays import ArrayDataset, DatasetError


def _load_npz(data: bytes) -> dict[str, np.ndarray]:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DatasetError(f"corrupt .npz file: {exc}") from exc


def _classes(names: np.ndarray | None, y: np.ndarray) -> list[str]:
    if names is not None:
        return [str(c) for c in names.tolist()]
    return [str(c) for c in range(int(y.max()) + 1 if len(y) else 0)]


def parse_npz(data: bytes) -> ArrayDataset:
    arrays = _load_npz(data)
    missing = {"x", "y"} - arrays.keys()
    if missing:
        raise DatasetError(f"the .npz file lacks the array(s) {sorted(missing)}")
    x, y = arrays["x"], arrays["y"]
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise DatasetError(f"x must be real numbers, got dtype {x.dtype}")
    return ArrayDataset(x, y, _classes(arrays.get("classes"), y))


def parse_csv(data: bytes) -> ArrayDataset:
    try:
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"corrupt CSV file: {exc}") from exc
    if len(rows) < 2:
        raise DatasetError("the CSV file needs a header row and at least one sample")
    header = [h.strip() for h in rows[0]]
    if "label" not in header:
        raise DatasetError(f"the CSV header has no 'label' column: {header}")
    col = header.index("label")
    labels: list[str] = []
    features: list[list[float]] = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise DatasetError(f"line {line}: {len(row)} fields, the header has {len(header)}")
        try:
            features.append([float(v) for j, v in enumerate(row) if j != col])
        except ValueError as exc:
            raise DatasetError(f"line {line}: {exc}") from exc
        labels.append(row[col].strip())
    classes = sorted(set(labels))
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[v] for v in labels], dtype=np.int64)
    return ArrayDataset(np.array(features, dtype=np.float32), y, classes)


_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _idx(data: bytes, what: str) -> np.ndarray:
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise DatasetError(f"corrupt gzipped IDX {what} file: {exc}") from exc
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in _IDX_TYPES:
        raise DatasetError(f"the {what} file is not an IDX file (bad magic number)")
    ndim = data[3]
    head = 4 + 4 * ndim
    if len(data) < head:
        raise DatasetError(f"the IDX {what} file is truncated in its header")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - head != expected:
        raise DatasetError(
            f"the IDX {what} file holds {len(data) - head} data bytes, its header {dims} "
            f"says {expected}"
        )
    return np.frombuffer(data, dtype=dtype, offset=head).reshape(dims)


def parse_idx(images: bytes, labels: bytes) -> ArrayDataset:
    x = _idx(images, "images")
    y = _idx(labels, "labels")
    if x.ndim < 2:
        raise DatasetError(f"the IDX images file has shape {x.shape}, expected (n, ...)")
    if y.ndim != 1:
        raise DatasetError(f"the IDX labels file has shape {y.shape}, expected (n,)")
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    x = x.reshape(len(x), 1, *x.shape[1:]) if x.ndim == 3 else x
    y = y.astype(np.int64)
    return ArrayDataset(x, y, _classes(None, y))


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


def parse_events(data: bytes) -> EventDataset:
    arrays = _load_npz(data)
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
    "events": parse_events,
}
