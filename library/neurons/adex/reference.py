"""AdEx neuron, forward Euler on v and w together (SI units).

The exponent is capped a little above the peak so that a voltage far beyond it cannot
overflow; below the peak the cap never acts.
"""

import math

import numpy as np


def simulate(params, current, dt):
    p = params
    refractory_steps = math.floor((p["refractory"] + 1e-3 * dt) / dt)
    cap = (p["v_peak"] - p["v_t"]) / p["delta_t"] + 10.0
    trace = np.empty(len(current))
    v, w, counter = p["v_rest"], 0.0, 0
    for k, amps in enumerate(current):
        trace[k] = v
        exponent = min((v - p["v_t"]) / p["delta_t"], cap)
        dv = (
            -p["g_leak"] * (v - p["v_rest"])
            + p["g_leak"] * p["delta_t"] * math.exp(exponent)
            - w
            + amps
        ) / p["c_m"]
        dw = (p["a"] * (v - p["v_rest"]) - w) / p["tau_w"]
        counter = max(counter - 1, 0)
        if counter == 0:
            v = v + dt * dv
        w = w + dt * dw
        if counter == 0 and v > p["v_peak"]:
            v, w, counter = p["v_reset"], w + p["b"], refractory_steps
    return {"v": trace}
