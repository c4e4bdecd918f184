"""Conductance-based LIF with exponential Euler (SI units).

Without synaptic input the total conductance is the leak alone, so each step relaxes v
exactly towards v_inf = E_L + I / g_L.
"""

import math

import numpy as np


def simulate(params, current, dt):
    c_m, g_leak, v_rest = params["c_m"], params["g_leak"], params["v_rest"]
    v_reset, v_threshold = params["v_reset"], params["v_threshold"]
    refractory_steps = math.floor((params["refractory"] + 1e-3 * dt) / dt)
    trace = np.empty(len(current))
    v, counter = v_rest, 0
    for k, amps in enumerate(current):
        trace[k] = v
        counter = max(counter - 1, 0)
        if counter == 0:
            v_inf = (g_leak * v_rest + amps) / g_leak
            v = v_inf + (v - v_inf) * math.exp(-g_leak * dt / c_m)
            if v > v_threshold:
                v, counter = v_reset, refractory_steps
    return {"v": trace}
