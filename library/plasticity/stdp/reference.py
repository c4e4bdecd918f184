"""Pair-based STDP with exponential traces, event by event (SI units).

A pre-synaptic arrival and a post-synaptic spike at the same time count as pre before post.
"""

import math


def weight_after(params, w, pre, post):
    p = params
    soft, nearest = p["multiplicative"] >= 0.5, p["nearest"] >= 0.5
    events = sorted([(t, 0) for t in pre] + [(t, 1) for t in post])
    x_pre = x_post = 0.0
    last = events[0][0] if events else 0.0
    for t, is_post in events:
        x_pre *= math.exp(-(t - last) / p["tau_pre"])
        x_post *= math.exp(-(t - last) / p["tau_post"])
        last = t
        if is_post:
            scale = (p["w_max"] - w) if soft else 1.0
            w = w + p["a_plus"] * x_pre * scale
            x_post = 1.0 if nearest else x_post + 1.0
        else:
            scale = (w - p["w_min"]) if soft else 1.0
            w = w - p["a_minus"] * x_post * scale
            x_pre = 1.0 if nearest else x_pre + 1.0
        w = min(max(w, p["w_min"]), p["w_max"])
    return w
