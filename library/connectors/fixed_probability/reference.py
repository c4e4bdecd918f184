"""Fixed probability (Erdos-Renyi) connector: the (pre, post) index pairs it makes."""

import numpy as np


def connect(n_pre, n_post, params, rng):
    mask = rng.random((n_pre, n_post)) < params["probability"]
    if not params["allow_self"] and n_pre == n_post:
        np.fill_diagonal(mask, False)
    pre, post = np.nonzero(mask)
    return pre, post
