"""Fixed out-degree connector: the (pre, post) index pairs it makes."""

import numpy as np


def connect(n_pre, n_post, params, rng):
    k = int(params["count"])
    pre, post = [], []
    for i in range(n_pre):
        candidates = [j for j in range(n_post) if params["allow_self"] or i != j]
        chosen = rng.choice(candidates, size=k, replace=False)
        pre.extend([i] * k)
        post.extend(chosen.tolist())
    return np.array(pre), np.array(post)
