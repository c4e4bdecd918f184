"""Fixed in-degree connector: the (pre, post) index pairs it makes."""

import numpy as np


def connect(n_pre, n_post, params, rng):
    k = int(params["count"])
    pre, post = [], []
    for j in range(n_post):
        candidates = [i for i in range(n_pre) if params["allow_self"] or i != j]
        chosen = rng.choice(candidates, size=k, replace=False)
        pre.extend(chosen.tolist())
        post.extend([j] * k)
    return np.array(pre), np.array(post)
