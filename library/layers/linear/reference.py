"""Linear (fully connected) layer (NumPy).

``init`` draws its weights, ``forward`` applies it (inference).
"""

import numpy as np


def init(params, rng):
    n_in, n_out = int(params["in_features"]), int(params["out_features"])
    bound = 1.0 / np.sqrt(n_in)
    weights = {"weight": rng.uniform(-bound, bound, (n_out, n_in))}
    if params["bias"]:
        weights["bias"] = rng.uniform(-bound, bound, n_out)
    return weights


def forward(x, params, weights):
    y = np.asarray(x) @ weights["weight"].T
    return y + weights["bias"] if "bias" in weights else y
