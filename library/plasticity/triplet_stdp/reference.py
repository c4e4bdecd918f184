"""Triplet STDP (Pfister & Gerstner 2006), all-to-all traces, event by event (SI units).

The triplet terms use the trace values just before the current spike (t^-).
"""

import math


def weight_after(params, w, pre, post):
    p = params
    events = sorted([(t, 0) for t in pre] + [(t, 1) for t in post])
    r1 = r2 = o1 = o2 = 0.0
    last = events[0][0] if events else 0.0
    for t, is_post in events:
        gap = t - last
        r1 *= math.exp(-gap / p["tau_plus"])
        r2 *= math.exp(-gap / p["tau_x"])
        o1 *= math.exp(-gap / p["tau_minus"])
        o2 *= math.exp(-gap / p["tau_y"])
        last = t
        if is_post:
            w = w + r1 * (p["a2_plus"] + p["a3_plus"] * o2)
            o1, o2 = o1 + 1.0, o2 + 1.0
        else:
            w = w - o1 * (p["a2_minus"] + p["a3_minus"] * r2)
            r1, r2 = r1 + 1.0, r2 + 1.0
        w = min(max(w, p["w_min"]), p["w_max"])
    return w
