"""Wire types of the datasets API."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec


class PreviewSample(msgspec.Struct, frozen=True):
    index: int
    label: int
    class_name: str
    shape: list[int]
    """The sample's shape, as training reads it."""
    values: list[Any]
    """Its values (nested lists), rounded; a large sample's summed over its leading axes
    (time bins, channels) and then subsampled, so that it stays small: ``reduced``."""
    reduced: bool


class DatasetRead(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    """A built-in dataset's name, or an upload's UUID: what a training run's ``dataset``
    takes."""
    name: str
    builtin: bool
    format: str
    """How it was uploaded (``npz``, ``csv``, ``idx``, ``image-folders``, ``events``);
    ``builtin`` for a built-in."""
    description: str = ""
    classes: list[str]
    shape: list[int]
    """One sample's, as training reads it."""
    samples: int
    class_counts: list[int] | None
    """Samples per class (index = label); null for a built-in."""
    size: int | None
    """The uploaded file(s) in bytes; null for a built-in."""
    owner: UUID | None = None
    created_at: datetime | None = None


class DatasetDetail(DatasetRead, frozen=True, kw_only=True):
    preview: list[PreviewSample]
    """A few samples, one of each class first; empty for a built-in."""
