"""All-to-all connector: the (pre, post) index pairs it makes."""

import numpy as np


def connect(n_pre, n_post, params, rng):
    pairs = [(i, j) for i in range(n_pre) for j in range(n_post) if params["allow_self"] or i != j]
    return np.array([i for i, _ in pairs]), np.array([j for _, j in pairs])
