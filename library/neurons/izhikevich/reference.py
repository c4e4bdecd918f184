"""Izhikevich neuron, forward Euler (SI units: v in V, u in V/s, a and b in 1/s).

The paper's coefficients in SI: 0.04 /(mV ms) = 4e4 /(V s), 5 /ms = 5e3 /s, 140 mV/ms = 140 V/s.
"""

import math

import numpy as np


def simulate(params, current, dt):
    p = params
    refractory_steps = math.floor((p["refractory"] + 1e-3 * dt) / dt)
    trace = np.empty(len(current))
    v, u, counter = p["c"], p["b"] * p["c"], 0
    for k, amps in enumerate(current):
        trace[k] = v
        dv = p["k2"] * v * v + p["k1"] * v + p["k0"] - u + amps / p["c_m"]
        du = p["a"] * (p["b"] * v - u)
        counter = max(counter - 1, 0)
        if counter == 0:
            v = v + dt * dv
        u = u + dt * du
        if counter == 0 and v >= p["v_peak"]:
            v, u, counter = p["c"], u + p["d"], refractory_steps
    return {"v": trace}
