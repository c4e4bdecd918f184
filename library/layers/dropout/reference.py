"""Dropout layer (NumPy).

``init`` draws its weights, ``forward`` applies it (inference).
"""

import numpy as np


def init(params, rng):
    return {}


def forward(x, params, weights, training=False, rng=None):
    x = np.asarray(x)
    if not training:
        return x
    keep = (rng or np.random.default_rng()).random(x.shape) >= params["p"]
    return x * keep / (1.0 - params["p"])
