"""The dataset type every source produces: samples in an array (memory-mapped where it is a
file, so a set larger than memory is read one sample at a time) and integer labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor


class DatasetError(ValueError):
    """An upload or a request the data cannot satisfy; the message names the problem."""


class ArrayDataset(torch.utils.data.Dataset[tuple[Tensor, int]]):
    """``scale`` multiplies each sample as it is read, so 8-bit images stay 8-bit (and
    memory-mapped) until then."""

    def __init__(
        self, x: np.ndarray, y: np.ndarray, classes: Sequence[str], scale: float = 1.0
    ) -> None:
        if x.ndim < 2:
            raise DatasetError(f"samples need at least 2 dimensions (n, ...), got shape {x.shape}")
        if y.ndim != 1:
            raise DatasetError(f"labels must be one-dimensional, got shape {y.shape}")
        if len(x) != len(y):
            raise DatasetError(f"shape mismatch: {len(x)} samples but {len(y)} labels")
        if not np.issubdtype(y.dtype, np.integer):
            raise DatasetError(f"labels must be integers, got dtype {y.dtype}")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= len(classes)):
            bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
            raise DatasetError(f"unknown label {bad}: the classes are 0..{len(classes) - 1}")
        self.x = x
        self.y = y
        self.classes = list(classes)
        self.scale = scale

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x.shape[1:])

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        # np.array copies one sample out of a memmap; the rest of the file stays on disk.
        sample = np.array(self.x[i], dtype=np.float32)
        if self.scale != 1.0:
            sample *= np.float32(self.scale)
        return torch.from_numpy(sample), int(self.y[i])

    def class_counts(self) -> list[int]:
        return np.bincount(np.asarray(self.y), minlength=len(self.classes)).tolist()

    def save(self, path: str) -> None:
        """The normalised form (``.npy`` pair) that ``load`` memory-maps."""
        np.save(f"{path}.x.npy", np.asarray(self.x, dtype=np.float32) * np.float32(self.scale))
        np.save(f"{path}.y.npy", np.asarray(self.y, dtype=np.int64))

    @classmethod
    def load(cls, path: str, classes: Sequence[str]) -> ArrayDataset:
        x = np.load(f"{path}.x.npy", mmap_mode="r")
        y = np.load(f"{path}.y.npy", mmap_mode="r")
        return cls(x, y, classes)


Sample = tuple[Tensor, int]


def split(
    dataset: ArrayDataset, eval_fraction: float, seed: int
) -> tuple[torch.utils.data.Subset[Sample], torch.utils.data.Subset[Sample]]:
    """A seeded split into training and evaluation sets (views: no sample is copied)."""
    if not 0.0 < eval_fraction < 1.0:
        raise DatasetError(f"the evaluation fraction must be between 0 and 1, not {eval_fraction}")
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed)).tolist()
    held_out = max(1, round(len(dataset) * eval_fraction))
    return (
        torch.utils.data.Subset(dataset, order[held_out:]),
        torch.utils.data.Subset(dataset, order[:held_out]),
    )
