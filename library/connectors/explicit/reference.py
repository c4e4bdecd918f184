"""Explicit list connector: the (pre, post) index pairs it makes."""

import numpy as np


def connect(n_pre, n_post, params, rng):
    pairs = np.asarray(params["pairs"], dtype=np.int64).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]
