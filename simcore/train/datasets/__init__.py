"""Datasets for the training path: built-ins that need no download and parsers for uploads.

Every dataset is a torch-style dataset (``__len__``, ``__getitem__ -> (x, label)``) with
``shape`` (one sample's) and ``classes`` (label names, index = label). Pure: no server imports.
"""

from simcore.train.datasets.arrays import ArrayDataset, DatasetError, split
from simcore.train.datasets.builtin import (
    BUILTINS,
    builtin,
    digits,
    mnist_5k,
    rate_coded,
    spike_patterns,
)
from simcore.train.datasets.formats import (
    FORMATS,
    EventDataset,
    parse_csv,
    parse_events,
    parse_idx,
    parse_image_folders,
    parse_npz,
)

__all__ = [
    "BUILTINS",
    "FORMATS",
    "ArrayDataset",
    "DatasetError",
    "EventDataset",
    "builtin",
    "digits",
    "mnist_5k",
    "parse_csv",
    "parse_events",
    "parse_idx",
    "parse_image_folders",
    "parse_npz",
    "rate_coded",
    "spike_patterns",
    "split",
]
