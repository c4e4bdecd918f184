"""Batch normalisation layer (NumPy).

``init`` draws its weights, ``forward`` applies it (inference).
"""

import numpy as np


def init(params, rng):
    c = int(params["num_features"])
    return {
        "weight": rng.uniform(0.5, 1.5, c),
        "bias": rng.normal(0.0, 0.1, c),
        "running_mean": rng.normal(0.0, 0.5, c),
        "running_var": rng.uniform(0.5, 2.0, c),
    }


def forward(x, params, weights):
    shape = (1, -1, 1, 1)
    mean = weights["running_mean"].reshape(shape)
    variance = weights["running_var"].reshape(shape)
    scale = weights["weight"].reshape(shape) / np.sqrt(variance + params["eps"])
    return (np.asarray(x) - mean) * scale + weights["bias"].reshape(shape)
